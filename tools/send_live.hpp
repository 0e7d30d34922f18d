// SPDX-License-Identifier: BSD-3-Clause
//
// tools/send_live.hpp — live mode: frames sent by the kernel itself with
// BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES, the fastest path Linux has
// (no socket, no ring, no copy per packet from user space). The XDP program
// is kmod/zc_send.bpf.c, linked into zc-send by kmod/send_object.S.
//
// How it works, and what the frames are: see the comment at the top of
// kmod/zc_send.bpf.c. In short: zc-send writes the frames into an
// mmap-ed BPF array (`frames`), and each BPF_PROG_RUN call with repeat = n
// runs the program n times on the interface's behalf; each run copies the
// next slot into the packet and returns XDP_TX, which the kernel turns into
// a transmit on the interface (its driver's ndo_xdp_xmit).

#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "send_interface.hpp"
#include "send_clock.hpp"
#include "send_pcap.hpp"
#include "send_sender.hpp"

struct bpf_object;

namespace zc::send {

// Thrown by LiveSender when the kernel loads XDP programs for us but refuses
// to run them with live frames (EPERM as root: some hardened or sandboxed
// kernels do). zc-send then sends through the interface's AF_PACKET socket
// instead, unless --mode live was asked for.
class LiveFramesRefused : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class LiveSender final : public Sender {
public:
    // Checks the interface, loads the program and writes the frames. Throws
    // std::runtime_error with a sentence a person can act on.
    explicit LiveSender(const Plan& plan);

    std::uint64_t due(std::uint64_t elapsed_ns, std::uint64_t limit, std::uint64_t* wake_ns) override;
    std::int64_t send(std::uint64_t n, std::uint64_t elapsed_ns) override;
    [[nodiscard]] Totals totals() const noexcept override { return totals_; }
    Losses losses() override;
    void finish() override;
    [[nodiscard]] std::vector<std::string> notes() override;
    [[nodiscard]] std::string mode() const override { return "live"; }

private:
    // A read-write or read-only shared mapping of a BPF map (munmap on destruction).
    struct Mapping {
        void* address = nullptr;
        std::size_t bytes = 0;
        Mapping() = default;
        Mapping(const Mapping&) = delete;
        Mapping& operator=(const Mapping&) = delete;
        ~Mapping();
    };

    struct ObjectCloser {
        void operator()(bpf_object* object) const noexcept;
    };
    struct FdCloser {
        int fd = -1;
        FdCloser() = default;
        FdCloser(const FdCloser&) = delete;
        FdCloser& operator=(const FdCloser&) = delete;
        ~FdCloser();
    };

    void load();
    void pin_in_dispatcher();
    void write_generated_frames(const Plan& plan);
    void fill_ring();
    [[nodiscard]] std::uint64_t runs() const noexcept;
    [[nodiscard]] std::uint64_t bad_frames() const noexcept;
    [[nodiscard]] std::byte* slot(std::uint64_t position) noexcept;

    Interface interface_;
    InterfaceCounters start_counters_{};
    // Declared before the mappings, so that they are unmapped first.
    std::unique_ptr<bpf_object, ObjectCloser> object_;
    int program_fd_ = -1;
    Mapping frames_;
    Mapping bss_;
    // The private network namespace whose loopback holds the program in the
    // XDP dispatcher (see kmod/zc_send.bpf.c); closing it ends all that.
    FdCloser pin_namespace_;
    bool pinned_ = false;
    std::size_t runs_offset_ = 0;
    std::size_t bad_frames_offset_ = 0;

    std::uint32_t slot_count_ = 0;
    std::uint32_t slot_bytes_ = 0; // 8-byte header + frame_max
    std::uint32_t frame_max_ = 0;
    std::vector<std::byte> data_in_; // the frame the kernel copies into each new page

    // Generated frames: one length, paced by rate (or not at all).
    std::uint32_t frame_length_ = 0;
    RatePacer pacer_;
    bool paced_ = false;

    // Capture replay: a ring of slots filled ahead of the runs.
    std::unique_ptr<PcapReader> pcap_;
    double speed_ = 1.0;              // 0: top speed
    std::vector<std::uint64_t> due_;  // per slot: due time, ns after the start
    std::vector<std::uint32_t> wire_; // per slot: wire bytes of its frame
    std::uint64_t filled_ = 0;        // positions [position_, filled_) are in the ring

    std::uint64_t position_ = 0;   // frames handed over so far (= runs of the program)
    std::uint64_t unpaced_batch_;  // repeat for unpaced calls, adapted to ~10 ms per call
    std::uint64_t bad_frames_seen_ = 0;
    Totals totals_{};
    bool warned_no_delivery_ = false;
    bool finished_ = false;
};

} // namespace zc::send

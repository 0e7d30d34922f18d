// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/session.hpp — the thin adapter that both DAQ modules (daq2/ for
// Snort 2, daq3/ for Snort 3) put over libzc's batch receive and release.
// It includes neither libdaq's headers, so it is compiled once and means
// the same thing under both: a module turns its DAQ's configuration into
// open()'s arguments, its verdicts into settle(), and its message or
// callback into the packets it takes with receive().
//
// What a session owns:
//   the device      passive: the zc(7) name Snort gave (with a TX ring for
//                   inject where the device can have one); inline (A:B
//                   pairs): the aggregate zc:A,B (or zc:afpacket:A,B),
//                   opened to receive and transmit, receives from every
//                   interface into one pool and sends a packet let through
//                   out of its peer from the buffer it arrived in
//                   (zc_device_forward_burst: no copy in user space; the
//                   kernel copies in AF_XDP copy mode and AF_PACKET, counted
//                   in forward_copied);
//   the filter      bpf_filter.hpp; admit() runs it and counts what it
//                   refuses (inline: a refused packet still crosses, as in
//                   libdaq's afpacket module: the filter decides what Snort
//                   sees, not what passes the bridge: settle it as let
//                   through);
//   the batches     settle() ends a packet's stay: inline and let through,
//                   it joins the forward batch (one zc_device_forward_burst
//                   per kBurst; its buffer passes to the device, sent or
//                   not, and is never released); otherwise the release
//                   batch (one zc_device_release_burst per kBurst).
//                   flush() sends and gives back whatever both hold;
//                   release() gives buffers back at once;
//   the wait        wait_until(): zc_device_wait(0) (which lets a device do
//                   its bookkeeping: arm a replay's timer, tell a cluster's
//                   owner it may sleep, kick an AF_XDP driver), then poll()
//                   on the device's selectable fd and the interrupt's
//                   eventfd (interrupt.hpp): an interrupt ends it at once;
//   the counters    what the filter refused, what was injected, forwarded
//                   and not forwarded; the device's counters from a
//                   baseline (start, reset) on.
//
// Threads: a session belongs to one thread (a Snort packet thread), except
// interrupt(), which any thread or a signal handler may call.
#ifndef DAQZC_SESSION_HPP
#define DAQZC_SESSION_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bpf_filter.hpp"
#include "interfaces.hpp"
#include "interrupt.hpp"
#include "options.hpp"
#include "zc/device.h"

namespace daqzc {

inline constexpr std::uint32_t kBurst = 64; // packets taken from the device, or given back, at once

struct SessionCounters {
    std::uint64_t filtered = 0;       // refused by the BPF filter
    std::uint64_t injected = 0;       // sent by inject() (each one explicit copy)
    std::uint64_t forwarded = 0;      // inline: queued out of the peer from its own buffer
    std::uint64_t forward_copied = 0; // of those, copied by the kernel (AF_XDP copy mode, AF_PACKET)
    std::uint64_t forward_failed = 0; // inline: let through but not sent (TX ring full, frame cut to a buffer)
};

class Session {
public:
    Session() noexcept = default;
    ~Session() { close(); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // ---------------------------------------------------------- control path
    // Everything below that returns an int: 0, or a negative errno with a
    // sentence in error(). -EINVAL for names that are not inline pairs,
    // libzc's errno for a device that does not open.

    // Opens what Snort named (with or without "zc:"). Inline: pairs A:B.
    // promisc false: the device leaves promiscuous mode alone (Snort's -p).
    int open(const char* snort_name, bool inline_mode, const Options& options, bool promisc) noexcept;
    // Gives back every buffer still held, keeps the final counters, closes
    // the device. Idempotent.
    void close() noexcept;

    [[nodiscard]] bool is_open() const noexcept { return device_ != nullptr; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; } // the zc(7) name opened
    [[nodiscard]] const char* mode() const noexcept;                         // zc_device_mode, or "closed"
    [[nodiscard]] bool inline_mode() const noexcept { return inline_; }
    [[nodiscard]] bool can_send() const noexcept { return can_send_; }
    [[nodiscard]] bool debug() const noexcept { return options_.debug; }
    // Buffers in the pool the device receives into (0 when closed).
    [[nodiscard]] std::uint32_t pool_buffers() const noexcept;
    // By port (zc_packet.port); empty for cluster queues, replays, synthetic.
    [[nodiscard]] const std::vector<Interface>& interfaces() const noexcept { return interfaces_; }
    // The ifindex of one of the session's interfaces ("zc:" optional), or -1.
    [[nodiscard]] int device_index(const char* name) const noexcept;
    // "zc:A,B opened (afxdp-copy), can inject, 2 interface(s): A (ifindex 4) -> B ...", for debug.
    [[nodiscard]] std::string description() const;
    [[nodiscard]] const char* error() const noexcept { return error_; }

    int set_filter(const char* expression, int snaplen) noexcept;

    // Counters from zero, the device's included.
    void reset_counters() noexcept;
    [[nodiscard]] const SessionCounters& counters() const noexcept { return counters_; }
    // The device's counters since the last reset (or the last ones, once closed).
    [[nodiscard]] zc_device_stats device_counters() noexcept;

    // Sends a frame (an explicit, counted copy into a pool buffer). `port`
    // is the interface the packet that prompted it came in on (-1: none
    // known). Inline: out of the peer, or with `reverse` back out of the
    // port itself (the copied buffer goes out with zc_device_forward_burst,
    // which picks the interface); passive: out of the capture interface
    // (an aggregate sends only out of its first). -ENOTSUP when the device
    // cannot send.
    int inject(int port, bool reverse, const std::uint8_t* data, std::uint32_t length) noexcept;
    // The port whose interface has this ifindex, or -1.
    [[nodiscard]] int port_of(int ifindex) const noexcept;

    // ---------------------------------------------------------- fast path
    // Up to n packets, never blocks; 0 when none is waiting; ZC_DEVICE_END
    // once a replay (zc:pcap:) has played to its end (and from then on).
    std::uint32_t receive(zc_packet* packets, std::uint32_t n) noexcept;
    [[nodiscard]] bool ended() const noexcept { return ended_; }
    // The filter's verdict. A refused packet is counted; the caller settles
    // it as let through (inline, it crosses the bridge unseen).
    bool admit(const zc_packet& packet) noexcept;
    // The ifindex a packet came in on, and the one it leaves by inline
    // (-1 when none: DAQ_PKTHDR_UNKNOWN in both DAQ versions).
    [[nodiscard]] int ingress_index(const zc_packet& packet) const noexcept;
    [[nodiscard]] int egress_index(const zc_packet& packet) const noexcept;
    // The end of a packet's stay. Inline and `let_through`: into the
    // forward batch (out of its peer, from its own buffer; the buffer
    // passes to the device); otherwise into the release batch. Each batch
    // goes to the device in one call once it holds kBurst packets.
    void settle(const zc_packet& packet, bool let_through) noexcept;
    // Forwards and gives back what the batches hold (forwards first).
    void flush() noexcept;
    // Gives buffers back at once, not batched (never forwarded packets).
    void release(const zc_packet* packets, std::uint32_t n) noexcept;
    [[nodiscard]] std::uint32_t settled_pending() const noexcept { return release_count_ + forward_count_; }

    // ---------------------------------------------------------- waiting
    enum class Wait { Ready, Timeout, Interrupted, Failed };
    // Waits until packets may be waiting, the deadline (CLOCK_MONOTONIC
    // ms, from now_ms(); 0: none) passes, or interrupt() is called. Failed:
    // the device cannot deliver any more (a cluster's owner gone), with the
    // sentence in error().
    Wait wait_until(std::uint64_t deadline_ms) noexcept;
    static std::uint64_t now_ms() noexcept;
    // Any thread or a signal handler: ends a wait at once, and makes
    // take_interrupt() true once.
    void interrupt() noexcept { interrupt_.raise(); }
    [[nodiscard]] bool take_interrupt() noexcept { return interrupt_.take(); }

private:
    int open_passive(zc_device_config config) noexcept;
    int open_inline(const char* snort_name, zc_device_config config) noexcept;
    int inject_out_of(std::size_t port, const std::uint8_t* data, std::uint32_t length) noexcept;
    int injected(int rc, std::uint32_t length) noexcept; // counts, or says why not
    static void pause_for_tx() noexcept;
    void release_later(const zc_packet& packet) noexcept;
    void forward_later(const zc_packet& packet) noexcept;
    void flush_releases() noexcept;
    void flush_forwards() noexcept;
    [[gnu::format(printf, 3, 4)]] int fail(int rc, const char* format, ...) noexcept;
    zc_device_stats read_device_counters() noexcept;

    std::string name_;
    Options options_;
    zc_device* device_ = nullptr;
    bool can_send_ = false;
    std::vector<Interface> interfaces_;

    bool inline_ = false;
    bool forward_zero_copy_ = false;   // inline: ZC_DEVICE_FORWARD_ZEROCOPY (nobody copies a forwarded frame)
    std::vector<std::uint16_t> peer_; // by port: the port its packets go out of

    BpfFilter filter_;
    Interrupt interrupt_;
    bool ended_ = false;

    zc_packet releases_[kBurst]{};
    std::uint32_t release_count_ = 0;
    zc_packet forwards_[kBurst]{};
    std::uint16_t forward_ports_[kBurst]{}; // the peer of each
    std::uint32_t forward_count_ = 0;

    SessionCounters counters_{};
    zc_device_stats baseline_{};    // the device's counters at the last reset
    zc_device_stats last_device_{}; // the device's counters when it was closed

    char error_[256] = {};
};

} // namespace daqzc

#endif // DAQZC_SESSION_HPP

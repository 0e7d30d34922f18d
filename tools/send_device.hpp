// SPDX-License-Identifier: BSD-3-Clause
//
// tools/send_device.hpp — device mode: frames written straight into the
// buffers of a zc device's pool and sent with zc_device_send_burst (AF_XDP
// TX for zc:IFACE, AF_PACKET for zc:afpacket:IFACE). Generated frames are
// built in place, so nothing is copied; a replayed capture is copied once,
// from the file into the buffer.

#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "send_clock.hpp"
#include "send_pcap.hpp"
#include "send_sender.hpp"

typedef struct zc_device zc_device;
typedef struct zc_cluster zc_cluster;

namespace zc::send {

class DeviceSender final : public Sender {
public:
    // Opens the device for TX. Throws std::runtime_error with the library's
    // sentence (no such interface, interface down, privileges, ...).
    explicit DeviceSender(const Plan& plan);
    ~DeviceSender() override;

    std::uint64_t due(std::uint64_t elapsed_ns, std::uint64_t limit, std::uint64_t* wake_ns) override;
    std::int64_t send(std::uint64_t n, std::uint64_t elapsed_ns) override;
    [[nodiscard]] Totals totals() const noexcept override { return totals_; }
    Losses losses() override;
    void finish() override;
    [[nodiscard]] std::vector<std::string> notes() override;
    [[nodiscard]] std::string mode() const override;

private:
    struct DeviceCloser {
        void operator()(zc_device* device) const noexcept;
    };

    // Builds (or reads) up to n new frames into fresh pool buffers, appended
    // to pending_. Returns how many.
    std::uint32_t prepare(std::uint32_t n, std::uint64_t elapsed_ns) noexcept;
    // Hands pending_ to the device, oldest first; returns how many it took.
    std::uint32_t submit() noexcept;

    std::unique_ptr<zc_device, DeviceCloser> device_;
    zc_cluster* pool_ = nullptr;
    std::uint32_t capacity_ = 0; // bytes a pool buffer holds

    std::uint32_t size_ = 0;  // generated: on-the-wire size
    std::uint32_t flows_ = 1;
    std::uint32_t frame_length_ = 0;
    std::uint64_t sequence_ = 0; // generated frames built so far
    // Generated frames: the 2 x flows frames of one round of the stream,
    // built once (frames::nth(n) is templates_[n % (2 x flows)]), so that a
    // frame costs a copy and its sequence number, not a build. Empty when
    // they would take more than kMaxTemplateBytes: then each frame is built.
    std::vector<std::byte> templates_;
    std::uint32_t template_index_ = 0; // sequence_ % (2 x flows)
    RatePacer pacer_;
    bool paced_ = false;

    std::unique_ptr<PcapReader> pcap_;
    double speed_ = 1.0;

    // Frames written into buffers but not yet taken by the device (its TX
    // ring was full): sent first, in order, next time.
    std::vector<std::uint32_t> pending_buffers_;
    std::vector<std::uint32_t> pending_lengths_;
    std::vector<std::uint32_t> scratch_; // tx_alloc's output

    Totals totals_{};
};

} // namespace zc::send

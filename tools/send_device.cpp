// SPDX-License-Identifier: BSD-3-Clause

#include "send_device.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../drivers/synthetic/frames.hpp"
#include "zc/device.h"
#include "zc/zc.h"

namespace zc::send {

namespace {

// Frames per send_burst: one wake-up of an AF_XDP socket each (in copy
// mode the driver lets a wake-up send the whole TX ring of 2048), as in
// bench/send/bare-send's AF_XDP loop; AF_PACKET splits it into sendmmsg()
// calls of 64. Paced, a batch is the frames of 100 us, at most this many.
constexpr std::uint32_t kBatch = 256;
// Paced sending: a batch per 100 us worth of frames.
constexpr std::uint64_t kPaceTickNs = 100'000;
// Prebuilt frames up to this much (64 flows of 64-byte frames take 7.5 KiB,
// 1000 flows of 1518-byte frames 2.9 MiB); past it, frames are built one by
// one (65536 flows of 1518 bytes would take 190 MiB).
constexpr std::size_t kMaxTemplateBytes = 4u << 20;

} // namespace

void DeviceSender::DeviceCloser::operator()(zc_device* device) const noexcept { zc_device_close(device); }

DeviceSender::DeviceSender(const Plan& plan)
    : size_(plan.size), flows_(plan.flows), pacer_(plan.rate, kPaceTickNs, kBatch), paced_(plan.rate != 0),
      speed_(plan.speed)
{
    zc_device_config config;
    zc_device_config_init(&config);
    // TX only: the interface need not be promiscuous to send.
    config.flags = ZC_DEVICE_TX | ZC_DEVICE_NO_PROMISC;
    zc_device* device = nullptr;
    zc_error error{};
    if (zc_device_open(plan.interface.c_str(), &config, &device, &error) != 0)
        throw std::runtime_error(error.message);
    device_.reset(device);

    std::string mode = zc_device_mode(device);
    if (mode == "pcap" || mode == "synthetic")
        throw std::runtime_error(plan.interface + ": a " + mode +
                                 " device cannot transmit (send through zc:IFACE for AF_XDP or "
                                 "zc:afpacket:IFACE for AF_PACKET)");
    pool_ = zc_device_cluster(device);
    capacity_ = zc_buffer_capacity(pool_);

    if (plan.pcap.empty()) {
        frame_length_ = frames::frame_bytes(plan.size);
        if (frame_length_ > capacity_)
            throw std::runtime_error(plan.interface + ": a pool buffer holds " + std::to_string(capacity_) +
                                     " bytes, less than the " + std::to_string(frame_length_) +
                                     "-byte frames of -s " + std::to_string(plan.size));
        const std::uint64_t round = 2ull * flows_;
        if (round * frame_length_ <= kMaxTemplateBytes) {
            templates_.resize(round * frame_length_);
            for (std::uint64_t n = 0; n < round; ++n)
                frames::build(templates_.data() + n * frame_length_, size_, frames::nth(n, flows_), n);
        }
    } else {
        pcap_ = std::make_unique<PcapReader>(plan.pcap, plan.loops, capacity_);
    }
    pending_buffers_.reserve(kBatch);
    pending_lengths_.reserve(kBatch);
    scratch_.resize(kBatch);
}

DeviceSender::~DeviceSender()
{
    // Frames that were never sent: their buffers go back to the pool.
    if (device_ && !pending_buffers_.empty())
        zc_pool_release_burst(pool_, pending_buffers_.data(), static_cast<std::uint32_t>(pending_buffers_.size()));
}

std::string DeviceSender::mode() const { return zc_device_mode(device_.get()); }

std::uint64_t DeviceSender::due(std::uint64_t elapsed_ns, std::uint64_t limit, std::uint64_t* wake_ns)
{
    limit = std::min<std::uint64_t>(limit, kBatch);
    if (!pending_buffers_.empty())
        return std::min<std::uint64_t>(limit, pending_buffers_.size()); // refused last time: due already
    if (pcap_) {
        PcapReader::Frame frame;
        if (!pcap_->peek(&frame))
            return kEnd;
        if (paced_)
            return pacer_.due(elapsed_ns, totals_.packets, limit, wake_ns);
        if (speed_ > 0) {
            auto due = static_cast<std::uint64_t>(static_cast<double>(frame.offset_ns) / speed_);
            if (due > elapsed_ns) {
                *wake_ns = due;
                return 0;
            }
        }
        return limit; // prepare() stops at the first frame not yet due
    }
    if (paced_)
        return pacer_.due(elapsed_ns, totals_.packets, limit, wake_ns);
    return limit;
}

std::uint32_t DeviceSender::prepare(std::uint32_t n, std::uint64_t elapsed_ns) noexcept
{
    std::uint32_t got = zc_device_tx_alloc(device_.get(), scratch_.data(), n);
    std::uint32_t built = 0;
    for (; built < got; ++built) {
        std::uint32_t buffer = scratch_[built];
        auto* data = static_cast<std::byte*>(zc_buffer_data(pool_, buffer));
        std::uint32_t length = frame_length_;
        if (pcap_) {
            PcapReader::Frame frame;
            if (!pcap_->peek(&frame))
                break;
            if (!paced_ && speed_ > 0 &&
                static_cast<std::uint64_t>(static_cast<double>(frame.offset_ns) / speed_) > elapsed_ns)
                break;
            std::memcpy(data, frame.data, frame.length); // the replay's one copy: file to pool buffer
            length = frame.length;
            try {
                pcap_->advance();
            } catch (const std::exception& e) {
                error_ = e.what();
                ++built; // this frame is written: send it; the read error ends the run
                pending_buffers_.push_back(buffer);
                pending_lengths_.push_back(length);
                break;
            }
        } else if (!templates_.empty()) {
            std::memcpy(data, templates_.data() + std::size_t{template_index_} * frame_length_, frame_length_);
            frames::set_sequence(data, sequence_);
            ++sequence_;
            template_index_ = template_index_ + 1 == 2 * flows_ ? 0 : template_index_ + 1;
        } else {
            frames::build(data, size_, frames::nth(sequence_, flows_), sequence_);
            ++sequence_;
        }
        pending_buffers_.push_back(buffer);
        pending_lengths_.push_back(length);
    }
    if (built < got) // a capture that ended, or whose next frame is not due yet
        zc_pool_release_burst(pool_, scratch_.data() + built, got - built);
    return built;
}

std::uint32_t DeviceSender::submit() noexcept
{
    auto offered = static_cast<std::uint32_t>(pending_buffers_.size());
    std::uint32_t taken =
        zc_device_send_burst(device_.get(), pending_buffers_.data(), pending_lengths_.data(), offered);
    for (std::uint32_t i = 0; i < taken; ++i)
        totals_.bytes += wire_bytes(pending_lengths_[i]);
    totals_.packets += taken;
    pending_buffers_.erase(pending_buffers_.begin(), pending_buffers_.begin() + taken);
    pending_lengths_.erase(pending_lengths_.begin(), pending_lengths_.begin() + taken);
    return taken;
}

std::int64_t DeviceSender::send(std::uint64_t n, std::uint64_t elapsed_ns)
{
    n = std::min<std::uint64_t>(n, kBatch);
    if (n > pending_buffers_.size())
        prepare(static_cast<std::uint32_t>(n - pending_buffers_.size()), elapsed_ns);
    std::uint32_t taken = pending_buffers_.empty() ? 0 : submit();
    if (!error_.empty() && pending_buffers_.empty())
        return -EIO; // the capture could not be read any further
    return taken;
}

Losses DeviceSender::losses()
{
    // Once the device took a frame, only the NIC could lose it, and zc's
    // device counters do not see that far.
    return Losses{};
}

void DeviceSender::finish()
{
    // Frames on the TX ring leave by themselves; give the driver up to a
    // second to report them sent (an empty send_burst lets it kick the ring
    // and reap completions).
    std::uint64_t deadline = monotonic_ns() + kNanosPerSecond;
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    while (monotonic_ns() < deadline) {
        zc_device_send_burst(device_.get(), scratch_.data(), scratch_.data(), 0);
        if (zc_device_get_stats(device_.get(), &stats) != 0 || stats.sent >= totals_.packets)
            break;
        sleep_until(monotonic_ns() + 1'000'000);
    }
}

std::vector<std::string> DeviceSender::notes()
{
    std::vector<std::string> notes;
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    if (zc_device_get_stats(device_.get(), &stats) == 0) {
        std::string note = "device " + std::string(zc_device_name(device_.get())) + " (" + mode() + "): " +
                           std::to_string(stats.sent) + " sent, " + std::to_string(stats.send_failed) + " send_failed";
        if (stats.send_failed > 0)
            note += " (its TX ring was full; zc-send offered those frames again, none was lost)";
        notes.push_back(note);
        if (stats.sent < totals_.packets)
            notes.push_back("the device reports " + std::to_string(totals_.packets - stats.sent) +
                            " of the frames it took as not yet transmitted");
    }
    if (pcap_) {
        if (pcap_->skipped_long() > 0)
            notes.push_back(pcap_->path() + ": " + std::to_string(pcap_->skipped_long()) +
                            " frames of the capture were skipped in every loop: longer than a pool buffer (" +
                            std::to_string(capacity_) + " bytes)");
        if (pcap_->truncated() > 0)
            notes.push_back(pcap_->path() + ": " + std::to_string(pcap_->truncated()) +
                            " frames of the capture are truncated (snap length); they are sent as captured");
    }
    return notes;
}

} // namespace zc::send

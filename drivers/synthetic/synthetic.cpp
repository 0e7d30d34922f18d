// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/synthetic — `zc:synthetic`: packets generated in the pool, for
// benchmarks and tests of everything downstream of a device.
//
// At open every buffer the stream uses is taken from the pool and filled
// once with a zc::frames::build frame: buffer i holds frame nth(i, flows) of
// zc_device_config.synthetic_size bytes on the wire. recv_burst then hands
// out views of those buffers in index order, round and round, rewriting
// only the sequence number (zc::frames::set_sequence), so a consumer can
// check order and loss, and the receive time in the metadata. The k-th
// packet ever received carries sequence k; while no buffer is skipped (see
// below) it also carries flow nth(k, flows), because the stream uses a
// multiple of 2 * flows buffers. No copy, no other per-packet work (the
// rest of the buffers' metadata is written once at open), never blocks,
// never ends.
//
// A buffer the consumer still holds is never rewritten: the stream skips
// it and goes on with the next free one, so a consumer (a balancer's queue)
// that sits on some buffers costs nobody else anything while others are
// free; recv_burst returns fewer, or 0, only when fewer are free. A skipped
// buffer takes no sequence number (nothing was lost: the next packet is
// made in another buffer), but from then on the flows come in the order of
// the buffers used. Consumers that release in order — the usual case —
// never see that. The device can have every stream buffer out at once:
// buffer_budget() is their number.
//
// Threading as for every driver: recv_burst and release_burst on one
// thread; stats() anywhere.

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "internal/error.hpp"
#include "internal/counter.hpp"
#include "internal/driver.hpp"
#include "../unique_fd.hpp"
#include "frames.hpp"

namespace zc {

namespace {

constexpr std::uint32_t kDefaultFrames = 4096;
constexpr std::uint32_t kMaxFlows = 65536; // frames.hpp: flow numbers fill two address bytes

class SyntheticDriver final : public Driver {
public:
    SyntheticDriver(DevicePool pool, std::vector<std::uint32_t> buffers, std::uint32_t frame_bytes,
                    std::uint32_t caplen, int event_fd)
        : pool_(std::move(pool)), buffers_(std::move(buffers)), held_(buffers_.size(), 0),
          data_(buffers_.size()), meta_(buffers_.size()), frame_bytes_(frame_bytes), caplen_(caplen), event_fd_(event_fd),
          buffer_count_(static_cast<std::uint32_t>(buffers_.size()))
    {
        for (std::uint32_t i = 0; i < buffer_count_; ++i)
        {
            data_[i] = static_cast<std::byte*>(zc_buffer_data(pool_.get(), buffers_[i]));
            meta_[i] = zc_buffer_meta_of(pool_.get(), buffers_[i]);
        }
        // Buffer index to stream position: the pool hands buffers out in
        // whatever order its free list holds them.
        std::uint32_t highest = *std::max_element(buffers_.begin(), buffers_.end());
        position_of_.assign(highest + 1u, kNotOurs);
        for (std::uint32_t i = 0; i < buffer_count_; ++i)
            position_of_[buffers_[i]] = i;
    }

    ~SyntheticDriver() override
    {
        zc_pool_release_burst(pool_.get(), buffers_.data(), buffer_count_);
        ::close(event_fd_);
    }

    const char* mode() const noexcept override { return "synthetic"; }
    zc_cluster* pool() noexcept override { return pool_.get(); }
    // The stream's buffers, and no others: it never takes one from the pool.
    std::uint32_t buffer_budget() noexcept override { return buffer_count_; }

    std::uint32_t recv_burst(zc_packet* packets, std::uint32_t n) noexcept override
    {
        // No more than are free: the walk below then ends within one round
        // of the stream, however the held buffers lie.
        const std::uint32_t want = std::min(n, buffer_count_ - held_count_);
        if (want == 0)
            return 0;
        const std::uint64_t now = realtime_ns(); // once per burst
        std::uint32_t got = 0;
        std::uint32_t next = next_;
        while (got < want) {
            if (!held_[next]) {
                held_[next] = 1;
                frames::set_sequence(data_[next], sequence_ + got);
                meta_[next]->timestamp_ns = now; // the rest of the metadata was filled at open
                packets[got] = zc_packet{reinterpret_cast<const std::uint8_t*>(data_[next]), caplen_, frame_bytes_,
                                         now, buffers_[next], 0, 0};
                ++got;
            }
            next = next + 1 == buffer_count_ ? 0 : next + 1;
        }
        next_ = next;
        held_count_ += got;
        sequence_ += got;
        packets_.add(got);
        bytes_.add(std::uint64_t{got} * frame_bytes_);
        return got;
    }

    void release_burst(const zc_packet* packets, std::uint32_t n) noexcept override
    {
        for (std::uint32_t i = 0; i < n; ++i) {
            std::uint32_t buffer = packets[i].buffer;
            if (buffer >= position_of_.size() || position_of_[buffer] == kNotOurs)
                continue; // a foreign release is ignored
            std::uint8_t& held = held_[position_of_[buffer]];
            held_count_ -= held; // and so is a double one
            held = 0;
        }
    }

    // Generated packets go nowhere: nothing to send on.
    std::uint32_t tx_alloc(std::uint32_t*, std::uint32_t) noexcept override { return 0; }
    std::uint32_t send_burst(const std::uint32_t*, const std::uint32_t*, std::uint32_t) noexcept override
    {
        return 0;
    }

    int wait(int) noexcept override { return 1; }
    int selectable_fd() const noexcept override { return event_fd_; }

    void stats(zc_device_stats& stats) noexcept override
    {
        stats.packets = packets_.get();
        stats.bytes = bytes_.get();
    }

private:
    static constexpr std::uint32_t kNotOurs = 0xffffffffu;

    DevicePool pool_;
    std::vector<std::uint32_t> buffers_;     // stream position to pool buffer
    std::vector<std::uint8_t> held_;         // per position: in the consumer's hands
    std::vector<std::byte*> data_;           // per position: the frame
    std::vector<zc_buffer_meta*> meta_;      // per position: its metadata
    std::vector<std::uint32_t> position_of_; // pool buffer to stream position
    std::uint32_t frame_bytes_;
    std::uint32_t caplen_;
    int event_fd_;
    std::uint32_t buffer_count_;
    std::uint32_t next_ = 0;
    std::uint32_t held_count_ = 0;           // positions held
    std::uint64_t sequence_ = 0;
    Counter packets_, bytes_;
};

} // namespace

int open_synthetic(const DeviceName&, const zc_device_config& config, std::unique_ptr<Driver>& out, zc_error* err)
{
    const std::uint32_t size = config.synthetic_size;
    const std::uint32_t flows = config.synthetic_flows;
    if (size < frames::kMinSize || size > frames::kMaxSize)
        return fail(err, -EINVAL, "synthetic: frame size %u is outside %u to %u bytes (on the wire, with FCS)", size,
                    frames::kMinSize, frames::kMaxSize);
    if (flows == 0 || flows > kMaxFlows)
        return fail(err, -EINVAL, "synthetic: %u flows is outside 1 to %u", flows, kMaxFlows);

    // The stream cycles through a multiple of 2 * flows buffers (both
    // directions of every flow), so the k-th packet is always nth(k, flows).
    const std::uint32_t cycle = 2 * flows;
    std::uint32_t frame_count = config.frame_count;
    if (frame_count == 0)
        frame_count = (std::max(kDefaultFrames, cycle) + cycle - 1) / cycle * cycle;
    else if (frame_count < cycle)
        return fail(err, -EINVAL,
                    "synthetic: %u flows need at least %u buffers (both directions of each); the pool has %u", flows,
                    cycle, frame_count);
    const std::uint32_t used = frame_count / cycle * cycle;

    DevicePool pool;
    if (int rc = open_device_pool(config, frame_count, pool, err); rc != 0)
        return rc;
    const std::uint32_t bytes = frames::frame_bytes(size);
    if (bytes > zc_buffer_capacity(pool.get()))
        return fail(err, -EINVAL, "synthetic: a %u-byte frame does not fit a %u-byte pool buffer", bytes,
                    zc_buffer_capacity(pool.get()));

    std::vector<std::uint32_t> buffers(used);
    std::uint32_t taken = zc_pool_alloc_burst(pool.get(), buffers.data(), used, ZC_OWNER(ZC_OWNER_DEVICE, 0));
    if (taken != used) {
        zc_pool_release_burst(pool.get(), buffers.data(), taken);
        if (pool.borrowed())
            return fail(err, -ENOMEM,
                        "synthetic: the cluster's pool has %u free buffers and the stream needs %u (make the "
                        "cluster's pool bigger, or set a smaller frame_count)",
                        taken, used);
        return fail(err, -ENOMEM, "synthetic: the new pool gave %u of %u buffers", taken, used);
    }
    for (std::uint32_t i = 0; i < used; ++i) {
        auto* frame = static_cast<std::byte*>(zc_buffer_data(pool.get(), buffers[i]));
        frames::build(frame, size, frames::nth(i, flows), i);
        fill_meta(*zc_buffer_meta_of(pool.get(), buffers[i]), 0, bytes, 0);
    }

    // Always readable: the counter is set once and nobody reads it.
    int event_fd = ::eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd < 0) {
        zc_pool_release_burst(pool.get(), buffers.data(), used);
        return fail(err, -errno, "synthetic: cannot create the event fd: %s", std::strerror(errno));
    }
    const std::uint32_t caplen = config.snaplen != 0 && config.snaplen < bytes ? config.snaplen : bytes;
    out = std::make_unique<SyntheticDriver>(std::move(pool), std::move(buffers), bytes, caplen, event_fd);
    return 0;
}

} // namespace zc

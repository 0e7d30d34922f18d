// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/spare_buffers.hpp — free pool buffers taken ahead, for the drivers
// that copy frames into the pool (AF_PACKET, pcap replay): the pool is asked
// once per batch of up to kBatch buffers, never once per packet. Buffers
// taken and not used go back to the pool on destruction, so every buffer
// keeps one owner.

#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "zc/device.h"
#include "zc/zc.h"

namespace zc {

class SpareBuffers {
public:
    static constexpr std::uint32_t kBatch = 64;

    // `pool` must outlive this object.
    explicit SpareBuffers(zc_cluster* pool) noexcept : pool_(pool) {}
    SpareBuffers(const SpareBuffers&) = delete;
    SpareBuffers& operator=(const SpareBuffers&) = delete;
    ~SpareBuffers()
    {
        if (taken_ < count_)
            zc_pool_release_burst(pool_, buffers_.data() + taken_, count_ - taken_);
    }

    [[nodiscard]] bool empty() const noexcept { return taken_ == count_; }

    // One free buffer. When none is left, takes up to min(wanted, kBatch)
    // from the pool first; false when the pool has none (a status).
    bool take(std::uint32_t wanted, std::uint32_t* buffer) noexcept
    {
        if (taken_ == count_) {
            count_ = zc_pool_alloc_burst(pool_, buffers_.data(), std::min(std::max(wanted, 1u), kBatch),
                                         ZC_OWNER(ZC_OWNER_WORKER, 0));
            taken_ = 0;
            if (count_ == 0)
                return false;
        }
        *buffer = buffers_[taken_++];
        return true;
    }

private:
    zc_cluster* pool_;
    std::array<std::uint32_t, kBatch> buffers_{};
    std::uint32_t count_ = 0;
    std::uint32_t taken_ = 0;
};

// Gives the buffers of received packets back to the pool, kBatch at a time
// (release_burst of the copying back-ends).
inline void release_packets(zc_cluster* pool, const zc_packet* packets, std::uint32_t n) noexcept
{
    std::array<std::uint32_t, SpareBuffers::kBatch> buffers;
    for (std::uint32_t done = 0; done < n;) {
        std::uint32_t count = std::min(n - done, SpareBuffers::kBatch);
        for (std::uint32_t i = 0; i < count; ++i)
            buffers[i] = packets[done + i].buffer;
        zc_pool_release_burst(pool, buffers.data(), count);
        done += count;
    }
}

} // namespace zc

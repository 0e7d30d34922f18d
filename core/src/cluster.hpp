// SPDX-License-Identifier: BSD-3-Clause
//
// The process-local view of a cluster region: where it is mapped, which
// parts are where, and whether this process owns it. Shared with pool.cpp
// and queue.cpp; not part of the public API.

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "layout.hpp"
#include "zc/zc.h"

struct zc_cluster {
    std::uint32_t id = 0;
    int fd = -1;
    bool owner = false;
    bool hugepages = false;
    std::string path;

    std::byte* base = nullptr; // the whole region, mapped shared
    std::size_t size = 0;

    zc::RegionHeader* header = nullptr;
    zc::BufferState* states = nullptr;
    std::uint32_t* free_list = nullptr;
    zc::QueueInfo* queues = nullptr;
    std::byte* pool = nullptr;

    // Copies of header fields, validated once at attach: the fast path uses
    // these, never the shared header another process could rewrite.
    std::uint32_t frame_size = 0;
    std::uint32_t frame_shift = 0;
    std::uint32_t frame_count = 0;
    std::uint32_t data_offset = 0; // frame start to first packet byte
    std::uint32_t queue_count = 0;
    std::uint32_t queue_slots = 0;
};

namespace zc {

// Offset from a frame's start to its first packet byte: the metadata
// headroom plus the XDP_PACKET_HEADROOM the kernel keeps in AF_XDP frames.
inline constexpr std::uint32_t kMetaHeadroom = 64;
inline constexpr std::uint32_t kXdpHeadroom = 256;

RingShared* queue_ring(zc_cluster* cluster, std::uint32_t queue, bool rx) noexcept;

// A buffer's owner field, for drivers' per-packet paths: what
// zc_buffer_set_owner and zc_buffer_owner do, inline, for a buffer index the
// caller has already checked against frame_count.
inline void set_owner(zc_cluster& c, std::uint32_t buffer, std::uint32_t owner) noexcept
{
    std::atomic_ref<std::uint32_t>(c.states[buffer].owner).store(owner, std::memory_order_relaxed);
}
inline std::uint32_t owner_of(const zc_cluster& c, std::uint32_t buffer) noexcept
{
    return std::atomic_ref<std::uint32_t>(c.states[buffer].owner).load(std::memory_order_relaxed);
}

// Attaches cluster `id` through a region file descriptor another process
// handed over (the owner's control socket), with zc_cluster_attach's checks
// and errors. Takes `fd` over (closed on failure). With read_only_pool the
// packet pool is mapped read-only: what passive consumers get.
int attach_region_fd(std::uint32_t id, int fd, bool read_only_pool, zc_cluster** out, zc_error* err) noexcept;

// Maps an attached cluster's packet pool read-only (mprotect): a stray
// write faults in the consumer that made it instead of changing what the
// other consumers read. A guard against bugs, not against a process that
// may map the region itself. 0 or a negative errno with a sentence.
int protect_pool(zc_cluster& cluster, zc_error* err) noexcept;

} // namespace zc

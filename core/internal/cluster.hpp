// SPDX-License-Identifier: BSD-3-Clause
//
// The process-local view of a cluster region: where it is mapped, which
// parts are where, and whether this process owns it. Shared with pool.cpp
// and queue.cpp; not part of the public API.

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "layout.hpp"
#include "zc/zc.h"

namespace zc {

// Where a buffer is and how many references it has: the owner's private
// record (layout.hpp: nothing the owner relies on is in a file).
struct BufferState {
    std::uint32_t refcount; // atomic_ref; 0 on the free list
    std::uint32_t owner;    // ZC_OWNER(kind, id)
};

// A queue side in a memory file of its own (layout.hpp), mapped here.
struct SideMapping {
    int fd = -1;
    void* base = nullptr;
    std::size_t bytes = 0;
};

} // namespace zc

struct zc_cluster {
    std::uint32_t id = 0;
    int fd = -1;
    bool owner = false;
    bool hugepages = false;
    bool read_only = false; // the region is mapped read-only (a consumer of an owner with a control socket; zc-stat)
    std::string path;

    std::byte* base = nullptr; // the whole region, mapped shared
    std::size_t size = 0;

    zc::RegionHeader* header = nullptr;
    zc::QueueInfo* queues = nullptr;
    zc::RuleTable* rules = nullptr; // content-rule hits (layout.hpp), written by the owner
    std::byte* pool = nullptr;
    // Each queue's consumer side: in the region, in a memory file of its own
    // (mappings[q]), or not mapped (nullptr: a consumer sees its own queue's).
    std::vector<zc::QueueSide*> sides;
    std::vector<zc::SideMapping> mappings;

    // The owner's private pool records (empty in an attached cluster).
    std::vector<zc::BufferState> states;
    std::vector<std::uint32_t> free_list;
    std::uint32_t free_count = 0;
    mutable std::mutex pool_lock; // free_list and free_count: devices of several balancer lanes use them at once

    // Copies of header fields, validated once at attach: the fast path uses
    // these, never the shared header another process could rewrite.
    std::uint32_t frame_size = 0;
    std::uint32_t frame_shift = 0;
    std::uint32_t frame_count = 0;
    std::uint32_t data_offset = 0; // frame start to first packet byte
    std::uint32_t queue_count = 0;
    std::uint32_t queue_slots = 0;
    std::uint32_t lanes = 1; // producers per queue: an RX and a return ring each (layout.hpp)

    zc_cluster() = default;
    zc_cluster(const zc_cluster&) = delete;
    zc_cluster& operator=(const zc_cluster&) = delete;
};

namespace zc {

// Offset from a frame's start to its first packet byte: the metadata
// headroom plus the XDP_PACKET_HEADROOM the kernel keeps in AF_XDP frames.
inline constexpr std::uint32_t kMetaHeadroom = 64;
inline constexpr std::uint32_t kXdpHeadroom = 256;

// The RX or return ring of lane `lane` of a queue whose side is mapped here
// (nullptr when it is not), located from the validated queue_slots and lanes.
RingShared* queue_ring(zc_cluster* cluster, std::uint32_t queue, bool rx, std::uint32_t lane = 0) noexcept;

// The owner: gives queue `queue` a fresh consumer side in a memory file of
// its own (mode 0600, empty rings), in place of the one it had, which is
// unmapped: whoever still maps the old one writes where nobody reads. The
// file's descriptor stays the cluster's until the next renewal or close
// (side_fd). 0 or a negative errno with a sentence.
int renew_queue_side(zc_cluster& cluster, std::uint32_t queue, zc_error* err) noexcept;
inline int side_fd(const zc_cluster& cluster, std::uint32_t queue) noexcept
{
    return queue < cluster.mappings.size() ? cluster.mappings[queue].fd : -1;
}

// A consumer: maps the side of `queue` its owner handed over (taken over:
// closed on failure), after checking its size and rings.
int map_queue_side(zc_cluster& cluster, std::uint32_t queue, int fd, zc_error* err) noexcept;

// A buffer's owner field, for drivers' per-packet paths: what
// zc_buffer_set_owner and zc_buffer_owner do, inline, for a buffer index the
// caller has already checked against frame_count.
inline void set_owner(zc_cluster& c, std::uint32_t buffer, std::uint32_t owner) noexcept
{
    std::atomic_ref<std::uint32_t>(c.states[buffer].owner).store(owner, std::memory_order_relaxed);
}
inline std::uint32_t owner_of(const zc_cluster& c, std::uint32_t buffer) noexcept
{
    return std::atomic_ref<const std::uint32_t>(c.states[buffer].owner).load(std::memory_order_relaxed);
}

// The one decoder of a descriptor's address: the index of the buffer it
// points into (compare with frame_count: an address outside the pool gives
// frame_count or more).
inline std::uint64_t buffer_of(const zc_cluster& c, std::uint64_t addr) noexcept { return addr >> c.frame_shift; }

// What a descriptor another process wrote is worth: it names bytes inside
// one buffer of the pool (Fits), a buffer but a length it cannot hold
// (BadLength: the buffer is real, its bytes are not to be read), or no
// buffer at all (NoBuffer).
enum class DescriptorCheck { Fits, BadLength, NoBuffer };
inline DescriptorCheck check_descriptor(const zc_cluster& c, std::uint64_t addr, std::uint32_t len) noexcept
{
    if (buffer_of(c, addr) >= c.frame_count)
        return DescriptorCheck::NoBuffer;
    const std::uint64_t offset = addr & (c.frame_size - 1);
    if (len > c.frame_size - c.data_offset || offset + len > c.frame_size)
        return DescriptorCheck::BadLength;
    return DescriptorCheck::Fits;
}
inline DescriptorCheck check_descriptor(const zc_cluster& c, const zc_desc& d) noexcept
{
    return check_descriptor(c, d.addr, d.len);
}

// Attaches cluster `id` through a read-only region descriptor its owner
// handed over (the control socket), with zc_cluster_attach's checks and
// errors, and maps it read-only. Takes `fd` over (closed on failure). No
// queue side is mapped: map_queue_side does that.
int attach_region_fd(std::uint32_t id, int fd, zc_cluster** out, zc_error* err) noexcept;

// Maps an attached cluster's packet pool read-only (mprotect): a stray
// write faults in the consumer that made it instead of changing what the
// other consumers read. For a region attached writable (an owner without
// a control socket): a guard against bugs, not against a member. 0 or a
// negative errno with a sentence.
int protect_pool(zc_cluster& cluster, zc_error* err) noexcept;

} // namespace zc

// SPDX-License-Identifier: BSD-3-Clause
//
// The layout of a cluster region: one file, mapped by the owner and by every
// consumer, at whatever address each process likes. Offsets only, never
// pointers. Any change to a struct here is a new kLayoutVersion.
//
//   offset 0          RegionHeader (one page)
//   buffer_state_off  BufferState[frame_count]   refcount + owner per buffer
//   free_list_off     uint32_t[frame_count]       stack of free buffer indices
//   queue_table_off   QueueInfo[queue_count]      offsets and counters
//   (per queue)       RX ring, return ring        RingShared + zc_desc slots
//   pool_off          frame_count frames          the packet pool = AF_XDP UMEM,
//                                                 page aligned (huge page
//                                                 aligned on hugetlbfs) so it
//                                                 can be mapped on its own,
//                                                 read-only for passive readers

#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "zc/ring.hpp"
#include "zc/zc.h"

namespace zc {

// The first eight bytes of every region file read "ZCREGION".
constexpr std::uint64_t magic_from(const char (&text)[9]) noexcept
{
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i)
        value = value << 8 | static_cast<unsigned char>(text[i]);
    return value;
}
inline constexpr std::uint64_t kRegionMagic = magic_from("ZCREGION");
inline constexpr std::uint32_t kLayoutVersion = ZC_LAYOUT_VERSION;
inline constexpr std::size_t kHeaderBytes = 4096;

enum class RegionState : std::uint32_t {
    Creating = 0,
    Running = 1,
    Stopping = 2,
    Dead = 3,
};

struct RegionHeader {
    // Identity: checked first by every attach.
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t header_size;  // sizeof(RegionHeader)
    std::uint64_t total_size;   // bytes of the whole file
    std::uint32_t cluster_id;
    std::uint32_t state;        // RegionState; atomic_ref, written by the owner
    std::int32_t owner_pid;
    std::uint32_t flags;           // kRegion* bits (control_socket.hpp: kRegionControlSocket)
    std::uint64_t owner_start_time; // /proc/<pid>/stat field 22, to tell a reused pid
    std::uint64_t created_ns;       // CLOCK_REALTIME at creation

    // The buffer pool.
    std::uint32_t frame_size;     // power of two
    std::uint32_t frame_count;
    std::uint32_t frame_headroom; // bytes of zc_buffer_meta space at each frame's start
    std::uint32_t reserved1;
    std::uint64_t pool_offset;
    std::uint64_t pool_bytes;
    std::uint64_t buffer_state_offset;
    std::uint64_t free_list_offset;

    // Consumer queues.
    std::uint32_t queue_count;
    std::uint32_t queue_slots;
    std::uint64_t queue_table_offset;

    // Pool counters: written by the owner only, read by anyone.
    alignas(kCacheLine) std::uint32_t free_count; // entries on the free list
    std::uint32_t reserved2;
    std::uint64_t bad_index;   // releases naming no buffer of this pool
    std::uint64_t double_free; // releases of a buffer with no reference left
};

static_assert(std::is_standard_layout_v<RegionHeader>);
static_assert(std::is_trivially_copyable_v<RegionHeader>);
static_assert(offsetof(RegionHeader, magic) == 0);
static_assert(offsetof(RegionHeader, layout_version) == 8);
static_assert(offsetof(RegionHeader, total_size) == 16);
static_assert(offsetof(RegionHeader, frame_size) == 56);
static_assert(offsetof(RegionHeader, queue_count) == 104);
static_assert(offsetof(RegionHeader, free_count) == 128);
static_assert(sizeof(RegionHeader) == 192);
static_assert(sizeof(RegionHeader) <= kHeaderBytes);

struct BufferState {
    std::uint32_t refcount; // atomic_ref; 0 on the free list
    std::uint32_t owner;    // ZC_OWNER(kind, id): where the buffer is now
};

static_assert(std::is_standard_layout_v<BufferState>);
static_assert(sizeof(BufferState) == 8);

struct QueueInfo {
    std::uint64_t rx_ring_offset;     // worker -> consumer
    std::uint64_t return_ring_offset; // consumer -> worker
    std::uint64_t ring_bytes;         // bytes of each of the two rings
    // Written by the worker side only.
    alignas(kCacheLine) std::uint64_t enqueued;
    std::uint64_t dropped_full;
    std::uint64_t bad_return;
    // Written by the consumer side only.
    alignas(kCacheLine) std::uint64_t received;
    std::uint64_t returned;
    // The consumer's claim on the queue (drivers/clusterq/queue_claim.hpp):
    // its pid in the high 32 bits and the low 32 bits of its start time
    // (/proc/<pid>/stat field 22) in the low 32, or 0 when nobody holds the
    // queue. One 64-bit word so that claiming, taking over from a dead
    // consumer and releasing are each one CAS. Written by consumers only.
    std::uint64_t consumer_claim;
    // Descriptors the consumer found on the RX ring naming no buffer of the
    // pool, or a length the buffer cannot hold: skipped, never read.
    std::uint64_t bad_descriptors;
    // 1 while the consumer sleeps (or is about to) waiting for packets:
    // the owner then writes the queue's eventfd after its next submit.
    // Written by both sides, through atomic_ref (wakeup.hpp).
    std::uint32_t consumer_sleeping;
    std::uint32_t reserved;
};

static_assert(std::is_standard_layout_v<QueueInfo>);
static_assert(offsetof(QueueInfo, enqueued) == 64);
static_assert(offsetof(QueueInfo, received) == 128);
static_assert(offsetof(QueueInfo, consumer_claim) == 144);
static_assert(offsetof(QueueInfo, bad_descriptors) == 152);
static_assert(offsetof(QueueInfo, consumer_sleeping) == 160);
static_assert(sizeof(QueueInfo) == 192);

static_assert(sizeof(zc_buffer_meta) <= 64, "metadata must fit the default headroom");

} // namespace zc

// SPDX-License-Identifier: BSD-3-Clause
//
// The layout of a cluster region: one file, mapped by the owner and by every
// consumer, at whatever address each process likes, plus one small memory
// file per queue for that queue's consumer. Offsets only, never pointers.
// Any change to a struct here is a new kLayoutVersion.
//
// The split follows trust. The region holds only what the owner writes and
// consumers read; when the owner serves a control socket (zc-balance) its
// file is mode 0640, and a consumer gets a read-only descriptor of it, so a
// group member cannot change it:
//
//   offset 0            RegionHeader (one page)
//   queue_table_offset  QueueInfo[queue_count]   owner's counters per queue
//   rule_table_offset   RuleTable                content-rule hits: a header
//                                                and kRuleRows rows (owner)
//   queue_side_offset   QueueSide[queue_count]   consumer sides, used only by
//                                                owners without a socket
//   pool_offset         frame_count frames       the packet pool = AF_XDP UMEM,
//                                                page aligned (huge page
//                                                aligned on hugetlbfs)
//
// What a queue's consumer writes — its RX ring's consumer index, its return
// ring, its own counters — is a QueueSide: with a control socket, a memfd of
// its own that the owner makes fresh for every consumer it grants the queue
// and hands over with the grant (control_socket.hpp), so no member can reach
// another's, and a consumer that left cannot touch its successor's. The
// owner reads a QueueSide only through checks (zc/ring.hpp "Trust", the
// balancer's held bitmap) and never rebuilds anything from it.
//
// What the owner relies on is in no file at all: ring sizes, reference
// counts, buffer owners and the free list live in its private memory
// (cluster.hpp); the region carries published copies of the counters.
//
// Without a control socket (an owner on the library API alone) consumers
// map the region file writable and use the QueueSides in it: the owner
// still survives anything they write, but they trust one another.

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
    std::uint32_t queue_lanes;    // producers feeding each queue: an RX and a return ring each (QueueSide)
    std::uint64_t pool_offset;
    std::uint64_t pool_bytes;
    std::uint64_t queue_side_offset; // the first in-region QueueSide
    std::uint64_t queue_side_bytes;  // bytes of one QueueSide with its two rings

    // Consumer queues.
    std::uint32_t queue_count;
    std::uint32_t queue_slots;
    std::uint64_t queue_table_offset;

    // Pool counters: published by the owner (copies of its private ones),
    // read by anyone.
    alignas(kCacheLine) std::uint32_t free_count; // buffers on the free list
    std::uint32_t reserved2;
    std::uint64_t bad_index;   // releases naming no buffer of this pool
    std::uint64_t double_free; // releases of a buffer with no reference left

    // Content rules (RuleTable, below): where their table is. Here, not
    // with the other offsets, so that the fields above keep their places.
    std::uint64_t rule_table_offset;
};

static_assert(std::is_standard_layout_v<RegionHeader>);
static_assert(std::is_trivially_copyable_v<RegionHeader>);
static_assert(offsetof(RegionHeader, magic) == 0);
static_assert(offsetof(RegionHeader, layout_version) == 8);
static_assert(offsetof(RegionHeader, total_size) == 16);
static_assert(offsetof(RegionHeader, frame_size) == 56);
static_assert(offsetof(RegionHeader, queue_count) == 104);
static_assert(offsetof(RegionHeader, free_count) == 128);
static_assert(offsetof(RegionHeader, rule_table_offset) == 152);
static_assert(sizeof(RegionHeader) == 192);
static_assert(sizeof(RegionHeader) <= kHeaderBytes);

// One queue, seen by everyone: written by the owner only.
struct QueueInfo {
    std::uint64_t enqueued;     // put on the RX ring
    std::uint64_t dropped_full; // not given to this queue: its ring was full, or (drop mode) it held its limit
    std::uint64_t bad_return;   // handed back and refused (range, not held by this queue)
    std::uint64_t cut_off;      // consumers disconnected for breaking the queue protocol
    std::int32_t consumer_pid;  // who holds the queue (the owner's record), 0 for nobody
    std::uint32_t generation;   // consumer sides made for this queue (one per grant)
    // Copies made by the owner on its control path, so that readers of the
    // region (zc-stat) see them: the RX ring's occupancy and the buffers the
    // queue holds, by the owner's count; the consumer's own counters
    // (QueueSide), as the consumer wrote them, not checked.
    std::uint32_t occupancy;
    std::uint32_t outstanding;
    std::uint64_t filtered;     // refused by its group's filter (zc_balancer_set_group_filter)
    std::uint64_t reserved;
    alignas(kCacheLine) std::uint64_t received;
    std::uint64_t returned;
    std::uint64_t bad_descriptors;
};

static_assert(std::is_standard_layout_v<QueueInfo>);
static_assert(std::is_trivially_copyable_v<QueueInfo>);
static_assert(offsetof(QueueInfo, cut_off) == 24);
static_assert(offsetof(QueueInfo, consumer_pid) == 32);
static_assert(offsetof(QueueInfo, received) == 64);
static_assert(sizeof(QueueInfo) == 128);

// Content rules (zc_balancer_load_rules): the hits of each rule in force,
// for readers of the region (zc-stat), in a table of fixed size written by
// the owner alone, on its control path (zc_balancer_control), never per
// packet. Why here and not over the control socket: a reader needs only
// the read-only region it already maps — no request for the owner to parse
// from an untrusted peer, nothing a stalled reader holds up, and a scrape
// that costs the owner nothing. The price: kRuleRows rows, the first rules
// of the file in its order; a longer file's further rules are counted in
// rule_count and have no row (zc_balancer_get_rule_stats has them all).
//
// The rows change together at a reload, so the table is a sequence lock:
//   owner:  sequence = s+1 (relaxed); release fence;       /* A, matches D */
//           header fields and rows (relaxed stores);
//           sequence = s+2 (release)                        /* B, matches C */
//   reader: s1 = sequence (acquire);                        /* C, matches B */
//           fields and rows (relaxed loads); acquire fence; /* D, matches A */
//           s2 = sequence (relaxed); a copy is whole when s1 == s2, even.
// A reader retries a bounded number of times (the owner writes for
// microseconds every few milliseconds) and says -EAGAIN after that.
inline constexpr std::uint32_t kRuleRows = 1024;

struct RuleRow {
    std::uint32_t id;
    std::uint32_t line;   // in the rule file, 1-based
    std::uint32_t action; // zc_rule_action
    std::uint32_t group;  // ZC_RULE_GROUP only
    std::uint32_t scope;  // zc_rule_scope
    std::uint32_t reserved;
    std::uint64_t hits;   // summed over the balancer's matchers
};

struct RuleTable {
    std::uint32_t sequence;   // odd while the owner writes
    std::uint32_t rows;       // rows in use, at most kRuleRows
    std::uint32_t rule_count; // rules in force (more than rows when the file is longer)
    std::uint32_t reserved;
    std::uint64_t generation;  // successful loads; 0: no rules
    std::uint64_t dropped;     // packets no group got because a rule said drop
    std::uint64_t scanned;     // packets scanned with rules in force
    std::uint64_t scan_errors; // scans Hyperscan failed (those packets passed)
    std::uint64_t reserved2[2];
    RuleRow row[kRuleRows];
};

static_assert(std::is_standard_layout_v<RuleTable>);
static_assert(std::is_trivially_copyable_v<RuleTable>);
static_assert(sizeof(RuleRow) == 32);
static_assert(offsetof(RuleTable, generation) == 16);
static_assert(offsetof(RuleTable, row) == 64);
static_assert(sizeof(RuleTable) == 64 + 32 * kRuleRows);

// What the consumer of one queue writes (and the owner reads, checked): its
// counters and sleep flag, then the queue's RX ring (worker -> consumer) and
// return ring (consumer -> worker), each a RingShared and its slots.
struct QueueSide {
    std::uint64_t received;        // taken off the RX ring
    std::uint64_t returned;        // put on the return ring
    // Descriptors the consumer found on the RX ring naming no buffer of the
    // pool, or a length the buffer cannot hold: skipped, never read.
    std::uint64_t bad_descriptors;
    // Without a control socket, the consumer's claim on the queue
    // (drivers/clusterq/queue_claim.hpp); unused with one.
    std::uint64_t consumer_claim;
    // 1 while the consumer sleeps (or is about to) waiting for packets: the
    // owner then writes the queue's wake-up pipe after its next submit. Written
    // by both sides, through atomic_ref (wakeup.hpp).
    std::uint32_t consumer_sleeping;
    std::uint32_t reserved[7];
};

static_assert(std::is_standard_layout_v<QueueSide>);
static_assert(std::is_trivially_copyable_v<QueueSide>);
static_assert(offsetof(QueueSide, consumer_claim) == 24);
static_assert(offsetof(QueueSide, consumer_sleeping) == 32);
static_assert(sizeof(QueueSide) == kCacheLine);

// Where a QueueSide's rings are, from its start, and its size: from the
// ring size and lane count the reader trusts, never from anything in the
// side itself. A queue fed by several producers (balancer threads: lanes)
// has one RX ring and one return ring per lane, in lane order:
//   QueueSide | RX 0 | return 0 | RX 1 | return 1 | ...
// Each pair is a single-producer single-consumer channel of its own
// (zc/ring.hpp): lane L's producer fills RX L and reaps return L, and the
// consumer drains the RX rings in turn and hands each buffer back on the
// return ring of the lane it came from.
// An RX ring's slots are zc_rx_desc (32 bytes), a return ring's zc_desc
// (16 bytes): zc/desc.h.
constexpr std::size_t lane_ring_bytes(std::uint32_t slots) noexcept
{
    return ring_bytes(slots, sizeof(zc_rx_desc)) + ring_bytes(slots, sizeof(zc_desc));
}
constexpr std::size_t side_ring_offset(std::uint32_t slots, bool rx, std::uint32_t lane = 0) noexcept
{
    return sizeof(QueueSide) + lane * lane_ring_bytes(slots) + (rx ? 0 : ring_bytes(slots, sizeof(zc_rx_desc)));
}
constexpr std::size_t side_bytes(std::uint32_t slots, std::uint32_t lanes = 1) noexcept
{
    return sizeof(QueueSide) + lanes * lane_ring_bytes(slots);
}

// Producer lanes a cluster may have (zc_cluster_config.lanes).
inline constexpr std::uint32_t kMaxLanes = 64;

static_assert(sizeof(zc_buffer_meta) <= 64, "metadata must fit the default headroom");

} // namespace zc

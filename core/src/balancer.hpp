// SPDX-License-Identifier: BSD-3-Clause
//
// The balancer's process-local state (zc/balance.h is its API). Private to
// libzc: balancer.cpp builds and tears it down (control path),
// balancer_poll.cpp runs it (fast path).
//
// Where a buffer is, seen from the balancer (all in the owner process):
//
//   device --recv_burst--> staged on queue q (this round; in wait mode
//   possibly longer: "pending") --submit--> RX ring of q --consumer--> its
//   hands --give back--> return ring of q --reap--> one reference dropped;
//   the last one gives the buffer back to its device (release_burst).
//
// A buffer taken from a device gets one reference per group (the shared
// refcount, private to this process); each queue that does not take it
// (drop mode: full, or at its limit) or hands it back drops one. `held` has
// one bit per buffer per queue: set when the descriptor goes on the RX ring,
// cleared when it comes back. A return whose bit is clear (never delivered,
// returned twice, or out of the pool) is counted as bad and ignored: the
// bitmap is the owner's own record, never anything a consumer wrote.
//
// Trust (layout.hpp, zc/ring.hpp): a queue's consumer can write its side
// and nothing else. The ring handles check every index it writes; one that
// breaks the protocol marks the queue broken: from then on it takes no
// packets (whatever its on-full policy), and the next control round cuts
// its consumer off (closes the connection, or without a socket, resets the
// rings), reclaims every buffer the bitmap says it holds, counts it in
// cut_off and gives the queue a fresh side. Each reap reads at most one
// ring's worth, so nothing a consumer writes makes a round longer.
//
// Isolation in drop mode: a queue may hold at most `limit` buffers (on its
// ring, in its consumer's hands, staged): past that its packets are dropped
// and counted as its own, so a stalled consumer cannot take the pool away
// from the others. Wait mode has no limit: it is lossless, so one stopped
// consumer stops its group (and, with the pool, every group).

#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "internal/cluster.hpp"
#include "internal/control_socket.hpp"
#include "internal/counter.hpp"
#include "rules.hpp"
#include "user_filter.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/ring.hpp"

namespace zc {

// Where a buffer goes home to, and what its owner field said when the
// device handed it out (restored before it goes back). 8 bytes per buffer.
struct BufferOrigin {
    std::uint32_t owner;
    std::uint16_t device_queue; // zc_packet.queue: AF_XDP refills that socket
    std::uint8_t device;        // index in the balancer's devices
    std::uint8_t reserved;
};

// One queue as one lane sees it: the lane's RX and return ring of the
// queue (layout.hpp: a pair per lane), what it staged for it, and the
// buffers it delivered there (held). Written by the lane's thread; by the
// control path only while the lanes are paused (zc_balancer::Pause).
struct BalancerQueue {
    RingProducer<zc_rx_desc> rx;   // worker end of the lane's RX ring
    RingConsumer<zc_desc> ret;     // worker end of the lane's return ring
    QueueInfo* info = nullptr;     // published counters (enqueued, dropped_full, bad_return, cut_off)
    QueueSide* side = nullptr;     // the consumer's side: its sleep flag and counters, untrusted
    std::uint64_t* held = nullptr; // bitmap: frame_count bits
    zc_rx_desc* stage = nullptr;   // descriptors for this queue not yet on its ring
    std::uint32_t staged = 0;
    bool wait = false;          // ZC_ON_FULL_WAIT, as configured
    bool broken = false;        // its consumer broke the protocol: takes nothing until cut off
    const char* broken_why = nullptr;
    int wake_fd = -1;           // the write end of the consumer's wake-up pipe (wakeup.hpp); -1 without a socket
    std::uint32_t unannounced = 0;        // submitted since its sleep flag was last looked at (balancer_poll.cpp)
    std::uint32_t unannounced_rounds = 0; // rounds those have waited
    std::uint32_t limit = 0;    // buffers it may hold through this lane (drop mode); ~0u: no limit; 0 while broken
    std::uint32_t outstanding = 0;
    std::uint64_t enqueued = 0;
    std::uint64_t dropped = 0;
    std::uint64_t returned = 0;
    std::uint64_t bad_returns = 0;
    std::uint64_t filtered = 0; // packets its group's filter refused that the hash gave it
    // dropped + filtered when last published: a queue at its limit stages
    // nothing, and its drops must reach the region all the same (flush).
    std::uint64_t refused_published = 0;
};

// Buffers going home to one device, given back together (or when this many).
inline constexpr std::uint32_t kGoingHomeBatch = 256;

struct BalancerGroup {
    std::uint32_t base;  // first queue
    std::uint32_t size;  // queues
    // hash % size without a division (Lemire, Kaser, Kurz, "Faster
    // remainder by direct computation", 2019): exact for every 32-bit hash
    // and size; 0 for a size of 1, whose remainder is 0 too.
    std::uint64_t reciprocal;
    [[nodiscard]] std::uint32_t pick(std::uint32_t hash) const noexcept
    {
        const std::uint64_t low = reciprocal * hash;
        return base + static_cast<std::uint32_t>((static_cast<unsigned __int128>(low) * size) >> 64);
    }
    static std::uint64_t reciprocal_of(std::uint32_t size) noexcept { return ~std::uint64_t{0} / size + 1; }
};

// One producer of the balancer: a thread's share of the work (zc-balance
// --threads). It reads its own devices (device d belongs to lane
// d % lanes), hashes, and feeds every queue through its own ring pair of
// that queue, so that nothing on the fast path is shared between lanes:
// each buffer is received, referenced, delivered, reaped and sent home by
// one lane (the lane of its device), whose private records (reference
// count, owner, origin: per buffer, so disjoint between lanes) and held
// bitmaps say where it is. The symmetric hash puts both directions of a
// flow in one queue whichever lane read them.
struct BalancerLane {
    zc_balancer* balancer = nullptr;
    zc_cluster* cluster = nullptr;
    std::uint32_t id = 0;        // its number: lane `id`'s rings of each queue
    bool publish_inline = false; // the only lane: publishes its queues' counters as it goes
    std::vector<std::uint32_t> devices; // the balancer's device indices this lane reads

    std::vector<BalancerQueue> queues;
    std::vector<std::uint64_t> held_bits;     // queues * words_per_queue
    std::vector<zc_rx_desc> stage_memory;     // queues * stage_capacity
    std::vector<zc_packet> received;          // one device burst
    std::vector<std::uint32_t> hashes;        // its flow hashes
    // Per device of the balancer (only this lane's are used): buffers going
    // home, given back once per round (or when full).
    std::vector<std::vector<zc_packet>> going_home; // kGoingHomeBatch each
    std::vector<std::uint32_t> going_home_count;

    std::uint32_t next_device = 0; // index into devices
    std::uint32_t round_robin = 0;
    std::uint64_t waiting = 0;        // staged descriptors left over (wait mode)
    std::uint64_t received_count = 0;
    std::uint64_t dropped_everywhere = 0; // packets no queue took
    std::uint32_t broken_count = 0;   // queues marked broken, not yet cut off

    // Its own matcher of the content rules (rules.hpp: one per worker).
    zc::rules::Matcher* matcher = nullptr;
    zc::Counter rules_dropped;

    // 1 while a round runs (the pause handshake, zc_balancer::Pause).
    alignas(64) std::atomic<std::uint32_t> in_round{0};

    // Fast path (balancer_poll.cpp).
    std::uint32_t poll() noexcept;
    std::uint32_t round() noexcept;
    void reap(std::uint32_t queue) noexcept;
    void flush(std::uint32_t queue) noexcept;
    void announce(BalancerQueue& queue) noexcept;
    void announce_waiting(bool saturated) noexcept;
    void mark_broken(std::uint32_t queue, const char* why) noexcept;
    // The content rules' matcher, or null when no rule file is loaded.
    void distribute(std::uint32_t device, std::uint32_t n, zc::rules::Matcher* rules_now) noexcept;
    // distribute's way for a packet when some group has a filter: to the
    // groups of [lead, end) whose filter matches it, home when none does.
    void distribute_filtered(const zc_packet& packet, std::uint32_t hash, const zc_rx_desc& desc, std::uint32_t lead,
                             std::uint32_t end) noexcept;
    bool drop_reference(std::uint32_t buffer) noexcept;
    void go_home(std::uint32_t buffer) noexcept;
    void send_home_now(std::uint32_t device) noexcept;
    void send_home() noexcept;
    void publish_counters(BalancerQueue& queue) noexcept;
};

} // namespace zc

struct zc_balancer final : zc::control::QueueOwner {
    zc_cluster* cluster = nullptr;
    std::vector<zc_device*> devices;
    zc_balancer_config config{};
    std::uint32_t group_count = 0;
    zc::BalancerGroup groups[ZC_BALANCE_MAX_GROUPS]{};
    std::uint32_t burst = 0;
    std::uint32_t words_per_queue = 0;
    std::uint32_t lane_limit = 0;             // drop mode: config.queue_limit shared out over the lanes

    std::vector<std::unique_ptr<zc::BalancerLane>> lanes;
    std::vector<zc::BufferOrigin> origins;    // per buffer (written by the lane of its device)
    std::vector<std::uint8_t> device_ended;   // pcap replay reported ZC_DEVICE_END (written by its lane)
    std::vector<std::uint64_t> cut_offs;      // per queue: consumers cut off

    // Content rules (rules.hpp). The engine is made with the balancer, a
    // matcher per lane; the poll loop looks at its matcher only once a
    // rule file has loaded (rules_loaded: release by
    // zc_balancer_load_rules, acquire once per poll round), so that
    // without rules it costs one predictable branch per packet. A packet a
    // rule drops counts in its lane's rules_dropped and dropped_everywhere.
    std::unique_ptr<zc::rules::RuleEngine> rule_engine;
    std::atomic<bool> rules_loaded{false};

    // Per-group filters (zc_balancer_set_group_filter), run here in user
    // space: bit g of filtered_groups is set while group g has one. Without
    // any, the poll loop pays one predictable branch per packet.
    std::array<zc::UserFilter, ZC_BALANCE_MAX_GROUPS> group_filters;
    std::uint32_t filtered_groups = 0;
    std::uint64_t rules_published_generation = 0; // the generation last put in the region's table
    std::uint64_t rules_published_ns = 0;         // and when (CLOCK_MONOTONIC_COARSE)

    bool closing = false;           // zc_balancer_close: reclaim without renewing sides

    // The control path may change what the lanes work on (a queue
    // reclaimed, a consumer granted, counters summed) only while no lane
    // runs a round. A Pause, made at each entry point of the control path
    // (zc_balancer_control, _reclaim_queue, _get_stats, ...), asks the lanes
    // to stop at their next round and waits for those in one to finish
    // (a round is at most a burst per device: microseconds). The
    // handshake, seq_cst on both sides, is Dekker's:
    //   lane:    in_round = 1; if (paused) { in_round = 0; wait; retry }
    //   control: paused = 1; wait until every in_round == 0
    // so either the control path sees the lane in its round and waits, or
    // the lane sees the pause and stays out; in_round = 0 at a round's end
    // is a release, and the control path's reads of it acquire. A lane
    // that sleeps waiting for packets (outside a round) never holds the
    // control path up. Lanes waiting out a pause sleep on the word
    // (futex: std::atomic::wait), woken when it ends.
    // Control-path calls from several threads (the API asks for one, a
    // second is not refused) take turns: a Pause holds control_turn.
    std::atomic<std::uint32_t> paused{0};
    std::recursive_mutex control_turn;
    class Pause {
    public:
        explicit Pause(zc_balancer& balancer) noexcept;
        ~Pause();
        Pause(const Pause&) = delete;
        Pause& operator=(const Pause&) = delete;

    private:
        zc_balancer& balancer_;
    };

    // Control path (balancer.cpp), with the lanes paused.
    std::uint32_t reclaim(std::uint32_t queue) noexcept; // returns the buffers reclaimed
    void bind_queue(std::uint32_t queue, bool fresh) noexcept;
    bool queue_broken(std::uint32_t queue, const char** why) const noexcept;
    void publish_consumer_view() noexcept;
    void rule_snapshot(zc_rules_stats* totals, std::vector<zc::rules::RuleHits>* rows);
    void publish_rules();
    zc::control::Server control;
    int region_read_fd = -1;   // the region, read-only, for consumers (listen)
    std::vector<std::array<int, 2>> wake_fds; // per queue, the wake-up pipe's read and write ends, fresh for every grant

    // The control socket's requests (control_socket.hpp).
    int grant(std::uint32_t queue, pid_t pid, int* side_fd, int* wake_fd, char* why,
              std::size_t why_size) noexcept override;
    std::uint32_t leave(std::uint32_t queue) noexcept override { return reclaim(queue); }

    zc_balancer() = default;
    zc_balancer(const zc_balancer&) = delete;
    zc_balancer& operator=(const zc_balancer&) = delete;
    ~zc_balancer();
};

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
// refcount, written only here); each queue that does not take it (drop
// mode, full) or hands it back drops one. `held` has one bit per buffer per
// queue: set when the descriptor goes on the RX ring, cleared when it comes
// back. A return whose bit is clear (never delivered, returned twice, or out
// of the pool) is counted as bad and ignored: the bitmap is the owner's own
// record, never anything a consumer wrote.

#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cluster.hpp"
#include "control_socket.hpp"
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

struct BalancerQueue {
    RingProducer<zc_desc> rx;   // worker end of the RX ring
    RingConsumer<zc_desc> ret;  // worker end of the return ring
    QueueInfo* info = nullptr;  // shared counters (enqueued, dropped_full, bad_return)
    std::uint64_t* held = nullptr; // bitmap: frame_count bits
    zc_desc* stage = nullptr;   // descriptors for this queue not yet on its ring
    std::uint32_t staged = 0;
    bool wait = false;          // ZC_ON_FULL_WAIT
    int wake_fd = -1;           // the consumer's wake-up eventfd (wakeup.hpp); -1 until listen
    std::uint32_t outstanding = 0;
    std::uint64_t enqueued = 0;
    std::uint64_t dropped = 0;
    std::uint64_t returned = 0;
    std::uint64_t bad_returns = 0;
};

struct BalancerGroup {
    std::uint32_t base;  // first queue
    std::uint32_t size;  // queues
};

} // namespace zc

struct zc_balancer {
    zc_cluster* cluster = nullptr;
    std::vector<zc_device*> devices;
    zc_balancer_config config{};
    std::uint32_t group_count = 0;
    zc::BalancerGroup groups[ZC_BALANCE_MAX_GROUPS]{};
    std::uint32_t burst = 0;
    std::uint32_t stage_capacity = 0; // per queue: devices * burst (one round)
    std::uint32_t words_per_queue = 0;

    std::vector<zc::BalancerQueue> queues;
    std::vector<std::uint64_t> held_bits;     // queues * words_per_queue
    std::vector<zc_desc> stage_memory;        // queues * stage_capacity
    std::vector<zc::BufferOrigin> origins;    // per buffer
    std::vector<zc_packet> received;          // one device burst
    // Per device: buffers going home, given back once per round (or when full).
    std::vector<std::vector<zc_packet>> going_home;
    std::vector<std::uint32_t> going_home_count;
    std::vector<std::uint8_t> device_ended;   // pcap replay reported ZC_DEVICE_END

    std::uint32_t next_device = 0;
    std::uint32_t round_robin = 0;
    std::uint64_t waiting = 0;        // staged descriptors left over (wait mode)
    std::uint64_t received_count = 0;
    std::uint64_t dropped_everywhere = 0; // packets no queue took

    // Fast path (balancer_poll.cpp).
    std::uint32_t poll() noexcept;
    void reap(std::uint32_t queue) noexcept;
    void flush(std::uint32_t queue) noexcept;
    bool drop_reference(std::uint32_t buffer) noexcept;
    void send_home_now(std::uint32_t device) noexcept;
    void send_home() noexcept;
    void publish_counters(zc::BalancerQueue& queue) noexcept;

    // Control path (balancer.cpp).
    std::uint32_t reclaim(std::uint32_t queue) noexcept; // returns the buffers reclaimed
    zc::control::Server control;
    std::vector<int> wake_fds; // one eventfd per queue, made by listen; lent to `control`

    zc_balancer() = default;
    zc_balancer(const zc_balancer&) = delete;
    zc_balancer& operator=(const zc_balancer&) = delete;
    ~zc_balancer();
};

// SPDX-License-Identifier: BSD-3-Clause
//
// The C API's queue ends: the inline rings of zc/ring.hpp behind an opaque
// handle, one per end of one queue. Descriptors are copied out (16 bytes
// each); packet bytes never are. The RX ring's slots are zc_rx_desc
// (zc/desc.h): the worker end fills one from each zc_desc and the buffer's
// zc_buffer_meta (time, wire length, port, as the drivers write them; hash
// 0), the consumer end hands out their zc_desc part.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <new>
#include <type_traits>

#include "internal/cluster.hpp"
#include "internal/error.hpp"
#include "internal/shared_counter.hpp"

using namespace zc;

struct zc_queue {
    zc_cluster* cluster;
    QueueSide* side; // the consumer's counters
    QueueInfo* info; // the owner's
    zc_queue_end end;
    RingProducer<zc_rx_desc> rx_producer; // the worker's end of the RX ring
    RingConsumer<zc_rx_desc> rx_consumer; // the consumer's
    RingProducer<zc_desc> producer;       // the consumer's end of the return ring
    RingConsumer<zc_desc> consumer;       // the worker's
};

namespace {

std::uint32_t produce(RingProducer<zc_desc>& ring, const zc_desc* descs, std::uint32_t n)
{
    std::uint32_t index = 0;
    std::uint32_t got = ring.reserve_burst(n, &index);
    for (std::uint32_t i = 0; i < got; ++i)
        ring.slot(index + i) = descs[i];
    if (got)
        ring.submit(got);
    return got;
}

std::uint32_t consume(RingConsumer<zc_desc>& ring, zc_desc* descs, std::uint32_t n)
{
    std::uint32_t index = 0;
    std::uint32_t got = ring.peek(n, &index);
    for (std::uint32_t i = 0; i < got; ++i)
        descs[i] = ring.slot(index + i);
    if (got)
        ring.release(got);
    return got;
}

} // namespace

extern "C" int zc_queue_open(zc_cluster* c, std::uint32_t queue, zc_queue_end end, zc_queue** out, zc_error* err)
{
    *out = nullptr;
    if (queue >= c->queue_count)
        return fail(err, -EINVAL, "cluster %u: queue %u does not exist (the cluster has %u: 0 to %u)", c->id, queue,
                    c->queue_count, c->queue_count ? c->queue_count - 1 : 0);
    if (end != ZC_QUEUE_WORKER && end != ZC_QUEUE_CONSUMER)
        return fail(err, -EINVAL, "cluster %u: queue end %d is neither worker nor consumer", c->id,
                    static_cast<int>(end));
    if (c->lanes != 1)
        return fail(err, -EOPNOTSUPP,
                    "cluster %u: its queues are fed by %u producers, each through rings of its own; a zc_queue is "
                    "one pair of rings: read queue %u as the device zc:%u@%u, which drains them all",
                    c->id, c->lanes, queue, c->id, queue);
    RingShared* rx = queue_ring(c, queue, true);
    RingShared* ret = queue_ring(c, queue, false);
    if (!rx)
        return fail(err, -EACCES,
                    "cluster %u: queue %u is not mapped here (its owner serves a control socket: consumers attach "
                    "through it, as zc:%u@%u does)",
                    c->id, queue, c->id, queue);
    if (end == ZC_QUEUE_WORKER && !c->owner)
        return fail(err, -EPERM, "cluster %u: only its owner may open the worker end of queue %u", c->id, queue);
    const bool worker = end == ZC_QUEUE_WORKER;
    auto* q = new (std::nothrow) zc_queue{c, c->sides[queue], &c->queues[queue], end, {}, {}, {}, {}};
    if (!q)
        return fail(err, -ENOMEM, "cluster %u: out of memory for a queue handle", c->id);
    if (worker) {
        q->rx_producer = RingProducer<zc_rx_desc>(rx, c->queue_slots);
        q->consumer = RingConsumer<zc_desc>(ret, c->queue_slots);
    } else {
        q->rx_consumer = RingConsumer<zc_rx_desc>(rx, c->queue_slots);
        q->producer = RingProducer<zc_desc>(ret, c->queue_slots);
    }
    *out = q;
    return 0;
}

extern "C" void zc_queue_close(zc_queue* queue) { delete queue; }

extern "C" std::uint32_t zc_queue_send_burst(zc_queue* q, const zc_desc* descs, std::uint32_t n)
{
    if (q->end != ZC_QUEUE_WORKER)
        return 0;
    RingProducer<zc_rx_desc>& ring = q->rx_producer;
    std::uint32_t index = 0;
    const std::uint32_t sent = ring.reserve_burst(n, &index);
    for (std::uint32_t i = 0; i < sent; ++i) {
        const zc_desc& desc = descs[i];
        zc_rx_desc rx{desc.addr, desc.len, desc.len, 0, 0, 0, 0};
        // The owner's own descriptors; one that names no buffer carries no facts.
        const std::uint64_t buffer = buffer_of(*q->cluster, desc.addr);
        if (buffer < q->cluster->frame_count) {
            const zc_buffer_meta* meta = zc_buffer_meta_of(q->cluster, static_cast<std::uint32_t>(buffer));
            rx.wire_len = meta->length > desc.len ? meta->length : desc.len;
            rx.timestamp_ns = meta->timestamp_ns;
            rx.port = meta->port;
        }
        ring.slot(index + i) = rx;
    }
    if (sent)
        ring.submit(sent);
    counter_add(q->info->enqueued, sent);
    return sent;
}

extern "C" std::uint32_t zc_queue_reap_burst(zc_queue* q, zc_desc* descs, std::uint32_t n)
{
    return q->end == ZC_QUEUE_WORKER ? consume(q->consumer, descs, n) : 0;
}

namespace {

// The consumer end's receive, with descriptors as the caller wants them
// (zc_desc or the whole zc_rx_desc).
template <typename Desc, typename Out>
std::uint32_t receive(zc_queue* q, Out* out, std::uint32_t n)
{
    if (q->end != ZC_QUEUE_CONSUMER)
        return 0;
    // Written by the owner's process: each one is checked, as every
    // consumer end checks it (drivers/clusterq does the same).
    std::uint32_t index = 0;
    std::uint32_t got = q->rx_consumer.peek(n, &index);
    std::uint32_t kept = 0;
    std::uint32_t bad = 0;
    for (std::uint32_t i = 0; i < got; ++i) {
        const zc_rx_desc rx = q->rx_consumer.slot(index + i); // one read of shared memory, then checked
        const zc_desc desc{rx.addr, rx.len, 0};
        const DescriptorCheck check = check_descriptor(*q->cluster, desc);
        if (check == DescriptorCheck::Fits) {
            if constexpr (std::is_same_v<Desc, zc_rx_desc>)
                out[kept++] = rx;
            else
                out[kept++] = desc;
            continue;
        }
        ++bad;
        // A real buffer with a length it cannot hold goes straight back
        // unread (if the return ring has room; else the owner reclaims it
        // with the queue).
        if (check == DescriptorCheck::BadLength)
            counter_add(q->side->returned, produce(q->producer, &desc, 1));
    }
    if (got)
        q->rx_consumer.release(got);
    counter_add(q->side->received, got);
    if (bad)
        counter_add(q->side->bad_descriptors, bad);
    return kept;
}

} // namespace

extern "C" std::uint32_t zc_queue_recv_burst(zc_queue* q, zc_desc* descs, std::uint32_t n)
{
    return receive<zc_desc>(q, descs, n);
}

extern "C" std::uint32_t zc_queue_recv_rx_burst(zc_queue* q, zc_rx_desc* descs, std::uint32_t n)
{
    return receive<zc_rx_desc>(q, descs, n);
}

extern "C" std::uint32_t zc_queue_give_back_burst(zc_queue* q, const zc_desc* descs, std::uint32_t n)
{
    if (q->end != ZC_QUEUE_CONSUMER)
        return 0;
    std::uint32_t given = produce(q->producer, descs, n);
    counter_add(q->side->returned, given);
    return given;
}

extern "C" void* zc_queue_ring_memory(zc_cluster* c, std::uint32_t queue, zc_ring_kind kind)
{
    if (queue >= c->queue_count)
        return nullptr;
    return queue_ring(c, queue, kind == ZC_RING_RX);
}

extern "C" int zc_queue_get_stats(const zc_cluster* c, std::uint32_t queue, zc_queue_stats* stats)
{
    if (queue >= c->queue_count || stats->struct_size != sizeof *stats)
        return -EINVAL;
    auto load = counter_load;
    const QueueInfo& info = c->queues[queue];
    const QueueSide* side = c->sides[queue];
    *stats = zc_queue_stats{};
    stats->struct_size = sizeof *stats;
    stats->enqueued = load(info.enqueued);
    stats->dropped_full = load(info.dropped_full);
    stats->bad_returns = load(info.bad_return);
    stats->cut_off = load(info.cut_off);
    stats->filtered = load(info.filtered);
    // The consumer's counters where its side is mapped here, else the
    // owner's copies of them.
    stats->received = load(side ? side->received : info.received);
    stats->returned = load(side ? side->returned : info.returned);
    stats->bad_descriptors = load(side ? side->bad_descriptors : info.bad_descriptors);
    // Who holds the queue: the owner's record (control socket), else the
    // claim word (pid << 32 | start time, drivers/clusterq/queue_claim.hpp).
    stats->consumer_pid = std::atomic_ref<const std::int32_t>(info.consumer_pid).load(std::memory_order_relaxed);
    if (stats->consumer_pid == 0 && side)
        stats->consumer_pid = static_cast<std::int32_t>(load(side->consumer_claim) >> 32);
    const RingShared* ring = queue_ring(const_cast<zc_cluster*>(c), queue, true);
    stats->occupancy = ring ? ring_occupancy(ring, c->queue_slots)
                            : std::atomic_ref<const std::uint32_t>(info.occupancy).load(std::memory_order_relaxed);
    return 0;
}

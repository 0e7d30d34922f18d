// SPDX-License-Identifier: BSD-3-Clause
//
// The C API's queue ends: the inline rings of zc/ring.hpp behind an opaque
// handle, one per end of one queue. Descriptors are copied out (16 bytes
// each); packet bytes never are.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>

#include "cluster.hpp"
#include "error.hpp"

using namespace zc;

struct zc_queue {
    zc_cluster* cluster;
    QueueInfo* info;
    zc_queue_end end;
    RingProducer<zc_desc> producer; // RX ring (worker) or return ring (consumer)
    RingConsumer<zc_desc> consumer; // return ring (worker) or RX ring (consumer)
};

namespace {

void add(std::uint64_t& counter, std::uint32_t n)
{
    // Each counter has one writer: its end of the queue.
    std::atomic_ref<std::uint64_t> ref(counter);
    ref.store(ref.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

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
    RingShared* rx = queue_ring(c, queue, true);
    RingShared* ret = queue_ring(c, queue, false);
    bool worker = end == ZC_QUEUE_WORKER;
    *out = new zc_queue{c, &c->queues[queue], end, RingProducer<zc_desc>(worker ? rx : ret),
                        RingConsumer<zc_desc>(worker ? ret : rx)};
    return 0;
}

extern "C" void zc_queue_close(zc_queue* queue) { delete queue; }

extern "C" std::uint32_t zc_queue_send_burst(zc_queue* q, const zc_desc* descs, std::uint32_t n)
{
    if (q->end != ZC_QUEUE_WORKER)
        return 0;
    std::uint32_t sent = produce(q->producer, descs, n);
    add(q->info->enqueued, sent);
    return sent;
}

extern "C" std::uint32_t zc_queue_reap_burst(zc_queue* q, zc_desc* descs, std::uint32_t n)
{
    return q->end == ZC_QUEUE_WORKER ? consume(q->consumer, descs, n) : 0;
}

extern "C" std::uint32_t zc_queue_recv_burst(zc_queue* q, zc_desc* descs, std::uint32_t n)
{
    if (q->end != ZC_QUEUE_CONSUMER)
        return 0;
    std::uint32_t got = consume(q->consumer, descs, n);
    add(q->info->received, got);
    return got;
}

extern "C" std::uint32_t zc_queue_give_back_burst(zc_queue* q, const zc_desc* descs, std::uint32_t n)
{
    if (q->end != ZC_QUEUE_CONSUMER)
        return 0;
    std::uint32_t given = produce(q->producer, descs, n);
    add(q->info->returned, given);
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
    auto load = [](const std::uint64_t& counter) {
        return std::atomic_ref<const std::uint64_t>(counter).load(std::memory_order_relaxed);
    };
    const QueueInfo& info = c->queues[queue];
    *stats = zc_queue_stats{};
    stats->struct_size = sizeof *stats;
    stats->enqueued = load(info.enqueued);
    stats->dropped_full = load(info.dropped_full);
    stats->bad_returns = load(info.bad_return);
    stats->received = load(info.received);
    stats->returned = load(info.returned);
    stats->bad_descriptors = load(info.bad_descriptors);
    // The claim word is pid << 32 | start time (drivers/clusterq/queue_claim.hpp).
    stats->consumer_pid = static_cast<std::int32_t>(load(info.consumer_claim) >> 32);
    // Consumer index first, with acquire: the producer index read after it
    // is at least as new, so the difference is never negative. Another
    // process's indices: clamped to the ring's size, not trusted.
    const RingShared* ring = queue_ring(const_cast<zc_cluster*>(c), queue, true);
    std::uint32_t consumer = std::atomic_ref<const std::uint32_t>(ring->consumer).load(std::memory_order_acquire);
    std::uint32_t producer = std::atomic_ref<const std::uint32_t>(ring->producer).load(std::memory_order_relaxed);
    std::uint32_t used = producer - consumer;
    stats->occupancy = used > c->queue_slots ? c->queue_slots : used;
    return 0;
}

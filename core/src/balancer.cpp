// SPDX-License-Identifier: BSD-3-Clause
//
// The balancer's control path: configuration, create and close, reclaiming
// a dead consumer's queue, statistics. The fast path is balancer_poll.cpp.

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "balancer.hpp"
#include "error.hpp"

using namespace zc;

namespace {

constexpr std::uint32_t kDefaultBurst = 64;
constexpr std::uint32_t kMaxBurst = 1024;
constexpr std::uint32_t kMaxQueues = 1024; // as the cluster
constexpr std::uint32_t kGoingHomeBatch = 256;

} // namespace

extern "C" void zc_balancer_config_init(zc_balancer_config* config)
{
    *config = zc_balancer_config{};
    config->struct_size = sizeof *config;
    config->mode = ZC_HASH_MODE_DEFAULT;
    config->group_count = 1;
    config->groups[0] = zc_balance_group{1, ZC_ON_FULL_DROP};
    config->burst = kDefaultBurst;
}

extern "C" int zc_balancer_parse_groups(const char* text, zc_balancer_config* config, zc_error* err)
{
    if (!text || !config)
        return fail(err, -EINVAL, "queue groups: nothing given (expected sizes such as 4,1)");
    zc_balance_group groups[ZC_BALANCE_MAX_GROUPS];
    std::uint32_t count = 0;
    std::uint64_t total = 0;
    const char* p = text;
    for (;;) {
        if (*p < '0' || *p > '9')
            return fail(err, -EINVAL,
                        "queue groups \"%s\": expected queue counts separated by commas, such as 4,1 (a group of 4 "
                        "balanced queues and a group of 1 that sees everything)",
                        text);
        char* end = nullptr;
        errno = 0;
        unsigned long size = std::strtoul(p, &end, 10);
        if (errno != 0 || size == 0 || size > kMaxQueues)
            return fail(err, -EINVAL, "queue groups \"%s\": a group has 1 to %u queues", text, kMaxQueues);
        if (count == ZC_BALANCE_MAX_GROUPS)
            return fail(err, -EINVAL, "queue groups \"%s\": at most %d groups", text, ZC_BALANCE_MAX_GROUPS);
        groups[count++] = zc_balance_group{static_cast<std::uint32_t>(size), ZC_ON_FULL_DROP};
        total += size;
        p = end;
        if (*p == '\0')
            break;
        if (*p != ',')
            return fail(err, -EINVAL,
                        "queue groups \"%s\": unexpected '%c' (expected queue counts separated by commas, such as 4,1)",
                        text, *p);
        ++p;
    }
    if (total > kMaxQueues)
        return fail(err, -EINVAL, "queue groups \"%s\": %llu queues in all; a cluster has at most %u", text,
                    static_cast<unsigned long long>(total), kMaxQueues);
    config->group_count = count;
    for (std::uint32_t g = 0; g < count; ++g)
        config->groups[g] = groups[g];
    return 0;
}

extern "C" int zc_balancer_create(zc_cluster* cluster, zc_device* const* devices, std::uint32_t device_count,
                                  const zc_balancer_config* config, zc_balancer** out, zc_error* err)
{
    if (out)
        *out = nullptr;
    if (!cluster || !config || !out || (device_count > 0 && !devices))
        return fail(err, -EINVAL, "balancer: cluster, devices, config and out must not be NULL");
    if (config->struct_size != sizeof *config)
        return fail(err, -EINVAL, "balancer: zc_balancer_config.struct_size %u is not one this library knows",
                    config->struct_size);
    if (!cluster->owner)
        return fail(err, -EPERM, "balancer: cluster %u is attached, not owned: only its owner may balance into it",
                    cluster->id);
    if (device_count == 0 || device_count > ZC_BALANCE_MAX_DEVICES)
        return fail(err, -EINVAL, "balancer: %u devices; give 1 to %d", device_count, ZC_BALANCE_MAX_DEVICES);
    for (std::uint32_t d = 0; d < device_count; ++d) {
        if (!devices[d])
            return fail(err, -EINVAL, "balancer: device %u is NULL", d);
        if (zc_device_cluster(devices[d]) != cluster)
            return fail(err, -EINVAL,
                        "balancer: device %s receives into a pool of its own: open it with zc_device_config.pool "
                        "= the cluster",
                        zc_device_name(devices[d]));
    }
    if (static_cast<unsigned>(config->mode) >= ZC_HASH_MODE_COUNT)
        return fail(err, -EINVAL, "balancer: hash mode %d is not a mode", static_cast<int>(config->mode));
    if (config->group_count == 0 || config->group_count > ZC_BALANCE_MAX_GROUPS)
        return fail(err, -EINVAL, "balancer: %u queue groups; give 1 to %d", config->group_count,
                    ZC_BALANCE_MAX_GROUPS);
    std::uint64_t total = 0;
    for (std::uint32_t g = 0; g < config->group_count; ++g) {
        const zc_balance_group& group = config->groups[g];
        if (group.queues == 0 || group.queues > kMaxQueues)
            return fail(err, -EINVAL, "balancer: group %u has %u queues; give 1 to %u", g, group.queues, kMaxQueues);
        if (group.on_full != ZC_ON_FULL_DROP && group.on_full != ZC_ON_FULL_WAIT)
            return fail(err, -EINVAL, "balancer: group %u: on_full %d is neither drop nor wait", g,
                        static_cast<int>(group.on_full));
        total += group.queues;
    }
    if (total != cluster->queue_count)
        return fail(err, -EINVAL, "balancer: the groups have %llu queues in all, cluster %u has %u (create it with "
                    "queue_count = the sum of the group sizes)",
                    static_cast<unsigned long long>(total), cluster->id, cluster->queue_count);
    const std::uint32_t burst = config->burst == 0 ? kDefaultBurst : config->burst;
    if (burst > kMaxBurst)
        return fail(err, -EINVAL, "balancer: burst %u is above %u", burst, kMaxBurst);

    auto* b = new (std::nothrow) zc_balancer;
    if (!b)
        return fail(err, -ENOMEM, "balancer: out of memory");
    try {
        b->cluster = cluster;
        b->devices.assign(devices, devices + device_count);
        b->config = *config;
        b->config.burst = burst;
        b->burst = burst;
        b->group_count = config->group_count;
        std::uint32_t base = 0;
        for (std::uint32_t g = 0; g < b->group_count; ++g) {
            b->groups[g] = BalancerGroup{base, config->groups[g].queues};
            base += config->groups[g].queues;
        }
        const std::uint32_t queue_count = cluster->queue_count;
        b->stage_capacity = device_count * burst;
        b->words_per_queue = (cluster->frame_count + 63) / 64;
        b->held_bits.assign(std::size_t{queue_count} * b->words_per_queue, 0);
        b->stage_memory.assign(std::size_t{queue_count} * b->stage_capacity, zc_desc{});
        b->origins.assign(cluster->frame_count, BufferOrigin{});
        b->received.assign(burst, zc_packet{});
        b->going_home.assign(device_count, std::vector<zc_packet>(kGoingHomeBatch));
        b->going_home_count.assign(device_count, 0);
        b->device_ended.assign(device_count, 0);
        b->queues.resize(queue_count);
        for (std::uint32_t g = 0; g < b->group_count; ++g)
            for (std::uint32_t i = 0; i < b->groups[g].size; ++i) {
                std::uint32_t q = b->groups[g].base + i;
                BalancerQueue& queue = b->queues[q];
                queue.rx = RingProducer<zc_desc>(queue_ring(cluster, q, true));
                queue.ret = RingConsumer<zc_desc>(queue_ring(cluster, q, false));
                queue.info = &cluster->queues[q];
                queue.held = &b->held_bits[std::size_t{q} * b->words_per_queue];
                queue.stage = &b->stage_memory[std::size_t{q} * b->stage_capacity];
                queue.wait = config->groups[g].on_full == ZC_ON_FULL_WAIT;
                // A new balancer over a cluster starts its counters from what
                // the region holds (a previous balancer's totals).
                queue.enqueued = std::atomic_ref<std::uint64_t>(queue.info->enqueued).load(std::memory_order_relaxed);
                queue.dropped =
                    std::atomic_ref<std::uint64_t>(queue.info->dropped_full).load(std::memory_order_relaxed);
                queue.bad_returns =
                    std::atomic_ref<std::uint64_t>(queue.info->bad_return).load(std::memory_order_relaxed);
            }
    } catch (const std::bad_alloc&) {
        delete b;
        return fail(err, -ENOMEM, "balancer: out of memory for %u queues over %u buffers", cluster->queue_count,
                    cluster->frame_count);
    }
    *out = b;
    return 0;
}

// Everything queue `index` holds comes home: what its consumer handed back,
// then every buffer still marked (on the RX ring or in the consumer's
// hands), and both rings are emptied for the next consumer.
std::uint32_t zc_balancer::reclaim(std::uint32_t index) noexcept
{
    reap(index);
    BalancerQueue& q = queues[index];
    RingShared* rx_ring = queue_ring(cluster, index, true);
    RingShared* return_ring = queue_ring(cluster, index, false);
    // The consumer is gone: the owner takes its side of both rings. The RX
    // ring's consumer index catches up with what was produced; the return
    // ring's was reaped above, and whatever a half-dead consumer still
    // wrote after that is discarded with it.
    std::atomic_ref<std::uint32_t>(rx_ring->consumer)
        .store(std::atomic_ref<std::uint32_t>(rx_ring->producer).load(std::memory_order_relaxed),
               std::memory_order_release);
    std::atomic_ref<std::uint32_t>(return_ring->producer)
        .store(std::atomic_ref<std::uint32_t>(return_ring->consumer).load(std::memory_order_relaxed),
               std::memory_order_release);
    q.rx = RingProducer<zc_desc>(rx_ring);
    q.ret = RingConsumer<zc_desc>(return_ring);

    std::uint32_t reclaimed = 0;
    for (std::uint32_t w = 0; w < words_per_queue; ++w) {
        for (std::uint64_t bits = q.held[w]; bits != 0; bits &= bits - 1) {
            drop_reference(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
            ++reclaimed;
        }
        q.held[w] = 0;
    }
    q.outstanding = 0;
    send_home();
    if (reclaimed > 0)
        log(ZC_LOG_INFO, "cluster %u: queue %u: %u buffers reclaimed from its consumer", cluster->id, index,
            reclaimed);
    return reclaimed;
}

extern "C" int zc_balancer_reclaim_queue(zc_balancer* b, std::uint32_t queue)
{
    if (!b)
        return -EINVAL;
    if (queue >= b->queues.size())
        return -EINVAL;
    b->reclaim(queue);
    return 0;
}

extern "C" int zc_balancer_listen(zc_balancer* b, zc_error* err)
{
    if (!b)
        return fail(err, -EINVAL, "no balancer");
    if (b->control.listening())
        return 0;
    struct stat st {};
    if (::fstat(b->cluster->fd, &st) != 0)
        return fail(err, -errno, "cluster %u: cannot read its region file's group: %s", b->cluster->id,
                    std::strerror(errno));
    // One wake-up eventfd per queue, handed to its consumer with the region
    // (control_socket.hpp), written by flush() when that consumer sleeps.
    try {
        b->wake_fds.reserve(b->queues.size());
    } catch (const std::bad_alloc&) {
        return fail(err, -ENOMEM, "cluster %u: no memory", b->cluster->id);
    }
    while (b->wake_fds.size() < b->queues.size()) {
        int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            return fail(err, -errno, "cluster %u: cannot create a wake-up eventfd: %s", b->cluster->id,
                        std::strerror(errno));
        b->wake_fds.push_back(fd); // reserved: cannot throw
    }
    if (int rc = b->control.listen(b->cluster->id, static_cast<std::uint32_t>(b->queues.size()), st.st_gid,
                                   b->cluster->fd, b->wake_fds.data(), err);
        rc != 0)
        return rc;
    for (std::uint32_t q = 0; q < b->queues.size(); ++q)
        b->queues[q].wake_fd = b->wake_fds[q];
    // Consumers must attach through the socket from now on (control_socket.hpp).
    std::atomic_ref<std::uint32_t>(b->cluster->header->flags)
        .fetch_or(zc::control::kRegionControlSocket, std::memory_order_release);
    return 0;
}

extern "C" std::uint32_t zc_balancer_control(zc_balancer* b, zc_balancer_event* events, std::uint32_t max)
{
    if (!b || !b->control.listening())
        return 0;
    std::vector<zc::control::Event> happened;
    try {
        b->control.service([b](std::uint32_t queue) { return b->reclaim(queue); }, happened);
    } catch (...) {
        // No memory for an event: what was done is done; the events are lost.
    }
    std::uint32_t n = 0;
    for (const zc::control::Event& e : happened) {
        if (n == max || !events)
            break;
        zc_balancer_event& out = events[n++];
        out.kind = e.kind == zc::control::Event::Joined ? ZC_BALANCER_CONSUMER_JOINED
                   : e.kind == zc::control::Event::Left ? ZC_BALANCER_CONSUMER_LEFT
                                                         : ZC_BALANCER_CONSUMER_REFUSED;
        out.queue = e.queue;
        out.pid = static_cast<std::int32_t>(e.pid);
        out.buffers = e.buffers;
        std::snprintf(out.text, sizeof out.text, "%s", e.text.c_str());
    }
    return n;
}

extern "C" std::uint32_t zc_balancer_poll(zc_balancer* b) { return b->poll(); }

zc_balancer::~zc_balancer()
{
    for (int fd : wake_fds)
        ::close(fd);
}

extern "C" void zc_balancer_close(zc_balancer* b)
{
    if (!b)
        return;
    // Everything goes home before the devices close: staged descriptors
    // (wait mode) drop their references, and every queue is reclaimed, as
    // if its consumer had handed everything back. Consumers still attached
    // must not read on after this: the cluster is going away.
    for (std::uint32_t q = 0; q < b->queues.size(); ++q) {
        BalancerQueue& queue = b->queues[q];
        for (std::uint32_t i = 0; i < queue.staged; ++i)
            b->drop_reference(static_cast<std::uint32_t>(queue.stage[i].addr >> b->cluster->frame_shift));
        queue.staged = 0;
    }
    b->waiting = 0;
    for (std::uint32_t q = 0; q < b->queues.size(); ++q)
        b->reclaim(q);
    b->send_home();
    delete b;
}

extern "C" int zc_balancer_get_stats(const zc_balancer* b, zc_balancer_stats* stats)
{
    if (!b || !stats || stats->struct_size != sizeof *stats)
        return -EINVAL;
    stats->queue_count = static_cast<std::uint32_t>(b->queues.size());
    stats->received = b->received_count;
    stats->distributed = b->received_count - b->dropped_everywhere;
    stats->waiting = b->waiting;
    stats->pool_free = zc_pool_free_count(b->cluster);
    stats->reserved = 0;
    for (std::uint32_t q = 0; q < b->queues.size(); ++q) {
        const BalancerQueue& queue = b->queues[q];
        zc_balancer_queue_stats& out = stats->queues[q];
        out.enqueued = queue.enqueued;
        out.dropped = queue.dropped;
        out.returned = queue.returned;
        out.bad_returns = queue.bad_returns;
        RingShared* rx_ring = queue_ring(b->cluster, q, true);
        out.occupancy = std::atomic_ref<std::uint32_t>(rx_ring->producer).load(std::memory_order_acquire) -
                        std::atomic_ref<std::uint32_t>(rx_ring->consumer).load(std::memory_order_acquire);
        out.outstanding = queue.outstanding;
    }
    return 0;
}

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

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "balancer.hpp"
#include "internal/driver.hpp"
#include "internal/error.hpp"
#include "internal/shared_counter.hpp"
#include "rules_table.hpp"

using namespace zc;

namespace {

constexpr std::uint32_t kDefaultBurst = 256;
constexpr std::uint32_t kMaxBurst = 1024;
constexpr std::uint32_t kMaxQueues = 1024; // as the cluster
// The region's rule table is rewritten at most this often, and at once
// after a load (zc_balancer_control).
constexpr std::uint64_t kRulePublishNs = 100'000'000;

} // namespace

extern "C" void zc_balancer_config_init(zc_balancer_config* config)
{
    *config = zc_balancer_config{};
    config->struct_size = sizeof *config;
    config->mode = ZC_HASH_MODE_DEFAULT;
    config->group_count = 1;
    config->groups[0] = zc_balance_group{1, ZC_ON_FULL_DROP};
    config->burst = kDefaultBurst;
    config->queue_limit = 0;
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
    // A drop-mode queue's limit: by default a share of the buffers the
    // devices can have out at once (driver.hpp, buffer_budget: a device may
    // use fewer than the pool holds, zc:synthetic its stream's) that leaves
    // as much again to the devices however many queues stall.
    std::uint64_t budget = 0;
    for (std::uint32_t d = 0; d < device_count; ++d)
        budget += device_buffer_budget(devices[d]);
    const std::uint64_t lendable = budget < cluster->frame_count ? budget : cluster->frame_count;
    // A device with few buffers (a test's zc:synthetic of 16) gets a small
    // default limit, at least one buffer; a limit the caller gives must
    // hold at least one burst.
    const std::uint64_t share = lendable / (cluster->queue_count + 1);
    const std::uint32_t limit =
        config->queue_limit != 0 ? config->queue_limit : static_cast<std::uint32_t>(share > 0 ? share : 1);
    if (config->queue_limit != 0 && limit < burst)
        return fail(err, -EINVAL, "balancer: a queue limit of %u buffers is below one burst (%u); give a larger --queue-limit",
                    limit, burst);

    const std::uint32_t lane_count = cluster->lanes;
    if (device_count < lane_count)
        return fail(err, -EINVAL,
                    "balancer: cluster %u is fed by %u lanes (threads) and there are %u devices: each lane reads "
                    "devices of its own (an interface's RX queues one by one: zc:IFACE@0, zc:IFACE@1, ...)",
                    cluster->id, lane_count, device_count);

    auto* b = new (std::nothrow) zc_balancer;
    if (!b)
        return fail(err, -ENOMEM, "balancer: out of memory");
    try {
        b->cluster = cluster;
        b->devices.assign(devices, devices + device_count);
        b->config = *config;
        b->config.burst = burst;
        b->config.queue_limit = limit;
        b->burst = burst;
        b->group_count = config->group_count;
        std::uint32_t base = 0;
        for (std::uint32_t g = 0; g < b->group_count; ++g) {
            b->groups[g] = BalancerGroup{base, config->groups[g].queues,
                                         BalancerGroup::reciprocal_of(config->groups[g].queues)};
            base += config->groups[g].queues;
        }
        const std::uint32_t queue_count = cluster->queue_count;
        b->words_per_queue = (cluster->frame_count + 63) / 64;
        // A queue's drop-mode limit is shared out over the lanes (each
        // counts what it delivered there).
        b->lane_limit = limit / lane_count > 0 ? limit / lane_count : 1;
        b->origins.assign(cluster->frame_count, BufferOrigin{});
        b->device_ended.assign(device_count, 0);
        b->cut_offs.assign(queue_count, 0);
        b->rule_engine = std::make_unique<rules::RuleEngine>(b->group_count);
        for (std::uint32_t l = 0; l < lane_count; ++l) {
            b->lanes.push_back(std::make_unique<BalancerLane>());
            BalancerLane& lane = *b->lanes.back();
            lane.balancer = b;
            lane.cluster = cluster;
            lane.id = l;
            lane.publish_inline = lane_count == 1;
            for (std::uint32_t d = l; d < device_count; d += lane_count)
                lane.devices.push_back(d);
            const std::uint32_t stage_capacity = static_cast<std::uint32_t>(lane.devices.size()) * burst;
            lane.held_bits.assign(std::size_t{queue_count} * b->words_per_queue, 0);
            lane.stage_memory.assign(std::size_t{queue_count} * stage_capacity, zc_rx_desc{});
            lane.received.assign(burst, zc_packet{});
            lane.hashes.assign(burst, 0);
            lane.going_home.assign(device_count, std::vector<zc_packet>());
            for (std::uint32_t d : lane.devices)
                lane.going_home[d].assign(kGoingHomeBatch, zc_packet{});
            lane.going_home_count.assign(device_count, 0);
            lane.queues.resize(queue_count);
            // No rules yet: a matcher needs no Hyperscan until they come.
            lane.matcher = b->rule_engine->add_matcher(err);
            if (!lane.matcher) { // err says why
                delete b;
                return -ENOMEM;
            }
            for (std::uint32_t g = 0; g < b->group_count; ++g)
                for (std::uint32_t i = 0; i < b->groups[g].size; ++i) {
                    std::uint32_t q = b->groups[g].base + i;
                    BalancerQueue& queue = lane.queues[q];
                    queue.info = &cluster->queues[q];
                    queue.held = &lane.held_bits[std::size_t{q} * b->words_per_queue];
                    queue.stage = &lane.stage_memory[std::size_t{q} * stage_capacity];
                    queue.wait = config->groups[g].on_full == ZC_ON_FULL_WAIT;
                    // The rings as the owner left them (a cluster is balanced
                    // by one balancer at a time): adopted once, checked from
                    // then on.
                    queue.rx = RingProducer<zc_rx_desc>(queue_ring(cluster, q, true, l), cluster->queue_slots);
                    queue.ret = RingConsumer<zc_desc>(queue_ring(cluster, q, false, l), cluster->queue_slots);
                    queue.side = cluster->sides[q];
                    queue.limit = queue.wait ? ~0u : b->lane_limit;
                    // A new balancer over a cluster starts its counters from
                    // what the region holds (a previous balancer's totals):
                    // lane 0 carries them.
                    if (l == 0) {
                        queue.enqueued = counter_load(queue.info->enqueued);
                        queue.dropped = counter_load(queue.info->dropped_full);
                        queue.bad_returns = counter_load(queue.info->bad_return);
                        queue.filtered = counter_load(queue.info->filtered);
                    }
                }
        }
        for (std::uint32_t q = 0; q < queue_count; ++q)
            b->cut_offs[q] = counter_load(cluster->queues[q].cut_off);
    } catch (const std::bad_alloc&) {
        delete b;
        return fail(err, -ENOMEM, "balancer: out of memory for %u queues over %u buffers", cluster->queue_count,
                    cluster->frame_count);
    }
    *out = b;
    return 0;
}

zc_balancer::Pause::Pause(zc_balancer& balancer) noexcept : balancer_(balancer)
{
    balancer_.control_turn.lock();
    balancer_.paused.fetch_add(1, std::memory_order_seq_cst);
    for (const auto& lane : balancer_.lanes)
        while (lane->in_round.load(std::memory_order_seq_cst) != 0)
            ::sched_yield(); // a round is microseconds; yield in case its thread shares our CPU
}

zc_balancer::Pause::~Pause()
{
    if (balancer_.paused.fetch_sub(1, std::memory_order_release) == 1)
        balancer_.paused.notify_all();
    balancer_.control_turn.unlock();
}

// Points every lane's handles of queue `index` at its side's rings: a
// fresh side's from 0, else the same side's emptied at the owner's own
// positions (never read back from the side).
void zc_balancer::bind_queue(std::uint32_t index, bool fresh) noexcept
{
    for (const auto& lane : lanes) {
        BalancerQueue& q = lane->queues[index];
        const std::uint32_t l = lane->id;
        const std::uint32_t rx_at = fresh ? 0 : q.rx.published();
        const std::uint32_t return_at = fresh ? 0 : q.ret.released();
        RingShared* rx_ring = queue_ring(cluster, index, true, l);
        RingShared* return_ring = queue_ring(cluster, index, false, l);
        if (!fresh) {
            std::atomic_ref<std::uint32_t>(rx_ring->producer).store(rx_at, std::memory_order_relaxed);
            std::atomic_ref<std::uint32_t>(rx_ring->consumer).store(rx_at, std::memory_order_release);
            std::atomic_ref<std::uint32_t>(return_ring->consumer).store(return_at, std::memory_order_relaxed);
            std::atomic_ref<std::uint32_t>(return_ring->producer).store(return_at, std::memory_order_release);
        }
        q.rx = RingProducer<zc_rx_desc>(rx_ring, cluster->queue_slots, rx_at);
        q.ret = RingConsumer<zc_desc>(return_ring, cluster->queue_slots, return_at);
        q.side = cluster->sides[index];
    }
}

// Whether some lane found queue `index`'s consumer breaking the protocol.
bool zc_balancer::queue_broken(std::uint32_t index, const char** why) const noexcept
{
    for (const auto& lane : lanes)
        if (lane->queues[index].broken) {
            if (why)
                *why = lane->queues[index].broken_why;
            return true;
        }
    return false;
}

// Everything queue `index` holds comes home: what its consumer handed back
// (unless it broke the protocol: then nothing it wrote is read), then every
// buffer the held bitmaps mark (on the RX rings or in the consumer's hands).
// The next consumer starts on empty rings: a fresh side when the queue is
// served through the control socket, else this one reset to the owner's
// own indices. With the lanes paused.
std::uint32_t zc_balancer::reclaim(std::uint32_t index) noexcept
{
    const bool broken = queue_broken(index, nullptr);
    std::uint32_t reclaimed = 0;
    for (const auto& lane : lanes) {
        BalancerQueue& q = lane->queues[index];
        if (!broken)
            lane->reap(index);
        for (std::uint32_t w = 0; w < words_per_queue; ++w) {
            for (std::uint64_t bits = q.held[w]; bits != 0; bits &= bits - 1) {
                lane->drop_reference(w * 64 + static_cast<std::uint32_t>(__builtin_ctzll(bits)));
                ++reclaimed;
            }
            q.held[w] = 0;
        }
        q.outstanding = 0;
        lane->send_home();
    }

    zc_error err{};
    if (control.listening() && !closing && renew_queue_side(*cluster, index, &err) == 0) {
        bind_queue(index, true);
    } else {
        if (control.listening() && !closing)
            log(ZC_LOG_WARNING, "%s; queue %u keeps its side, reset", err.message, index);
        bind_queue(index, false); // the same side, every ring emptied at the owner's positions
    }
    for (const auto& lane : lanes) {
        BalancerQueue& q = lane->queues[index];
        if (q.broken) {
            q.broken = false;
            q.broken_why = nullptr;
            --lane->broken_count;
        }
        q.limit = q.wait ? ~0u : lane_limit;
    }
    if (broken) {
        ++cut_offs[index];
        counter_store(cluster->queues[index].cut_off, cut_offs[index]);
    }
    std::atomic_ref<std::int32_t>(cluster->queues[index].consumer_pid).store(0, std::memory_order_relaxed);
    if (reclaimed > 0)
        log(ZC_LOG_INFO, "cluster %u: queue %u: %u buffers reclaimed from its consumer", cluster->id, index,
            reclaimed);
    return reclaimed;
}

int zc_balancer::grant(std::uint32_t index, pid_t pid, int* side_fd, int* wake_fd, char* why,
                       std::size_t why_size) noexcept
{
    // A wake-up pipe of its own: the previous consumer may still hold the
    // old one. A pipe, not an eventfd: the owner writes its own file
    // description (O_NONBLOCK, which the consumer cannot clear: it holds
    // only the read end), so a consumer that lets the pipe fill only makes
    // the owner's write fail with EAGAIN. The owner keeps the read end open
    // too, so that its write never meets EPIPE when the consumer is gone.
    int ends[2];
    if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) {
        std::snprintf(why, why_size, "cluster %u: the owner cannot create a wake-up pipe: %s", cluster->id,
                      std::strerror(errno));
        return -errno;
    }
    for (int fd : wake_fds[index])
        if (fd >= 0)
            ::close(fd);
    wake_fds[index] = {ends[0], ends[1]};
    for (const auto& lane : lanes)
        lane->queues[index].wake_fd = ends[1];
    *wake_fd = ends[0];
    *side_fd = zc::side_fd(*cluster, index);
    QueueInfo& info = cluster->queues[index];
    std::atomic_ref<std::int32_t>(info.consumer_pid).store(static_cast<std::int32_t>(pid), std::memory_order_relaxed);
    std::atomic_ref<std::uint32_t>(info.generation).fetch_add(1, std::memory_order_relaxed);
    return 0;
}

extern "C" int zc_balancer_reclaim_queue(zc_balancer* b, std::uint32_t queue)
{
    if (!b)
        return -EINVAL;
    if (queue >= b->cluster->queue_count)
        return -EINVAL;
    zc_balancer::Pause pause(*b);
    b->reclaim(queue);
    return 0;
}

extern "C" int zc_balancer_listen(zc_balancer* b, zc_error* err)
{
    if (!b)
        return fail(err, -EINVAL, "no balancer");
    if (b->control.listening())
        return 0;
    zc_cluster* c = b->cluster;
    if (c->path == "(private)")
        return fail(err, -EINVAL, "cluster %u: a private pool has no region to share", c->id);
    struct stat st {};
    if (::fstat(c->fd, &st) != 0)
        return fail(err, -errno, "cluster %u: cannot read its region file's group: %s", c->id, std::strerror(errno));
    // Consumers read the region and write nothing in it: the group loses
    // write access, and consumers get a read-only descriptor.
    if (::fchmod(c->fd, 0640) != 0)
        return fail(err, -errno, "cluster %u: cannot make %s read-only for its group: %s", c->id, c->path.c_str(),
                    std::strerror(errno));
    if (b->region_read_fd < 0) {
        b->region_read_fd = ::open(c->path.c_str(), O_RDONLY | O_CLOEXEC);
        if (b->region_read_fd < 0)
            return fail(err, -errno, "cluster %u: cannot open %s read-only: %s", c->id, c->path.c_str(),
                        std::strerror(errno));
    }
    zc_balancer::Pause pause(*b);
    const std::uint32_t queue_count = c->queue_count;
    try {
        b->wake_fds.assign(queue_count, {-1, -1});
    } catch (const std::bad_alloc&) {
        return fail(err, -ENOMEM, "cluster %u: no memory", c->id);
    }
    // Every queue's consumer side moves out of the region, into a memory
    // file of its own; whatever the in-region side held comes home first.
    for (std::uint32_t q = 0; q < queue_count; ++q) {
        b->reclaim(q);
        if (int rc = renew_queue_side(*c, q, err); rc != 0)
            return rc;
        b->bind_queue(q, true);
    }
    if (int rc = b->control.listen(c->id, queue_count, st.st_gid, b->region_read_fd,
                                   b, err);
        rc != 0)
        return rc;
    // Consumers must attach through the socket from now on (control_socket.hpp).
    std::atomic_ref<std::uint32_t>(c->header->flags)
        .fetch_or(zc::control::kRegionControlSocket, std::memory_order_release);
    return 0;
}

// The owner's copies of what consumers report about themselves, and of
// what it knows of each queue, for readers of the region (zc-stat); with
// several lanes, also the sums of their counters (the only lane publishes
// its own as it goes). With the lanes paused.
void zc_balancer::publish_consumer_view() noexcept
{
    auto copy = [](std::uint64_t& to, const std::uint64_t& from) { counter_store(to, counter_load(from)); };
    for (std::uint32_t index = 0; index < cluster->queue_count; ++index) {
        QueueInfo& info = cluster->queues[index];
        const QueueSide& side = *lanes[0]->queues[index].side;
        copy(info.received, side.received);
        copy(info.returned, side.returned);
        copy(info.bad_descriptors, side.bad_descriptors);
        std::uint32_t occupancy = 0;
        std::uint32_t outstanding = 0;
        std::uint64_t enqueued = 0, dropped = 0, bad_returns = 0, filtered = 0;
        for (const auto& lane : lanes) {
            BalancerQueue& q = lane->queues[index];
            occupancy += q.rx.occupancy();
            outstanding += q.outstanding;
            enqueued += q.enqueued;
            dropped += q.dropped;
            bad_returns += q.bad_returns;
            filtered += q.filtered;
            if (q.rx.broken()) [[unlikely]]
                lane->mark_broken(index, "its RX ring's consumer index moved backwards or past what was delivered");
        }
        std::atomic_ref<std::uint32_t>(info.occupancy).store(occupancy, std::memory_order_relaxed);
        std::atomic_ref<std::uint32_t>(info.outstanding).store(outstanding, std::memory_order_relaxed);
        if (lanes.size() > 1) {
            counter_store(info.enqueued, enqueued);
            counter_store(info.dropped_full, dropped);
            counter_store(info.bad_return, bad_returns);
            counter_store(info.filtered, filtered);
        }
    }
}

// The rules in force with their hits, and the totals. Control path.
void zc_balancer::rule_snapshot(zc_rules_stats* totals, std::vector<rules::RuleHits>* rows)
{
    *rows = rule_engine->snapshot();
    *totals = zc_rules_stats{};
    totals->struct_size = sizeof *totals;
    totals->rule_count = static_cast<std::uint32_t>(rows->size());
    totals->generation = rule_engine->generation();
    for (const auto& lane : lanes) {
        totals->dropped += lane->rules_dropped.get();
        totals->scanned += lane->matcher->scanned();
        totals->scan_errors += lane->matcher->scan_errors();
    }
}

// The region's rule table (layout.hpp, RuleTable), for zc-stat: rewritten
// at once after a load, else every kRulePublishNs while rules are in force.
void zc_balancer::publish_rules()
{
    if (!rules_loaded.load(std::memory_order_relaxed))
        return; // no rules loaded: the table stays empty
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    const std::uint64_t ns = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
    const std::uint64_t generation = rule_engine->generation();
    if (generation == rules_published_generation && ns - rules_published_ns < kRulePublishNs)
        return;
    zc_rules_stats totals{};
    std::vector<rules::RuleHits> rows;
    rule_snapshot(&totals, &rows);
    publish_rule_table(*cluster->rules, rows, totals);
    rules_published_generation = totals.generation;
    rules_published_ns = ns;
}

extern "C" int zc_balancer_set_group_filter(zc_balancer* b, std::uint32_t group, const zc_filter_insn* insns,
                                            std::uint32_t count, zc_error* err)
{
    if (!b)
        return fail(err, -EINVAL, "balancer: no balancer");
    if (group >= b->group_count)
        return fail(err, -EINVAL, "balancer: no group %u (groups 0 to %u)", group, b->group_count - 1);
    zc_balancer::Pause pause(*b); // the lanes run the filters
    if (!insns || count == 0) {
        b->group_filters[group].set(nullptr, 0);
        b->filtered_groups &= ~(1u << group);
        return 0;
    }
    if (!zc::UserFilter::valid(insns, count))
        return fail(err, -EINVAL, "balancer: group %u: the filter is not a valid classic BPF program", group);
    try {
        b->group_filters[group].set(insns, count);
    } catch (const std::bad_alloc&) {
        return fail(err, -ENOMEM, "balancer: group %u: out of memory for its filter", group);
    }
    b->filtered_groups |= 1u << group;
    return 0;
}

extern "C" int zc_balancer_load_rules(zc_balancer* b, const char* path, zc_error* err)
{
    if (!b || !path)
        return fail(err, -EINVAL, "rules: balancer and path must not be NULL");
    try {
        if (int rc = b->rule_engine->load_file(path, err); rc != 0)
            return rc;
    } catch (const std::bad_alloc&) {
        return fail(err, -ENOMEM, "%s: out of memory for the rules", path);
    }
    // Release, matches the acquire in a lane's round: from its next round
    // each lane asks its matcher, which takes the rules up at its next burst.
    b->rules_loaded.store(true, std::memory_order_release);
    return 0;
}

extern "C" int zc_balancer_get_rule_stats(zc_balancer* b, zc_rules_stats* stats, zc_rule_stats* rows,
                                          std::uint32_t max, std::uint32_t* row_count)
{
    if (!b || !stats || stats->struct_size != sizeof *stats || (max > 0 && !rows) || !row_count)
        return -EINVAL;
    std::vector<rules::RuleHits> hits;
    try {
        b->rule_snapshot(stats, &hits);
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    }
    const std::uint32_t n = hits.size() < max ? static_cast<std::uint32_t>(hits.size()) : max;
    for (std::uint32_t i = 0; i < n; ++i)
        rows[i] = rule_stats_of(hits[i]);
    *row_count = n;
    return 0;
}

extern "C" std::uint32_t zc_balancer_control(zc_balancer* b, zc_balancer_event* events, std::uint32_t max)
{
    if (!b)
        return 0;
    std::vector<zc::control::Event> happened;
    zc_balancer::Pause pause(*b);
    try {
        b->publish_consumer_view();
        b->publish_rules();
        // Queues whose consumer broke the protocol: cut off — before the
        // socket is serviced, so that a consumer that broke its queue and
        // then closed is counted and reported as cut off, not as gone.
        std::uint32_t broken_count = 0;
        for (const auto& lane : b->lanes)
            broken_count += lane->broken_count;
        for (std::uint32_t q = 0; q < b->cluster->queue_count && broken_count > 0; ++q) {
            const char* why = nullptr;
            if (!b->queue_broken(q, &why))
                continue;
            pid_t pid = b->control.listening() ? b->control.cut_off(q, why, happened) : 0;
            if (pid == 0) {
                // Nobody connected (no socket, or already gone): reclaim and
                // reset all the same.
                const QueueSide& side = *b->lanes[0]->queues[q].side;
                pid = static_cast<pid_t>(
                    std::atomic_ref<const std::uint64_t>(side.consumer_claim).load(std::memory_order_relaxed) >> 32);
                std::uint32_t buffers = b->reclaim(q);
                happened.push_back(zc::control::Event{zc::control::Event::CutOff, q, pid, buffers, why});
            }
        }
        if (b->control.listening())
            b->control.service(happened);
    } catch (...) {
        // No memory for an event: what was done is done; the events are lost.
    }
    std::uint32_t n = 0;
    for (const zc::control::Event& e : happened) {
        if (n == max || !events)
            break;
        zc_balancer_event& out = events[n++];
        out.kind = e.kind == zc::control::Event::Joined   ? ZC_BALANCER_CONSUMER_JOINED
                   : e.kind == zc::control::Event::Left   ? ZC_BALANCER_CONSUMER_LEFT
                   : e.kind == zc::control::Event::CutOff ? ZC_BALANCER_CONSUMER_CUT_OFF
                                                          : ZC_BALANCER_CONSUMER_REFUSED;
        out.queue = e.queue;
        out.pid = static_cast<std::int32_t>(e.pid);
        out.buffers = e.buffers;
        std::snprintf(out.text, sizeof out.text, "%s", e.text.c_str());
    }
    return n;
}

extern "C" std::uint32_t zc_balancer_poll(zc_balancer* b)
{
    std::uint32_t distributed = 0;
    for (const auto& lane : b->lanes)
        distributed += lane->poll();
    return distributed;
}

extern "C" std::uint32_t zc_balancer_poll_lane(zc_balancer* b, std::uint32_t lane)
{
    return lane < b->lanes.size() ? b->lanes[lane]->poll() : 0;
}

extern "C" std::uint32_t zc_balancer_lane_count(const zc_balancer* b)
{
    return static_cast<std::uint32_t>(b->lanes.size());
}

extern "C" int zc_balancer_lane_fds(const zc_balancer* b, std::uint32_t lane, int* fds, std::uint32_t max)
{
    if (!b || lane >= b->lanes.size() || (max > 0 && !fds))
        return -EINVAL;
    const std::vector<std::uint32_t>& devices = b->lanes[lane]->devices;
    std::uint32_t n = 0;
    for (std::uint32_t d : devices)
        if (n < max)
            fds[n++] = zc_device_selectable_fd(b->devices[d]);
    return static_cast<int>(devices.size());
}

zc_balancer::~zc_balancer()
{
    for (const auto& ends : wake_fds)
        for (int fd : ends)
            if (fd >= 0)
                ::close(fd);
    if (region_read_fd >= 0)
        ::close(region_read_fd);
}

extern "C" void zc_balancer_close(zc_balancer* b)
{
    if (!b)
        return;
    // Everything goes home before the devices close: staged descriptors
    // (wait mode) drop their references, and every queue is reclaimed, as
    // if its consumer had handed everything back. Consumers still attached
    // must not read on after this: the cluster is going away.
    {
        zc_balancer::Pause pause(*b);
        for (const auto& lane : b->lanes) {
            for (BalancerQueue& queue : lane->queues) {
                for (std::uint32_t i = 0; i < queue.staged; ++i)
                    lane->drop_reference(static_cast<std::uint32_t>(queue.stage[i].addr >> b->cluster->frame_shift));
                queue.staged = 0;
            }
            lane->waiting = 0;
        }
        b->closing = true;
        for (std::uint32_t q = 0; q < b->cluster->queue_count; ++q)
            b->reclaim(q);
        for (const auto& lane : b->lanes)
            lane->send_home();
    }
    delete b;
}

extern "C" int zc_balancer_get_stats(const zc_balancer* balancer, zc_balancer_stats* stats)
{
    if (!balancer || !stats || stats->struct_size != sizeof *stats)
        return -EINVAL;
    // The lanes' own counters, read with them paused.
    auto* b = const_cast<zc_balancer*>(balancer);
    zc_balancer::Pause pause(*b);
    const std::uint32_t queue_count = b->cluster->queue_count;
    stats->queue_count = queue_count;
    stats->received = 0;
    stats->distributed = 0;
    stats->waiting = 0;
    for (const auto& lane : b->lanes) {
        stats->received += lane->received_count;
        stats->distributed += lane->received_count - lane->dropped_everywhere;
        stats->waiting += lane->waiting;
    }
    stats->pool_free = zc_pool_free_count(b->cluster);
    stats->reserved = 0;
    for (std::uint32_t q = 0; q < queue_count; ++q) {
        zc_balancer_queue_stats& out = stats->queues[q];
        out = zc_balancer_queue_stats{};
        bool wait = false;
        for (const auto& lane : b->lanes) {
            const BalancerQueue& queue = lane->queues[q];
            out.enqueued += queue.enqueued;
            out.dropped += queue.dropped;
            out.returned += queue.returned;
            out.bad_returns += queue.bad_returns;
            out.occupancy += ring_occupancy(queue_ring(b->cluster, q, true, lane->id), b->cluster->queue_slots);
            out.outstanding += queue.outstanding;
            out.filtered += queue.filtered;
            wait = queue.wait;
        }
        out.cut_off = b->cut_offs[q];
        out.limit = wait ? ~0u : b->config.queue_limit;
    }
    return 0;
}

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

constexpr std::uint32_t kDefaultBurst = 64;
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
        b->stage_capacity = device_count * burst;
        b->words_per_queue = (cluster->frame_count + 63) / 64;
        b->held_bits.assign(std::size_t{queue_count} * b->words_per_queue, 0);
        b->stage_memory.assign(std::size_t{queue_count} * b->stage_capacity, zc_desc{});
        b->origins.assign(cluster->frame_count, BufferOrigin{});
        b->received.assign(burst, zc_packet{});
        b->hashes.assign(burst, 0);
        b->going_home.assign(device_count, std::vector<zc_packet>(kGoingHomeBatch));
        b->going_home_count.assign(device_count, 0);
        b->device_ended.assign(device_count, 0);
        b->queues.resize(queue_count);
        b->rule_engine = std::make_unique<rules::RuleEngine>(b->group_count);
        // No rules yet: a matcher needs no Hyperscan until they come.
        b->matcher = b->rule_engine->add_matcher(err);
        if (!b->matcher) { // err says why
            delete b;
            return -ENOMEM;
        }
        for (std::uint32_t g = 0; g < b->group_count; ++g)
            for (std::uint32_t i = 0; i < b->groups[g].size; ++i) {
                std::uint32_t q = b->groups[g].base + i;
                BalancerQueue& queue = b->queues[q];
                queue.info = &cluster->queues[q];
                queue.held = &b->held_bits[std::size_t{q} * b->words_per_queue];
                queue.stage = &b->stage_memory[std::size_t{q} * b->stage_capacity];
                queue.wait = config->groups[g].on_full == ZC_ON_FULL_WAIT;
                // The rings as the owner left them (a cluster is balanced by
                // one balancer at a time): adopted once, checked from then on.
                queue.rx = RingProducer<zc_desc>(queue_ring(cluster, q, true), cluster->queue_slots);
                queue.ret = RingConsumer<zc_desc>(queue_ring(cluster, q, false), cluster->queue_slots);
                queue.side = cluster->sides[q];
                queue.limit = queue.wait ? ~0u : limit;
                // A new balancer over a cluster starts its counters from what
                // the region holds (a previous balancer's totals).
                queue.enqueued = counter_load(queue.info->enqueued);
                queue.dropped = counter_load(queue.info->dropped_full);
                queue.bad_returns = counter_load(queue.info->bad_return);
                queue.cut_off = counter_load(queue.info->cut_off);
            }
    } catch (const std::bad_alloc&) {
        delete b;
        return fail(err, -ENOMEM, "balancer: out of memory for %u queues over %u buffers", cluster->queue_count,
                    cluster->frame_count);
    }
    *out = b;
    return 0;
}

// Points queue `index`'s handles at its side's rings, starting from the
// given indices (the owner's own, never read back from the side).
void zc_balancer::bind_queue(std::uint32_t index, std::uint32_t rx_start, std::uint32_t return_start) noexcept
{
    BalancerQueue& q = queues[index];
    q.rx = RingProducer<zc_desc>(queue_ring(cluster, index, true), cluster->queue_slots, rx_start);
    q.ret = RingConsumer<zc_desc>(queue_ring(cluster, index, false), cluster->queue_slots, return_start);
    q.side = cluster->sides[index];
}

// Everything queue `index` holds comes home: what its consumer handed back
// (unless it broke the protocol: then nothing it wrote is read), then every
// buffer the held bitmap marks (on the RX ring or in the consumer's hands).
// The next consumer starts on empty rings: a fresh side when the queue is
// served through the control socket, else this one reset to the owner's
// own indices.
std::uint32_t zc_balancer::reclaim(std::uint32_t index) noexcept
{
    BalancerQueue& q = queues[index];
    if (!q.broken)
        reap(index);
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

    zc_error err{};
    if (control.listening() && !closing && renew_queue_side(*cluster, index, &err) == 0) {
        bind_queue(index, 0, 0);
    } else {
        if (control.listening() && !closing)
            log(ZC_LOG_WARNING, "%s; queue %u keeps its side, reset", err.message, index);
        // The same side, both rings emptied at the owner's positions.
        const std::uint32_t rx_at = q.rx.published();
        const std::uint32_t return_at = q.ret.released();
        RingShared* rx_ring = queue_ring(cluster, index, true);
        RingShared* return_ring = queue_ring(cluster, index, false);
        std::atomic_ref<std::uint32_t>(rx_ring->producer).store(rx_at, std::memory_order_relaxed);
        std::atomic_ref<std::uint32_t>(rx_ring->consumer).store(rx_at, std::memory_order_release);
        std::atomic_ref<std::uint32_t>(return_ring->consumer).store(return_at, std::memory_order_relaxed);
        std::atomic_ref<std::uint32_t>(return_ring->producer).store(return_at, std::memory_order_release);
        bind_queue(index, rx_at, return_at);
    }
    if (q.broken) {
        q.broken = false;
        q.broken_why = nullptr;
        --broken_count;
        ++q.cut_off;
        counter_store(q.info->cut_off, q.cut_off);
    }
    q.limit = q.wait ? ~0u : config.queue_limit;
    std::atomic_ref<std::int32_t>(q.info->consumer_pid).store(0, std::memory_order_relaxed);
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
    queues[index].wake_fd = ends[1];
    *wake_fd = ends[0];
    *side_fd = zc::side_fd(*cluster, index);
    QueueInfo& info = *queues[index].info;
    std::atomic_ref<std::int32_t>(info.consumer_pid).store(static_cast<std::int32_t>(pid), std::memory_order_relaxed);
    std::atomic_ref<std::uint32_t>(info.generation).fetch_add(1, std::memory_order_relaxed);
    return 0;
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
    try {
        b->wake_fds.assign(b->queues.size(), {-1, -1});
    } catch (const std::bad_alloc&) {
        return fail(err, -ENOMEM, "cluster %u: no memory", c->id);
    }
    // Every queue's consumer side moves out of the region, into a memory
    // file of its own; whatever the in-region side held comes home first.
    for (std::uint32_t q = 0; q < b->queues.size(); ++q) {
        b->reclaim(q);
        if (int rc = renew_queue_side(*c, q, err); rc != 0)
            return rc;
        b->bind_queue(q, 0, 0);
    }
    if (int rc = b->control.listen(c->id, static_cast<std::uint32_t>(b->queues.size()), st.st_gid, b->region_read_fd,
                                   b, err);
        rc != 0)
        return rc;
    // Consumers must attach through the socket from now on (control_socket.hpp).
    std::atomic_ref<std::uint32_t>(c->header->flags)
        .fetch_or(zc::control::kRegionControlSocket, std::memory_order_release);
    return 0;
}

// The owner's copies of what consumers report about themselves, and of
// what it knows of each queue, for readers of the region (zc-stat).
void zc_balancer::publish_consumer_view() noexcept
{
    auto copy = [](std::uint64_t& to, const std::uint64_t& from) { counter_store(to, counter_load(from)); };
    for (BalancerQueue& q : queues) {
        copy(q.info->received, q.side->received);
        copy(q.info->returned, q.side->returned);
        copy(q.info->bad_descriptors, q.side->bad_descriptors);
        std::atomic_ref<std::uint32_t>(q.info->occupancy).store(q.rx.occupancy(), std::memory_order_relaxed);
        std::atomic_ref<std::uint32_t>(q.info->outstanding).store(q.outstanding, std::memory_order_relaxed);
        if (q.rx.broken()) [[unlikely]]
            mark_broken(static_cast<std::uint32_t>(&q - queues.data()),
                        "its RX ring's consumer index moved backwards or past what was delivered");
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
    totals->dropped = rules_dropped.get();
    totals->scanned = matcher->scanned();
    totals->scan_errors = matcher->scan_errors();
}

// The region's rule table (layout.hpp, RuleTable), for zc-stat: rewritten
// at once after a load, else every kRulePublishNs while rules are in force.
void zc_balancer::publish_rules()
{
    if (rule_matcher.load(std::memory_order_relaxed) == nullptr)
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
    // Release, matches the acquire in poll(): from its next round the poll
    // loop asks the matcher, which takes the rules up at its next burst.
    b->rule_matcher.store(b->matcher, std::memory_order_release);
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
    try {
        b->publish_consumer_view();
        b->publish_rules();
        // Queues whose consumer broke the protocol: cut off — before the
        // socket is serviced, so that a consumer that broke its queue and
        // then closed is counted and reported as cut off, not as gone.
        for (std::uint32_t q = 0; q < b->queues.size() && b->broken_count > 0; ++q) {
            BalancerQueue& queue = b->queues[q];
            if (!queue.broken)
                continue;
            const char* why = queue.broken_why;
            pid_t pid = b->control.listening() ? b->control.cut_off(q, why, happened) : 0;
            if (pid == 0) {
                // Nobody connected (no socket, or already gone): reclaim and
                // reset all the same.
                pid = static_cast<pid_t>(
                    std::atomic_ref<std::uint64_t>(queue.side->consumer_claim).load(std::memory_order_relaxed) >> 32);
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

extern "C" std::uint32_t zc_balancer_poll(zc_balancer* b) { return b->poll(); }

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
    for (std::uint32_t q = 0; q < b->queues.size(); ++q) {
        BalancerQueue& queue = b->queues[q];
        for (std::uint32_t i = 0; i < queue.staged; ++i)
            b->drop_reference(static_cast<std::uint32_t>(queue.stage[i].addr >> b->cluster->frame_shift));
        queue.staged = 0;
    }
    b->waiting = 0;
    b->closing = true;
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
        out.occupancy = ring_occupancy(queue_ring(b->cluster, q, true), b->cluster->queue_slots);
        out.outstanding = queue.outstanding;
        out.cut_off = queue.cut_off;
        out.limit = queue.wait ? ~0u : b->config.queue_limit;
        out.filtered = queue.filtered;
        out.reserved = 0;
    }
    return 0;
}

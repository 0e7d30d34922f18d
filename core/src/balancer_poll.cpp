// SPDX-License-Identifier: BSD-3-Clause
//
// The balancer's fast path: one round reads a burst from each device, hashes
// each packet once, stages a descriptor for one queue in every group, puts
// each queue's stage on its RX ring with one reserve/submit, and reaps the
// return rings. No allocation, no lock, no system call of its own (the
// devices may wake the kernel), no logging: counts only.

#include <atomic>
#include <cstring>

#include "balancer.hpp"
#include "internal/shared_counter.hpp"
#include "internal/wakeup.hpp"

using namespace zc;

namespace {

constexpr std::uint32_t kPrefetchAhead = 4;

inline void prefetch_packet(std::byte* pool, std::uint32_t shift, const zc_packet& packet) noexcept
{
    __builtin_prefetch(packet.data, 0, 3);
    __builtin_prefetch(pool + (std::size_t{packet.buffer} << shift), 1, 3);
}

constexpr std::uint32_t kReapBatch = 256;

} // namespace

void zc_balancer::publish_counters(BalancerQueue& q) noexcept
{
    counter_store(q.info->enqueued, q.enqueued);
    counter_store(q.info->dropped_full, q.dropped);
    counter_store(q.info->bad_return, q.bad_returns);
}

void zc_balancer::send_home_now(std::uint32_t device) noexcept
{
    std::uint32_t n = going_home_count[device];
    if (n == 0)
        return;
    zc_device_release_burst(devices[device], going_home[device].data(), n);
    going_home_count[device] = 0;
}

void zc_balancer::send_home() noexcept
{
    for (std::uint32_t d = 0; d < devices.size(); ++d)
        send_home_now(d);
}

void zc_balancer::mark_broken(std::uint32_t index, const char* why) noexcept
{
    BalancerQueue& q = queues[index];
    if (q.broken)
        return;
    q.broken = true;
    q.broken_why = why;
    q.limit = 0; // takes nothing more, whatever its policy, until the control path cuts it off
    ++broken_count;
}

// Drops one of the buffer's references; the last one sends it home (true).
bool zc_balancer::drop_reference(std::uint32_t buffer) noexcept
{
    // The owner's private record: only this thread writes the count of a
    // buffer it took from a device.
    std::uint32_t& refs = cluster->states[buffer].refcount;
    if (refs > 1) {
        --refs;
        return false;
    }
    refs = 1; // the device's own reference, as it handed the buffer out
    // The last reference: back to the device with the owner it gave the
    // buffer out with, and the device's own reference (1) left in place.
    const BufferOrigin& origin = origins[buffer];
    set_owner(*cluster, buffer, origin.owner);
    std::uint32_t device = origin.device;
    std::uint32_t& count = going_home_count[device];
    zc_packet& packet = going_home[device][count++];
    packet = zc_packet{};
    packet.buffer = buffer;
    packet.queue = origin.device_queue;
    if (count == going_home[device].size())
        send_home_now(device);
    return true;
}

void zc_balancer::reap(std::uint32_t index) noexcept
{
    BalancerQueue& q = queues[index];
    const std::uint64_t frames = cluster->frame_count;
    std::uint32_t bad = 0;
    std::uint32_t good = 0;
    // At most one ring's worth per round, whatever the consumer wrote.
    for (std::uint32_t budget = q.ret.size(); budget > 0;) {
        std::uint32_t slot = 0;
        std::uint32_t n = q.ret.peek(budget < kReapBatch ? budget : kReapBatch, &slot);
        if (n == 0)
            break;
        budget -= n;
        for (std::uint32_t i = 0; i < n; ++i) {
            // Written by the consumer: untrusted. The bitmap decides.
            std::uint64_t buffer = buffer_of(*cluster, q.ret.slot(slot + i).addr);
            if (buffer >= frames) [[unlikely]] {
                ++bad;
                continue;
            }
            std::uint64_t& word = q.held[buffer >> 6];
            std::uint64_t bit = std::uint64_t{1} << (buffer & 63);
            if (!(word & bit)) [[unlikely]] {
                ++bad;
                continue;
            }
            word &= ~bit;
            ++good;
            drop_reference(static_cast<std::uint32_t>(buffer));
        }
        q.ret.release(n);
        if (n < kReapBatch)
            break;
    }
    if (q.ret.broken()) [[unlikely]]
        mark_broken(index, "its return ring's producer index moved backwards or past the ring");
    if (good | bad) {
        q.outstanding -= good;
        q.returned += good;
        q.bad_returns += bad;
        counter_store(q.info->bad_return, q.bad_returns);
    }
}

// Puts this queue's stage on its RX ring: one reserve, one submit. What does
// not fit is dropped (one reference each) or, in wait mode, stays staged.
void zc_balancer::flush(std::uint32_t index) noexcept
{
    BalancerQueue& q = queues[index];
    const std::uint32_t staged = q.staged;
    if (staged == 0)
        return;
    std::uint32_t slot = 0;
    const std::uint32_t room = q.broken ? 0 : q.rx.reserve_burst(staged, &slot);
    for (std::uint32_t i = 0; i < room; ++i) {
        const zc_desc& desc = q.stage[i];
        q.rx.slot(slot + i) = desc;
        std::uint64_t buffer = buffer_of(*cluster, desc.addr);
        q.held[buffer >> 6] |= std::uint64_t{1} << (buffer & 63);
    }
    if (room > 0) {
        q.rx.submit(room);
        q.outstanding += room;
        q.enqueued += room;
        if (q.wake_fd >= 0)
            wakeup::wake(*q.side, q.wake_fd);
    }
    if (q.rx.broken()) [[unlikely]]
        mark_broken(index, "its RX ring's consumer index moved backwards or past what was delivered");
    const std::uint32_t left = staged - room;
    if (left == 0) {
        q.staged = 0;
    } else if (q.wait && !q.broken) {
        std::memmove(q.stage, q.stage + room, sizeof(zc_desc) * left);
        q.staged = left;
        waiting += left;
    } else {
        // A delivered reference cannot come back in the round that made it
        // (returns are reaped first), so a last reference dropped here is a
        // packet no queue took.
        for (std::uint32_t i = room; i < staged; ++i)
            if (drop_reference(static_cast<std::uint32_t>(buffer_of(*cluster, q.stage[i].addr))))
                ++dropped_everywhere;
        q.dropped += left;
        q.staged = 0;
    }
    publish_counters(q);
}

std::uint32_t zc_balancer::poll() noexcept
{
    const std::uint32_t queue_count = static_cast<std::uint32_t>(queues.size());
    for (std::uint32_t q = 0; q < queue_count; ++q)
        reap(q);

    // Wait mode: nothing new is read until every staged descriptor found room.
    if (waiting > 0) {
        waiting = 0;
        for (std::uint32_t q = 0; q < queue_count; ++q)
            flush(q);
        if (waiting > 0) {
            send_home();
            return 0;
        }
    }

    std::byte* const pool = cluster->pool;
    const std::uint32_t shift = cluster->frame_shift;
    const zc_hash_mode mode = config.mode;
    const bool round_robin_mode = mode == ZC_HASH_ROUND_ROBIN;
    const std::uint32_t refs_per_packet = group_count;
    const std::uint32_t device_count = static_cast<std::uint32_t>(devices.size());
    const std::uint64_t dropped_before = dropped_everywhere;
    std::uint32_t total = 0;
    // Content rules: null until a rule file loads (acquire, matches the
    // release in zc_balancer_load_rules).
    rules::Matcher* const rule_matcher_now = rule_matcher.load(std::memory_order_acquire);

    for (std::uint32_t visited = 0; visited < device_count; ++visited) {
        const std::uint32_t d = next_device;
        next_device = d + 1 == device_count ? 0 : d + 1;
        if (device_ended[d])
            continue;
        std::uint32_t n = zc_device_recv_burst(devices[d], received.data(), burst);
        if (n == ZC_DEVICE_END) {
            device_ended[d] = 1;
            continue;
        }
        if (rule_matcher_now) // takes up a reload, if one came
            rule_matcher_now->begin_burst();
        // The hash reads each packet's first bytes and the metadata write
        // touches its frame's first line: ask for both a few packets ahead.
        for (std::uint32_t i = 0; i < n && i < kPrefetchAhead; ++i)
            prefetch_packet(pool, shift, received[i]);
        for (std::uint32_t i = 0; i < n; ++i) {
            if (i + kPrefetchAhead < n)
                prefetch_packet(pool, shift, received[i + kPrefetchAhead]);
            const zc_packet& packet = received[i];
            const std::uint32_t buffer = packet.buffer;
            const std::uint32_t hash =
                round_robin_mode ? round_robin++ : zc_packet_hash(mode, packet.data, packet.caplen, packet.port);

            // The driver wrote the rest of the metadata (driver.hpp fill_meta).
            reinterpret_cast<zc_buffer_meta*>(pool + (std::size_t{buffer} << shift))->hash = hash;

            BufferOrigin& origin = origins[buffer];
            origin.owner = owner_of(*cluster, buffer);
            origin.device_queue = packet.queue;
            origin.device = static_cast<std::uint8_t>(d);

            // Content rules (rules.hpp): drop (no group), steer (one group)
            // or pass (every group). Groups [first_group, end_group) get it.
            std::uint32_t first_group = 0;
            std::uint32_t end_group = refs_per_packet;
            if (rule_matcher_now) {
                const rules::Verdict verdict = rule_matcher_now->match(packet.data, packet.caplen);
                if (verdict.kind == rules::VerdictKind::Drop) {
                    cluster->states[buffer].refcount = 1;
                    drop_reference(buffer); // its only reference: home
                    rules_dropped.add(1);
                    ++dropped_everywhere;
                    continue;
                }
                if (verdict.kind == rules::VerdictKind::Steer) {
                    first_group = verdict.group;
                    end_group = verdict.group + 1;
                }
            }

            // One reference per group; a group whose queue is at its limit
            // gives its reference back here, one whose queue is full (drop
            // mode) in flush().
            BufferState& state = cluster->states[buffer];
            state.refcount = end_group - first_group;
            const zc_desc desc{static_cast<std::uint64_t>(reinterpret_cast<const std::byte*>(packet.data) - pool),
                               packet.caplen, 0};
            for (std::uint32_t g = first_group; g < end_group; ++g) {
                const BalancerGroup& group = groups[g];
                const std::uint32_t q = group.base + (group.size == 1 ? 0 : hash % group.size);
                BalancerQueue& queue = queues[q];
                if (g == first_group)
                    set_owner(*cluster, buffer, ZC_OWNER(ZC_OWNER_QUEUE, q));
                if (queue.outstanding + queue.staged >= queue.limit) [[unlikely]] {
                    ++queue.dropped;
                    if (drop_reference(buffer))
                        ++dropped_everywhere;
                    continue;
                }
                queue.stage[queue.staged++] = desc;
            }
        }
        received_count += n;
        total += n;
    }

    if (total > 0)
        for (std::uint32_t q = 0; q < queue_count; ++q)
            flush(q);
    send_home();
    return total - static_cast<std::uint32_t>(dropped_everywhere - dropped_before);
}

// SPDX-License-Identifier: BSD-3-Clause
//
// The balancer's fast path, one round as a pipeline of bursts: reap the
// return rings (each bounded by what its queue holds); per device, receive
// a burst, hash the whole burst (hash_burst, frames asked for ahead), deal
// it out (distribute: one RX descriptor per packet, carrying its time,
// length, port and hash, staged for one queue in every group; the frame's
// headroom is not touched); then one reserve and one
// submit per queue for everything the round staged (flush), at most one
// wake-up check per queue (announce), and the buffers that came home given
// back to their devices in one call each. No allocation, no lock, no system
// call of its own (the devices may wake the kernel), no logging: counts only.

#include <atomic>
#include <cstring>

#include "balancer.hpp"
#include "internal/shared_counter.hpp"
#include "packet_hash.hpp"
#include "internal/wakeup.hpp"

using namespace zc;

namespace {

constexpr std::uint32_t kReapBatch = 256;

// A packet's RX descriptor: where it is in the pool and its facts, as the
// device gave them (the consumer takes the larger length as the wire's).
inline zc_rx_desc rx_desc_of(const zc_packet& packet, std::uint32_t hash, const std::byte* pool) noexcept
{
    return zc_rx_desc{static_cast<std::uint64_t>(reinterpret_cast<const std::byte*>(packet.data) - pool),
                      packet.caplen, packet.len, packet.timestamp_ns, hash, packet.port, 0};
}

// Wake-ups while the devices deliver full bursts (saturated): a queue's
// sleep flag is looked at (a fence, a read of a line its consumer writes,
// and the pipe write when it sleeps) once kWakeBatch descriptors are
// waiting behind it, or after kWakeRounds rounds, not after every submit;
// a round that reads less than a full burst anywhere, or distributes
// nothing (after which the caller may wait), announces everything at once,
// so at lower rates every submit is announced as before. Nothing is lost
// either way: a consumer that looks before it sleeps sees every submitted
// descriptor (wakeup.hpp, (E)); one that already sleeps is woken at the
// latest kWakeRounds rounds later, rounds that follow each other without
// a wait.
constexpr std::uint32_t kWakeBatch = 64;
constexpr std::uint32_t kWakeRounds = 4;

} // namespace

// The only lane publishes its counters as it goes; with several, the
// control path publishes their sums (zc_balancer::publish_consumer_view).
void BalancerLane::publish_counters(BalancerQueue& q) noexcept
{
    if (!publish_inline)
        return;
    q.refused_published = q.dropped + q.filtered;
    counter_store(q.info->enqueued, q.enqueued);
    counter_store(q.info->dropped_full, q.dropped);
    counter_store(q.info->bad_return, q.bad_returns);
    counter_store(q.info->filtered, q.filtered);
}

void BalancerLane::send_home_now(std::uint32_t device) noexcept
{
    std::uint32_t n = going_home_count[device];
    if (n == 0)
        return;
    zc_device_release_burst(balancer->devices[device], going_home[device].data(), n);
    going_home_count[device] = 0;
}

void BalancerLane::send_home() noexcept
{
    for (std::uint32_t d : devices)
        send_home_now(d);
}

void BalancerLane::mark_broken(std::uint32_t index, const char* why) noexcept
{
    BalancerQueue& q = queues[index];
    if (q.broken)
        return;
    q.broken = true;
    q.broken_why = why;
    q.limit = 0; // takes nothing more, whatever its policy, until the control path cuts it off
    ++broken_count;
}

// The last reference to `buffer` is gone: back to its device with the owner
// it gave the buffer out with, and the device's own reference (1) left in
// place. Inline for reap's loop; drop_reference is the same for the rest.
inline void BalancerLane::go_home(std::uint32_t buffer) noexcept
{
    cluster->states[buffer].refcount = 1; // the device's own reference, as it handed the buffer out
    const BufferOrigin origin = balancer->origins[buffer];
    set_owner(*cluster, buffer, origin.owner);
    const std::uint32_t device = origin.device;
    std::uint32_t& count = going_home_count[device];
    zc_packet* home = going_home[device].data();
    // Only the buffer and its device queue: the rest of each entry stays
    // as the vector made it (zero), as release_burst wants it.
    zc_packet& packet = home[count++];
    packet.buffer = buffer;
    packet.queue = origin.device_queue;
    if (count == kGoingHomeBatch) [[unlikely]]
        send_home_now(device);
}

// Drops one of the buffer's references; the last one sends it home (true).
bool BalancerLane::drop_reference(std::uint32_t buffer) noexcept
{
    // The owner's private record: only this thread writes the count of a
    // buffer it took from a device (plain loads and stores, here and in
    // poll and reap alike).
    std::uint32_t& refs = cluster->states[buffer].refcount;
    if (refs > 1) {
        --refs;
        return false;
    }
    go_home(buffer);
    return true;
}

void BalancerLane::reap(std::uint32_t index) noexcept
{
    BalancerQueue& q = queues[index];
    const std::uint64_t frames = cluster->frame_count;
    const std::uint32_t shift = cluster->frame_shift;
    BufferState* const states = cluster->states.data();
    std::uint64_t* const held = q.held;
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
            const std::uint64_t buffer = q.ret.slot(slot + i).addr >> shift; // buffer_of
            if (buffer >= frames) [[unlikely]] {
                ++bad;
                continue;
            }
            std::uint64_t& word = held[buffer >> 6];
            const std::uint64_t bit = std::uint64_t{1} << (buffer & 63);
            if (!(word & bit)) [[unlikely]] {
                ++bad;
                continue;
            }
            word &= ~bit;
            ++good;
            std::uint32_t& refs = states[buffer].refcount;
            if (refs > 1) {
                --refs; // another group still has it
                continue;
            }
            go_home(static_cast<std::uint32_t>(buffer));
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
        if (publish_inline)
            counter_store(q.info->bad_return, q.bad_returns);
    }
}

// Puts this queue's stage on its RX ring: one reserve, one submit. What does
// not fit is dropped (one reference each) or, in wait mode, stays staged.
void BalancerLane::flush(std::uint32_t index) noexcept
{
    BalancerQueue& q = queues[index];
    const std::uint32_t staged = q.staged;
    if (staged == 0) {
        // Nothing to put on the ring, but what distribute refused (a queue
        // at its limit drops everything it is dealt) is published.
        if (q.dropped + q.filtered != q.refused_published) [[unlikely]]
            publish_counters(q);
        return;
    }
    std::uint32_t slot = 0;
    const std::uint32_t room = q.broken ? 0 : q.rx.reserve_burst(staged, &slot);
    const std::uint32_t shift = cluster->frame_shift;
    const zc_rx_desc* const stage = q.stage;
    std::uint64_t* const held = q.held;
    for (std::uint32_t i = 0; i < room; ++i) {
        const zc_rx_desc& desc = stage[i];
        q.rx.slot(slot + i) = desc;
        const std::uint64_t buffer = desc.addr >> shift; // buffer_of: our own descriptor
        held[buffer >> 6] |= std::uint64_t{1} << (buffer & 63);
    }
    if (room > 0) {
        q.rx.submit(room);
        q.outstanding += room;
        q.enqueued += room;
        if (q.wake_fd >= 0) {
            q.unannounced += room;
            if (q.unannounced >= kWakeBatch)
                announce(q);
        }
    }
    if (q.rx.broken()) [[unlikely]]
        mark_broken(index, "its RX ring's consumer index moved backwards or past what was delivered");
    const std::uint32_t left = staged - room;
    if (left == 0) {
        q.staged = 0;
    } else if (q.wait && !q.broken) {
        std::memmove(q.stage, q.stage + room, sizeof(zc_rx_desc) * left);
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

// Looks at the queue's sleep flag and wakes its consumer if it sleeps.
void BalancerLane::announce(BalancerQueue& q) noexcept
{
    q.unannounced = 0;
    q.unannounced_rounds = 0;
    if (q.wake_fd >= 0)
        wakeup::wake(*q.side, q.wake_fd);
}

// The queues with submitted descriptors not yet announced: all of them
// announced, or (saturated) those that waited kWakeRounds rounds.
void BalancerLane::announce_waiting(bool saturated) noexcept
{
    for (BalancerQueue& q : queues)
        if (q.unannounced != 0 && (!saturated || ++q.unannounced_rounds >= kWakeRounds))
            announce(q);
}

// Deals out the burst of device `d` in `received`, whose hashes are in
// `hashes`: writes each buffer's origin once, gives it one reference per
// group, and stages one RX descriptor (zc_rx_desc: the packet's facts, so
// that its consumer reads no metadata line) for one queue of each group.
// The descriptors go on the rings in flush(), one reserve and one submit
// per queue for the whole round.
void BalancerLane::distribute(std::uint32_t d, std::uint32_t n, rules::Matcher* rules_now) noexcept
{
    std::byte* const pool = cluster->pool;
    BufferState* const states = cluster->states.data();
    BufferOrigin* const origin_of = balancer->origins.data();
    const BalancerGroup* const groups = balancer->groups;
    const std::uint32_t filtered_groups = balancer->filtered_groups;
    BalancerQueue* const queue_at = queues.data();
    const zc_packet* const packets = received.data();
    const std::uint32_t* const hash = hashes.data();
    const std::uint32_t groups_here = balancer->group_count;
    const std::uint8_t device = static_cast<std::uint8_t>(d);

    if (groups_here == 1 && filtered_groups == 0 && !rules_now) [[likely]] {
        // One group, nothing to match: each packet has one queue and one
        // reference (the count the device handed it out with, 1, stored
        // again as the general loop stores its own).
        const BalancerGroup group = groups[0];
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint32_t buffer = packets[i].buffer;
            origin_of[buffer] = BufferOrigin{owner_of(*cluster, buffer), packets[i].queue, device, 0};
            const std::uint32_t q = group.pick(hash[i]);
            BalancerQueue& queue = queue_at[q];
            if (queue.outstanding + queue.staged < queue.limit) [[likely]] {
                states[buffer].refcount = 1;
                set_owner(*cluster, buffer, ZC_OWNER(ZC_OWNER_QUEUE, q));
                queue.stage[queue.staged++] = rx_desc_of(packets[i], hash[i], pool);
            } else {
                ++queue.dropped;
                go_home(buffer); // its only reference
                ++dropped_everywhere;
            }
        }
        return;
    }

    for (std::uint32_t i = 0; i < n; ++i) {
        const zc_packet& packet = packets[i];
        const std::uint32_t buffer = packet.buffer;
        const std::uint32_t h = hash[i];

        BufferState& state = states[buffer];
        origin_of[buffer] = BufferOrigin{owner_of(*cluster, buffer), packet.queue, device, 0};

        // Content rules (rules.hpp): drop (no group), steer (one group) or
        // pass (every group): groups [lead, end) get the packet.
        std::uint32_t lead = 0;
        std::uint32_t end = groups_here;
        if (rules_now) [[unlikely]] {
            const rules::Verdict verdict = rules_now->match(packet.data, packet.caplen);
            if (verdict.kind == rules::VerdictKind::Drop) {
                state.refcount = 1;
                drop_reference(buffer); // its only reference: home
                rules_dropped.add(1);
                ++dropped_everywhere;
                continue;
            }
            if (verdict.kind == rules::VerdictKind::Steer) {
                lead = verdict.group;
                end = lead + 1;
            }
        }

        const zc_rx_desc desc = rx_desc_of(packet, h, pool);
        if (filtered_groups != 0) [[unlikely]] {
            distribute_filtered(packet, h, desc, lead, end);
            continue;
        }

        // One reference per group; a group whose queue is at its limit
        // gives its reference back here, one whose queue is full (drop
        // mode) in flush().
        state.refcount = end - lead;
        const std::uint32_t first = groups[lead].size == 1 ? groups[lead].base : groups[lead].pick(h);
        set_owner(*cluster, buffer, ZC_OWNER(ZC_OWNER_QUEUE, first));
        for (std::uint32_t g = lead;;) {
            BalancerQueue& queue =
                queue_at[g == lead ? first : groups[g].size == 1 ? groups[g].base : groups[g].pick(h)];
            if (queue.outstanding + queue.staged < queue.limit) [[likely]] {
                queue.stage[queue.staged++] = desc;
            } else {
                ++queue.dropped;
                if (drop_reference(buffer))
                    ++dropped_everywhere;
            }
            if (++g == end) [[likely]]
                break;
        }
    }
}

void BalancerLane::distribute_filtered(const zc_packet& packet, std::uint32_t hash, const zc_rx_desc& desc,
                                      std::uint32_t lead, std::uint32_t end) noexcept
{
    const std::uint32_t buffer = packet.buffer;
    const BalancerGroup* const groups = balancer->groups;
    const std::uint32_t filtered_groups = balancer->filtered_groups;
    std::uint32_t queue_of[ZC_BALANCE_MAX_GROUPS];
    std::uint32_t takers = 0; // bit g: group g gets the packet
    for (std::uint32_t g = lead; g < end; ++g) {
        const BalancerGroup& group = groups[g];
        queue_of[g] = group.size == 1 ? group.base : group.pick(hash);
        if ((filtered_groups >> g & 1) && !balancer->group_filters[g].matches(packet)) {
            ++queues[queue_of[g]].filtered;
            continue;
        }
        takers |= 1u << g;
    }
    BufferState& state = cluster->states[buffer];
    if (takers == 0) {
        state.refcount = 1;
        drop_reference(buffer); // its only reference: home
        ++dropped_everywhere;
        return;
    }
    state.refcount = static_cast<std::uint32_t>(__builtin_popcount(takers));
    set_owner(*cluster, buffer, ZC_OWNER(ZC_OWNER_QUEUE, queue_of[__builtin_ctz(takers)]));
    for (std::uint32_t left = takers; left != 0; left &= left - 1) {
        BalancerQueue& queue = queues[queue_of[__builtin_ctz(left)]];
        if (queue.outstanding + queue.staged < queue.limit) {
            queue.stage[queue.staged++] = desc;
        } else {
            ++queue.dropped;
            if (drop_reference(buffer))
                ++dropped_everywhere;
        }
    }
}

// One round, inside the pause handshake (balancer.hpp, zc_balancer::Pause).
std::uint32_t BalancerLane::poll() noexcept
{
    std::atomic<std::uint32_t>& paused = balancer->paused;
    for (;;) {
        in_round.store(1, std::memory_order_seq_cst);
        std::uint32_t pauses = paused.load(std::memory_order_seq_cst);
        if (pauses == 0) [[likely]]
            break;
        in_round.store(0, std::memory_order_release);
        do // until the control path is done
            paused.wait(pauses, std::memory_order_acquire);
        while ((pauses = paused.load(std::memory_order_acquire)) != 0);
    }
    const std::uint32_t distributed = round();
    in_round.store(0, std::memory_order_release);
    return distributed;
}

std::uint32_t BalancerLane::round() noexcept
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
            announce_waiting(false);
            send_home();
            return 0;
        }
    }

    const zc_hash_mode mode = balancer->config.mode;
    const std::uint32_t burst = balancer->burst;
    zc_device* const* const device_at = balancer->devices.data();
    std::uint8_t* const device_ended = balancer->device_ended.data();
    const std::uint32_t device_count = static_cast<std::uint32_t>(devices.size());
    const std::uint64_t dropped_before = dropped_everywhere;
    std::uint32_t total = 0;
    bool saturated = true; // every device gave a full burst
    // Content rules: off until a rule file loads (acquire, matches the
    // release in zc_balancer_load_rules).
    rules::Matcher* const rule_matcher_now =
        balancer->rules_loaded.load(std::memory_order_acquire) ? matcher : nullptr;

    for (std::uint32_t visited = 0; visited < device_count; ++visited) {
        const std::uint32_t d = devices[next_device];
        next_device = next_device + 1 == device_count ? 0 : next_device + 1;
        if (device_ended[d])
            continue;
        const std::uint32_t n = zc_device_recv_burst(device_at[d], received.data(), burst);
        if (n == ZC_DEVICE_END) {
            device_ended[d] = 1;
            continue;
        }
        if (n < burst)
            saturated = false;
        if (n == 0)
            continue;
        // The whole burst is hashed first (the hash asks for frames ahead),
        // then dealt out.
        std::uint32_t* const hash = hashes.data();
        if (mode == ZC_HASH_ROUND_ROBIN) {
            for (std::uint32_t i = 0; i < n; ++i)
                hash[i] = round_robin++;
        } else {
            hash::hash_burst(mode, received.data(), n, hash);
        }
        if (rule_matcher_now) [[unlikely]] // takes up a reload, if one came
            rule_matcher_now->begin_burst();
        distribute(d, n, rule_matcher_now);
        received_count += n;
        total += n;
    }

    if (total > 0)
        for (std::uint32_t q = 0; q < queue_count; ++q)
            flush(q);
    const std::uint32_t distributed = total - static_cast<std::uint32_t>(dropped_everywhere - dropped_before);
    // A round that distributes nothing may be followed by a wait in the
    // caller (zc_balancer_poll returns 0): nothing is left unannounced then.
    announce_waiting(saturated && distributed > 0);
    send_home();
    return distributed;
}

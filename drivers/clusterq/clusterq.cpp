// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/clusterq — `zc:CLUSTER@QUEUE`: the consumer end of one queue of a
// cluster another process owns (zc-balance -c CLUSTER), as a device, so that
// zc-count, pcap-zc and daq-zc read a balanced queue through the same API as
// an interface.
//
// Open attaches the region (zc_cluster_attach: its errors pass through with
// their errno), checks that the queue exists, and claims it: one consumer per
// queue (queue_claim.hpp). Close gives the claim up.
//
// A queue may be fed by several producers (lanes: zc-balance --threads),
// each through an RX ring and a return ring of its own (layout.hpp):
// recv_burst drains the RX rings in turn, starting one further each call,
// remembers which lane each buffer came by (a byte per buffer of the pool),
// and release_burst hands it back on that lane's return ring. With one
// lane (the default) there is one pair and nothing to remember.
//
// recv_burst peeks the queue's RX ring, checks every descriptor (it comes
// from another process: the data must lie inside one frame of the pool and
// fit a buffer; anything else is skipped and counted in
// QueueInfo::bad_descriptors, never read), and hands out views of the
// packets where the owner's device put them: no copy. It releases the ring
// slots at once; the buffers stay this consumer's until release_burst
// writes their descriptors on the return ring, one submit per batch. When
// the return ring is full, descriptors wait in a local stash, flushed first
// by the next recv_burst, release_burst or wait: nothing blocks, nothing is
// lost. The stash holds as many descriptors as the pool has buffers (at most
// 2^20), and recv_burst never lets the buffers held plus the stash exceed
// that, so it cannot overflow (a consumer holding that many receives nothing
// more until it releases some — back-pressure, as with AF_XDP's fill ring).
// A descriptor with a valid address but a bad length names a buffer of
// ours: it goes straight back on the return ring.
//
// zc_packet fields, all from the RX descriptor (zc_rx_desc: nothing of the
// buffer is read but the packet's bytes, and those only by the caller):
// data and caplen (cut to the snaplen, if one is set), len (the wire
// length when it is at least the captured one, else the captured one),
// timestamp (the receive time when the producer gave none), port; buffer
// the pool index, queue 0 (the device has one).
//
// Attaching: when the owner serves a control socket (zc-balance), open
// connects to it (core/internal/control_socket.hpp) and names its queue; the
// owner checks who we are and answers with the region's descriptor and the
// queue's wake-up pipe, or with a refusal and its sentence (-EACCES, or
// the owner's errno). The region is mapped from that descriptor, the packet
// pool read-only (a passive consumer: a stray write faults here instead of
// changing what other consumers read). The connection stays open for the
// device's life (close-on-exec): when it closes, by close or by the process
// dying, the owner reclaims the queue. Without a socket (an owner that uses
// the library API alone, and says so in the region's flags) the region file
// is attached by its path.
//
// Waiting, with a socket: the selectable fd is an epoll set of the wake-up
// pipe and the connection. wait() announces that it sleeps
// (core/internal/wakeup.hpp), so the owner writes the pipe after its next
// submit, and a hang-up of the connection (the owner died) wakes it too. A
// consumer that poll()s the selectable fd itself calls
// zc_device_wait(device, 0) before each sleep (as pcap-zc does): that empties
// the pipe and makes the announcement. While packets flow nothing here
// makes a system call. Without a socket: a timerfd that ticks every
// millisecond, and wait() sleeps on it in those steps (up to a millisecond of
// latency, a thousand wake-ups a second when idle).
//
// The owner's end: when its connection hangs up, or (without a socket, at
// most every 100 ms) when the region says dead or the owner's process no
// longer runs, and the RX ring is drained, wait() returns -EPIPE from then
// on and logs "cluster C: its owner (pid N) ..." once, so a tool exits with
// a message instead of waiting forever.
//
// No transmit. Threading as for every driver: recv_burst, release_burst and
// wait on one thread; stats() anywhere.

#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <new>
#include <vector>

#include "internal/cluster.hpp"
#include "internal/control_socket.hpp"
#include "internal/error.hpp"
#include "internal/wakeup.hpp"
#include "internal/counter.hpp"
#include "internal/driver.hpp"
#include "../unique_fd.hpp"
#include "queue_claim.hpp"
#include "internal/process.hpp"
#include "internal/shared_counter.hpp"

namespace zc {

namespace {

constexpr std::uint32_t kMaxStash = 1u << 20;         // descriptors (16 MiB) at most
constexpr long kTickNs = 1000000;                      // the selectable timer's period
constexpr std::uint64_t kOwnerCheckNs = 100000000;     // owner liveness, at most this often
constexpr std::uint32_t kWakeEvent = 0, kControlEvent = 1; // epoll_event.data.u32

// -EINVAL with the queues the cluster has when it has no queue `queue`.
int name_queue_missing(const zc_cluster* c, std::uint32_t id, std::uint32_t queue, zc_error* err)
{
    if (queue < c->queue_count)
        return 0;
    if (c->queue_count == 0)
        return fail(err, -EINVAL, "cluster %u has no queues", id);
    return fail(err, -EINVAL, "cluster %u has no queue %u: cluster %u has queues 0 to %u", id, queue, id,
                c->queue_count - 1);
}

class ClusterQueueDriver final : public Driver {
public:
    // Allocates nothing: the stash comes in sized (open could fail on it).
    // `waiter` is the selectable fd: the epoll set of `wake` and `control`
    // (with a control socket), or the millisecond timer (without).
    ClusterQueueDriver(Cluster cluster, std::uint32_t queue, std::uint64_t claim, UniqueFd waiter, UniqueFd wake,
                       UniqueFd control, std::vector<zc_desc> stash, std::vector<std::uint8_t> lane_of,
                       std::uint32_t snaplen)
        : cluster_(std::move(cluster)), c_(cluster_.get()), info_(&c_->queues[queue]), side_(c_->sides[queue]),
          queue_(queue), claim_(claim), waiter_(std::move(waiter)), wake_(std::move(wake)),
          control_(std::move(control)), lanes_(c_->lanes), pool_(c_->pool),
          pool_bytes_(std::uint64_t{c_->frame_count} << c_->frame_shift),
          frame_shift_(c_->frame_shift), snaplen_(snaplen), stash_(std::move(stash)),
          stash_capacity_(static_cast<std::uint32_t>(stash_.size())), lane_of_(std::move(lane_of)),
          owner_pid_(c_->header->owner_pid), owner_start_(c_->header->owner_start_time)
    {
        for (std::uint32_t lane = 0; lane < lanes_; ++lane) {
            rx_[lane] = RingConsumer<zc_rx_desc>(queue_ring(c_, queue, true, lane), c_->queue_slots);
            return_[lane] = RingProducer<zc_desc>(queue_ring(c_, queue, false, lane), c_->queue_slots);
        }
    }

    ~ClusterQueueDriver() override
    {
        flush_stash();
        if (held_ != 0 || stash_count_ != 0)
            log(ZC_LOG_WARNING,
                "cluster %u queue %u: closed holding %u buffers (%u not released, %u not yet returned); the "
                "owner reclaims them with the queue",
                c_->id, queue_, held_ + stash_count_, held_, stash_count_);
        if (claim_ != 0)
            clusterq::release_queue(*side_, claim_);
    }

    const char* mode() const noexcept override { return "cluster"; }
    zc_cluster* pool() noexcept override { return c_; }
    // What it holds plus what waits in the stash never exceeds the stash
    // (recv_burst keeps room): that is all it can have out at once.
    std::uint32_t buffer_budget() noexcept override { return stash_capacity_; }

    std::uint32_t recv_burst(zc_packet* packets, std::uint32_t n) noexcept override
    {
        if (stash_count_ != 0)
            flush_stash();
        // Every descriptor taken off the ring either goes to the caller (held)
        // or back to the owner (stash): keep room for all of them.
        std::uint32_t room = stash_capacity_ - held_ - stash_count_;
        if (n > room)
            n = room;
        if (lanes_ == 1)
            return recv_lane(0, packets, n);
        // Every lane in turn, from one further than last time.
        std::uint32_t out = 0;
        const std::uint32_t first = next_lane_;
        next_lane_ = first + 1 == lanes_ ? 0 : first + 1;
        for (std::uint32_t visited = 0, lane = first; visited < lanes_ && out < n; ++visited) {
            out += recv_lane(lane, packets + out, n - out);
            lane = lane + 1 == lanes_ ? 0 : lane + 1;
        }
        return out;
    }

    void release_burst(const zc_packet* packets, std::uint32_t n) noexcept override
    {
        if (lanes_ != 1) {
            release_lanes(packets, n);
            return;
        }
        if (stash_count_ != 0)
            flush_stash();
        std::uint32_t valid = 0;
        std::uint32_t index = 0;
        // Straight onto the return ring while it has room and nothing waits
        // before these (keeps the return order); the rest to the stash.
        RingProducer<zc_desc>& ring = return_[0];
        std::uint32_t direct = stash_count_ == 0 ? ring.reserve_burst(n, &index) : 0;
        std::uint32_t written = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            zc_desc desc;
            if (!descriptor_of(packets[i], desc))
                continue; // not a packet of this device: ignored (the caller's bug)
            ++valid;
            if (written < direct)
                ring.slot(index + written++) = desc;
            else
                stash_push(desc);
        }
        if (written < direct)
            ring.cancel(direct - written);
        if (written != 0) {
            ring.submit(written); /* one submit per batch */
            counter_add(side_->returned, written);
        }
        held_ = valid < held_ ? held_ - valid : 0;
    }

private:
    // Up to n packets from lane `lane`'s RX ring (room for them is kept).
    std::uint32_t recv_lane(std::uint32_t lane, zc_packet* packets, std::uint32_t n) noexcept
    {
        RingConsumer<zc_rx_desc>& rx = rx_[lane];
        std::uint32_t index = 0;
        std::uint32_t got = n ? rx.peek(n, &index) : 0;
        if (got == 0)
            return 0;

        std::uint64_t now = 0; // the receive time of packets that came without one, once per burst
        std::uint64_t bytes = 0;
        std::uint32_t out = 0;
        std::uint32_t bad = 0;
        for (std::uint32_t i = 0; i < got; ++i) {
            const zc_rx_desc desc = rx.slot(index + i); // one read of shared memory, then checked
            const DescriptorCheck check = check_descriptor(*c_, desc.addr, desc.len);
            if (check == DescriptorCheck::NoBuffer) [[unlikely]] {
                ++bad; // names no buffer: nothing to read, nothing to give back
                continue;
            }
            if (check == DescriptorCheck::BadLength) [[unlikely]] {
                ++bad; // a buffer of ours with a length it cannot hold: give it back unread
                stash_push(zc_desc{desc.addr, desc.len, lane});
                continue;
            }
            std::uint32_t caplen = desc.len;
            // On the wire: the descriptor's length when it makes sense (a
            // buggy owner's smaller one is not believed).
            std::uint32_t wire = desc.wire_len >= desc.len ? desc.wire_len : desc.len;
            if (snaplen_ != 0 && caplen > snaplen_)
                caplen = snaplen_;
            std::uint64_t timestamp = desc.timestamp_ns;
            if (timestamp == 0)
                timestamp = now != 0 ? now : (now = realtime_ns());
            const auto buffer = static_cast<std::uint32_t>(buffer_of(*c_, desc.addr));
            if (lanes_ != 1)
                lane_of_[buffer] = static_cast<std::uint8_t>(lane);
            packets[out++] = zc_packet{reinterpret_cast<const std::uint8_t*>(pool_ + desc.addr), caplen, wire,
                                       timestamp, buffer, 0, desc.port};
            bytes += wire;
        }
        rx.release(got); /* one release per batch */
        held_ += out;
        packets_.add(out);
        bytes_.add(bytes);
        counter_add(side_->received, got);
        if (bad != 0)
            counter_add(side_->bad_descriptors, bad);
        if (stash_count_ != 0)
            flush_stash();
        return out;
    }

public:
    // A consumer of a queue does not transmit.
    std::uint32_t tx_alloc(std::uint32_t*, std::uint32_t) noexcept override { return 0; }
    std::uint32_t send_burst(const std::uint32_t*, const std::uint32_t*, std::uint32_t) noexcept override
    {
        return 0;
    }

    int wait(int timeout_ms) noexcept override
    {
        const std::uint64_t started = timeout_ms != 0 ? monotonic_ns() : 0;
        if (timeout_ms != 0 && look_budget_.ns() != 0)
            look_for_packets(started + look_budget_.ns());
        int state = look();
        if (state != 0 || timeout_ms == 0)
            return state;
        const std::uint64_t deadline =
            timeout_ms < 0 ? 0 : started + static_cast<std::uint64_t>(timeout_ms) * 1000000u;
        for (;;) {
            int sleep_ms = -1; // without a socket, the timer wakes us within a tick
            if (timeout_ms >= 0) {
                std::uint64_t now = monotonic_ns();
                if (now >= deadline) {
                    look_budget_.slept(now - started, 0);
                    return 0;
                }
                sleep_ms = static_cast<int>((deadline - now + 999999u) / 1000000u);
            }
            if (wake_) {
                epoll_event events[2];
                int n = ::epoll_wait(waiter_.get(), events, 2, sleep_ms);
                if (n < 0)
                    return -errno; // -EINTR on a signal: the caller decides
                for (int i = 0; i < n; ++i)
                    if (events[i].data.u32 == kControlEvent)
                        control_closed_ = true; // the owner sends nothing after its answer: this is its end closing
            } else {
                struct pollfd entry = {waiter_.get(), POLLIN, 0};
                if (::poll(&entry, 1, sleep_ms) < 0)
                    return -errno;
            }
            if ((state = look()) != 0) {
                look_budget_.slept(monotonic_ns() - started, rx_backlog());
                return state;
            }
        }
    }

    int selectable_fd() const noexcept override { return waiter_.get(); }

    void stats(zc_device_stats& stats) noexcept override
    {
        stats.packets = packets_.get();
        stats.bytes = bytes_.get();
        // What the balancer could not give this queue (it was full).
        stats.dropped = std::atomic_ref<std::uint64_t>(info_->dropped_full).load(std::memory_order_relaxed);
    }

private:
    // Several lanes: every buffer goes back on the return ring of the lane
    // it came by, through the stash (which keeps the order and waits out a
    // full ring).
    void release_lanes(const zc_packet* packets, std::uint32_t n) noexcept
    {
        std::uint32_t valid = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            zc_desc desc;
            if (!descriptor_of(packets[i], desc))
                continue; // not a packet of this device: ignored (the caller's bug)
            ++valid;
            desc.options = lane_of_[desc.addr >> frame_shift_];
            stash_push(desc);
        }
        held_ = valid < held_ ? held_ - valid : 0;
        flush_stash();
    }

    // The descriptor that gives back a packet this device handed out; false
    // when its data lies outside the pool.
    bool descriptor_of(const zc_packet& packet, zc_desc& desc) const noexcept
    {
        const auto data = reinterpret_cast<std::uintptr_t>(packet.data);
        const auto pool_start = reinterpret_cast<std::uintptr_t>(pool_);
        if (data < pool_start || data - pool_start >= pool_bytes_)
            return false;
        desc = zc_desc{data - pool_start, packet.caplen, 0};
        return true;
    }

    void stash_push(const zc_desc& desc) noexcept
    {
        if (stash_count_ == stash_capacity_) {
            // Only when the caller released more packets than it received
            // (twice, or foreign ones): recv_burst keeps room for the rest.
            ++stash_overflow_;
            return;
        }
        std::uint32_t tail = stash_head_ + stash_count_;
        if (tail >= stash_capacity_)
            tail -= stash_capacity_;
        stash_[tail] = desc;
        ++stash_count_;
    }

    // Puts what the stash holds on the return rings, in order, until one
    // is full: with one lane, one reserve and one submit; with several,
    // each descriptor (whose `options` names its lane) reserved on its
    // lane's ring and one submit per lane.
    void flush_stash() noexcept
    {
        if (lanes_ != 1) {
            flush_stash_lanes();
            return;
        }
        RingProducer<zc_desc>& ring = return_[0];
        std::uint32_t index = 0;
        std::uint32_t room = ring.reserve_burst(stash_count_, &index);
        for (std::uint32_t i = 0; i < room; ++i) {
            ring.slot(index + i) = stash_[stash_head_];
            if (++stash_head_ == stash_capacity_)
                stash_head_ = 0;
        }
        if (room != 0) {
            ring.submit(room);
            stash_count_ -= room;
            counter_add(side_->returned, room);
        }
    }

    void flush_stash_lanes() noexcept
    {
        std::uint32_t written[kMaxLanes] = {};
        std::uint32_t moved = 0;
        while (moved < stash_count_) {
            zc_desc desc = stash_[stash_head_];
            const std::uint32_t lane = desc.options < lanes_ ? desc.options : 0;
            std::uint32_t index = 0;
            if (return_[lane].reserve(1, &index) == 0)
                break; // that ring is full: the rest waits, in order
            desc.options = 0;
            return_[lane].slot(index) = desc;
            ++written[lane];
            ++moved;
            if (++stash_head_ == stash_capacity_)
                stash_head_ = 0;
        }
        for (std::uint32_t lane = 0; lane < lanes_; ++lane)
            if (written[lane] != 0)
                return_[lane].submit(written[lane]);
        if (moved != 0) {
            stash_count_ -= moved;
            counter_add(side_->returned, moved);
        }
    }

    // Packets waiting on the RX rings, summed (for the look budget).
    std::uint32_t rx_backlog() noexcept
    {
        std::uint32_t waiting = 0;
        for (std::uint32_t lane = 0; lane < lanes_; ++lane)
            waiting += rx_[lane].occupancy();
        return waiting;
    }

    // Whether any lane's RX ring has descriptors.
    bool rx_waiting() noexcept
    {
        for (std::uint32_t lane = 0; lane < lanes_; ++lane)
            if (rx_[lane].occupancy() != 0)
                return true;
        return false;
    }

    // Before sleeping, a wait looks at the RX rings until `until` (for as
    // long as look_budget_ says: wakeup::LookBudget), yielding the CPU
    // between looks. Under load that saves the owner its pipe writes (a
    // third of zc-balance's time with a sleeping zc-count per queue); on a
    // quiet queue the budget is 0 after the first sleep.
    void look_for_packets(std::uint64_t until) noexcept
    {
        do {
            if (rx_waiting())
                return;
            ::sched_yield(); // another consumer on this CPU may have work
        } while (monotonic_ns() < until);
    }

    // What wait() finds: 1 when packets wait, -EPIPE when the owner is gone,
    // else 0 with the selectable fd emptied and (with a socket) the owner
    // told that we are about to sleep.
    int look() noexcept
    {
        if (stash_count_ != 0)
            flush_stash();
        if (rx_waiting())
            return 1;
        if (owner_gone())
            return -EPIPE;
        drain_waiter();
        return sleep_announced() ? 0 : 1;
    }

    // Empties what made the selectable fd readable: the pipe, or
    // the timer's ticks.
    void drain_waiter() noexcept { wakeup::drain(wake_ ? wake_.get() : waiter_.get()); }

    // Tells the owner we are about to sleep (with a socket; without, the
    // timer wakes us anyway): false when packets came meanwhile.
    bool sleep_announced() noexcept
    {
        return !wake_ || wakeup::prepare_to_sleep(*side_, [this] { return rx_waiting(); });
    }

    // Whether the cluster's owner is gone: its region marked dead, or its
    // process no longer running. Looked at on the control path, at most
    // every kOwnerCheckNs; once gone, always gone.
    bool owner_gone() noexcept
    {
        if (owner_gone_)
            return true;
        if (control_closed_) {
            owner_gone_ = true;
            std::string notice;
            if (control::read_notice(control_.get(), notice))
                log(ZC_LOG_ERROR, "cluster %u queue %u: %s; no more packets will come", c_->id, queue_,
                    notice.c_str());
            else
                log(ZC_LOG_ERROR,
                    "cluster %u: its owner (pid %d) closed the control socket; no more packets will come on queue %u",
                    c_->id, static_cast<int>(owner_pid_), queue_);
            return true;
        }
        std::uint64_t now = monotonic_ns();
        if (last_owner_check_ != 0 && now - last_owner_check_ < kOwnerCheckNs)
            return false;
        last_owner_check_ = now;
        if (control_) {
            struct pollfd entry = {control_.get(), POLLIN, 0};
            if (::poll(&entry, 1, 0) > 0 && entry.revents != 0) {
                control_closed_ = true;
                return owner_gone();
            }
        }
        std::uint32_t state =
            std::atomic_ref<std::uint32_t>(c_->header->state).load(std::memory_order_acquire);
        if (state != static_cast<std::uint32_t>(RegionState::Dead) &&
            zc::process_alive(owner_pid_, owner_start_))
            return false;
        owner_gone_ = true;
        log(ZC_LOG_ERROR, "cluster %u: its owner (pid %d) is gone; no more packets will come on queue %u", c_->id,
            static_cast<int>(owner_pid_), queue_);
        return true;
    }

    Cluster cluster_; // first: unmapped last
    zc_cluster* c_;
    QueueInfo* info_;  // the owner's counters (read-only)
    QueueSide* side_;  // ours: counters, sleep flag, the rings
    std::uint32_t queue_;
    std::uint64_t claim_;
    UniqueFd waiter_;  // the selectable fd: epoll set of wake_ and control_, or the millisecond timer
    UniqueFd wake_;    // the queue's wake-up pipe (read end), from the owner (-1: the owner has no socket)
    UniqueFd control_; // the owner's control socket: open while we read the queue (-1: the owner has none)
    std::uint32_t lanes_;    // producers feeding the queue: a ring pair each (layout.hpp)
    std::uint32_t next_lane_ = 0;
    RingConsumer<zc_rx_desc> rx_[kMaxLanes];
    RingProducer<zc_desc> return_[kMaxLanes];

    // Copies of what attach validated: the fast path never reads the header.
    std::byte* pool_;
    std::uint64_t pool_bytes_;
    std::uint32_t frame_shift_;
    std::uint32_t snaplen_;

    std::vector<zc_desc> stash_; // a circular buffer of descriptors the return ring had no room for
    std::uint32_t stash_capacity_;
    std::uint32_t stash_head_ = 0;
    std::uint32_t stash_count_ = 0;
    std::uint32_t held_ = 0; // buffers handed out and not released
    wakeup::LookBudget look_budget_; // how long wait() looks before it sleeps
    std::uint64_t stash_overflow_ = 0;
    std::vector<std::uint8_t> lane_of_; // per buffer of the pool, the lane it came by (empty with one lane)

    pid_t owner_pid_;
    std::uint64_t owner_start_;
    std::uint64_t last_owner_check_ = 0;
    bool owner_gone_ = false;
    bool control_closed_ = false;

    Counter packets_, bytes_;
};

} // namespace

namespace {

// Without a control socket: the millisecond timer wait() sleeps on.
int make_timer(std::uint32_t id, std::uint32_t queue, UniqueFd& out, zc_error* err)
{
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer)
        return fail(err, -errno, "cluster %u queue %u: cannot create the wait timer: %s", id, queue,
                    std::strerror(errno));
    struct itimerspec period {};
    period.it_interval.tv_nsec = kTickNs;
    period.it_value.tv_nsec = kTickNs;
    if (::timerfd_settime(timer.get(), 0, &period, nullptr) != 0)
        return fail(err, -errno, "cluster %u queue %u: cannot start the wait timer: %s", id, queue,
                    std::strerror(errno));
    out = std::move(timer);
    return 0;
}

// With one: the epoll set of the wake-up pipe and the connection.
int make_epoll(std::uint32_t id, std::uint32_t queue, int wake, int control, UniqueFd& out, zc_error* err)
{
    UniqueFd set(::epoll_create1(EPOLL_CLOEXEC));
    if (!set)
        return fail(err, -errno, "cluster %u queue %u: cannot create an epoll set: %s", id, queue,
                    std::strerror(errno));
    epoll_event on_wake{};
    on_wake.events = EPOLLIN;
    on_wake.data.u32 = kWakeEvent;
    epoll_event on_control{};
    on_control.events = EPOLLIN | EPOLLRDHUP;
    on_control.data.u32 = kControlEvent;
    if (::epoll_ctl(set.get(), EPOLL_CTL_ADD, wake, &on_wake) != 0 ||
        ::epoll_ctl(set.get(), EPOLL_CTL_ADD, control, &on_control) != 0)
        return fail(err, -errno, "cluster %u queue %u: cannot watch the wake-up pipe: %s", id, queue,
                    std::strerror(errno));
    out = std::move(set);
    return 0;
}

// Attaches cluster `id` for a consumer of `queue`: through the owner's
// control socket when it serves one, else by the region file's path.
int attach_consumer(std::uint32_t id, std::uint32_t queue, Cluster& cluster, UniqueFd& waiter, UniqueFd& wake,
                    UniqueFd& control, zc_error* err)
{
    control::Attachment handed;
    int rc = control::attach(id, queue, handed, err);
    zc_cluster* attached = nullptr;
    if (rc == 0) {
        control = UniqueFd(handed.connection);
        wake = UniqueFd(handed.wake);
        UniqueFd side(handed.side);
        if (int r = attach_region_fd(id, handed.region, &attached, err); r != 0)
            return r;
        cluster = Cluster(attached);
        if (int r = map_queue_side(*attached, queue, side.release(), err); r != 0)
            return r;
        return make_epoll(id, queue, wake.get(), control.get(), waiter, err);
    }
    if (rc != -ENOENT)
        return rc; // refused, or the owner misbehaved: as it says
    // No socket: an owner on the library API alone, or none at all.
    if (int r = zc_cluster_attach(id, nullptr, &attached, err); r != 0)
        return r; // no such cluster, permission denied, owner gone...: as attach says
    cluster = Cluster(attached);
    const std::uint32_t flags =
        std::atomic_ref<std::uint32_t>(attached->header->flags).load(std::memory_order_acquire);
    if ((flags & control::kRegionControlSocket) != 0)
        return fail(err, -ENOENT, "cluster %u: its owner (pid %d) serves a control socket, but %s is gone (removed?)",
                    id, static_cast<int>(attached->header->owner_pid), control::socket_path(id).c_str());
    if (int r = protect_pool(*attached, err); r != 0)
        return r;
    return make_timer(id, queue, waiter, err);
}

} // namespace

int open_cluster_queue(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                       zc_error* err)
{
    const std::uint32_t id = name.cluster;
    if (name.queue < 0)
        return fail(err, -EINVAL, "cluster %u: no queue %d", id, name.queue);
    const auto queue = static_cast<std::uint32_t>(name.queue);
    Cluster cluster;
    UniqueFd waiter, wake, control;
    if (int rc = attach_consumer(id, queue, cluster, waiter, wake, control, err); rc != 0)
        return rc;
    zc_cluster* attached = cluster.get();
    if (name_queue_missing(attached, id, queue, err) != 0)
        return -EINVAL; // an owner that granted a queue it does not have

    const std::uint32_t capacity = attached->frame_count < kMaxStash ? attached->frame_count : kMaxStash;
    std::vector<zc_desc> stash;
    std::vector<std::uint8_t> lane_of;
    std::unique_ptr<ClusterQueueDriver> driver;
    // Without a socket, the claim word in the queue's side keeps a second
    // consumer out; with one, the owner did (its table of connections).
    std::uint64_t claim = 0;
    if (!control)
        if (int rc = clusterq::claim_queue(*attached->sides[queue], id, queue, &claim, err); rc != 0)
            return rc;
    try {
        stash.resize(capacity);
        if (attached->lanes != 1)
            lane_of.resize(attached->frame_count);
        // Nothing is moved from until operator new has succeeded.
        driver = std::make_unique<ClusterQueueDriver>(std::move(cluster), queue, claim, std::move(waiter),
                                                      std::move(wake), std::move(control), std::move(stash),
                                                      std::move(lane_of), config.snaplen);
    } catch (const std::bad_alloc&) {
        if (claim != 0)
            clusterq::release_queue(*attached->sides[queue], claim);
        return fail(err, -ENOMEM, "cluster %u queue %u: no memory for %u return descriptors", id, queue, capacity);
    }
    out = std::move(driver);
    return 0;
}

} // namespace zc

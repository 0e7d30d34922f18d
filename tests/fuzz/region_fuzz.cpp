// SPDX-License-Identifier: BSD-3-Clause
//
// libFuzzer target for the balancer against its consumers (issue 11,
// "consumers are untrusted"): a cluster in this process (no control socket:
// the queue sides are in the region, and a cut-off consumer's rings are reset
// at the owner's positions), zc:synthetic, a balancer over 2 or 3 queues in
// drop and wait groups, and an honest consumer per queue (zc_queue). The
// input's first byte picks the shape; every byte after it is a step:
//
//   poll, control               the owner's two calls, as zc-balance makes them
//   recv, give back, a round    a consumer that follows the protocol
//   write                       any bytes at any offset of a queue's consumer
//                               side: its QueueSide and both rings, everything
//                               its consumer can write
//   index                       a ring index moved a little (possibly legal)
//   impossible                  a ring index the owner must refuse (+2^31)
//   forge                       a return of a buffer the queue does not hold
//   die                         the consumer dies: the owner reclaims its queue
//
// A queue whose side was written by anything but its honest consumer is
// "tainted" until it is cut off or reclaimed, and then its consumer attaches
// again. Checked after every step: the pool is consistent (zc_pool_check),
// the device holds its buffers, the queues' references are their buffers;
// a queue in drop mode holds no more than its limit; an untainted queue's
// count of what it holds is exactly its RX ring, its consumer's hands and
// its return ring, it is never cut off and never has a return refused. A
// queue given an impossible index (and not touched since) is cut off by
// the control call after the next two polls. At the end: with drop mode
// everywhere, the untainted queues are still served, at no loss; after
// every tainted queue is reclaimed every queue is served; after reclaiming
// every queue every buffer is with the device, and after closing
// everything, in the pool. Plus AddressSanitizer and UBSan throughout.
//
//   make fuzz && tests/fuzz/region_fuzz -max_total_time=60
//
// tests/fuzz/region_fuzz_check.cpp runs a fixed set of inputs through the
// same entry point in make check.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "internal/layout.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/ring.hpp"
#include "zc/zc.h"

// What to do with a failing input before aborting: nothing here (libFuzzer
// saves it); region_fuzz_check.cpp keeps it in a file.
__attribute__((weak)) void region_fuzz_on_failure(const std::uint8_t*, std::size_t) {}

namespace {

const std::uint8_t* g_input = nullptr;
std::size_t g_input_size = 0;

[[noreturn]] void fail_input(const char* what, std::uint32_t queue, std::uint64_t a, std::uint64_t b)
{
    std::fprintf(stderr, "region_fuzz: %s (queue %u: %llu, %llu)\n", what, queue, static_cast<unsigned long long>(a),
                 static_cast<unsigned long long>(b));
    region_fuzz_on_failure(g_input, g_input_size);
    std::abort();
}

void check(bool ok, const char* what, std::uint32_t queue = 0, std::uint64_t a = 0, std::uint64_t b = 0)
{
    if (!ok) [[unlikely]]
        fail_input(what, queue, a, b);
}

// A private directory for the region, removed at exit (a plain array: it
// must outlive the static destructors, which run before the atexit handler).
const char* region_directory()
{
    static char directory[] = "/dev/shm/zc-region-fuzz-XXXXXX";
    static const bool made = [] {
        if (!::mkdtemp(directory)) {
            std::perror("region_fuzz: mkdtemp in /dev/shm");
            std::abort();
        }
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(directory, ignored);
        });
        return true;
    }();
    (void)made;
    return directory;
}

void quiet(zc_log_level, const char*, void*) {}

class Bytes {
public:
    Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    [[nodiscard]] bool empty() const { return at_ >= size_; }
    std::uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
    std::uint32_t u16() { return u8() | std::uint32_t{u8()} << 8; }
    std::uint64_t u64()
    {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i)
            v |= std::uint64_t{u8()} << (8 * i);
        return v;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

struct Shape {
    const char* groups;
    std::uint32_t queues;
};
constexpr Shape kShapes[] = {{"2", 2}, {"3", 3}, {"1,1", 2}, {"2,1", 3}, {"1,2", 3}, {"1,1,1", 3}};
constexpr std::uint32_t kDeviceBuffers = 256;
constexpr std::size_t kMaxSteps = 3000;

class Run {
public:
    explicit Run(Bytes& in) : in_(in) {}

    ~Run()
    {
        for (zc_queue* q : consumers_)
            zc_queue_close(q);
        zc_balancer_close(balancer_);
        zc_device_close(device_);
        zc_cluster_close(cluster_);
    }

    void go()
    {
        if (!open())
            return;
        for (std::size_t step = 0; step < kMaxSteps && !in_.empty(); ++step) {
            this->step(in_.u8());
            check_invariants();
        }
        finish();
    }

private:
    struct Queue {
        std::vector<zc_desc> held;   // taken by the honest consumer, not given back
        bool tainted = false;        // its side was written by someone else
        bool must_cut = false;       // holds an impossible index the owner has still to see
        std::uint32_t polls_since = 0;
        std::uint64_t cut_off = 0;   // the owner's count, last seen
        std::uint64_t bad_returns = 0;
    };

    bool open()
    {
        const std::uint8_t shape_byte = in_.u8();
        const Shape& shape = kShapes[(shape_byte & 7) % std::size(kShapes)];
        slots_ = shape_byte & 0x40 ? 128 : 64;
        zc_error err{};
        zc_balancer_config bc;
        zc_balancer_config_init(&bc);
        check(zc_balancer_parse_groups(shape.groups, &bc, &err) == 0, "groups");
        for (std::uint32_t g = 0; g < bc.group_count; ++g)
            bc.groups[g].on_full = (shape_byte >> (3 + g)) & 1 ? ZC_ON_FULL_WAIT : ZC_ON_FULL_DROP;
        // Round robin: every queue of a group gets packets in every round.
        bc.mode = ZC_HASH_ROUND_ROBIN;
        bc.burst = shape_byte & 0x80 ? 16 : 32;
        all_drop_ = true;
        for (std::uint32_t g = 0; g < bc.group_count; ++g)
            all_drop_ &= bc.groups[g].on_full == ZC_ON_FULL_DROP;

        zc_cluster_config cc;
        zc_cluster_config_init(&cc);
        cc.frame_count = kDeviceBuffers + shape.queues * slots_ + 64;
        cc.queue_count = shape.queues;
        cc.queue_slots = slots_;
        cc.directory = region_directory();
        cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
        if (zc_cluster_create(1, &cc, &cluster_, &err) != 0)
            fail_input(err.message, 0, 0, 0);
        start_free_ = zc_pool_free_count(cluster_);
        frame_count_ = cc.frame_count;
        zc_device_config dc;
        zc_device_config_init(&dc);
        dc.pool = cluster_;
        dc.synthetic_flows = 1;
        dc.frame_count = kDeviceBuffers;
        if (zc_device_open("zc:synthetic", &dc, &device_, &err) != 0)
            fail_input(err.message, 0, 0, 0);
        if (zc_balancer_create(cluster_, &device_, 1, &bc, &balancer_, &err) != 0)
            fail_input(err.message, 0, 0, 0);
        queues_.resize(shape.queues);
        consumers_.assign(shape.queues, nullptr);
        for (std::uint32_t q = 0; q < shape.queues; ++q)
            attach(q);
        stats_ = std::make_unique<zc_balancer_stats>();
        stats_->struct_size = sizeof *stats_;
        return true;
    }

    // (Re)attaches the honest consumer of q: after a cut-off or reclaim the
    // rings were reset at the owner's positions, and it starts from them.
    void attach(std::uint32_t q)
    {
        zc_queue_close(consumers_[q]);
        consumers_[q] = nullptr;
        zc_error err{};
        if (zc_queue_open(cluster_, q, ZC_QUEUE_CONSUMER, &consumers_[q], &err) != 0)
            fail_input(err.message, q, 0, 0);
        Queue& queue = queues_[q];
        queue.held.clear();
        queue.tainted = false;
        queue.must_cut = false;
        refresh();
        queue.cut_off = stats_ ? stats_->queues[q].cut_off : 0;
        queue.bad_returns = stats_ ? stats_->queues[q].bad_returns : 0;
    }

    void refresh()
    {
        if (stats_)
            check(zc_balancer_get_stats(balancer_, stats_.get()) == 0, "stats");
    }

    std::uint32_t count() const { return static_cast<std::uint32_t>(queues_.size()); }
    std::uint32_t pick_queue() { return in_.u8() % count(); }

    std::byte* side(std::uint32_t q) const
    {
        auto* rx = static_cast<std::byte*>(zc_queue_ring_memory(cluster_, q, ZC_RING_RX));
        return rx - sizeof(zc::QueueSide); // layout.hpp: the RX ring follows the QueueSide
    }
    zc::RingShared* ring(std::uint32_t q, bool rx) const
    {
        return static_cast<zc::RingShared*>(zc_queue_ring_memory(cluster_, q, rx ? ZC_RING_RX : ZC_RING_RETURN));
    }

    // Someone other than the honest consumer writes q's side.
    void taint(std::uint32_t q)
    {
        queues_[q].tainted = true;
        queues_[q].must_cut = false; // what it wrote before may be undone
    }
    void consumer_acts(std::uint32_t q) { queues_[q].must_cut = false; }

    void poll()
    {
        zc_balancer_poll(balancer_);
        for (Queue& queue : queues_)
            ++queue.polls_since;
    }

    // The control call, and what a consumer does when the owner cut it off:
    // it attaches again. A queue that held an impossible index, untouched,
    // through two polls must be among them.
    void control()
    {
        zc_balancer_event events[16];
        zc_balancer_control(balancer_, events, 16);
        for (std::uint32_t q = 0; q < count(); ++q) {
            const bool owed = queues_[q].must_cut && queues_[q].polls_since >= 2;
            if (!noticed_cut_off(q))
                check(!owed, "a queue with an impossible ring index was not cut off", q,
                      queues_[q].polls_since);
        }
    }

    // A cut-off (control, or a reclaim that found the queue broken) since
    // the last look: the consumer attaches again.
    bool noticed_cut_off(std::uint32_t q)
    {
        refresh();
        if (stats_->queues[q].cut_off == queues_[q].cut_off)
            return false;
        check(queues_[q].tainted, "an honest consumer was cut off", q, stats_->queues[q].cut_off);
        attach(q);
        return true;
    }

    void recv(std::uint32_t q, std::uint32_t n)
    {
        consumer_acts(q);
        zc_desc descs[256];
        std::uint32_t got = zc_queue_recv_burst(consumers_[q], descs, n < 256 ? n : 256);
        queues_[q].held.insert(queues_[q].held.end(), descs, descs + got);
    }

    void give_back(std::uint32_t q, std::uint32_t n)
    {
        consumer_acts(q);
        std::vector<zc_desc>& held = queues_[q].held;
        if (n > held.size())
            n = static_cast<std::uint32_t>(held.size());
        std::uint32_t given = zc_queue_give_back_burst(consumers_[q], held.data(), n);
        held.erase(held.begin(), held.begin() + given);
    }

    void honest_round(std::uint32_t q)
    {
        recv(q, 256);
        give_back(q, static_cast<std::uint32_t>(queues_[q].held.size()));
    }

    void step(std::uint8_t op)
    {
        switch (op % 16) {
        case 0:
        case 1:
        case 2: poll(); break;
        case 3:
        case 15: control(); break;
        case 4:
        case 5: {
            std::uint32_t q = pick_queue();
            recv(q, in_.u8());
            break;
        }
        case 6:
        case 7: {
            std::uint32_t q = pick_queue();
            give_back(q, in_.u8());
            break;
        }
        case 8:
            for (std::uint32_t q = 0; q < count(); ++q)
                honest_round(q);
            break;
        case 9:
        case 10: { // any bytes anywhere in the side
            std::uint32_t q = pick_queue();
            const std::size_t bytes = zc::side_bytes(slots_);
            std::size_t offset = in_.u16() % bytes;
            std::size_t width = std::size_t{1} << (in_.u8() & 3);
            if (width > bytes - offset)
                width = bytes - offset;
            std::uint64_t value = in_.u64();
            taint(q);
            std::memcpy(side(q) + offset, &value, width);
            break;
        }
        case 11: { // an index moved a little: legal or not
            std::uint32_t q = pick_queue();
            std::uint8_t which = in_.u8();
            zc::RingShared* r = ring(q, which & 1);
            std::uint32_t& index = which & 2 ? r->consumer : r->producer;
            taint(q);
            index += static_cast<std::uint32_t>(static_cast<std::int8_t>(in_.u8()));
            break;
        }
        case 12: { // an index no protocol allows: the RX ring's consumer, or the return ring's producer
            std::uint32_t q = pick_queue();
            std::uint8_t which = in_.u8();
            const bool honest = !queues_[q].tainted;
            zc::RingShared* r = ring(q, which & 1);
            std::uint32_t& index = which & 1 ? r->consumer : r->producer;
            taint(q);
            index += 0x80000000u + (which >> 1);
            // Only an honest value moved by 2^31 is sure to be impossible.
            queues_[q].must_cut = honest;
            queues_[q].polls_since = 0;
            break;
        }
        case 13: { // a return of a buffer the queue does not hold
            std::uint32_t q = pick_queue();
            std::uint8_t kind = in_.u8();
            zc_desc desc{in_.u64(), 60, 0};
            if (kind % 3 == 1) { // another queue's
                const std::vector<zc_desc>& other = queues_[(q + 1 + kind / 3 % (count() - 1)) % count()].held;
                if (other.empty())
                    break;
                desc = other[kind / 8 % other.size()];
            } else if (kind % 3 == 2) { // its own, twice
                std::vector<zc_desc>& held = queues_[q].held;
                if (held.empty())
                    break;
                desc = held.front();
                if (zc_queue_give_back_burst(consumers_[q], &desc, 1) != 1)
                    break;
                held.erase(held.begin());
            }
            taint(q);
            (void)zc_queue_give_back_burst(consumers_[q], &desc, 1);
            break;
        }
        case 14: { // the consumer dies
            std::uint32_t q = pick_queue();
            check(zc_balancer_reclaim_queue(balancer_, q) == 0, "reclaim");
            refresh();
            check(stats_->queues[q].outstanding == 0, "a reclaimed queue holds buffers", q,
                  stats_->queues[q].outstanding);
            if (!noticed_cut_off(q))
                attach(q);
            break;
        }
        }
    }

    void check_pool() const
    {
        zc_pool_report report{};
        report.struct_size = sizeof report;
        int rc = zc_pool_check(cluster_, &report);
        if (rc != 0) {
            std::fprintf(stderr, "region_fuzz: %s\n", report.first_error);
            fail_input("the pool is inconsistent", 0, report.errors, 0);
        }
        check(report.free_count == start_free_ - kDeviceBuffers, "the free list changed under the device",
              0, report.free_count, start_free_);
        check(report.by_kind[ZC_OWNER_DEVICE] + report.by_kind[ZC_OWNER_QUEUE] == kDeviceBuffers,
              "a device buffer is neither the device's nor a queue's", 0, report.by_kind[ZC_OWNER_DEVICE],
              report.by_kind[ZC_OWNER_QUEUE]);
    }

    void check_invariants()
    {
        check_pool();
        refresh();
        // A queue's references are the buffers it holds (with nothing staged).
        std::uint64_t references = 0, outstanding = 0;
        for (std::uint32_t b = 0; b < frame_count_; ++b)
            if (ZC_OWNER_KIND(zc_buffer_owner(cluster_, b)) == ZC_OWNER_QUEUE)
                references += zc_buffer_refcount(cluster_, b);
        for (std::uint32_t q = 0; q < count(); ++q) {
            const zc_balancer_queue_stats& s = stats_->queues[q];
            outstanding += s.outstanding;
            if (s.limit != UINT32_MAX)
                check(s.outstanding <= s.limit, "a queue in drop mode holds more than its limit", q, s.outstanding,
                      s.limit);
            const Queue& queue = queues_[q];
            if (queue.tainted)
                continue;
            check(s.cut_off == queue.cut_off, "an honest consumer was cut off", q, s.cut_off);
            check(s.bad_returns == queue.bad_returns, "an honest consumer's return was refused", q, s.bad_returns);
            const std::uint64_t seen = zc::ring_occupancy(ring(q, true), slots_) + queue.held.size() +
                                       zc::ring_occupancy(ring(q, false), slots_);
            check(s.outstanding == seen, "an honest queue's count is not what it holds", q, s.outstanding, seen);
        }
        if (stats_->waiting == 0)
            check(references == outstanding, "the queues' references are not the buffers they hold", 0, references,
                  outstanding);
        else
            check(references >= outstanding, "fewer references than buffers held", 0, references, outstanding);
    }

    // Honest rounds for `rounds`: each consumer (of `only` untainted queues,
    // or all) reads and gives back everything, the owner controls and polls.
    // Over the last ten, every such queue must get packets and drop none.
    void served(bool untainted_only, const char* what)
    {
        constexpr std::uint32_t kRounds = 40, kLast = 10;
        std::vector<std::uint64_t> enqueued(count()), dropped(count());
        for (std::uint32_t round = 0; round < kRounds; ++round) {
            if (round == kRounds - kLast) {
                refresh();
                for (std::uint32_t q = 0; q < count(); ++q) {
                    enqueued[q] = stats_->queues[q].enqueued;
                    dropped[q] = stats_->queues[q].dropped;
                }
            }
            control();
            for (std::uint32_t q = 0; q < count(); ++q)
                if (!untainted_only || !queues_[q].tainted)
                    honest_round(q);
            poll();
            check_invariants();
        }
        refresh();
        for (std::uint32_t q = 0; q < count(); ++q) {
            if (untainted_only && queues_[q].tainted)
                continue;
            check(stats_->queues[q].enqueued > enqueued[q], what, q, enqueued[q], stats_->queues[q].enqueued);
            check(stats_->queues[q].dropped == dropped[q], what, q, dropped[q], stats_->queues[q].dropped);
        }
    }

    void finish()
    {
        // The owner gets to see what was written: two polls, a control.
        poll();
        check_invariants();
        poll();
        check_invariants();
        control();
        check_invariants();
        // Drop mode everywhere: queues with a misbehaving consumer hold at
        // most their limit, and the others are served as if nothing happened.
        if (all_drop_)
            served(true, "drop mode did not isolate an honest queue from a misbehaving one");
        // Every misbehaving consumer dies; everybody is served again.
        for (std::uint32_t q = 0; q < count(); ++q)
            if (queues_[q].tainted) {
                check(zc_balancer_reclaim_queue(balancer_, q) == 0, "reclaim");
                if (!noticed_cut_off(q))
                    attach(q);
            }
        check_invariants();
        served(false, "a queue was not served after its misbehaving consumer was reclaimed");
        // Every queue reclaimed: every buffer is the device's (or staged).
        for (std::uint32_t q = 0; q < count(); ++q) {
            check(zc_balancer_reclaim_queue(balancer_, q) == 0, "reclaim");
            attach(q);
        }
        refresh();
        for (std::uint32_t q = 0; q < count(); ++q)
            check(stats_->queues[q].outstanding == 0, "a reclaimed queue holds buffers", q,
                  stats_->queues[q].outstanding);
        check_invariants();
        zc_pool_report report{};
        report.struct_size = sizeof report;
        check(zc_pool_check(cluster_, &report) == 0, "the pool is inconsistent after reclaiming every queue");
        check(report.by_kind[ZC_OWNER_QUEUE] <= stats_->waiting, "buffers stayed with reclaimed queues", 0,
              report.by_kind[ZC_OWNER_QUEUE], stats_->waiting);
        // Closed: everything is home.
        for (zc_queue*& q : consumers_) {
            zc_queue_close(q);
            q = nullptr;
        }
        zc_balancer_close(balancer_);
        balancer_ = nullptr;
        stats_.reset();
        check(zc_pool_check(cluster_, &report) == 0, "the pool is inconsistent after the balancer closed");
        check(report.by_kind[ZC_OWNER_DEVICE] == kDeviceBuffers, "a buffer did not go back to the device", 0,
              report.by_kind[ZC_OWNER_DEVICE]);
        zc_device_close(device_);
        device_ = nullptr;
        check(zc_pool_check(cluster_, &report) == 0, "the pool is inconsistent after the device closed");
        check(report.free_count == start_free_, "a buffer did not come home", 0, report.free_count, start_free_);
    }

    Bytes& in_;
    zc_cluster* cluster_ = nullptr;
    zc_device* device_ = nullptr;
    zc_balancer* balancer_ = nullptr;
    std::vector<zc_queue*> consumers_;
    std::vector<Queue> queues_;
    std::unique_ptr<zc_balancer_stats> stats_;
    std::uint32_t slots_ = 64;
    std::uint32_t start_free_ = 0;
    std::uint32_t frame_count_ = 0;
    bool all_drop_ = true;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    zc_set_log_handler(quiet, nullptr);
    g_input = data;
    g_input_size = size;
    Bytes in(data, size);
    {
        Run run(in);
        run.go();
    }
    g_input = nullptr;
    g_input_size = 0;
    return 0;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// The balancer end to end in one process: zc:synthetic devices receive into
// a cluster's pool, the balancer spreads their packets over the cluster's
// queues, and consumers read the queues through their consumer ends (as
// another process would) and hand the buffers back. Every test ends with
// the conservation check: after everything is handed back and the devices
// are closed, the pool is consistent and its free count is where it began.

#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "balancer_fixture.hpp"
#include "src/balancer.hpp"
#include "internal/cluster.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/hash.h"
#include "zc/zc.h"

namespace {

TEST_F(BalancerTest, BothDirectionsOfAFlowLandInOneQueue)
{
    start("4", ZC_ON_FULL_DROP, 1024);
    std::uint64_t distributed = 0;
    while (distributed < 20000) {
        distributed += zc_balancer_poll(balancer);
        read_and_give_back_all();
    }
    std::map<std::uint32_t, std::set<std::uint32_t>> queues_of_flow;
    std::map<std::uint32_t, std::set<bool>> directions;
    std::set<std::uint32_t> used;
    for (const Seen& s : log) {
        queues_of_flow[s.flow.number].insert(s.queue);
        directions[s.flow.number].insert(s.flow.reverse);
        used.insert(s.queue);
        auto* frame = static_cast<const std::uint8_t*>(zc_cluster_pool_base(cluster)) + s.desc.addr;
        EXPECT_EQ(s.rx.hash, zc_packet_hash(ZC_HASH_5TUPLE, frame, s.desc.len, 0));
        EXPECT_EQ(s.rx.hash % 4, s.queue);
    }
    EXPECT_EQ(queues_of_flow.size(), kFlows);
    for (auto& [flow, queues] : queues_of_flow) {
        EXPECT_EQ(queues.size(), 1u) << "flow " << flow;
        EXPECT_EQ(directions[flow].size(), 2u) << "flow " << flow;
    }
    EXPECT_GE(used.size(), 2u) << "16 flows all on one of 4 queues";
    zc_balancer_stats s = stats();
    EXPECT_EQ(s.received, s.distributed);
    EXPECT_EQ(log.size(), s.received);
    check_conservation();
}

TEST_F(BalancerTest, FanOutGivesTheSingleQueueEverything)
{
    start("4,1", ZC_ON_FULL_DROP, 1024);
    std::uint64_t rounds = 0;
    while (stats().received < 20000 && ++rounds < 100000) {
        zc_balancer_poll(balancer);
        // Before handing back: each buffer is held by both groups.
        for (std::uint32_t q = 0; q < 5; ++q)
            read(q);
        for (const zc_desc& d : held[4]) {
            std::uint32_t buffer = 0;
            ASSERT_EQ(zc_buffer_from_addr(cluster, d.addr, &buffer), 0);
            EXPECT_EQ(zc_buffer_refcount(cluster, buffer), 2u);
        }
        check_conservation();
        for (std::uint32_t q = 0; q < 5; ++q)
            give_back(q);
    }
    zc_balancer_stats s = stats();
    std::uint64_t balanced = 0;
    for (std::uint32_t q = 0; q < 4; ++q) {
        EXPECT_GT(s.queues[q].enqueued, 0u) << "queue " << q;
        EXPECT_LT(s.queues[q].enqueued, s.received) << "queue " << q;
        EXPECT_EQ(s.queues[q].dropped, 0u);
        balanced += s.queues[q].enqueued;
    }
    EXPECT_EQ(balanced, s.received);
    EXPECT_EQ(s.queues[4].enqueued, s.received);
    std::uint64_t in_single = 0;
    for (const Seen& seen : log)
        in_single += seen.queue == 4;
    EXPECT_EQ(in_single, s.received);
    EXPECT_EQ(log.size(), 2 * s.received);
}

TEST_F(BalancerTest, WaitModeLosesNothingWithASlowConsumer)
{
    start("2,1", ZC_ON_FULL_WAIT, 64);
    bool saw_waiting = false;
    for (int round = 0; round < 20000; ++round) {
        zc_balancer_poll(balancer);
        saw_waiting |= stats().waiting > 0;
        // Queue 0 reads a little now and then; the others keep up.
        if (round % 7 == 0)
            read(0, 5);
        read(1);
        read(2);
        for (std::uint32_t q = 0; q < 3; ++q)
            give_back(q);
    }
    EXPECT_TRUE(saw_waiting) << "the slow consumer never filled its queue";
    // Drain: poll until nothing is waiting, then read everything.
    for (int round = 0; round < 1000 && stats().waiting > 0; ++round) {
        read_and_give_back_all();
        zc_balancer_poll(balancer);
    }
    // Nothing is staged any more: everything received is on a ring.
    read_and_give_back_all();
    zc_balancer_stats s = stats();
    EXPECT_EQ(s.waiting, 0u);
    EXPECT_GT(s.received, 1000u);
    std::uint64_t group0 = 0;
    for (std::uint32_t q = 0; q < 3; ++q)
        EXPECT_EQ(s.queues[q].dropped, 0u);
    group0 = s.queues[0].enqueued + s.queues[1].enqueued;
    EXPECT_EQ(group0, s.received);
    EXPECT_EQ(s.queues[2].enqueued, s.received);
    // Every sequence number exactly once per group.
    std::vector<std::uint8_t> seen0(s.received, 0), seen1(s.received, 0);
    for (const Seen& seen : log) {
        ASSERT_LT(seen.sequence, s.received);
        (seen.queue == 2 ? seen1 : seen0)[seen.sequence]++;
    }
    EXPECT_EQ(std::count(seen0.begin(), seen0.end(), 1), static_cast<long>(s.received));
    EXPECT_EQ(std::count(seen1.begin(), seen1.end(), 1), static_cast<long>(s.received));
    check_conservation();
}

TEST_F(BalancerTest, DropModeCountsExactlyWhatItDidNotDeliver)
{
    start("2,1", ZC_ON_FULL_DROP, 64);
    // Nobody reads for a while: the rings fill, then everything drops.
    for (int round = 0; round < 50; ++round)
        zc_balancer_poll(balancer);
    check_conservation();
    zc_balancer_stats s = stats();
    EXPECT_EQ(s.queues[0].enqueued + s.queues[1].enqueued + s.queues[0].dropped + s.queues[1].dropped, s.received);
    EXPECT_EQ(s.queues[2].enqueued + s.queues[2].dropped, s.received);
    EXPECT_EQ(s.queues[2].enqueued, 64u);
    EXPECT_GT(s.queues[2].dropped, 0u);
    EXPECT_LT(s.distributed, s.received);
    for (std::uint32_t q = 0; q < 3; ++q) {
        EXPECT_EQ(s.queues[q].occupancy, s.queues[q].enqueued);
        EXPECT_EQ(read(q), s.queues[q].enqueued) << "queue " << q;
        give_back(q);
    }
    // A packet no group took went straight home; the rest came back (the
    // poll that reaps them also delivers a new burst: compare with what was
    // delivered before it).
    const zc_balancer_stats before = stats();
    zc_balancer_poll(balancer);
    s = stats();
    for (std::uint32_t q = 0; q < 3; ++q)
        EXPECT_EQ(s.queues[q].returned, before.queues[q].enqueued);
    check_conservation();
}

TEST_F(BalancerTest, BadReturnsAreCountedAndIgnored)
{
    start("2", ZC_ON_FULL_DROP, 256);
    zc_balancer_poll(balancer);
    ASSERT_GT(read(0), 1u);
    ASSERT_GT(read(1), 0u);
    const zc_desc mine = held[0][0];
    const zc_desc other = held[1][0];
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    zc_cluster_get_info(cluster, &info);
    zc_desc bad[4] = {
        {zc_cluster_pool_bytes(cluster) + 4096, 60, 0}, // out of the pool
        {~0ull, 60, 0},                                 // far out
        other,                                          // queue 1's buffer, not queue 0's
        mine,                                           // returned twice (the second below)
    };
    ASSERT_EQ(zc_queue_give_back_burst(consumers[0], bad, 4), 4u);
    zc_balancer_poll(balancer);
    ASSERT_EQ(zc_queue_give_back_burst(consumers[0], &mine, 1), 1u);
    zc_balancer_poll(balancer);
    zc_balancer_stats s = stats();
    EXPECT_EQ(s.queues[0].bad_returns, 4u);
    EXPECT_EQ(s.queues[0].returned, 1u);
    EXPECT_EQ(s.queues[1].bad_returns, 0u);
    // Queue 1's buffer is still queue 1's: its consumer hands it back fine.
    held[0].erase(held[0].begin());
    check_conservation();
    give_back(0);
    give_back(1);
    zc_balancer_poll(balancer);
    s = stats();
    EXPECT_EQ(s.queues[0].bad_returns, 4u);
    EXPECT_EQ(s.queues[1].bad_returns, 0u);
    EXPECT_EQ(s.queues[1].returned, s.queues[1].enqueued - s.queues[1].occupancy);
}

TEST_F(BalancerTest, ReclaimBringsADeadConsumersBuffersHome)
{
    start("2,1", ZC_ON_FULL_DROP, 256);
    for (int round = 0; round < 200; ++round) {
        zc_balancer_poll(balancer);
        if (round < 100)
            read(0, 2); // holds them (200, below the queue's limit of 256): never gives back
        read(1);
        read(2);
        give_back(1);
        give_back(2);
    }
    zc_balancer_stats s = stats();
    ASSERT_GT(s.queues[0].outstanding, 0u);
    ASSERT_GT(s.queues[0].occupancy, 0u);
    std::uint64_t dropped_before = s.queues[1].dropped + s.queues[2].dropped;
    // The consumer of queue 0 dies.
    held[0].clear();
    zc_queue_close(consumers[0]);
    consumers[0] = nullptr;
    ASSERT_EQ(zc_balancer_reclaim_queue(balancer, 0), 0);
    s = stats();
    EXPECT_EQ(s.queues[0].outstanding, 0u);
    EXPECT_EQ(s.queues[0].occupancy, 0u);
    check_conservation();
    // A new consumer takes the queue; the others lost nothing.
    zc_error err{};
    ASSERT_EQ(zc_queue_open(cluster, 0, ZC_QUEUE_CONSUMER, &consumers[0], &err), 0) << err.message;
    for (int round = 0; round < 200; ++round) {
        zc_balancer_poll(balancer);
        read_and_give_back_all();
    }
    s = stats();
    EXPECT_EQ(s.queues[1].dropped + s.queues[2].dropped, dropped_before);
    EXPECT_EQ(s.queues[2].dropped, 0u);
    std::vector<std::uint8_t> seen(s.received, 0);
    for (const Seen& x : log)
        if (x.queue == 2)
            seen[x.sequence]++;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<long>(s.received));
    check_conservation();
}

// A queue at its limit stages nothing, and every packet it is dealt is
// dropped: those drops reach the region (what zc-stat and the consumer's
// own stats read) all the same, not only the balancer's private count.
TEST_F(BalancerTest, DropsOfAQueueAtItsLimitReachTheRegion)
{
    start("2", ZC_ON_FULL_DROP, 1024);
    for (int round = 0; round < 400; ++round) {
        zc_balancer_poll(balancer);
        read(0); // held, never given back: queue 0 reaches its limit
        read(1);
        give_back(1);
    }
    zc_balancer_stats s = stats();
    ASSERT_GT(s.queues[0].dropped, 0u) << "queue 0 never reached its limit";
    EXPECT_EQ(s.queues[0].outstanding, s.queues[0].limit);
    const auto published = std::atomic_ref<std::uint64_t>(cluster->queues[0].dropped_full).load();
    EXPECT_EQ(published, s.queues[0].dropped) << "drops at the limit not published in the region";
    give_back(0);
}

TEST_F(BalancerTest, TwoDevicesShareThePoolAndIfaceSplitsThem)
{
    start("2", ZC_ON_FULL_DROP, 1024, ZC_HASH_IFACE, 2);
    for (int round = 0; round < 200; ++round) {
        zc_balancer_poll(balancer);
        read_and_give_back_all();
    }
    zc_balancer_stats s = stats();
    EXPECT_GT(s.received, 1000u);
    EXPECT_EQ(s.queues[0].enqueued + s.queues[1].enqueued, s.received);
    // Both devices say port 0 (each is one interface), so iface puts
    // everything on one queue.
    EXPECT_TRUE(s.queues[0].enqueued == 0 || s.queues[1].enqueued == 0);
    check_conservation();
}

// Drop mode isolates consumers, whatever the device: the consumer of queue
// 0 takes a few packets and stops (as if SIGSTOPped), holding them; queue
// 0 fills to its limit and drops its own packets, counted, while queue 1's
// consumer goes on receiving every packet its flows bring, at the rate it
// had before — the device never runs out of buffers. A pool three times
// the size of a device's buffers, as zc-balance makes it, with rings larger
// than the limit: the limit, not the ring, must be what stops queue 0.
class BalancerIsolationTest : public BalancerTest {
protected:
    void run(const Devices& spec, std::uint32_t slots)
    {
        start("2", ZC_ON_FULL_DROP, slots, ZC_HASH_5TUPLE, 1, spec);
        if (HasFatalFailure())
            return;
        const zc_balancer_stats first = stats();
        const std::uint32_t limit = first.queues[0].limit;
        constexpr std::uint32_t kRounds = 2000;
        constexpr std::uint32_t kBurst = kTestBurst;

        // Both consumers keep up.
        for (std::uint32_t round = 0; round < kRounds; ++round) {
            zc_balancer_poll(balancer);
            read_and_give_back_all();
        }
        const zc_balancer_stats both = stats();
        ASSERT_GT(both.queues[0].enqueued, 0u) << "the flows must reach both queues";
        ASSERT_GT(both.queues[1].enqueued, 0u) << "the flows must reach both queues";
        EXPECT_EQ(both.queues[0].dropped + both.queues[1].dropped, 0u);
        EXPECT_EQ(both.received, std::uint64_t{kRounds} * kBurst) << "a full burst every round";

        // Queue 0's consumer takes ten packets and stops.
        read(0, 10);
        std::uint64_t steady_received = 0, steady_rounds = 0;
        zc_balancer_stats before = stats();
        for (std::uint32_t round = 0; round < kRounds; ++round) {
            zc_balancer_poll(balancer);
            read(1);
            give_back(1);
            const zc_balancer_stats now = stats();
            ASSERT_LE(now.queues[0].outstanding, limit) << "round " << round;
            EXPECT_EQ(now.received - before.received, kBurst) << "round " << round << ": the device stalled";
            if (now.queues[0].outstanding == limit) {
                ++steady_rounds;
                steady_received += now.queues[1].enqueued - before.queues[1].enqueued;
                EXPECT_GE(now.queues[0].dropped, before.queues[0].dropped);
            }
            before = now;
            if (HasFailure())
                break;
        }
        const zc_balancer_stats stopped = stats();
        EXPECT_EQ(stopped.queues[0].outstanding, limit) << "queue 0 never reached its limit";
        EXPECT_GT(stopped.queues[0].dropped, 0u) << "queue 0's drops are counted";
        EXPECT_EQ(stopped.queues[1].dropped, 0u) << "queue 1 lost nothing";
        EXPECT_EQ(stopped.queues[0].enqueued + stopped.queues[0].dropped + stopped.queues[1].enqueued, stopped.received)
            << "every packet went to queue 1 or was counted against queue 0";
        ASSERT_GT(steady_rounds, kRounds / 2);
        // Queue 1's rate (packets per round) at least what it was.
        const double rate_both = static_cast<double>(both.queues[1].enqueued) / kRounds;
        const double rate_stopped = static_cast<double>(steady_received) / static_cast<double>(steady_rounds);
        std::printf("%s: queue 1 %.1f packets per %u-packet round with queue 0 reading, %.1f with queue 0 stopped "
                    "(%llu rounds at its limit of %u); queue 0 dropped %llu\n",
                    spec.name.c_str(), rate_both, kBurst, rate_stopped, static_cast<unsigned long long>(steady_rounds),
                    limit, static_cast<unsigned long long>(stopped.queues[0].dropped));
        EXPECT_GE(rate_stopped, rate_both * 0.95);

        // Queue 0's consumer goes on: its queue drains and flows again.
        for (std::uint32_t round = 0; round < 200; ++round) {
            zc_balancer_poll(balancer);
            read_and_give_back_all();
        }
        const zc_balancer_stats resumed = stats();
        EXPECT_GT(resumed.queues[0].enqueued, stopped.queues[0].enqueued);
        EXPECT_EQ(resumed.queues[0].returned, resumed.queues[0].enqueued - resumed.queues[0].outstanding);
    }
};

TEST_F(BalancerIsolationTest, DropModeIsolatesAStoppedConsumerOnSynthetic)
{
    // zc:synthetic lends only its stream's buffers: the default limit is a
    // share of those, not of the pool.
    Devices spec;
    spec.pool_frames = 4 * kDeviceFrames + 2 * kDeviceFrames + 256;
    run(spec, kDeviceFrames);
    EXPECT_EQ(stats().queues[0].limit, kDeviceFrames / 3);
}

TEST_F(BalancerIsolationTest, DropModeIsolatesAStoppedConsumerOnPcapReplay)
{
    // zc:pcap: takes buffers from the pool as it needs them: the default
    // limit is a share of the pool.
    Devices spec;
    spec.name = "zc:pcap:" + directory + "/flows.pcap";
    spec.pool_frames = 4 * kDeviceFrames + 2 * kDeviceFrames + 256;
    spec.replay_speed = 0; // top speed
    spec.replay_loops = 0; // forever
    write_capture(directory + "/flows.pcap", 2 * kFlows * 32, kFlows);
    run(spec, 4 * kDeviceFrames);
    EXPECT_EQ(stats().queues[0].limit, spec.pool_frames / 3);
}

// The default limit with several devices: their buffers added up.
TEST_F(BalancerTest, DefaultQueueLimitIsAShareOfWhatTheDevicesLend)
{
    start("3", ZC_ON_FULL_DROP, 256, ZC_HASH_5TUPLE, 2);
    EXPECT_EQ(stats().queues[0].limit, 2 * kDeviceFrames / 4);
}

// The queue pick without a division (core/src/balancer.hpp) is the group's
// base plus hash % size, for every size a group can have, at the edges of
// the hash's range and at random.
TEST(BalancerGroup, PickIsBasePlusTheRemainder)
{
    std::mt19937 random(13);
    for (std::uint32_t size = 1; size <= 1024; ++size) {
        const zc::BalancerGroup group{7, size, zc::BalancerGroup::reciprocal_of(size)};
        for (std::uint32_t hash : {0u, 1u, size - 1, size, size + 1, 0x7fffffffu, 0x80000000u, 0xfffffffeu,
                                   0xffffffffu, 0xffffffffu - 0xffffffffu % size})
            ASSERT_EQ(group.pick(hash), 7 + hash % size) << "size " << size << ", hash " << hash;
        for (int i = 0; i < 2000; ++i) {
            const std::uint32_t hash = static_cast<std::uint32_t>(random());
            ASSERT_EQ(group.pick(hash), 7 + hash % size) << "size " << size << ", hash " << hash;
        }
    }
}

// A group's own filter (zc_balancer_set_group_filter): group 1 gets only
// what "udp[8] & 3 = 0" matches (the low bits of the sequence number, the
// first payload byte), as pcap_offline_filter judges each frame; group 0
// gets everything; what group 1 refused is counted on the queue the hash
// gave it, and nothing leaks. Then group 0 refuses everything too: those
// packets go home at once.
TEST_F(BalancerTest, GroupFiltersDecidePerGroup)
{
    start("2,1", ZC_ON_FULL_WAIT, 256);
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    ASSERT_NE(dead, nullptr);
    bpf_program program{};
    ASSERT_EQ(pcap_compile(dead, &program, "udp[8] & 3 = 0", 1, PCAP_NETMASK_UNKNOWN), 0) << pcap_geterr(dead);
    const auto* insns = reinterpret_cast<const zc_filter_insn*>(program.bf_insns);
    zc_error err{};
    EXPECT_EQ(zc_balancer_set_group_filter(balancer, 2, insns, program.bf_len, &err), -EINVAL);
    EXPECT_STREQ(err.message, "balancer: no group 2 (groups 0 to 1)");
    const zc_filter_insn jump_out[] = {{0x05, 0, 0, 100}}; // ja past the end
    EXPECT_EQ(zc_balancer_set_group_filter(balancer, 1, jump_out, 1, &err), -EINVAL);
    EXPECT_NE(std::string(err.message).find("not a valid classic BPF program"), std::string::npos) << err.message;
    ASSERT_EQ(zc_balancer_set_group_filter(balancer, 1, insns, program.bf_len, &err), 0) << err.message;

    for (int round = 0; round < 500; ++round) {
        zc_balancer_poll(balancer);
        read_and_give_back_all();
    }
    zc_balancer_stats s = stats();
    ASSERT_GT(s.received, 1000u);
    EXPECT_EQ(s.waiting, 0u);
    std::vector<std::uint8_t> in0(s.received, 0), in1(s.received, 0);
    for (const Seen& seen : log) {
        ASSERT_LT(seen.sequence, s.received);
        (seen.queue == 2 ? in1 : in0)[seen.sequence]++;
    }
    std::vector<std::byte> frame(zc::frames::frame_bytes(64));
    std::uint64_t matching = 0;
    for (std::uint64_t sequence = 0; sequence < s.received; ++sequence) {
        ASSERT_EQ(in0[sequence], 1) << "group 0 gets every packet once: " << sequence;
        zc::frames::build(frame.data(), 64, zc::frames::nth(sequence, kFlows), sequence);
        pcap_pkthdr header{};
        header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
        const bool match = pcap_offline_filter(&program, &header, reinterpret_cast<const u_char*>(frame.data())) != 0;
        matching += match;
        ASSERT_EQ(in1[sequence], match ? 1 : 0) << "group 1, packet " << sequence;
    }
    EXPECT_EQ(matching, (s.received + 3) / 4);
    EXPECT_EQ(s.queues[2].enqueued, matching);
    EXPECT_EQ(s.queues[2].filtered, s.received - matching);
    EXPECT_EQ(s.queues[0].filtered + s.queues[1].filtered, 0u);
    check_conservation();

    // Group 0 refuses everything as well: only group 1's packets are taken.
    const zc_filter_insn refuse_all[] = {{0x06, 0, 0, 0}}; // ret #0
    ASSERT_EQ(zc_balancer_set_group_filter(balancer, 0, refuse_all, 1, &err), 0) << err.message;
    const zc_balancer_stats before = stats();
    for (int round = 0; round < 200; ++round) {
        zc_balancer_poll(balancer);
        read_and_give_back_all();
    }
    s = stats();
    const std::uint64_t received = s.received - before.received;
    EXPECT_EQ(s.queues[0].enqueued + s.queues[1].enqueued, before.queues[0].enqueued + before.queues[1].enqueued);
    EXPECT_EQ(s.queues[0].filtered + s.queues[1].filtered, received);
    EXPECT_EQ(s.distributed - before.distributed, s.queues[2].enqueued - before.queues[2].enqueued);
    check_conservation();

    // Removing the filters: every group gets everything again.
    ASSERT_EQ(zc_balancer_set_group_filter(balancer, 0, nullptr, 0, &err), 0);
    ASSERT_EQ(zc_balancer_set_group_filter(balancer, 1, nullptr, 0, &err), 0);
    const zc_balancer_stats unfiltered = stats();
    for (int round = 0; round < 100; ++round) {
        zc_balancer_poll(balancer);
        read_and_give_back_all();
    }
    s = stats();
    EXPECT_EQ(s.queues[2].enqueued - unfiltered.queues[2].enqueued, s.received - unfiltered.received);
    EXPECT_EQ(s.queues[2].filtered, unfiltered.queues[2].filtered);
    pcap_freecode(&program);
    pcap_close(dead);
    check_conservation();
}

TEST(BalancerConfig, ParsesGroupsAndRefusesNonsense)
{
    zc_balancer_config c;
    zc_balancer_config_init(&c);
    zc_error err{};
    ASSERT_EQ(zc_balancer_parse_groups("4,1", &c, &err), 0);
    EXPECT_EQ(c.group_count, 2u);
    EXPECT_EQ(c.groups[0].queues, 4u);
    EXPECT_EQ(c.groups[1].queues, 1u);
    for (const char* bad : {"", "0", "4,", ",4", "4,,1", "a", "4;1", "2000", "-1", "1 2"}) {
        EXPECT_EQ(zc_balancer_parse_groups(bad, &c, &err), -EINVAL) << bad;
        EXPECT_NE(err.message[0], '\0');
    }
    EXPECT_EQ(c.group_count, 2u);
}

TEST_F(RegionTest, BalancerRefusesADeviceWithItsOwnPool)
{
    zc_cluster_config cc = config(4096, 1, 256);
    cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
    zc_cluster* cluster = nullptr;
    zc_error err{};
    ASSERT_EQ(zc_cluster_create(id, &cc, &cluster, &err), 0) << err.message;
    zc_device* device = nullptr;
    ASSERT_EQ(zc_device_open("zc:synthetic", nullptr, &device, &err), 0) << err.message;
    zc_balancer_config bc;
    zc_balancer_config_init(&bc);
    zc_balancer* balancer = nullptr;
    EXPECT_EQ(zc_balancer_create(cluster, &device, 1, &bc, &balancer, &err), -EINVAL);
    EXPECT_NE(std::string(err.message).find("pool"), std::string::npos) << err.message;
    ASSERT_EQ(zc_balancer_parse_groups("2", &bc, &err), 0);
    zc_device_close(device);
    zc_device_config dc;
    zc_device_config_init(&dc);
    dc.pool = cluster;
    dc.frame_count = 1024;
    ASSERT_EQ(zc_device_open("zc:synthetic", &dc, &device, &err), 0) << err.message;
    EXPECT_EQ(zc_balancer_create(cluster, &device, 1, &bc, &balancer, &err), -EINVAL); // 2 queues, cluster has 1
    EXPECT_NE(std::string(err.message).find("queue_count"), std::string::npos) << err.message;
    zc_device_close(device);
    zc_cluster_close(cluster);
}

} // namespace

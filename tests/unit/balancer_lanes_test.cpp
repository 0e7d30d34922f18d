// SPDX-License-Identifier: BSD-3-Clause
//
// The balancer past one thread (zc-balance --threads): a cluster made with
// lanes = 2 and four zc:synthetic devices, two per lane, each lane polled
// by a thread of its own while a third runs the control path (control
// rounds, statistics, reclaims) all the time, as zc-balance does; the
// queues read by zc:CLUSTER@QUEUE devices, which drain every lane's ring.
// What must hold: both directions of every flow meet in one queue whatever
// lane read them; every lane feeds every queue; what the consumers counted
// is what the balancer says it delivered; a consumer that leaves holding
// buffers of both lanes gets them all reclaimed while the lanes run; one
// that breaks one lane's ring is cut off without touching the other queue;
// and at the end every buffer is home (zc_pool_check).
//
// The consumer devices attach the cluster by its path in the default place
// (/dev/shm/zc, no control socket), under a random high id, removed after.

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "balancer_fixture.hpp" // write_capture, expect_pool_home
#include "internal/cluster.hpp" // the lanes' rings and the in-region sides
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/zc.h"

namespace {

// Lane `lane`'s RX or return ring of queue q, in the in-region side (what
// zc::queue_ring computes inside libzc, from the same layout).
zc::RingShared* lane_ring(zc_cluster* cluster, std::uint32_t q, bool rx, std::uint32_t lane)
{
    return reinterpret_cast<zc::RingShared*>(reinterpret_cast<std::byte*>(cluster->sides[q]) +
                                             zc::side_ring_offset(cluster->queue_slots, rx, lane));
}

constexpr std::uint32_t kLanes = 2;
constexpr std::uint32_t kDevicesPerLane = 2;
constexpr std::uint32_t kFlowCount = 32;
constexpr std::uint32_t kSlots = 1024;
constexpr std::uint32_t kStream = 1024; // buffers per synthetic device

class BalancerLanesTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::random_device random;
        id = 3000000000u + static_cast<std::uint32_t>(random() % 1000000000u);
        remove_file();
    }

    void TearDown() override
    {
        stop_threads();
        for (zc_device*& consumer : consumers)
            if (consumer) {
                zc_device_close(consumer);
                consumer = nullptr;
            }
        zc_balancer_close(balancer);
        for (zc_device* d : devices)
            zc_device_close(d);
        if (cluster) {
            expect_pool_home(cluster, start_free);
            zc_cluster_close(cluster);
        }
        remove_file();
    }

    void remove_file() const { ::unlink(("/dev/shm/zc/cluster-" + std::to_string(id)).c_str()); }

    // Queues `groups` (e.g. "2" or "2,1"), drop mode, lanes polled by
    // threads of their own and the control path by another; the devices
    // zc:synthetic, or `device` (a zc:pcap: replay at top speed, forever).
    void start(const char* groups, const std::string& device = "zc:synthetic")
    {
        zc_balancer_config bc;
        zc_balancer_config_init(&bc);
        zc_error err{};
        ASSERT_EQ(zc_balancer_parse_groups(groups, &bc, &err), 0) << err.message;
        std::uint32_t queues = 0;
        for (std::uint32_t g = 0; g < bc.group_count; ++g)
            queues += bc.groups[g].queues;
        zc_cluster_config cc;
        zc_cluster_config_init(&cc);
        cc.queue_count = queues;
        cc.queue_slots = kSlots;
        cc.lanes = kLanes;
        cc.frame_count = kLanes * kDevicesPerLane * kStream + queues * kSlots * kLanes + 256;
        cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
        ASSERT_EQ(zc_cluster_create(id, &cc, &cluster, &err), 0) << err.message;
        start_free = zc_pool_free_count(cluster);
        for (std::uint32_t d = 0; d < kLanes * kDevicesPerLane; ++d) {
            zc_device_config dc;
            zc_device_config_init(&dc);
            dc.pool = cluster;
            dc.synthetic_flows = kFlowCount;
            dc.frame_count = kStream;
            dc.replay_speed = 0;
            dc.replay_loops = 0;
            zc_device* opened = nullptr;
            ASSERT_EQ(zc_device_open(device.c_str(), &dc, &opened, &err), 0) << err.message;
            devices.push_back(opened);
        }
        ASSERT_EQ(zc_balancer_create(cluster, devices.data(), static_cast<std::uint32_t>(devices.size()), &bc,
                                     &balancer, &err),
                  0)
            << err.message;
        ASSERT_EQ(zc_balancer_lane_count(balancer), kLanes);
        for (std::uint32_t q = 0; q < queues; ++q) {
            zc_device* consumer = nullptr;
            const std::string name = "zc:" + std::to_string(id) + "@" + std::to_string(q);
            ASSERT_EQ(zc_device_open(name.c_str(), nullptr, &consumer, &err), 0) << err.message;
            consumers.push_back(consumer);
        }
        seen.assign(queues, 0);
        for (std::uint32_t lane = 0; lane < kLanes; ++lane)
            threads.emplace_back([this, lane] {
                while (!stop.load(std::memory_order_relaxed))
                    if (zc_balancer_poll_lane(balancer, lane) == 0)
                        std::this_thread::yield();
            });
        threads.emplace_back([this] {
            auto stats = std::make_unique<zc_balancer_stats>();
            stats->struct_size = sizeof *stats;
            while (!stop.load(std::memory_order_relaxed)) {
                zc_balancer_event events[8];
                zc_balancer_control(balancer, events, 8);
                EXPECT_EQ(zc_balancer_get_stats(balancer, stats.get()), 0);
                control_rounds.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        });
    }

    void stop_threads()
    {
        stop.store(true);
        for (std::thread& t : threads)
            t.join();
        threads.clear();
    }

    // Reads what queue q has (up to `limit`), checks each frame and notes
    // the queue of its flow; gives it all back unless told to keep it.
    std::uint32_t read(std::uint32_t q, bool give_back = true, std::uint32_t limit = 1u << 30)
    {
        zc_packet packets[64];
        std::uint32_t total = 0;
        while (total < limit) {
            const std::uint32_t want = limit - total < 64 ? limit - total : 64;
            const std::uint32_t n = zc_device_recv_burst(consumers[q], packets, want);
            for (std::uint32_t i = 0; i < n; ++i) {
                zc::frames::Flow flow{};
                std::uint64_t sequence = 0;
                EXPECT_TRUE(zc::frames::parse(reinterpret_cast<const std::byte*>(packets[i].data), packets[i].caplen, &flow, &sequence));
                queues_of_flow[flow.number].insert(q);
                directions[flow.number].insert(flow.reverse);
            }
            if (give_back)
                zc_device_release_burst(consumers[q], packets, n);
            else
                kept[q].insert(kept[q].end(), packets, packets + n);
            seen[q] += n;
            total += n;
            if (n < want)
                break;
        }
        return total;
    }

    zc_balancer_stats stats()
    {
        auto s = std::make_unique<zc_balancer_stats>();
        s->struct_size = sizeof *s;
        EXPECT_EQ(zc_balancer_get_stats(balancer, s.get()), 0);
        return *s;
    }

    // Packets lane `lane` has put on queue q's RX ring (the owner's count).
    std::uint32_t lane_delivered(std::uint32_t q, std::uint32_t lane)
    {
        zc::RingShared* ring = lane_ring(cluster, q, true, lane);
        return std::atomic_ref<std::uint32_t>(ring->producer).load(std::memory_order_acquire);
    }

    std::uint32_t id = 0;
    zc_cluster* cluster = nullptr;
    std::vector<zc_device*> devices;
    zc_balancer* balancer = nullptr;
    std::vector<zc_device*> consumers;
    std::vector<std::thread> threads;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> control_rounds{0};
    std::vector<std::uint64_t> seen;
    std::map<std::uint32_t, std::vector<zc_packet>> kept;
    std::map<std::uint32_t, std::set<std::uint32_t>> queues_of_flow;
    std::map<std::uint32_t, std::set<bool>> directions;
    std::uint32_t start_free = 0;
};

TEST_F(BalancerLanesTest, EveryLaneFeedsEveryQueueAndFlowsStayWhole)
{
    start("2,1");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::uint64_t total = 0;
    // Until enough packets went by with the control path running beside
    // the lanes all along (it pauses them for every round it takes).
    while ((total < 3 * 200000 || control_rounds.load() < 20) && std::chrono::steady_clock::now() < deadline)
        for (std::uint32_t q = 0; q < 3; ++q)
            total += read(q);
    stop_threads();
    for (std::uint32_t q = 0; q < 3; ++q)
        read(q); // what is left on the rings
    EXPECT_GE(total, 3u * 200000) << "the consumers did not get packets for 20 s";
    EXPECT_GE(control_rounds.load(), 20u) << "the control path did not run alongside the lanes";

    // Both directions of every flow in one queue of the balanced group,
    // whichever lane (device) read them; the fan-out queue sees them all.
    EXPECT_EQ(queues_of_flow.size(), kFlowCount);
    for (auto& [flow, queues] : queues_of_flow) {
        std::set<std::uint32_t> balanced(queues.begin(), queues.end());
        balanced.erase(2);
        EXPECT_EQ(balanced.size(), 1u) << "flow " << flow << " split over the balanced queues";
        EXPECT_EQ(queues.count(2), 1u) << "flow " << flow << " missing from the fan-out queue";
        EXPECT_EQ(directions[flow].size(), 2u) << "flow " << flow;
    }
    // Every lane put packets on every queue's ring of its own.
    for (std::uint32_t q = 0; q < 3; ++q)
        for (std::uint32_t lane = 0; lane < kLanes; ++lane)
            EXPECT_GT(lane_delivered(q, lane), 0u) << "queue " << q << " lane " << lane;
    // What the consumers counted is what the balancer delivered: nothing
    // lost between the lanes' rings and the consumer, nothing twice.
    zc_balancer_stats s = stats();
    // (What went back since the lanes' last round is reaped at close:
    // TearDown's pool check counts it home.)
    for (std::uint32_t q = 0; q < 3; ++q)
        EXPECT_EQ(seen[q], s.queues[q].enqueued) << "queue " << q;
    // Two groups: each packet received was delivered or dropped once per group.
    std::uint64_t delivered_or_dropped = 0;
    for (std::uint32_t q = 0; q < 3; ++q)
        delivered_or_dropped += s.queues[q].enqueued + s.queues[q].dropped;
    EXPECT_EQ(delivered_or_dropped, 2 * s.received);
}

// zc:pcap: takes buffers from the pool as it reads and gives them back
// there (as AF_XDP and AF_PACKET do): four of them on two threads share the
// pool's free list.
TEST_F(BalancerLanesTest, DevicesThatTakeBuffersAsTheyGoShareThePoolAcrossLanes)
{
    char directory[] = "/tmp/zc-lanes-XXXXXX";
    ASSERT_NE(::mkdtemp(directory), nullptr);
    const std::string capture = std::string(directory) + "/flows.pcap";
    write_capture(capture, 2 * kFlowCount * 32, kFlowCount);
    start("2", "zc:pcap:" + capture);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::uint64_t total = 0;
    while (total < 200000 && std::chrono::steady_clock::now() < deadline)
        for (std::uint32_t q = 0; q < 2; ++q)
            total += read(q);
    stop_threads();
    read(0);
    read(1);
    EXPECT_GE(total, 200000u);
    for (auto& [flow, queues] : queues_of_flow)
        EXPECT_EQ(queues.size(), 1u) << "flow " << flow << " split";
    ::unlink(capture.c_str());
    ::rmdir(directory);
    // TearDown: every buffer home, the free list consistent.
}

TEST_F(BalancerLanesTest, AConsumerLeavingWithBuffersOfBothLanesGetsThemReclaimedWhileTheLanesRun)
{
    start("2");
    // Queue 0's consumer keeps what it reads until it holds buffers from
    // both lanes (the owner's rings say both delivered to it).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((kept[0].size() < 512 || lane_delivered(0, 0) == 0 || lane_delivered(0, 1) == 0) &&
           std::chrono::steady_clock::now() < deadline) {
        if (kept[0].size() < 512)
            read(0, false, 64);
        else
            read(0); // enough kept: the rest goes back, until both lanes delivered
        read(1);
    }
    ASSERT_GE(kept[0].size(), 512u);
    ASSERT_GT(lane_delivered(0, 0), 0u);
    ASSERT_GT(lane_delivered(0, 1), 0u);
    // It dies without a word: its device closes holding them.
    zc_device_close(consumers[0]);
    consumers[0] = nullptr;
    kept[0].clear();
    ASSERT_EQ(zc_balancer_reclaim_queue(balancer, 0), 0); // while the lanes run (they refill it at once)
    // Queue 1 goes on; a new consumer of queue 0 reads again.
    zc_error err{};
    const std::string name = "zc:" + std::to_string(id) + "@0";
    ASSERT_EQ(zc_device_open(name.c_str(), nullptr, &consumers[0], &err), 0) << err.message;
    std::uint64_t again = 0;
    const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (again < 10000 && std::chrono::steady_clock::now() < later) {
        again += read(0);
        read(1);
    }
    EXPECT_GE(again, 10000u);
    stop_threads();
    read(0);
    read(1);
    // TearDown: every buffer home.
}

TEST_F(BalancerLanesTest, AConsumerThatBreaksOneLanesRingIsCutOffAndTheOtherQueueGoesOn)
{
    start("2");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((seen[0] < 10000 || seen[1] < 10000) && std::chrono::steady_clock::now() < deadline) {
        read(0);
        read(1);
    }
    // Queue 0's consumer writes nonsense into lane 1's return ring index
    // (the in-region side: no control socket here).
    zc::RingShared* ring = lane_ring(cluster, 0, false, 1);
    std::atomic_ref<std::uint32_t>(ring->producer).fetch_add(0x40000000u, std::memory_order_release);
    const auto cut_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (stats().queues[0].cut_off == 0 && std::chrono::steady_clock::now() < cut_deadline) {
        read(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    zc_balancer_stats s = stats();
    EXPECT_EQ(s.queues[0].cut_off, 1u);
    EXPECT_EQ(s.queues[1].cut_off, 0u);
    // Queue 1 still gets packets from both lanes.
    const std::uint32_t lane0 = lane_delivered(1, 0), lane1 = lane_delivered(1, 1);
    const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((lane_delivered(1, 0) == lane0 || lane_delivered(1, 1) == lane1) &&
           std::chrono::steady_clock::now() < later)
        read(1);
    EXPECT_NE(lane_delivered(1, 0), lane0);
    EXPECT_NE(lane_delivered(1, 1), lane1);
    stop_threads();
    // Queue 0's old consumer device still maps the old side (reset): it
    // may read nothing sensible; close it before reading the rest.
    zc_device_close(consumers[0]);
    consumers[0] = nullptr;
    read(1);
}

TEST_F(BalancerLanesTest, RefusesFewerDevicesThanLanesAndOneRingPairHandles)
{
    zc_cluster_config cc;
    zc_cluster_config_init(&cc);
    cc.queue_count = 1;
    cc.lanes = 2;
    cc.frame_count = 4096;
    cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
    zc_error err{};
    ASSERT_EQ(zc_cluster_create(id, &cc, &cluster, &err), 0) << err.message;
    start_free = zc_pool_free_count(cluster);
    zc_device_config dc;
    zc_device_config_init(&dc);
    dc.pool = cluster;
    dc.frame_count = kStream;
    zc_device* device = nullptr;
    ASSERT_EQ(zc_device_open("zc:synthetic", &dc, &device, &err), 0) << err.message;
    devices.push_back(device);
    zc_balancer_config bc;
    zc_balancer_config_init(&bc);
    EXPECT_EQ(zc_balancer_create(cluster, devices.data(), 1, &bc, &balancer, &err), -EINVAL);
    EXPECT_NE(std::strstr(err.message, "each lane reads devices of its own"), nullptr) << err.message;
    zc_queue* queue = nullptr;
    EXPECT_EQ(zc_queue_open(cluster, 0, ZC_QUEUE_CONSUMER, &queue, &err), -EOPNOTSUPP);
    EXPECT_NE(std::strstr(err.message, "zc:"), nullptr) << err.message;
    // zc_cluster_get_info says the lanes; a caller that knows the shorter
    // struct of ZC_1.2 gets that much.
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(zc_cluster_get_info(cluster, &info), 0);
    EXPECT_EQ(info.lanes, 2u);
    zc_cluster_info older{};
    older.struct_size = offsetof(zc_cluster_info, lanes);
    older.lanes = 77;
    ASSERT_EQ(zc_cluster_get_info(cluster, &older), 0);
    EXPECT_EQ(older.queue_count, 1u);
    EXPECT_EQ(older.lanes, 77u) << "written past the caller's struct";
    cc.lanes = 65;
    zc_cluster* other = nullptr;
    EXPECT_EQ(zc_cluster_create(id + 1, &cc, &other, &err), -EINVAL);
    EXPECT_NE(std::strstr(err.message, "lanes"), nullptr) << err.message;
}

} // namespace

// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/balancer_fixture.hpp — BalancerTest: a cluster, its devices
// (zc:synthetic by default, or zc:pcap: and others), a balancer over them and
// a consumer end per queue, with the conservation check at the end of every
// test (balancer_test, balancer_rules_test).

#pragma once

#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "region_fixture.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/hash.h"
#include "zc/zc.h"

// A capture of `count` test frames over `flows` flows (both directions of
// each), for zc:pcap: replay.
inline void write_capture(const std::string& path, std::uint32_t count, std::uint32_t flows)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << path << ": " << pcap_geterr(dead);
    std::vector<std::byte> frame(zc::frames::frame_bytes(64));
    for (std::uint32_t i = 0; i < count; ++i) {
        zc::frames::build(frame.data(), 64, zc::frames::nth(i, flows), i);
        struct pcap_pkthdr header {};
        header.ts.tv_sec = 1700000000 + i / 1000;
        header.ts.tv_usec = (i % 1000) * 1000000; // ns: nano precision
        header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, reinterpret_cast<const u_char*>(frame.data()));
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

inline constexpr std::uint32_t kFlows = 16;
inline constexpr std::uint32_t kDeviceFrames = 1024; // a multiple of 2 * kFlows
inline constexpr std::uint32_t kTestBurst = 64;      // packets per device read

struct Seen {
    std::uint32_t queue;
    zc::frames::Flow flow;
    std::uint64_t sequence;
    std::uint32_t buffer;
    zc_desc desc;
    zc_rx_desc rx; // as the RX ring carried it
};

// What BalancerTest::start() opens: device_count zc:synthetic devices of
// kDeviceFrames buffers each, in a pool of their buffers, every queue slot
// and 256 more; or, where a test says so, other devices and another pool.
struct Devices {
    std::string name = "zc:synthetic";
    std::uint32_t pool_frames = 0; // 0: as above
    double replay_speed = 1.0;     // zc:pcap: only
    std::uint32_t replay_loops = 1;
};

// At the end of a test: every buffer of the cluster home, the free list
// consistent, the free count where it began.
inline void expect_pool_home(const zc_cluster* cluster, std::uint32_t start_free)
{
    zc_pool_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(zc_pool_check(cluster, &report), 0) << report.first_error;
    EXPECT_EQ(report.free_count, start_free) << "buffers did not all come home";
    EXPECT_EQ(report.by_kind[ZC_OWNER_FREE], report.total);
}

class BalancerTest : public RegionTest {
protected:
    void TearDown() override
    {
        for (zc_queue* q : consumers)
            zc_queue_close(q);
        zc_balancer_close(balancer);
        for (zc_device* d : devices)
            zc_device_close(d);
        if (cluster) {
            expect_pool_home(cluster, start_free); // conservation: everything came home
            zc_cluster_close(cluster);
        }
        RegionTest::TearDown();
    }

    void start(const char* groups, zc_on_full on_full, std::uint32_t slots, zc_hash_mode mode = ZC_HASH_5TUPLE,
               std::uint32_t device_count = 1, const Devices& spec = Devices{})
    {
        zc_balancer_config bc;
        zc_balancer_config_init(&bc);
        zc_error err{};
        ASSERT_EQ(zc_balancer_parse_groups(groups, &bc, &err), 0) << err.message;
        bc.mode = mode;
        // The tests count rounds in bursts of 64 from devices of
        // kDeviceFrames buffers (zc-balance's default, 256, is for speed).
        bc.burst = kTestBurst;
        std::uint32_t queues = 0;
        for (std::uint32_t g = 0; g < bc.group_count; ++g) {
            bc.groups[g].on_full = on_full;
            queues += bc.groups[g].queues;
        }
        const std::uint32_t pool_frames =
            spec.pool_frames != 0 ? spec.pool_frames : device_count * kDeviceFrames + queues * slots + 256;
        zc_cluster_config cc = config(pool_frames, queues, slots);
        cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
        ASSERT_EQ(zc_cluster_create(id, &cc, &cluster, &err), 0) << err.message;
        start_free = zc_pool_free_count(cluster);
        for (std::uint32_t d = 0; d < device_count; ++d) {
            zc_device_config dc;
            zc_device_config_init(&dc);
            dc.pool = cluster;
            dc.synthetic_flows = kFlows;
            dc.frame_count = kDeviceFrames;
            dc.replay_speed = spec.replay_speed;
            dc.replay_loops = spec.replay_loops;
            zc_device* device = nullptr;
            ASSERT_EQ(zc_device_open(spec.name.c_str(), &dc, &device, &err), 0) << err.message;
            ASSERT_EQ(zc_device_cluster(device), cluster);
            devices.push_back(device);
        }
        ASSERT_EQ(zc_balancer_create(cluster, devices.data(), device_count, &bc, &balancer, &err), 0)
            << err.message;
        for (std::uint32_t q = 0; q < queues; ++q) {
            zc_queue* consumer = nullptr;
            ASSERT_EQ(zc_queue_open(cluster, q, ZC_QUEUE_CONSUMER, &consumer, &err), 0) << err.message;
            consumers.push_back(consumer);
        }
        held.assign(queues, {});
    }

    // Reads up to `limit` descriptors of queue q into held[q].
    std::uint32_t read(std::uint32_t q, std::uint32_t limit = 1u << 30)
    {
        zc_rx_desc descs[64];
        std::uint32_t total = 0;
        while (total < limit) {
            std::uint32_t want = std::min<std::uint32_t>(64, limit - total);
            std::uint32_t n = zc_queue_recv_rx_burst(consumers[q], descs, want);
            for (std::uint32_t i = 0; i < n; ++i) {
                const zc_rx_desc& rx = descs[i];
                const zc_desc desc{rx.addr, rx.len, 0};
                Seen seen{q, {}, 0, 0, desc, rx};
                EXPECT_EQ(zc_buffer_from_addr(cluster, rx.addr, &seen.buffer), 0);
                auto* frame = static_cast<const std::byte*>(zc_cluster_pool_base(cluster)) + rx.addr;
                EXPECT_TRUE(zc::frames::parse(frame, rx.len, &seen.flow, &seen.sequence));
                // The packet's facts travel in the descriptor (zc/desc.h).
                EXPECT_EQ(rx.wire_len, rx.len);
                EXPECT_NE(rx.timestamp_ns, 0u);
                EXPECT_EQ(rx.port, 0u);
                log.push_back(seen);
                held[q].push_back(desc);
            }
            total += n;
            if (n < want)
                break;
        }
        return total;
    }

    // Hands back everything queue q holds.
    void give_back(std::uint32_t q)
    {
        std::uint32_t done = 0;
        while (done < held[q].size()) {
            std::uint32_t n = zc_queue_give_back_burst(consumers[q], held[q].data() + done,
                                                       static_cast<std::uint32_t>(held[q].size() - done));
            ASSERT_GT(n, 0u) << "return ring full";
            done += n;
        }
        held[q].clear();
    }

    void read_and_give_back_all()
    {
        for (std::uint32_t q = 0; q < consumers.size(); ++q) {
            read(q);
            give_back(q);
        }
    }

    zc_balancer_stats stats()
    {
        auto s = std::make_unique<zc_balancer_stats>();
        s->struct_size = sizeof *s;
        EXPECT_EQ(zc_balancer_get_stats(balancer, s.get()), 0);
        return *s;
    }

    // The invariant at any point: every buffer is free, with its device, or
    // held by queues, and a held buffer's references are the queues that
    // hold it (no descriptors are staged in drop mode).
    void check_conservation()
    {
        zc_pool_report report{};
        report.struct_size = sizeof report;
        ASSERT_EQ(zc_pool_check(cluster, &report), 0) << report.first_error;
        EXPECT_EQ(report.free_count, start_free - kDeviceFrames * devices.size());
        EXPECT_EQ(report.by_kind[ZC_OWNER_DEVICE] + report.by_kind[ZC_OWNER_WORKER] + report.by_kind[ZC_OWNER_QUEUE],
                  kDeviceFrames * devices.size());
        std::uint64_t references = 0;
        for (std::uint32_t b = 0; b < report.total; ++b) {
            if (ZC_OWNER_KIND(zc_buffer_owner(cluster, b)) == ZC_OWNER_QUEUE)
                references += zc_buffer_refcount(cluster, b);
        }
        zc_balancer_stats s = stats();
        std::uint64_t outstanding = 0;
        for (std::uint32_t q = 0; q < s.queue_count; ++q)
            outstanding += s.queues[q].outstanding;
        if (s.waiting == 0) {
            EXPECT_EQ(references, outstanding);
        }
    }

    zc_cluster* cluster = nullptr;
    std::vector<zc_device*> devices;
    zc_balancer* balancer = nullptr;
    std::vector<zc_queue*> consumers;
    std::vector<std::vector<zc_desc>> held;
    std::vector<Seen> log;
    std::uint32_t start_free = 0;
};

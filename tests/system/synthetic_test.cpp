// SPDX-License-Identifier: BSD-3-Clause
//
// zc:synthetic (no root needed): every packet is byte for byte the frame
// zc::frames::build makes for flow nth(k) and sequence k, in order, across
// many wraps of the pool; a buffer the consumer holds is never handed out
// again, and is skipped rather than waited for; bad configs are refused;
// snaplen cuts; the pool grows with flows; filters run in user space.

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "netns.hpp"

namespace zc::test {
namespace {

// No test may hang: each gets 30 s, then the program fails (netns.hpp).
[[maybe_unused]] const bool bounded = bound_each_test(30);

Opened open_synthetic(std::uint32_t size, std::uint32_t flows, std::uint32_t frame_count = 0,
                      std::uint32_t snaplen = 0)
{
    zc_device_config config = device_config();
    config.synthetic_size = size;
    config.synthetic_flows = flows;
    config.frame_count = frame_count;
    config.snaplen = snaplen;
    return open_device("zc:synthetic", config);
}

struct Stream {
    std::uint32_t size;
    std::uint32_t flows;
    std::uint64_t total;
    std::uint32_t burst;
};

class SyntheticStreamTest : public ::testing::TestWithParam<Stream> {};

// Receives `total` packets in bursts of `burst`, releasing each burst at
// once, and checks every byte of every one.
TEST_P(SyntheticStreamTest, EveryPacketIsTheExpectedFrameInOrder)
{
    const Stream s = GetParam();
    Opened opened = open_synthetic(s.size, s.flows);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_STREQ(zc_device_mode(device), "synthetic");
    const std::uint32_t bytes = zc::frames::frame_bytes(s.size);
    std::vector<std::byte> expected(bytes);
    std::vector<zc_packet> packets(s.burst);
    std::uint64_t k = 0, bad = 0;
    while (k < s.total) {
        std::uint32_t got = zc_device_recv_burst(device, packets.data(), s.burst);
        ASSERT_EQ(got, s.burst) << "a synthetic device always has a full burst";
        for (std::uint32_t i = 0; i < got; ++i, ++k) {
            const zc_packet& p = packets[i];
            zc::frames::build(expected.data(), s.size, zc::frames::nth(k, s.flows), k);
            if ((p.caplen != bytes || p.len != bytes || std::memcmp(p.data, expected.data(), bytes) != 0) &&
                ++bad <= 3)
                ADD_FAILURE() << "packet " << k << ": caplen " << p.caplen << ", len " << p.len << " or bytes differ";
        }
        zc_device_release_burst(device, packets.data(), got);
    }
    EXPECT_EQ(bad, 0u) << "packets that are not the expected frame, of " << k;
    zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.packets, k);
    EXPECT_EQ(stats.bytes, k * bytes);
    EXPECT_EQ(stats.copied, 0u) << "synthetic packets are made in the pool, never copied";
}

INSTANTIATE_TEST_SUITE_P(Streams, SyntheticStreamTest,
                         ::testing::Values(Stream{64, 1, 20000, 32},
                                           Stream{64, 3, 20000, 7}, // 4098 buffers: bursts straddle the wrap
                                           Stream{128, 1000, 10000, 64}, Stream{1518, 5, 10000, 256}),
                         [](const ::testing::TestParamInfo<Stream>& test) {
                             return "Size" + std::to_string(test.param.size) + "Flows" +
                                    std::to_string(test.param.flows) + "Burst" + std::to_string(test.param.burst);
                         });

// A held buffer is skipped, never handed out twice, and never holds the
// stream up. (It used to: the stream stopped at the oldest held buffer
// until it came back, so one consumer of a balancer that sat on a buffer
// stalled the device for every queue.)
TEST(SyntheticTest, HeldBuffersAreSkippedNeverHandedOutTwice)
{
    Opened opened = open_synthetic(64, 2, 64);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    zc_cluster* pool = zc_device_cluster(device);
    EXPECT_EQ(zc_pool_free_count(pool), 0u) << "the stream owns every buffer";
    zc_pool_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(zc_pool_check(pool, &report), 0) << report.first_error;

    std::vector<zc_packet> all(100);
    ASSERT_EQ(zc_device_recv_burst(device, all.data(), 100), 64u) << "all 64 buffers handed out, no more";
    EXPECT_EQ(zc_device_recv_burst(device, all.data() + 64, 10), 0u) << "nothing while the consumer holds everything";
    // Give back 10..19 only: the stream is at buffer 0 again, still held,
    // and goes on with the first free one.
    zc_device_release_burst(device, all.data() + 10, 10);
    zc_packet more[32];
    ASSERT_EQ(zc_device_recv_burst(device, more, 32), 10u) << "the 10 free buffers, the held ones skipped";
    std::uint64_t sequence = 0;
    zc::frames::Flow flow{};
    for (std::uint32_t i = 0; i < 10; ++i) {
        EXPECT_EQ(more[i].buffer, all[10 + i].buffer) << "position " << 10 + i << " reuses its buffer";
        ASSERT_TRUE(zc::frames::parse(reinterpret_cast<const std::byte*>(more[i].data), more[i].caplen, &flow,
                                      &sequence));
        EXPECT_EQ(sequence, 64u + i) << "the sequence goes on where it was, without gaps";
    }
    EXPECT_EQ(zc_device_recv_burst(device, more + 10, 10), 0u) << "everything held again";
    zc_device_release_burst(device, all.data(), 10);
    ASSERT_EQ(zc_device_recv_burst(device, more + 10, 22), 10u) << "0..9 came back, so 10 go out again";
    for (std::uint32_t i = 0; i < 10; ++i)
        EXPECT_EQ(more[10 + i].buffer, all[i].buffer) << "position " << i << " reuses its buffer";
    // A second release of the same buffers is ignored; later releases still work.
    zc_device_release_burst(device, more, 20);
    zc_device_release_burst(device, more, 20);
    EXPECT_EQ(zc_device_recv_burst(device, more, 32), 20u) << "a double release frees nothing twice";
    zc_device_release_burst(device, more, 20);
    zc_device_release_burst(device, all.data() + 20, 44);
    EXPECT_EQ(zc_device_recv_burst(device, all.data(), 64), 64u) << "everything back, a full round again";
    zc_device_release_burst(device, all.data(), 64);
    EXPECT_EQ(zc_pool_check(pool, &report), 0) << report.first_error;
}

// A consumer that keeps some buffers for good (every fifth packet, up to 40
// of 64) costs the stream nothing while others are free: every burst is as
// full as the free buffers allow, none of them a held one.
TEST(SyntheticTest, KeptBuffersNeverStallTheStream)
{
    Opened opened = open_synthetic(64, 4, 64);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(zc_cluster_get_info(zc_device_cluster(device), &info), 0);
    std::vector<std::uint8_t> kept(info.frame_count, 0);
    std::uint32_t kept_count = 0;
    std::uint64_t expected_sequence = 0;
    zc_packet burst[16];
    for (int round = 0; round < 2000; ++round) {
        const std::uint32_t got = zc_device_recv_burst(device, burst, 16);
        ASSERT_EQ(got, std::min<std::uint32_t>(16, 64 - kept_count)) << "round " << round;
        std::vector<zc_packet> back;
        for (std::uint32_t i = 0; i < got; ++i) {
            ASSERT_EQ(kept[burst[i].buffer], 0) << "buffer " << burst[i].buffer << " handed out while held";
            zc::frames::Flow flow{};
            std::uint64_t sequence = 0;
            ASSERT_TRUE(zc::frames::parse(reinterpret_cast<const std::byte*>(burst[i].data), burst[i].caplen, &flow,
                                          &sequence));
            EXPECT_EQ(sequence, expected_sequence++);
            if (kept_count < 40 && sequence % 5 == 0) {
                kept[burst[i].buffer] = 1;
                ++kept_count;
            } else {
                back.push_back(burst[i]);
            }
        }
        zc_device_release_burst(device, back.data(), static_cast<std::uint32_t>(back.size()));
    }
    EXPECT_EQ(kept_count, 40u);
    EXPECT_EQ(stats_of(device).packets, expected_sequence);
}

TEST(SyntheticTest, SelectableFdIsAlwaysReadable)
{
    Opened opened = open_synthetic(64, 1);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    struct pollfd entry = {zc_device_selectable_fd(opened.device.get()), POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 0), 1);
    EXPECT_EQ(zc_device_wait(opened.device.get(), 1000), 1) << "wait never blocks";
}

TEST(SyntheticTest, BadConfigsAreRefused)
{
    struct Bad {
        std::uint32_t size, flows, frame_count;
    };
    for (Bad bad : {Bad{63, 1, 0}, Bad{1519, 1, 0}, Bad{64, 0, 0}, Bad{64, 100, 64} /* 100 flows in 64 buffers */}) {
        Opened opened = open_synthetic(bad.size, bad.flows, bad.frame_count);
        EXPECT_EQ(opened.device, nullptr);
        EXPECT_EQ(opened.rc, -EINVAL) << "size " << bad.size << ", " << bad.flows << " flows, " << bad.frame_count
                                      << " buffers: " << opened.message;
        EXPECT_FALSE(opened.message.empty());
    }
}

TEST(SyntheticTest, SnaplenCutsCaplen)
{
    Opened opened = open_synthetic(1518, 3, 0, 100);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_packet p[4];
    ASSERT_EQ(zc_device_recv_burst(opened.device.get(), p, 4), 4u);
    for (const zc_packet& packet : p) {
        EXPECT_EQ(packet.caplen, 100u);
        EXPECT_EQ(packet.len, 1514u);
    }
    zc_device_release_burst(opened.device.get(), p, 4);
}

// Many flows: the pool grows to hold both directions of each.
TEST(SyntheticTest, PoolGrowsWithTheFlows)
{
    Opened opened = open_synthetic(64, 65536);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(zc_cluster_get_info(zc_device_cluster(opened.device.get()), &info), 0);
    EXPECT_EQ(info.frame_count, 131072u);
}

// Filters (zc_device_set_filter) on a back-end with no kernel side: they
// run in user space (ZC_FILTER_USER, nothing logged), what they refuse is
// counted in `filtered`, bad programs and flags are refused with a
// sentence and leave the filter in place, and "return true" is no filter.
TEST(SyntheticTest, FiltersRunInUserSpace)
{
    Opened opened = open_synthetic(64, 4);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    // "ip src net 198.18.0.0/16", as pcap_compile writes it: the client's
    // half of every flow (client 198.18.x.y, server 198.19.x.y).
    const zc_filter_insn from_client[] = {
        {0x28, 0, 0, 12},                   // ldh [12]
        {0x15, 0, 4, 0x0800},               // jeq #0x800, else ret #0
        {0x20, 0, 0, 26},                   // ld [26]
        {0x54, 0, 0, 0xffff0000u},          // and #0xffff0000
        {0x15, 0, 1, 0xc6120000u},          // jeq #198.18.0.0
        {0x06, 0, 0, 262144},               // ret #262144
        {0x06, 0, 0, 0},                    // ret #0
    };
    zc_error err{};
    ASSERT_EQ(zc_device_set_filter(device, from_client, 7, 0, &err), ZC_FILTER_USER) << err.message;
    EXPECT_EQ(zc_device_filter_mode(device), ZC_FILTER_USER);
    EXPECT_STREQ(zc_device_filter_mode_name(ZC_FILTER_USER), "user");
    char sentence[256] = "x";
    EXPECT_EQ(zc_device_host_traffic(device, sentence, sizeof sentence), 0) << "no host behind a synthetic device";
    EXPECT_STREQ(sentence, "");

    auto receive = [device](std::uint32_t want, std::uint32_t* from_server) {
        zc_packet p[32];
        std::uint32_t total = 0;
        *from_server = 0;
        for (int tries = 0; total < want && tries < 1000; ++tries) {
            const std::uint32_t got = zc_device_recv_burst(device, p, 32);
            for (std::uint32_t i = 0; i < got; ++i)
                *from_server += p[i].data[26] == 198 && p[i].data[27] == 19;
            zc_device_release_burst(device, p, got);
            total += got;
        }
        return total;
    };
    std::uint32_t from_server = 0;
    const std::uint32_t kept = receive(256, &from_server);
    EXPECT_GE(kept, 256u);
    EXPECT_EQ(from_server, 0u) << "the filter lets the server's half through";
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    ASSERT_EQ(zc_device_get_stats(device, &stats), 0);
    EXPECT_GE(stats.filtered, 256u) << "the server's half is counted as filtered";
    EXPECT_EQ(stats.packets, kept) << "packets are what was handed out, filtered ones not among them";

    // Refused, with a sentence, and the filter stays.
    const zc_filter_insn out_of_range[] = {{0x15, 0, 9, 0}, {0x06, 0, 0, 1}}; // a jump past the end
    EXPECT_EQ(zc_device_set_filter(device, out_of_range, 2, 0, &err), -EINVAL);
    EXPECT_NE(std::strstr(err.message, "not a valid BPF program"), nullptr) << err.message;
    EXPECT_EQ(zc_device_set_filter(device, from_client, 7, 0x80, &err), -EINVAL);
    EXPECT_NE(std::strstr(err.message, "unknown filter flags"), nullptr) << err.message;
    EXPECT_EQ(zc_device_filter_mode(device), ZC_FILTER_USER);
    EXPECT_GE(receive(64, &from_server), 64u);
    EXPECT_EQ(from_server, 0u) << "a refused program replaced the filter";

    // "return true" (libpcap's program for an empty expression) and a null
    // program are no filter: both halves come again.
    const zc_filter_insn everything[] = {{0x06, 0, 0, 262144}};
    EXPECT_EQ(zc_device_set_filter(device, everything, 1, 0, &err), ZC_FILTER_NONE) << err.message;
    EXPECT_GE(receive(64, &from_server), 64u);
    EXPECT_GT(from_server, 0u);
    EXPECT_EQ(zc_device_set_filter(device, from_client, 7, 0, &err), ZC_FILTER_USER) << err.message;
    EXPECT_EQ(zc_device_set_filter(device, nullptr, 7, 0, &err), ZC_FILTER_NONE) << err.message;
    EXPECT_EQ(zc_device_filter_mode(device), ZC_FILTER_NONE);
}

} // namespace
} // namespace zc::test

// SPDX-License-Identifier: BSD-3-Clause
//
// Content rules in the balancer, end to end in one process, through the C
// API (zc_balancer_load_rules): a crafted capture replayed by zc:pcap:, in
// which each rule drops, steers or tags exactly the packets it should and
// every other packet reaches every group; the hits as the balancer counts
// them and as the region's table (zc_cluster_get_rule_stats, zc-stat's
// source) shows them; reloads from another thread while the balancer runs
// in wait mode, good and bad files in turn, losing no packet and keeping
// the counters; and a file that fails leaving the rules in force.

#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "balancer_fixture.hpp"
#include "rule_frames.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/zc.h"

namespace {

using namespace zc::rule_frames;

// Groups -n 2,1: group 0 is queues 0-1, group 1 is queue 2.
constexpr std::uint32_t kQueues = 3;
constexpr std::uint32_t kSlots = 256;

// What the corpus' frames are, and where each must go.
enum class Fate { Everywhere, Nowhere, Group0, Group1 };

struct Kind {
    const char* what;
    bool tcp;
    std::string payload;       // the marker "#NNNNNN" is appended
    std::uint8_t source_last;  // 198.18.0.X
    Fate fate;
    std::vector<std::uint32_t> hits; // the rule ids that count it
};

// The rules: a payload drop anchored at the payload's start, a caseless
// steer, a tag, a frame-scope steer on the source address, and a drop after
// the tag in the file that loses to the earlier steer (first match wins).
const char* kRules =
    "# balancer_rules_test\n"
    "10 /^BACKUP-STREAM/ payload drop\n"
    "20 /evil/i payload group 1\n"
    "30 /tagme/ payload tag\n"
    "40 /\\xc6\\x12\\x00\\x63/ frame group 0   # source 198.18.0.99\n"
    "50 /secret/ payload drop\n";

std::vector<Kind> kinds()
{
    return {
        {"plain web request", true, "GET /index.html HTTP/1.1", 1, Fate::Everywhere, {}},
        {"backup stream", true, "BACKUP-STREAM chunk 17", 2, Fate::Nowhere, {10}},
        {"backup not at the start passes", true, "xBACKUP-STREAM", 3, Fate::Everywhere, {}},
        {"evil over udp", false, "some EvIl bytes", 4, Fate::Group1, {20}},
        {"tagged, passes", false, "please tagme", 5, Fate::Everywhere, {30}},
        {"tagged and dropped", true, "BACKUP-STREAM tagme", 6, Fate::Nowhere, {10, 30}},
        {"from 198.18.0.99", false, "nothing special", 99, Fate::Group0, {40}},
        {"from 198.18.0.99 and evil: the earlier rule wins", false, "evil", 99, Fate::Group1, {20}},
        {"secret", true, "a secret", 7, Fate::Nowhere, {50}},
        {"evil and secret: the steer comes first", true, "evil secret", 8, Fate::Group1, {20}},
    };
}

constexpr std::uint32_t kRepeats = 40;

// The corpus: every kind kRepeats times, interleaved; frame n ends with
// "#" and n in six digits, so a consumer can say which frame it got.
std::vector<Bytes> corpus(std::vector<std::uint32_t>* kind_of)
{
    const std::vector<Kind> all = kinds();
    std::vector<Bytes> frames;
    for (std::uint32_t r = 0; r < kRepeats; ++r)
        for (std::uint32_t k = 0; k < all.size(); ++k) {
            char marker[16];
            std::snprintf(marker, sizeof marker, "#%06zu", frames.size());
            const std::string text = all[k].payload + marker;
            const Bytes payload(text.begin(), text.end());
            frames.push_back(ipv4_frame(all[k].tcp ? kTcp : kUdp, payload, v4(198, 18, 0, all[k].source_last)));
            kind_of->push_back(k);
        }
    return frames;
}

void write_capture(const std::string& path, const std::vector<Bytes>& frames)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << path << ": " << pcap_geterr(dead);
    for (std::size_t i = 0; i < frames.size(); ++i) {
        struct pcap_pkthdr header {};
        header.ts.tv_sec = 1700000000;
        header.ts.tv_usec = static_cast<suseconds_t>(i);
        header.caplen = header.len = static_cast<bpf_u_int32>(frames[i].size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frames[i].data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

void write_file(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good()) << path;
}

class BalancerRulesTest : public BalancerTest {
protected:
    // Groups -n 2,1 in wait mode over `device` (zc:pcap: at top speed, once).
    void start_on(const std::string& device)
    {
        Devices spec;
        spec.name = device;
        spec.replay_speed = 0;
        start("2,1", ZC_ON_FULL_WAIT, kSlots, ZC_HASH_5TUPLE, 1, spec);
    }

    // Reads everything on every queue, hands it back, and tells `seen`
    // (queue, frame bytes) for each.
    template <typename Visit> void drain(Visit seen)
    {
        zc_desc descs[64];
        for (std::uint32_t q = 0; q < kQueues; ++q) {
            std::uint32_t n = 0;
            while ((n = zc_queue_recv_burst(consumers[q], descs, 64)) > 0) {
                for (std::uint32_t i = 0; i < n; ++i)
                    seen(q, static_cast<const std::uint8_t*>(zc_cluster_pool_base(cluster)) + descs[i].addr,
                         descs[i].len);
                ASSERT_EQ(zc_queue_give_back_burst(consumers[q], descs, n), n);
            }
        }
    }

    std::map<std::uint32_t, std::uint64_t> rule_hits(zc_rules_stats* totals)
    {
        totals->struct_size = sizeof *totals;
        std::vector<zc_rule_stats> rows(64);
        std::uint32_t n = 0;
        EXPECT_EQ(zc_balancer_get_rule_stats(balancer, totals, rows.data(), 64, &n), 0);
        std::map<std::uint32_t, std::uint64_t> out;
        for (std::uint32_t i = 0; i < n; ++i)
            out[rows[i].id] = rows[i].hits;
        return out;
    }
};

// The frame number a corpus frame ends with ("#NNNNNN"); -1 for none.
long marker_of(const std::uint8_t* frame, std::uint32_t length)
{
    if (length < 7 || frame[length - 7] != '#')
        return -1;
    long n = 0;
    for (std::uint32_t i = length - 6; i < length; ++i) {
        if (frame[i] < '0' || frame[i] > '9')
            return -1;
        n = n * 10 + (frame[i] - '0');
    }
    return n;
}

TEST_F(BalancerRulesTest, EachRuleDropsSteersOrTagsExactlyItsPackets)
{
    std::vector<std::uint32_t> kind_of;
    const std::vector<Bytes> frames = corpus(&kind_of);
    const std::string capture = directory + "/rules.pcap";
    write_capture(capture, frames);
    const std::string rules = directory + "/rules.conf";
    write_file(rules, kRules);
    start_on("zc:pcap:" + capture);
    zc_error err{};
    ASSERT_EQ(zc_balancer_load_rules(balancer, rules.c_str(), &err), 0) << err.message;

    // Where each frame went: the queues, per frame.
    std::vector<std::vector<std::uint32_t>> went(frames.size());
    for (int round = 0; round < 100000 && stats().received < frames.size(); ++round) {
        zc_balancer_poll(balancer);
        drain([&](std::uint32_t q, const std::uint8_t* frame, std::uint32_t length) {
            const long n = marker_of(frame, length);
            ASSERT_GE(n, 0) << "a frame without its marker on queue " << q;
            ASSERT_LT(static_cast<std::size_t>(n), frames.size());
            ASSERT_EQ(length, frames[n].size());
            EXPECT_EQ(std::memcmp(frame, frames[n].data(), length), 0) << "frame " << n;
            went[n].push_back(q);
        });
    }
    ASSERT_EQ(stats().received, frames.size());
    zc_balancer_poll(balancer); // nothing more: the capture has ended
    drain([&](std::uint32_t, const std::uint8_t*, std::uint32_t) { ADD_FAILURE() << "a frame after the end"; });

    const std::vector<Kind> all = kinds();
    std::map<std::uint32_t, std::uint64_t> want_hits{{10, 0}, {20, 0}, {30, 0}, {40, 0}, {50, 0}};
    std::uint64_t want_dropped = 0;
    for (std::size_t n = 0; n < frames.size(); ++n) {
        const Kind& k = all[kind_of[n]];
        std::set<std::uint32_t> groups;
        for (std::uint32_t q : went[n])
            groups.insert(q < 2 ? 0 : 1);
        EXPECT_EQ(groups.size(), went[n].size()) << k.what << ": twice in one group";
        const std::set<std::uint32_t> want = k.fate == Fate::Everywhere ? std::set<std::uint32_t>{0, 1}
                                             : k.fate == Fate::Group0   ? std::set<std::uint32_t>{0}
                                             : k.fate == Fate::Group1   ? std::set<std::uint32_t>{1}
                                                                        : std::set<std::uint32_t>{};
        EXPECT_EQ(groups, want) << "frame " << n << ", " << k.what;
        for (std::uint32_t rule_id : k.hits)
            ++want_hits[rule_id];
        want_dropped += k.fate == Fate::Nowhere;
    }

    zc_rules_stats totals{};
    EXPECT_EQ(rule_hits(&totals), want_hits);
    EXPECT_EQ(totals.rule_count, 5u);
    EXPECT_EQ(totals.generation, 1u);
    EXPECT_EQ(totals.dropped, want_dropped);
    EXPECT_EQ(totals.scanned, frames.size());
    EXPECT_EQ(totals.scan_errors, 0u);

    // The region's copy, as zc-stat reads it: published by the control
    // round (at once, the first time after a load).
    zc_balancer_control(balancer, nullptr, 0);
    zc_rules_stats published{};
    published.struct_size = sizeof published;
    std::vector<zc_rule_stats> rows(8);
    std::uint32_t n = 0;
    ASSERT_EQ(zc_cluster_get_rule_stats(cluster, &published, rows.data(), 8, &n), 0);
    ASSERT_EQ(n, 5u);
    EXPECT_EQ(published.dropped, want_dropped);
    EXPECT_EQ(published.generation, 1u);
    const std::uint32_t ids[] = {10, 20, 30, 40, 50};
    const zc_rule_action actions[] = {ZC_RULE_DROP, ZC_RULE_GROUP, ZC_RULE_TAG, ZC_RULE_GROUP, ZC_RULE_DROP};
    for (std::uint32_t i = 0; i < 5; ++i) {
        EXPECT_EQ(rows[i].id, ids[i]);
        EXPECT_EQ(rows[i].line, i + 2);
        EXPECT_EQ(rows[i].action, static_cast<std::uint32_t>(actions[i]));
        EXPECT_EQ(rows[i].hits, want_hits[ids[i]]) << "rule " << ids[i];
    }
    EXPECT_EQ(rows[1].group, 1u);
    EXPECT_EQ(rows[3].scope, static_cast<std::uint32_t>(ZC_RULE_SCOPE_FRAME));
    EXPECT_STREQ(zc_rule_action_name(rows[1].action), "group");
    EXPECT_STREQ(zc_rule_scope_name(rows[0].scope), "payload");
}

TEST_F(BalancerRulesTest, AFileThatFailsLeavesTheRulesInForce)
{
    const std::string good = directory + "/good.conf", bad = directory + "/bad.conf";
    write_file(good, "1 /x/ frame tag\n");
    start_on("zc:synthetic");
    zc_error err{};
    // Before any rules: nothing in force, nothing published.
    zc_rules_stats totals{};
    EXPECT_TRUE(rule_hits(&totals).empty());
    EXPECT_EQ(totals.generation, 0u);
    ASSERT_EQ(zc_balancer_load_rules(balancer, good.c_str(), &err), 0) << err.message;

    struct Case {
        const char* text;
        const char* message; // what err must say, after "bad.conf:"
    } cases[] = {
        {"1 /x/ frame tag\n2 /a(b/ payload drop\n", "2: rule 2: Hyperscan cannot compile the expression: "},
        {"# comment\n\n3 /abc/ payload reject\n", "3: rule 3: unknown action 'reject' (drop, group G or tag)"},
        {"4 /abc/ payload group 2\n", "1: rule 4: group 2 does not exist"},
    };
    for (const Case& c : cases) {
        write_file(bad, c.text);
        err = zc_error{};
        EXPECT_EQ(zc_balancer_load_rules(balancer, bad.c_str(), &err), -EINVAL) << c.text;
        EXPECT_NE(std::string(err.message).find(bad + ":" + c.message), std::string::npos) << err.message;
    }
    err = zc_error{};
    EXPECT_EQ(zc_balancer_load_rules(balancer, (directory + "/none.conf").c_str(), &err), -ENOENT);
    EXPECT_NE(std::string(err.message).find("none.conf"), std::string::npos) << err.message;

    const auto hits = rule_hits(&totals);
    EXPECT_EQ(totals.generation, 1u);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits.begin()->first, 1u);
}

// Reloads under traffic in wait mode: another thread loads a good file, a
// bad one and another good one in turn while the balancer runs; every frame
// reaches each group exactly once, the tag rule (id 1, in both good files)
// counts every frame across the reloads, and a drop rule that never matches
// the synthetic frames drops nothing.
TEST_F(BalancerRulesTest, ReloadsUnderTrafficInWaitModeLoseNothing)
{
    const std::string a = directory + "/a.conf", b = directory + "/b.conf", bad = directory + "/bad.conf";
    write_file(a, "1 /\\x02\\x7a\\x63/ frame tag\n");
    write_file(b, "1 /\\x02\\x7a\\x63/ frame tag\n2 /never-in-a-synthetic-frame/ payload drop\n");
    write_file(bad, "1 /\\x02\\x7a\\x63/ frame tag\n2 /(/ payload drop\n");
    start_on("zc:synthetic");
    zc_error err{};
    ASSERT_EQ(zc_balancer_load_rules(balancer, a.c_str(), &err), 0) << err.message;

    std::atomic<bool> stop{false};
    std::atomic<std::uint32_t> loaded{0}, refused{0};
    std::thread reloader([&] {
        const std::string* files[] = {&b, &bad, &a};
        for (std::uint32_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
            zc_error e{};
            if (zc_balancer_load_rules(balancer, files[i % 3]->c_str(), &e) == 0)
                loaded.fetch_add(1, std::memory_order_relaxed);
            else
                refused.fetch_add(1, std::memory_order_relaxed);
        }
    });
    std::vector<std::uint8_t> seen[2];
    auto record = [&](std::uint32_t q, const std::uint8_t* frame, std::uint32_t length) {
        zc::frames::Flow flow{};
        std::uint64_t sequence = 0;
        ASSERT_TRUE(zc::frames::parse(reinterpret_cast<const std::byte*>(frame), length, &flow, &sequence));
        std::vector<std::uint8_t>& group = seen[q < 2 ? 0 : 1];
        if (group.size() <= sequence)
            group.resize(sequence + 1, 0);
        ++group[sequence];
    };
    for (int round = 0; round < 20000 || loaded.load() < 6 || refused.load() < 3; ++round) {
        zc_balancer_poll(balancer);
        if (round % 5 == 0) // the consumers lag now and then: the balancer waits
            drain(record);
        if (round % 64 == 0)
            zc_balancer_control(balancer, nullptr, 0); // frees what the worker retired
        ASSERT_LT(round, 2000000) << "the reloader made no progress";
    }
    stop.store(true);
    reloader.join();
    // Drain what is staged and on the rings; the device goes on, so stop
    // counting at what the balancer had received by then.
    for (int round = 0; round < 100; ++round) {
        drain(record);
        zc_balancer_poll(balancer);
    }
    drain(record);
    auto s = std::make_unique<zc_balancer_stats>();
    s->struct_size = sizeof *s;
    ASSERT_EQ(zc_balancer_get_stats(balancer, s.get()), 0);
    for (int round = 0; round < 1000 && s->waiting > 0; ++round) {
        drain(record);
        zc_balancer_poll(balancer);
        ASSERT_EQ(zc_balancer_get_stats(balancer, s.get()), 0);
    }
    drain(record);
    ASSERT_EQ(zc_balancer_get_stats(balancer, s.get()), 0);
    ASSERT_EQ(s->waiting, 0u);
    const std::uint64_t total = s->received;
    EXPECT_GT(total, 10000u);
    for (std::uint32_t q = 0; q < kQueues; ++q)
        EXPECT_EQ(s->queues[q].dropped, 0u) << "queue " << q;
    for (int g = 0; g < 2; ++g) {
        ASSERT_EQ(seen[g].size(), total) << "group " << g;
        EXPECT_EQ(std::count(seen[g].begin(), seen[g].end(), 1), static_cast<long>(total)) << "group " << g;
    }
    zc_rules_stats totals{};
    const auto hits = rule_hits(&totals);
    EXPECT_EQ(hits.at(1), total) << "the tag rule missed frames across reloads";
    EXPECT_EQ(totals.scanned, total);
    EXPECT_EQ(totals.dropped, 0u);
    EXPECT_EQ(totals.generation, 1u + loaded.load());
    EXPECT_GE(refused.load(), 3u);
}

} // namespace

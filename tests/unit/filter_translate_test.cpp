// SPDX-License-Identifier: BSD-3-Clause
//
// The filter translator (kmod/filter_translate) against libpcap: tcpdump
// expressions compiled by pcap_compile (optimised and not), and shaped
// random cBPF programs, are translated, loaded through the kernel's verifier
// and run with BPF_PROG_TEST_RUN on a generated corpus; every verdict must
// equal pcap_offline_filter's. The corpus: IPv4/IPv6 TCP/UDP/ICMP over many
// addresses and ports, ARP, VLAN and QinQ, MPLS, fragments, IP options, other
// protocols and EtherTypes, malformed headers, the hostile frames of
// make-corpus (tests/system/corpus_hostile.cpp), and every cut from 0 to 80
// bytes of real frames (below 14 bytes through the LWT_IN twin, see
// filter_runner.hpp). Each expression must match some frames and miss
// others, so that no comparison is vacuous.
//
// Loading programs needs root (or CAP_BPF and CAP_PERFMON): those cases are
// skipped otherwise. The refusals need no privilege.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../kmod/zc_xdp.h"
#include "../system/corpus_frames.hpp"
#include "filter_corpus.hpp"
#include "filter_reference.hpp"
#include "filter_runner.hpp"

namespace {

using namespace zc::corpus;
using zc::filter::test::compare_verdicts;
using zc::filter::test::compile;
using zc::filter::test::corpus;
using zc::filter::test::kExpressionCount;
using zc::filter::test::LoadedFilter;
using zc::filter::test::pcap_matches;
using zc::filter::test::Program;
using zc::filter::test::Tally;


zc::filter::TranslateOptions verdict_options()
{
    zc::filter::TranslateOptions options;
    options.on_match = zc::filter::MatchAction::Verdict;
    return options;
}

class FilterTranslateTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!zc::filter::test::can_load_programs())
            GTEST_SKIP() << "cannot load BPF programs (needs root, or CAP_BPF and CAP_PERFMON)";
    }
};

// Translated, loaded, and run through the kernel on every frame.
Tally compare(const std::string& name, const Program& program, const Frames& frames, std::size_t* pairs)
{
    LoadedFilter filter;
    std::string why;
    if (!filter.load(program, &why)) {
        ADD_FAILURE() << name << ": " << why;
        return {};
    }
    return compare_verdicts(name, "the kernel", program, frames, filter, pairs);
}

TEST_F(FilterTranslateTest, TcpdumpExpressionsMatchLibpcap)
{
    const auto start = std::chrono::steady_clock::now();
    const Frames& frames = corpus();
    std::size_t pairs = 0;
    const std::size_t programs = zc::filter::test::check_expressions(
        [&](const std::string& name, const Program& program) { return compare(name, program, frames, &pairs); });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("filter_translate_test: %zu expressions (%zu programs) x %zu frames: %zu verdicts compared in %.1f s\n",
                kExpressionCount, programs, frames.size(), pairs, seconds);
    EXPECT_GE(kExpressionCount, 200u);
    EXPECT_EQ(programs, 2 * kExpressionCount);
}

// Shaped random programs: ALU with X, division and shifts by X, IND loads
// at any X, scratch memory — what tcpdump's expressions rarely produce.
TEST_F(FilterTranslateTest, RandomProgramsMatchLibpcap)
{
    const Frames frames = zc::filter::test::every_eleventh(corpus());
    std::size_t valid = 0, refused = 0, both = 0, pairs = 0, n = 0;
    for (const Program& program : zc::filter::test::random_programs()) {
        ++n;
        std::string why;
        if (!zc::filter::validate(program.data(), program.size(), &why)) {
            ++refused;
            std::vector<bpf_insn> out;
            EXPECT_FALSE(zc::filter::translate(program.data(), program.size(), verdict_options(), &out, &why));
            EXPECT_FALSE(why.empty());
            continue;
        }
        std::vector<bpf_insn> out;
        if (!zc::filter::translate(program.data(), program.size(), verdict_options(), &out, &why)) {
            EXPECT_NE(why.find("negative offset"), std::string::npos) << why; // the only refusal after validate()
            ++refused;
            continue;
        }
        ++valid;
        const Tally tally = compare("random program " + std::to_string(n), program, frames, &pairs);
        both += tally.matched > 0 && tally.missed > 0;
    }
    std::printf("filter_translate_test: %zu random programs valid (%zu with both verdicts), %zu refused; "
                "%zu verdicts compared\n",
                valid, both, refused, pairs);
    EXPECT_GT(valid, 200u);
    EXPECT_GT(both, 50u);
    EXPECT_GT(refused, 20u);
}

// ------------------------------------------------------------------ refusals (no privilege needed)

std::string refusal(const Program& program)
{
    std::vector<bpf_insn> out;
    std::string why;
    EXPECT_FALSE(zc::filter::translate(program.data(), program.size(), verdict_options(), &out, &why));
    EXPECT_TRUE(out.empty());
    return why;
}

TEST(FilterTranslateRefusal, SaysWhy)
{
    Program protochain;
    std::string error;
    ASSERT_TRUE(compile("ip6 protochain 6", true, &protochain, &error)) << error;
    EXPECT_NE(refusal(protochain).find("not forward"), std::string::npos) << refusal(protochain);

    const sock_filter ret_a{BPF_RET | BPF_A, 0, 0, 0};
    const sock_filter vlan_present{BPF_LD | BPF_B | BPF_ABS, 0, 0,
                                   static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)};
    EXPECT_NE(refusal({vlan_present, ret_a}).find("ancillary"), std::string::npos);
    const sock_filter ll_off{BPF_LD | BPF_H | BPF_ABS, 0, 0, static_cast<std::uint32_t>(SKF_LL_OFF)};
    EXPECT_NE(refusal({ll_off, ret_a}).find("negative offset"), std::string::npos);
    const sock_filter net_off{BPF_LD | BPF_W | BPF_IND, 0, 0, static_cast<std::uint32_t>(SKF_NET_OFF)};
    EXPECT_NE(refusal({net_off, ret_a}).find("ancillary"), std::string::npos);

    EXPECT_NE(refusal({}).find("empty"), std::string::npos);
    EXPECT_NE(refusal({{BPF_LD | BPF_IMM, 0, 0, 1}}).find("not a return"), std::string::npos);
    EXPECT_NE(refusal({{BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 1}, ret_a}).find("past the end"), std::string::npos);
    EXPECT_NE(refusal({{BPF_JMP | BPF_JA, 0, 0, 1}, ret_a}).find("not forward"), std::string::npos);
    EXPECT_NE(refusal({{BPF_LD | BPF_MEM, 0, 0, 3}, ret_a}).find("M[3]"), std::string::npos);
    // Written on one path only.
    EXPECT_NE(refusal({{BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0},
                       {BPF_ST, 0, 0, 2},
                       {BPF_LDX | BPF_MEM, 0, 0, 2},
                       ret_a})
                  .find("M[2]"),
              std::string::npos);
    EXPECT_NE(refusal({{BPF_ST, 0, 0, 16}, ret_a}).find("index"), std::string::npos);
    EXPECT_NE(refusal({{BPF_ALU | BPF_DIV | BPF_K, 0, 0, 0}, ret_a}).find("division"), std::string::npos);
    EXPECT_NE(refusal({{BPF_ALU | BPF_MOD | BPF_K, 0, 0, 0}, ret_a}).find("division"), std::string::npos);
    EXPECT_NE(refusal({{BPF_ALU | BPF_LSH | BPF_K, 0, 0, 32}, ret_a}).find("shift"), std::string::npos);
    EXPECT_NE(refusal({{BPF_RET | BPF_X, 0, 0, 0}}).find("opcode"), std::string::npos);
    EXPECT_NE(refusal({{0xff, 0, 0, 0}, ret_a}).find("opcode"), std::string::npos);
    EXPECT_NE(refusal(Program(BPF_MAXINSNS + 1, ret_a)).find("more than"), std::string::npos);

    // The options.
    std::vector<bpf_insn> out;
    std::string why;
    zc::filter::TranslateOptions redirect; // RedirectToSocket, and no map
    EXPECT_FALSE(zc::filter::translate(&ret_a, 1, redirect, &out, &why));
    EXPECT_NE(why.find("XSKMAP"), std::string::npos) << why;
    zc::filter::TranslateOptions verdict;
    verdict.on_match = zc::filter::MatchAction::Verdict;
    verdict.no_match_verdict = 7;
    EXPECT_FALSE(zc::filter::translate(&ret_a, 1, verdict, &out, &why));
    EXPECT_NE(why.find("XDP action"), std::string::npos) << why;
}

// Programs that never match and always match: only the exit they use is
// emitted (the verifier refuses unreachable code).
TEST_F(FilterTranslateTest, ConstantPrograms)
{
    Program never;
    std::string error;
    ASSERT_TRUE(compile("ip and not ip", false, &never, &error)) << error; // optimised, libpcap refuses it
    const Program& never_compiled = never;
    const Program nothing{{BPF_RET | BPF_K, 0, 0, 0}};
    const Program everything{{BPF_RET | BPF_K, 0, 0, 262144}};
    // Unreachable instructions are skipped.
    const Program skips{
        {BPF_JMP | BPF_JA, 0, 0, 2}, {BPF_LD | BPF_IMM, 0, 0, 9}, {BPF_RET | BPF_K, 0, 0, 0}, {BPF_RET | BPF_K, 0, 0, 1}};
    std::size_t pairs = 0;
    for (const Program* program : {&never_compiled, &nothing}) {
        const Tally t = compare("never", *program, corpus(), &pairs);
        EXPECT_EQ(t.matched, 0u);
        EXPECT_EQ(t.missed, corpus().size());
    }
    for (const Program* program : {&everything, &skips}) {
        const Tally t = compare("always", *program, corpus(), &pairs);
        EXPECT_EQ(t.matched, corpus().size());
    }
}

// XDP_DROP for what does not match, and the redirect program with the
// counters of kmod/zc_xdp.h: an XSKMAP without sockets passes everything,
// unfiltered (only queues with a socket are filtered).
TEST_F(FilterTranslateTest, DropRedirectAndCounters)
{
    Program program;
    std::string error;
    ASSERT_TRUE(compile("tcp port 80", true, &program, &error)) << error;

    const int sockets = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "zc_test_xsks", 4, 4, 4, nullptr);
    ASSERT_GE(sockets, 0) << "XSKMAP: " << std::strerror(errno);
    const zc::UniqueFd sockets_fd(sockets);
    const int counters =
        bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "zc_test_count", 4, sizeof(zc_xdp_counters), 4, nullptr);
    ASSERT_GE(counters, 0) << "counters: " << std::strerror(errno);
    const zc::UniqueFd counters_fd(counters);

    struct Case {
        zc::filter::TranslateOptions options;
        std::uint32_t on_match, on_miss;
        bool redirects;
        bool unfiltered; // a queue without a socket: the filter does not run
    };
    std::vector<Case> cases(3);
    cases[0].options.on_match = zc::filter::MatchAction::Verdict;
    cases[0].options.match_verdict = XDP_PASS;
    cases[0].options.no_match_verdict = XDP_DROP;
    cases[0].on_match = XDP_PASS;
    cases[0].on_miss = XDP_DROP;
    cases[1].options.socket_map_fd = sockets;
    cases[1].options.no_match_verdict = XDP_DROP;
    cases[1].options.counter_map_fd = counters;
    cases[1].on_match = XDP_PASS; // no socket at queue 0: not filtered, passed
    cases[1].on_miss = XDP_PASS;
    cases[1].unfiltered = true;
    cases[2].options.on_match = zc::filter::MatchAction::Verdict;
    cases[2].options.match_verdict = XDP_REDIRECT; // counted as redirected
    cases[2].options.counter_map_fd = counters;
    cases[2].on_match = XDP_REDIRECT;
    cases[2].on_miss = XDP_PASS;
    cases[2].redirects = true;

    const int cpus = libbpf_num_possible_cpus();
    ASSERT_GT(cpus, 0);
    for (std::size_t c = 0; c < cases.size(); ++c) {
        const std::vector<zc_xdp_counters> zero(static_cast<std::size_t>(cpus));
        const std::uint32_t queue = 0;
        ASSERT_EQ(bpf_map_update_elem(counters, &queue, zero.data(), BPF_ANY), 0);
        std::string why;
        const int fd = zc::filter::load_filter(program.data(), program.size(), cases[c].options, &why);
        ASSERT_GE(fd, 0) << "case " << c << ": " << why;
        const zc::UniqueFd program_fd(fd);
        std::uint64_t matched = 0, run = 0;
        for (const Bytes& frame : corpus()) {
            if (frame.size() < zc::filter::test::kShortestXdpFrame)
                continue;
            LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame.data(),
                        .data_size_in = static_cast<std::uint32_t>(frame.size()), .repeat = 1);
            ASSERT_EQ(bpf_prog_test_run_opts(fd, &options), 0) << std::strerror(errno);
            const bool expected = pcap_matches(program, frame.data(), static_cast<std::uint32_t>(frame.size()));
            ASSERT_EQ(options.retval, expected ? cases[c].on_match : cases[c].on_miss) << "case " << c;
            matched += expected;
            ++run;
        }
        ASSERT_GT(matched, 0u);
        if (cases[c].options.counter_map_fd < 0)
            continue;
        std::vector<zc_xdp_counters> per_cpu(static_cast<std::size_t>(cpus));
        ASSERT_EQ(bpf_map_lookup_elem(counters, &queue, per_cpu.data()), 0);
        zc_xdp_counters sum{};
        for (const auto& v : per_cpu) {
            sum.packets += v.packets;
            sum.redirected += v.redirected;
            sum.passed += v.passed;
            sum.filtered += v.filtered;
        }
        EXPECT_EQ(sum.packets, run) << "case " << c;
        EXPECT_EQ(sum.redirected, cases[c].redirects ? matched : 0u) << "case " << c;
        EXPECT_EQ(sum.passed, cases[c].redirects ? run - matched : run) << "case " << c;
        EXPECT_EQ(sum.filtered, cases[c].unfiltered ? 0u : run - matched) << "case " << c;
    }
}

// A program the verifier refuses: the sentence ends with the verifier's log.
TEST_F(FilterTranslateTest, VerifierRefusalCarriesTheLog)
{
    const std::vector<bpf_insn> no_return_value{{BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
    std::string why;
    const int fd = zc::filter::load_xdp_program(no_return_value, "zc_broken", &why);
    EXPECT_LT(fd, 0);
    if (fd >= 0)
        ::close(fd);
    EXPECT_NE(why.find("verifier"), std::string::npos) << why;
    EXPECT_NE(why.find("R0"), std::string::npos) << why;
}

} // namespace

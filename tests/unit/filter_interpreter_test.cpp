// SPDX-License-Identifier: BSD-3-Clause
//
// zc_xdp's in-kernel cBPF interpreter (kmod/zc_filter.bpf.h) against
// libpcap: the expressions and the frame corpus of filter_translate_test
// (filter_corpus.hpp), compiled by pcap_compile (optimised and not), and
// shaped random programs, are written into filter_map as the AF_XDP driver
// writes them, run through the interpreter with BPF_PROG_TEST_RUN
// (filter_interpreter_runner.hpp), and every verdict must equal
// pcap_offline_filter's.
//
// Frames shorter than an Ethernet header (14 bytes) are left out: XDP
// never holds one, so the interpreter never meets one. The translator's
// test covers them through its LWT twin.
//
// Loading programs needs root (or CAP_BPF and CAP_PERFMON): skipped
// otherwise.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../../kmod/filter_translate.hpp"
#include "../../kmod/zc_xdp.h"
#include "filter_corpus.hpp"
#include "filter_interpreter_runner.hpp"
#include "filter_reference.hpp"
#include "filter_runner.hpp"

#ifndef ZC_FILTER_INTERPRETER_OBJECT
#error "ZC_FILTER_INTERPRETER_OBJECT: the path of tests/unit/filter_interpreter.bpf.o"
#endif

namespace {

using zc::corpus::Bytes;
using zc::corpus::Frames;
using zc::filter::test::compare_verdicts;
using zc::filter::test::corpus;
using zc::filter::test::InterpretedFilter;
using zc::filter::test::kExpressionCount;
using zc::filter::test::kShortestXdpFrame;
using zc::filter::test::Program;
using zc::filter::test::Tally;

// Loaded once for the whole test program.
InterpretedFilter& interpreter(std::string* why)
{
    static InterpretedFilter instance;
    static std::string failed;
    static const bool ready = instance.open(ZC_FILTER_INTERPRETER_OBJECT, &failed);
    if (!ready)
        *why = failed;
    return instance;
}

class FilterInterpreterTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!zc::filter::test::can_load_programs())
            GTEST_SKIP() << "cannot load BPF programs (needs root, or CAP_BPF and CAP_PERFMON)";
        std::string why;
        interpreter(&why);
        ASSERT_TRUE(why.empty()) << why;
    }
};

// The frames XDP can hold (14 bytes and more).
const Frames& xdp_frames()
{
    static const Frames frames = [] {
        Frames out;
        for (const Bytes& frame : corpus())
            if (frame.size() >= kShortestXdpFrame)
                out.push_back(frame);
        return out;
    }();
    return frames;
}

Tally compare(const std::string& name, const Program& program, const Frames& frames, std::size_t* pairs)
{
    std::string why;
    InterpretedFilter& filter = interpreter(&why);
    if (!filter.set(program, &why)) {
        ADD_FAILURE() << name << ": " << why;
        return {};
    }
    return compare_verdicts(name, "the interpreter", program, frames, filter, pairs);
}

TEST_F(FilterInterpreterTest, TcpdumpExpressionsMatchLibpcap)
{
    const Frames& frames = xdp_frames();
    std::size_t pairs = 0;
    const std::size_t programs = zc::filter::test::check_expressions([&](const std::string& name, const Program& program) {
        EXPECT_LE(program.size(), std::size_t{ZC_FILTER_MAX_INSNS}) << name;
        return compare(name, program, frames, &pairs);
    });
    std::printf("filter_interpreter_test: %zu expressions (%zu programs) x %zu frames: %zu verdicts compared\n",
                kExpressionCount, programs, frames.size(), pairs);
    EXPECT_GE(kExpressionCount, 200u);
    EXPECT_EQ(programs, 2 * kExpressionCount);
}

// Shaped random programs that validate() accepts (what the driver writes):
// ALU with X, division and shifts by X, IND loads at any X, scratch memory.
TEST_F(FilterInterpreterTest, RandomProgramsMatchLibpcap)
{
    const Frames frames = zc::filter::test::every_eleventh(xdp_frames());
    std::size_t valid = 0, both = 0, pairs = 0, n = 0;
    for (const Program& program : zc::filter::test::random_programs()) {
        ++n;
        if (!zc::filter::validate(program.data(), program.size(), nullptr))
            continue;
        ++valid;
        const Tally tally = compare("random program " + std::to_string(n), program, frames, &pairs);
        both += tally.matched > 0 && tally.missed > 0;
    }
    std::printf("filter_interpreter_test: %zu random programs, %zu with both verdicts; %zu verdicts compared\n", valid,
                both, pairs);
    EXPECT_GT(valid, 200u);
    EXPECT_GT(both, 50u);
}

// The longest program the interpreter takes runs to its last instruction:
// 4095 loads and a return (bpf_loop's count is the program's length).
TEST_F(FilterInterpreterTest, LongestProgramRunsToTheEnd)
{
    Program program(ZC_FILTER_MAX_INSNS - 1, sock_filter{BPF_LD | BPF_IMM, 0, 0, 7});
    program.push_back(sock_filter{BPF_RET | BPF_A, 0, 0, 0});
    std::size_t pairs = 0;
    const Tally tally = compare("longest", program, xdp_frames(), &pairs);
    EXPECT_EQ(tally.matched, xdp_frames().size());
}

// Whatever user space writes into the map (it is writable by the device's
// process), the interpreter ends with a verdict: unknown opcodes, jumps
// past the end, a length of 0, loads far out of the frame. None of these is
// a program validate() accepts, so libpcap is no reference: they must all
// say "no match", except where a return comes first.
TEST_F(FilterInterpreterTest, ProgramsValidateRefusesEndWithNoMatch)
{
    const Frames& all = xdp_frames();
    const Frames frames(all.begin(), all.begin() + 50);
    const std::vector<Program> refused = {
        {},                                                                       // length 0
        {{0xffff, 0, 0, 0}, {BPF_RET | BPF_K, 0, 0, 1}},                           // unknown opcode
        {{BPF_JMP | BPF_JA, 0, 0, 100}, {BPF_RET | BPF_K, 0, 0, 1}},               // jump past the end
        {{BPF_JMP | BPF_JEQ | BPF_K, 200, 200, 0}, {BPF_RET | BPF_K, 0, 0, 1}},    // conditional, past the end
        {{BPF_JMP | BPF_JA, 0, 0, 0xffffffffu}, {BPF_RET | BPF_K, 0, 0, 1}},       // wraps around to itself
        {{BPF_LD | BPF_W | BPF_ABS, 0, 0, 0xfffffffcu}, {BPF_RET | BPF_K, 0, 0, 1}}, // load far out
        {{BPF_LD | BPF_IMM, 0, 0, 1}},                                            // no return at the end
    };
    std::string why;
    for (std::size_t p = 0; p < refused.size(); ++p) {
        ASSERT_TRUE(interpreter(&why).set(refused[p], &why)) << why;
        for (const Bytes& frame : frames)
            EXPECT_EQ(interpreter(&why).run(frame.data(), static_cast<std::uint32_t>(frame.size()), &why), 0)
                << "program " << p << ": " << why;
    }
}

} // namespace

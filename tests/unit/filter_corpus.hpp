// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_corpus.hpp — what the filter tests run against
// libpcap: 250 tcpdump expressions and a generated corpus of frames
// (IPv4/IPv6 TCP/UDP/ICMP over many addresses and ports, ARP, VLAN and
// QinQ, MPLS, fragments, IP options, other protocols and EtherTypes,
// malformed headers, the hostile frames of make-corpus, and every cut from
// 0 to 80 bytes of real frames). Shared by filter_translate_test (the
// translator) and filter_interpreter_test (zc_xdp's interpreter).

#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../system/corpus_frames.hpp"
#include "filter_reference.hpp"

namespace zc::filter::test {

const zc::corpus::Frames& corpus();

extern const char* const kExpressions[];
extern const std::size_t kExpressionCount;

// The empty expression matches everything: it is the one exempt from
// "misses at least one".
inline bool always_matches(const std::string& expression) { return expression.empty(); }

// 600 shaped random programs (filter_runner.hpp's shape_program, from a
// fixed seed): ALU with X, division and shifts by X, IND loads at any X,
// scratch memory — what tcpdump's expressions rarely produce. Some pass
// validate(), some not.
std::vector<Program> random_programs();
// Every 11th frame of `frames`: what the random programs run on.
zc::corpus::Frames every_eleventh(const zc::corpus::Frames& frames);

struct Tally {
    std::size_t matched = 0, missed = 0; // libpcap's verdicts
};

// Runs `program`, loaded in `filter` (LoadedFilter, InterpretedFilter:
// filter.run(frame, length, &why) gives 1 match, 0 no match, -1 when the
// run itself failed), on every frame; every verdict must be
// pcap_offline_filter's (`who` names the kernel's side in a failure). Adds
// the pairs compared to *pairs.
template <typename Filter>
Tally compare_verdicts(const std::string& name, const char* who, const Program& program,
                       const zc::corpus::Frames& frames, const Filter& filter, std::size_t* pairs)
{
    Tally tally;
    std::size_t mismatches = 0;
    std::string why;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const zc::corpus::Bytes& frame = frames[i];
        const auto length = static_cast<std::uint32_t>(frame.size());
        const int kernel = filter.run(frame.data(), length, &why);
        if (kernel < 0) {
            ADD_FAILURE() << name << ": frame " << i << ": " << why;
            return tally;
        }
        const bool expected = pcap_matches(program, frame.data(), length);
        ++*pairs;
        if ((kernel == 1) != expected && ++mismatches <= 3)
            ADD_FAILURE() << name << ": frame " << i << " (" << length << " bytes): " << who << " says "
                          << (kernel ? "match" : "no match") << ", libpcap " << (expected ? "match" : "no match");
        (expected ? tally.matched : tally.missed)++;
    }
    return tally;
}

// Every expression, optimised and not: compiled, then check(name, program)
// returns its Tally, and the program must match some frames and (but for
// the empty expression) miss others, so that no comparison is vacuous.
// Returns the number of programs.
template <typename Check>
std::size_t check_expressions(Check&& check)
{
    std::size_t programs = 0;
    for (std::size_t e = 0; e < kExpressionCount; ++e) {
        const std::string expression = kExpressions[e];
        for (bool optimize : {true, false}) {
            Program program;
            std::string error;
            EXPECT_TRUE(compile(expression, optimize, &program, &error)) << "'" << expression << "': " << error;
            if (program.empty())
                continue;
            const std::string name = "'" + expression + "'" + (optimize ? "" : " (not optimised)");
            const Tally tally = check(name, program);
            ++programs;
            EXPECT_GT(tally.matched, 0u) << name << " matches no frame of the corpus";
            if (!always_matches(expression)) {
                EXPECT_GT(tally.missed, 0u) << name << " matches every frame of the corpus";
            }
        }
    }
    return programs;
}

} // namespace zc::filter::test

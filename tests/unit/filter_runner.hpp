// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_runner.hpp — the kernel's side of the filter
// translator's tests: a cBPF program translated (MatchAction::Verdict),
// loaded through the real verifier, and run with BPF_PROG_TEST_RUN.
//
// BPF_PROG_TEST_RUN refuses XDP frames shorter than ETH_HLEN (14 bytes;
// also when ctx_in puts metadata in front, the frame after it must be 14).
// For those lengths the runner loads a twin: the same instructions with the
// two context loads (the program's first two, see filter_translate.hpp)
// pointed at __sk_buff's data and data_end, as BPF_PROG_TYPE_LWT_IN, whose
// test run starts the data after a 14-byte Ethernet header it takes off.
// So the twin sees exactly the frame, at any length, and runs the same
// bounds checks.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../drivers/unique_fd.hpp"
#include "../../kmod/filter_translate.hpp"
#include "filter_reference.hpp"

namespace zc::filter::test {

inline constexpr std::uint32_t kMatchVerdict = XDP_TX;
inline constexpr std::uint32_t kNoMatchVerdict = XDP_PASS;
inline constexpr std::uint32_t kShortestXdpFrame = 14;

class LoadedFilter {
public:
    // Translates (Verdict mode: kMatchVerdict / kNoMatchVerdict) and loads
    // both programs; false with a sentence in *why when any step fails.
    bool load(const Program& program, std::string* why);

    // 1 match, 0 no match, -1 when the test run itself failed (*why says).
    int run(const std::uint8_t* frame, std::uint32_t length, std::string* why) const;

    [[nodiscard]] std::size_t instructions() const { return instructions_; }

private:
    UniqueFd xdp_;
    UniqueFd twin_;
    std::size_t instructions_ = 0;
};

// Whether the kernel lets this process load programs (root, or CAP_BPF with
// CAP_PERFMON); the tests that load are skipped otherwise.
bool can_load_programs();

// A cBPF program shaped from arbitrary bytes (8 a instruction): opcodes
// drawn from the valid ones, offsets mostly near the headers, jumps inside
// the program, the last instruction a return — so that most programs pass
// validate() and the rest fail it in interesting ways (read-before-write of
// scratch memory, division by the constant 0).
Program shape_program(const std::uint8_t* bytes, std::size_t size);

} // namespace zc::filter::test

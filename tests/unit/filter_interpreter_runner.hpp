// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_interpreter_runner.hpp — zc_xdp's in-kernel cBPF
// interpreter (kmod/zc_filter.bpf.h) as the tests run it: the test object
// tests/unit/filter_interpreter.bpf.o (the interpreter behind an entry
// point a BPF_PROG_TEST_RUN can reach: zc_redirect filters only queues
// with an AF_XDP socket, and a test run has none), loaded, its filter_map
// mapped as the AF_XDP driver maps it, each program written there with the
// driver's protocol (kmod/zc_xdp.h), and run on frames. Used by
// filter_interpreter_test and tests/fuzz/filter_fuzz.
//
// XDP never holds a frame shorter than an Ethernet header (14 bytes:
// BPF_PROG_TEST_RUN refuses them, drivers drop them), so run() takes
// frames of kShortestXdpFrame bytes and more.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "filter_reference.hpp"

struct bpf_object;
struct zc_filter_area;

namespace zc::filter::test {

class InterpretedFilter {
public:
    InterpretedFilter() = default;
    ~InterpretedFilter();
    InterpretedFilter(const InterpretedFilter&) = delete;
    InterpretedFilter& operator=(const InterpretedFilter&) = delete;

    // Loads the object at `path` and maps its filter map; false with a
    // sentence in *why.
    bool open(const char* path, std::string* why);

    // Writes `insns` (any count up to ZC_FILTER_MAX_INSNS, anything at all
    // in them: the map is what user space may write) into the slot not in
    // use, then makes it active, as XdpProgram::set_interpreted does (a
    // test run is synchronous: no grace period is owed). False with a
    // sentence when the count does not fit.
    bool set(const sock_filter* insns, std::size_t count, std::string* why);
    bool set(const Program& program, std::string* why) { return set(program.data(), program.size(), why); }

    // 1 match, 0 no match, -1 (and *why) when the run failed or the
    // interpreter returned anything else.
    int run(const std::uint8_t* frame, std::uint32_t length, std::string* why) const;

private:
    bpf_object* object_ = nullptr;
    int program_fd_ = -1; // owned by object_
    zc_filter_area* area_ = nullptr;
    std::size_t bytes_ = 0;
};

} // namespace zc::filter::test

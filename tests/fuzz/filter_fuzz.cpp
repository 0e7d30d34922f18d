// SPDX-License-Identifier: BSD-3-Clause
//
// libFuzzer target for the filter translator (kmod/filter_translate): every
// input is read twice as a classic BPF program — as raw struct sock_filter
// records (mostly invalid: validate() must refuse them, with a reason), and
// shaped (tests/unit/filter_runner.hpp: valid opcodes, jumps in range, so
// mostly valid). Each program must be refused with a reason, or translate;
// a translated program must pass the kernel's verifier and give
// pcap_offline_filter's verdict on a few frames (IPv4, IPv6, VLAN, ARP, runts,
// and the input itself as a frame). Only programs validate() accepts reach
// libpcap: libpcap 1.10.3 aborts on unknown opcodes and reads uninitialised
// scratch memory.
//
// The same program also goes to the fallback, zc_xdp's in-kernel
// interpreter (tests/unit/filter_interpreter_runner.hpp), written into its
// map as the AF_XDP driver writes it: a program validate() accepts must get
// pcap_offline_filter's verdict there too, and any other (the map is
// writable by the device's process) must still end with a verdict.
//
// Loading needs root (or CAP_BPF and CAP_PERFMON); without it, only the
// translation is checked (said once on stderr).
//
//   make fuzz && tests/fuzz/filter_fuzz -max_total_time=60

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../system/corpus_frames.hpp"
#include "../../kmod/zc_xdp.h"
#include "../unit/filter_interpreter_runner.hpp"
#include "../unit/filter_reference.hpp"
#include "../unit/filter_runner.hpp"

#ifndef ZC_FILTER_INTERPRETER_OBJECT
#error "ZC_FILTER_INTERPRETER_OBJECT: the path of tests/unit/filter_interpreter.bpf.o"
#endif

namespace {

using zc::filter::test::LoadedFilter;
using zc::filter::test::Program;

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "filter_fuzz: %s\n", what.c_str());
    std::abort();
}

const std::vector<zc::corpus::Bytes>& frames()
{
    using namespace zc::corpus;
    static const std::vector<Bytes> all = [] {
        const Address a{10, 0, 0, 1}, b{192, 168, 1, 10};
        const Address c{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        const Address d{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
        const Link plain{{2, 0, 0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {}, {}};
        const Link tagged{{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, {{0x8100, 100}}, {}};
        std::vector<Bytes> f;
        f.push_back(padded(ethernet(plain, Way::ToServer, 0x0800,
                                    ipv4(a, b, kTcp, 1, segment(kTcp, 1024, 80, false, 1, Bytes(30, 0x61)),
                                         Ipv4Extras{Bytes(8, 1), 0}))));
        f.push_back(padded(ethernet(plain, Way::ToServer, 0x86dd,
                                    ipv6(c, d, kUdp, 2, segment(kUdp, 53, 5353, true, 2, Bytes(12, 0x62))))));
        f.push_back(padded(ethernet(tagged, Way::ToServer, 0x0800,
                                    ipv4(b, a, kIcmp, 3, segment(kIcmp, 7, 9, false, 3, {}), Ipv4Extras{{}, 0x2010}))));
        f.push_back(padded(ethernet(plain, Way::ToServer, 0x0806, Bytes(28, 0x01))));
        f.push_back(slice(f[0], 0, 9));
        f.push_back({});
        return f;
    }();
    return all;
}

void compare(const LoadedFilter& filter, const Program& program, const std::uint8_t* frame, std::uint32_t length)
{
    std::string why;
    const int kernel = filter.run(frame, length, &why);
    if (kernel < 0)
        fail(why);
    if ((kernel == 1) != zc::filter::test::pcap_matches(program, frame, length))
        fail("the kernel's verdict differs from libpcap's on a " + std::to_string(length) + "-byte frame");
}

// The interpreter on every frame XDP can hold (14 bytes and more) and the
// input itself as a frame: libpcap's verdicts when `valid`, else any verdict.
void interpret(const Program& program, bool valid, const std::uint8_t* data, std::size_t size)
{
    static zc::filter::test::InterpretedFilter interpreter;
    static const bool ready = [] {
        std::string why;
        if (!interpreter.open(ZC_FILTER_INTERPRETER_OBJECT, &why))
            fail(why);
        return true;
    }();
    (void)ready;
    if (program.size() > ZC_FILTER_MAX_INSNS)
        return; // the device never writes it: the filter then runs in user space
    std::string why;
    if (!interpreter.set(program, &why))
        fail(why);
    auto one = [&](const std::uint8_t* frame, std::uint32_t length) {
        if (length < zc::filter::test::kShortestXdpFrame)
            return;
        const int verdict = interpreter.run(frame, length, &why);
        if (verdict < 0)
            fail("the interpreter: " + why);
        if (valid && (verdict == 1) != zc::filter::test::pcap_matches(program, frame, length))
            fail("the interpreter's verdict differs from libpcap's on a " + std::to_string(length) + "-byte frame");
    };
    for (const auto& frame : frames())
        one(frame.data(), static_cast<std::uint32_t>(frame.size()));
    one(data, static_cast<std::uint32_t>(size < 1514 ? size : 1514));
}

void check(const Program& program, const std::uint8_t* data, std::size_t size)
{
    std::string why;
    zc::filter::TranslateOptions options;
    options.on_match = zc::filter::MatchAction::Verdict;
    const bool valid = zc::filter::validate(program.data(), program.size(), &why);
    static const bool can_load = zc::filter::test::can_load_programs();
    if (can_load)
        interpret(program, valid, data, size);
    why.clear();
    std::vector<bpf_insn> translated;
    const bool translates = zc::filter::translate(program.data(), program.size(), options, &translated, &why);
    if (!translates) {
        if (why.empty())
            fail("refused without a reason");
        return;
    }
    if (!valid)
        fail("translated a program validate() refuses");
    if (!can_load) {
        static bool said = false;
        if (!said)
            std::fprintf(stderr, "filter_fuzz: cannot load BPF programs here; checking translation only\n");
        said = true;
        return;
    }
    LoadedFilter filter;
    if (!filter.load(program, &why)) {
        // The verifier's own limit on the states it explores is the one
        // refusal of a valid program that is not the translator's fault.
        if (why.find("too large") != std::string::npos || why.find("too complex") != std::string::npos)
            return;
        fail("a translated program does not load: " + why);
    }
    for (const auto& frame : frames())
        compare(filter, program, frame.data(), static_cast<std::uint32_t>(frame.size()));
    compare(filter, program, data, static_cast<std::uint32_t>(size < 1514 ? size : 1514));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > 8 * 4200)
        return 0;
    Program raw(size / 8);
    if (!raw.empty())
        std::memcpy(raw.data(), data, raw.size() * sizeof raw[0]);
    check(raw, data, size);
    check(zc::filter::test::shape_program(data, size), data, size);
    return 0;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_reference.hpp — libpcap's side of the filter
// translator's tests (filter_translate_test, tests/fuzz/filter_fuzz):
// pcap_compile for Ethernet on a dead handle, and pcap_offline_filter, the
// verdict the translated program must equal. Programs travel as the
// kernel's struct sock_filter: libpcap's struct bpf_insn (same layout) and
// linux/bpf.h's cannot meet in one file, so only filter_reference.cpp
// includes libpcap.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <linux/filter.h>

namespace zc::filter::test {

using Program = std::vector<sock_filter>;

// pcap_compile(pcap_open_dead(DLT_EN10MB, 262144), expression, optimize,
// PCAP_NETMASK_UNKNOWN); false with libpcap's message in *error.
bool compile(const std::string& expression, bool optimize, Program* out, std::string* error);

// pcap_offline_filter(program, {caplen = len = length}, frame) != 0. Only
// for programs zc::filter::validate() accepts: libpcap 1.10.3 aborts on an
// unknown opcode and reads uninitialised scratch memory.
bool pcap_matches(const Program& program, const std::uint8_t* frame, std::uint32_t length);

} // namespace zc::filter::test

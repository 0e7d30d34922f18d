// SPDX-License-Identifier: BSD-3-Clause
//
// The flow hash for libzc's own fast paths (private; zc/hash.h is the API).
// hash_burst is zc_packet_hash over a burst: one call per burst instead of
// one per packet, with the next frames' first line asked for ahead, and a
// direct path for the common frame (below) that gives exactly what the full
// parser gives — it only skips building the parse.

#pragma once

#include <cstdint>

#include "zc/device.h"
#include "zc/hash.h"

namespace zc::hash {

// hashes[i] = zc_packet_hash(mode, packets[i].data, packets[i].caplen,
// packets[i].port) for i < n. Round-robin and unknown modes give 0, as
// zc_packet_hash does.
//
// The direct path: 5tuple and 2tuple on an untagged Ethernet frame
// carrying IPv4 (any header length, not a fragment) or IPv6 (no extension
// header), whose addresses and, for 5tuple, TCP/UDP/SCTP/DCCP/UDP-Lite
// ports are within the captured bytes and the IP length. Anything else
// (tags, MPLS, fragments, extension headers, a truncated or malformed
// header, a tunnel mode) goes through parse_frame. Both end in the same
// tuple mixers, so the two cannot disagree on a value, only on which
// frames take the short way; tests/unit/hash_test.cpp and
// tests/fuzz/parse_fuzz.cpp compare them frame by frame.
void hash_burst(zc_hash_mode mode, const zc_packet* packets, std::uint32_t n, std::uint32_t* hashes) noexcept;

// The hash by the full parser only, never the direct path: for the
// comparison in tests/fuzz/parse_fuzz.cpp.
std::uint32_t packet_hash_parsed(zc_hash_mode mode, const std::uint8_t* frame, std::uint32_t caplen,
                                 std::uint16_t port) noexcept;

} // namespace zc::hash

// SPDX-License-Identifier: BSD-3-Clause
//
// libFuzzer target for the packet parser and the flow hash (zc/hash.h).
// Every input is a frame of exactly its size (libFuzzer's buffer is a heap
// block of that size, so AddressSanitizer catches any over-read). Checks:
// every mode runs, the parse's offsets and flags are consistent, and when the
// parse finds a flow, the frame with its endpoints swapped (MACs, addresses,
// ports; outer and inner) hashes the same in every symmetric mode; and the
// direct path of 5tuple and 2tuple (core/src/packet_hash.hpp) gives what the
// full parser gives.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I core/include \
//       tests/fuzz/parse_fuzz.cpp core/src/packet_*.cpp -o parse_fuzz
//   ./parse_fuzz -max_total_time=60

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../../core/src/packet_hash.hpp"
#include "zc/hash.h"

namespace {

void check(bool ok, const char* what)
{
    if (!ok) {
        std::fprintf(stderr, "parse_fuzz: %s\n", what);
        std::abort();
    }
}

void check_layer(const zc_parsed_layer& l, std::uint32_t size)
{
    for (std::uint32_t offset : {l.l2_offset, l.l3_offset, l.l4_offset})
        check(offset == ZC_PARSED_ABSENT || offset <= size, "an offset beyond the frame");
    if (l.flags & ZC_PARSED_ETHERNET)
        check(l.l2_offset != ZC_PARSED_ABSENT && l.l2_offset + 12 <= size, "MAC addresses beyond the frame");
    if (l.flags & ZC_PARSED_IP) {
        check(l.ip_version == 4 || l.ip_version == 6, "IP without a version");
        check(l.l3_offset + (l.ip_version == 4 ? 20u : 40u) <= size, "an IP header beyond the frame");
    }
    if (l.flags & ZC_PARSED_L4)
        check((l.flags & ZC_PARSED_IP) && !(l.flags & ZC_PARSED_FRAGMENT), "L4 without IP, or in a fragment");
    if (l.flags & ZC_PARSED_PORTS)
        check((l.flags & ZC_PARSED_L4) && l.l4_offset + 4 <= size, "ports beyond the frame");
    check(l.vlan_count <= ZC_PARSE_VLAN_MAX && l.mpls_count <= ZC_PARSE_MPLS_MAX, "a bound exceeded");
}

void swap_bytes(std::uint8_t* frame, std::uint32_t a, std::uint32_t b, std::uint32_t n)
{
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint8_t t = frame[a + i];
        frame[a + i] = frame[b + i];
        frame[b + i] = t;
    }
}

// Swaps one layer's endpoints in place; true when there was something to swap.
bool swap_endpoints(std::uint8_t* frame, const zc_parsed_layer& l)
{
    bool swapped = false;
    if (l.flags & ZC_PARSED_ETHERNET) {
        swap_bytes(frame, l.l2_offset, l.l2_offset + 6, 6);
        swapped = true;
    }
    if (l.flags & ZC_PARSED_IP) {
        if (l.ip_version == 4)
            swap_bytes(frame, l.l3_offset + 12, l.l3_offset + 16, 4);
        else
            swap_bytes(frame, l.l3_offset + 8, l.l3_offset + 24, 16);
        swapped = true;
    }
    if (l.flags & ZC_PARSED_PORTS)
        swap_bytes(frame, l.l4_offset, l.l4_offset + 2, 2);
    return swapped;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > 0xffffffu)
        return 0;
    const auto caplen = static_cast<std::uint32_t>(size);
    const auto port = static_cast<std::uint16_t>(size * 31);

    std::uint32_t hashes[ZC_HASH_MODE_COUNT + 1];
    for (int mode = 0; mode <= ZC_HASH_MODE_COUNT; ++mode) // and one value that is not a mode
        hashes[mode] = zc_packet_hash(static_cast<zc_hash_mode>(mode), data, caplen, port);
    check(hashes[ZC_HASH_ROUND_ROBIN] == 0 && hashes[ZC_HASH_MODE_COUNT] == 0, "round-robin or a non-mode hashed");
    check(zc_packet_hash(ZC_HASH_INNER_5TUPLE, data, caplen, port) == hashes[ZC_HASH_INNER_5TUPLE], "not deterministic");
    for (zc_hash_mode mode : {ZC_HASH_5TUPLE, ZC_HASH_2TUPLE})
        check(zc::hash::packet_hash_parsed(mode, data, caplen, port) == hashes[mode], "direct path and parser differ");
    {
        const zc_packet packet{data, caplen, caplen, 0, 0, 0, port};
        std::uint32_t burst = 0;
        zc::hash::hash_burst(ZC_HASH_5TUPLE, &packet, 1, &burst);
        check(burst == hashes[ZC_HASH_5TUPLE], "hash_burst and zc_packet_hash differ");
    }

    zc_parsed p{};
    p.struct_size = sizeof p;
    check(zc_packet_parse(data, caplen, &p) == 0, "parse failed");
    check_layer(p.outer, caplen);
    if (p.tunnel != ZC_TUNNEL_NONE) {
        check(p.tunnel_offset <= caplen && p.inner_offset <= caplen && p.tunnel_offset < p.inner_offset,
              "tunnel offsets");
        check(p.outer.l4_offset != ZC_PARSED_ABSENT && p.outer.l4_offset <= p.tunnel_offset, "tunnel before L4");
        check_layer(p.inner, caplen);
        if (p.inner.l2_offset != ZC_PARSED_ABSENT)
            check(p.inner.l2_offset >= p.inner_offset, "inner packet before the tunnel's end");
    } else {
        check(p.inner.flags == 0, "an inner layer without a tunnel");
    }

    // Symmetry: the same frame, other direction.
    std::unique_ptr<std::uint8_t[]> other(new std::uint8_t[size]);
    if (size != 0)
        std::memcpy(other.get(), data, size);
    bool swapped = swap_endpoints(other.get(), p.outer);
    if (p.tunnel != ZC_TUNNEL_NONE)
        swapped = swap_endpoints(other.get(), p.inner) || swapped;
    if (!swapped)
        return 0;
    for (zc_hash_mode mode : {ZC_HASH_5TUPLE, ZC_HASH_2TUPLE, ZC_HASH_INNER_5TUPLE, ZC_HASH_VLAN, ZC_HASH_IFACE})
        check(zc_packet_hash(mode, other.get(), caplen, port) == hashes[mode], "not symmetric");
    return 0;
}

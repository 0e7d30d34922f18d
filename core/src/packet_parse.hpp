// SPDX-License-Identifier: BSD-3-Clause
//
// The packet parser under the flow hash (private). It walks Ethernet, VLAN
// tags, MPLS, IPv4 (with options) and IPv6 (with extension headers) to the L4
// header, and optionally opens one tunnel (GTP-U, VXLAN, GRE). It records
// offsets only, never copies, never reads past the end it is given, and
// every loop has a bound (ZC_PARSE_*_MAX in zc/hash.h). The rules it follows
// (fragments, length fields, fallbacks) are written down in zc/hash.h.

#pragma once

#include <cstdint>
#include <cstring>
#include <endian.h>

#include "zc/hash.h"

namespace zc::parse {

inline constexpr std::uint32_t kAbsent = ZC_PARSED_ABSENT;

// One packet (the frame, or the packet inside a tunnel), as offsets.
struct Layer {
    std::uint32_t flags = 0; // ZC_PARSED_*
    std::uint32_t l2 = kAbsent;
    std::uint32_t l3 = kAbsent;
    std::uint32_t l4 = kAbsent;
    std::uint32_t end = 0; // bytes of this layer that may be read: min(caplen, IP length)
    std::uint16_t ethertype = 0;
    std::uint8_t ip_version = 0;
    std::uint8_t protocol = 0;
    std::uint16_t vlan_count = 0;
    std::uint16_t mpls_count = 0;
    std::uint16_t vlan_ids[ZC_PARSE_VLAN_MAX] = {};
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;

    bool has(std::uint32_t flag) const noexcept { return (flags & flag) != 0; }
};

struct Packet {
    Layer outer;
    Layer inner;
    zc_tunnel tunnel = ZC_TUNNEL_NONE;
    std::uint32_t tunnel_offset = kAbsent;
    std::uint32_t inner_offset = kAbsent;
};

enum class Tunnels : bool { Ignore, Open };

// Parses `caplen` bytes of `frame`, an Ethernet frame. With Tunnels::Open, a
// GTP-U, VXLAN or GRE packet's inner packet is parsed into .inner.
Packet parse_frame(const std::uint8_t* frame, std::uint32_t caplen, Tunnels tunnels) noexcept;

// Reads big-endian fields; the caller has checked the bounds. memcpy, so
// that an unaligned field is no undefined behaviour (it compiles to a load).
inline std::uint16_t load16(const std::uint8_t* at) noexcept
{
    std::uint16_t v;
    std::memcpy(&v, at, sizeof v);
    return be16toh(v);
}

inline std::uint32_t load32(const std::uint8_t* at) noexcept
{
    std::uint32_t v;
    std::memcpy(&v, at, sizeof v);
    return be32toh(v);
}

inline std::uint64_t load64(const std::uint8_t* at) noexcept
{
    std::uint64_t v;
    std::memcpy(&v, at, sizeof v);
    return be64toh(v);
}

inline std::uint64_t load48(const std::uint8_t* at) noexcept
{
    return static_cast<std::uint64_t>(load16(at)) << 32 | load32(at + 2);
}

// Where a layer's IP addresses are (valid with ZC_PARSED_IP).
inline std::uint32_t src_addr_offset(const Layer& l) noexcept { return l.l3 + (l.ip_version == 4 ? 12 : 8); }
inline std::uint32_t dst_addr_offset(const Layer& l) noexcept { return l.l3 + (l.ip_version == 4 ? 16 : 24); }

} // namespace zc::parse

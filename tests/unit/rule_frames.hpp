// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/rule_frames.hpp — the crafted frames of the content-rule tests
// (rules_test, balancer_rules_test): Ethernet / IPv4 or IPv6 / TCP, UDP or
// another protocol / a payload, over tests/system/corpus_frames.hpp.

#pragma once

#include <cstddef>
#include <cstdint>

#include "../system/corpus_frames.hpp"

namespace zc::rule_frames {

using zc::corpus::Bytes;

constexpr std::uint8_t kTcp = zc::corpus::kTcp, kUdp = zc::corpus::kUdp;
constexpr std::uint16_t kIpv4 = 0x0800, kIpv6 = 0x86dd;

// The bytes of a string literal, NULs included, without the final one.
template <std::size_t N>
Bytes text(const char (&s)[N])
{
    return Bytes(s, s + N - 1);
}

inline zc::corpus::Address v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
{
    zc::corpus::Address out{};
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
    return out;
}

inline zc::corpus::Address v6(std::uint8_t last)
{
    zc::corpus::Address out{0x20, 0x01, 0x0d, 0xb8};
    out[15] = last;
    return out;
}

inline const zc::corpus::Link kLink{{0x02, 0, 0, 0, 0, 1}, {0x02, 0, 0, 0, 0, 2}, {}, {}};

// Ethernet / IPv4 / protocol / payload, from `source` to 198.18.0.2.
inline Bytes ipv4_frame(std::uint8_t protocol, const Bytes& payload, zc::corpus::Address source = v4(198, 18, 0, 1),
                        const zc::corpus::Ipv4Extras& extras = {})
{
    const Bytes l4 = zc::corpus::segment(protocol, 40000, 80, false, 1, payload);
    return zc::corpus::ethernet(kLink, zc::corpus::Way::ToServer, kIpv4,
                                zc::corpus::ipv4(source, v4(198, 18, 0, 2), protocol, 1, l4, extras));
}

inline Bytes ipv6_frame(std::uint8_t protocol, const Bytes& payload)
{
    const Bytes l4 = zc::corpus::segment(protocol, 40000, 443, false, 1, payload);
    return zc::corpus::ethernet(kLink, zc::corpus::Way::ToServer, kIpv6,
                                zc::corpus::ipv6(v6(1), v6(2), protocol, 7, l4));
}

} // namespace zc::rule_frames

// SPDX-License-Identifier: BSD-3-Clause
//
// What a payload rule sees: the bytes after the outer packet's L4 header,
// up to the end the parser allows (the captured length, or the IP length
// when that is shorter: Ethernet padding is not payload). The L4 header's
// length, by protocol:
//
//   TCP               data offset x 4 (20 to 60)
//   DCCP              data offset x 4 (12 or more)
//   UDP, UDP-Lite     8
//   SCTP              12 (the common header: the payload is the chunks)
//   ICMP, ICMPv6      8 (type, code, checksum and the 4-byte rest of header)
//
// Any other protocol (GRE, ESP, ...) has no payload scope; nor has a
// fragment (the parser gives fragments no L4 header: nothing is
// reassembled), a frame that is not IP, or a header cut short.

#include "packet_parse.hpp"
#include "rules.hpp"

namespace zc::rules {

namespace {

constexpr std::uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kDccp = 33, kIcmp6 = 58, kSctp = 132, kUdpLite = 136;

// The L4 header's length, 0 when unknown or invalid. `at` is where it starts.
std::uint32_t header_length(const std::uint8_t* f, std::uint32_t at, std::uint32_t end, std::uint8_t protocol) noexcept
{
    switch (protocol) {
    case kTcp: {
        if (at + 13 > end)
            return 0;
        const std::uint32_t length = (f[at + 12] >> 4) * 4u;
        return length >= 20 ? length : 0;
    }
    case kDccp: {
        if (at + 5 > end)
            return 0;
        const std::uint32_t length = f[at + 4] * 4u;
        return length >= 12 ? length : 0;
    }
    case kUdp:
    case kUdpLite:
    case kIcmp:
    case kIcmp6: return 8;
    case kSctp: return 12;
    default: return 0;
    }
}

} // namespace

Span payload_span(const std::uint8_t* frame, std::uint32_t caplen) noexcept
{
    const parse::Packet p = parse::parse_frame(frame, caplen, parse::Tunnels::Ignore);
    const parse::Layer& l = p.outer;
    if (!l.has(ZC_PARSED_L4))
        return {};
    const std::uint32_t length = header_length(frame, l.l4, l.end, l.protocol);
    if (length == 0 || l.l4 + length >= l.end)
        return {};
    return Span{l.l4 + length, l.end};
}

} // namespace zc::rules

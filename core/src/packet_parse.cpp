// SPDX-License-Identifier: BSD-3-Clause
//
// The packet parser: Ethernet, VLAN/QinQ, MPLS, IPv4, IPv6, one tunnel.
// Every read is preceded by a check against `end`, which never exceeds
// caplen; offsets are 32-bit and grow by at most a few kilobytes per bounded
// step, so they cannot wrap.

#include "packet_parse.hpp"

#include <cerrno>
#include <cstring>

namespace zc::parse {

namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::uint16_t kEtherVlan = 0x8100;     // 802.1Q
constexpr std::uint16_t kEtherQinQ = 0x88a8;     // 802.1ad
constexpr std::uint16_t kEtherQinQOld = 0x9100;  // pre-standard QinQ
constexpr std::uint16_t kEtherMpls = 0x8847;
constexpr std::uint16_t kEtherMplsMulticast = 0x8848;
constexpr std::uint16_t kEtherBridging = 0x6558; // transparent Ethernet bridging (GRE)

constexpr std::uint8_t kProtoHopByHop = 0;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoDccp = 33;
constexpr std::uint8_t kProtoRouting = 43;
constexpr std::uint8_t kProtoFragment = 44;
constexpr std::uint8_t kProtoGre = 47;
constexpr std::uint8_t kProtoAuthentication = 51;
constexpr std::uint8_t kProtoDestination = 60;
constexpr std::uint8_t kProtoSctp = 132;
constexpr std::uint8_t kProtoUdpLite = 136;

constexpr std::uint16_t kPortGtpu = 2152;
constexpr std::uint16_t kPortVxlan = 4789;

constexpr std::uint32_t kEthernetHeader = 14;
constexpr std::uint32_t kVlanTag = 4;
constexpr std::uint32_t kMplsLabel = 4;
constexpr std::uint32_t kIpv4Header = 20;
constexpr std::uint32_t kIpv6Header = 40;
constexpr std::uint32_t kUdpHeader = 8;

bool has_ports(std::uint8_t protocol) noexcept
{
    return protocol == kProtoTcp || protocol == kProtoUdp || protocol == kProtoSctp || protocol == kProtoDccp ||
           protocol == kProtoUdpLite;
}

bool is_vlan(std::uint16_t ethertype) noexcept
{
    return ethertype == kEtherVlan || ethertype == kEtherQinQ || ethertype == kEtherQinQOld;
}

// The L4 header starts at `at`: record it, and the ports if there are any.
void reach_l4(const std::uint8_t* f, std::uint32_t at, Layer& l) noexcept
{
    if (at > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    l.l4 = at;
    l.flags |= ZC_PARSED_L4;
    if (!has_ports(l.protocol))
        return;
    if (at + 4 > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    l.src_port = load16(f + at);
    l.dst_port = load16(f + at + 2);
    l.flags |= ZC_PARSED_PORTS;
}

void parse_ipv4(const std::uint8_t* f, std::uint32_t at, Layer& l) noexcept
{
    l.l3 = at;
    if (at + kIpv4Header > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    const std::uint32_t header = (f[at] & 0x0fu) * 4u;
    const std::uint32_t total = load16(f + at + 2);
    // A header that cannot be IPv4 is not used at all (MAC pair fallback).
    if ((f[at] >> 4) != 4 || header < kIpv4Header || (total != 0 && total < header)) {
        l.flags |= ZC_PARSED_MALFORMED;
        return;
    }
    if (total != 0 && at + total < l.end)
        l.end = at + total; // Ethernet padding is not the packet's
    l.ip_version = 4;
    l.protocol = f[at + 9];
    l.flags |= ZC_PARSED_IP;
    if ((load16(f + at + 6) & 0x3fffu) != 0) { // More Fragments, or an offset
        l.flags |= ZC_PARSED_FRAGMENT;
        return;
    }
    reach_l4(f, at + header, l);
}

void parse_ipv6(const std::uint8_t* f, std::uint32_t at, Layer& l) noexcept
{
    l.l3 = at;
    if (at + kIpv6Header > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    if ((f[at] >> 4) != 6) {
        l.flags |= ZC_PARSED_MALFORMED;
        return;
    }
    const std::uint32_t payload = load16(f + at + 4);
    if (payload != 0 && at + kIpv6Header + payload < l.end)
        l.end = at + kIpv6Header + payload;
    l.ip_version = 6;
    l.flags |= ZC_PARSED_IP;

    std::uint8_t next = f[at + 6];
    std::uint32_t pos = at + kIpv6Header;
    for (unsigned seen = 0;; ++seen) {
        std::uint32_t length = 0;
        switch (next) {
        case kProtoHopByHop:
        case kProtoRouting:
        case kProtoDestination:
        case kProtoAuthentication:
        case kProtoFragment:
            break;
        default: // the upper layer (or one we do not walk: ESP, No Next Header, ...)
            l.protocol = next;
            reach_l4(f, pos, l);
            return;
        }
        l.protocol = next;
        if (seen == ZC_PARSE_IPV6_EXT_MAX) {
            l.flags |= ZC_PARSED_MALFORMED;
            return;
        }
        if (next == kProtoFragment) {
            if (pos + 8 > l.end) {
                l.flags |= ZC_PARSED_TRUNCATED;
                return;
            }
            // offset (13 bits) << 3 | reserved (2) | M (1)
            if ((load16(f + pos + 2) & 0xfff9u) != 0) {
                l.protocol = f[pos];
                l.flags |= ZC_PARSED_FRAGMENT;
                return;
            }
            length = 8; // an atomic fragment (RFC 6946): not a fragment
        } else {
            if (pos + 2 > l.end) {
                l.flags |= ZC_PARSED_TRUNCATED;
                return;
            }
            length = next == kProtoAuthentication ? (f[pos + 1] + 2u) * 4u : (f[pos + 1] + 1u) * 8u;
        }
        next = f[pos];
        pos += length;
    }
}

// `ethertype` has been read; its payload starts at `at`.
void parse_ethertype(const std::uint8_t* f, std::uint32_t at, std::uint16_t ethertype, Layer& l) noexcept
{
    while (is_vlan(ethertype)) {
        if (l.vlan_count == ZC_PARSE_VLAN_MAX) {
            l.flags |= ZC_PARSED_MALFORMED;
            return;
        }
        if (at + kVlanTag > l.end) {
            l.flags |= ZC_PARSED_TRUNCATED;
            return;
        }
        l.vlan_ids[l.vlan_count++] = load16(f + at) & 0x0fffu;
        ethertype = load16(f + at + 2);
        at += kVlanTag;
    }
    l.ethertype = ethertype;

    if (ethertype == kEtherMpls || ethertype == kEtherMplsMulticast) {
        for (;;) {
            if (l.mpls_count == ZC_PARSE_MPLS_MAX) {
                l.flags |= ZC_PARSED_MALFORMED;
                return;
            }
            if (at + kMplsLabel > l.end) {
                l.flags |= ZC_PARSED_TRUNCATED;
                return;
            }
            ++l.mpls_count;
            const bool bottom = (f[at + 2] & 0x01u) != 0;
            at += kMplsLabel;
            if (bottom)
                break;
        }
        // MPLS does not say what it carries: guess IP from the first nibble.
        // Anything else (a pseudowire control word, Ethernet) is left unparsed.
        if (at + 1 > l.end) {
            l.flags |= ZC_PARSED_TRUNCATED;
            return;
        }
        const unsigned version = f[at] >> 4;
        if (version == 4)
            parse_ipv4(f, at, l);
        else if (version == 6)
            parse_ipv6(f, at, l);
        return;
    }
    if (ethertype == kEtherIpv4)
        parse_ipv4(f, at, l);
    else if (ethertype == kEtherIpv6)
        parse_ipv6(f, at, l);
}

void parse_ethernet(const std::uint8_t* f, std::uint32_t at, Layer& l) noexcept
{
    l.l2 = at;
    if (at + 12 > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    l.flags |= ZC_PARSED_ETHERNET;
    if (at + kEthernetHeader > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    parse_ethertype(f, at + kEthernetHeader, load16(f + at + 12), l);
}

// An IP packet whose version the caller does not know (GTP-U).
void parse_ip_guess(const std::uint8_t* f, std::uint32_t at, Layer& l) noexcept
{
    if (at + 1 > l.end) {
        l.flags |= ZC_PARSED_TRUNCATED;
        return;
    }
    const unsigned version = f[at] >> 4;
    if (version == 4) {
        l.ethertype = kEtherIpv4;
        parse_ipv4(f, at, l);
    } else if (version == 6) {
        l.ethertype = kEtherIpv6;
        parse_ipv6(f, at, l);
    } else {
        l.flags |= ZC_PARSED_MALFORMED;
    }
}

// GTP-U (3GPP TS 29.281) after the UDP header at `at`: only G-PDUs carry
// user packets. Returns false when this is not one.
bool open_gtpu(const std::uint8_t* f, std::uint32_t at, std::uint32_t end, Packet& p) noexcept
{
    if (at + 8 > end)
        return false;
    const std::uint8_t flags = f[at];
    if ((flags >> 5) != 1 || (flags & 0x10u) == 0 || f[at + 1] != 0xff) // version 1, GTP (not GTP'), G-PDU
        return false;
    std::uint32_t pos = at + 8;
    if ((flags & 0x07u) != 0) { // E, S or PN: sequence, N-PDU number and next extension type follow
        if (at + 12 > end)
            return false;
        pos = at + 12;
        std::uint8_t next = f[at + 11];
        if ((flags & 0x04u) != 0) {
            for (unsigned seen = 0; next != 0; ++seen) {
                if (seen == ZC_PARSE_GTPU_EXT_MAX || pos + 1 > end)
                    return false;
                const std::uint32_t length = f[pos] * 4u; // in 4-byte units, ends with the next type
                if (length == 0 || pos + length > end)
                    return false;
                next = f[pos + length - 1];
                pos += length;
            }
        }
    }
    p.tunnel = ZC_TUNNEL_GTPU;
    p.tunnel_offset = at;
    p.inner_offset = pos;
    p.inner.end = end;
    parse_ip_guess(f, pos, p.inner);
    return true;
}

// VXLAN (RFC 7348): 8 bytes with the I flag, then an Ethernet frame.
bool open_vxlan(const std::uint8_t* f, std::uint32_t at, std::uint32_t end, Packet& p) noexcept
{
    if (at + 8 > end || (f[at] & 0x08u) == 0)
        return false;
    p.tunnel = ZC_TUNNEL_VXLAN;
    p.tunnel_offset = at;
    p.inner_offset = at + 8;
    p.inner.end = end;
    parse_ethernet(f, at + 8, p.inner);
    return true;
}

// GRE (RFC 2784, 2890): version 0, optional checksum, key and sequence
// number. Source routing (RFC 1701) and enhanced GRE (PPTP) are not opened.
bool open_gre(const std::uint8_t* f, std::uint32_t at, std::uint32_t end, Packet& p) noexcept
{
    if (at + 4 > end)
        return false;
    const std::uint16_t flags = load16(f + at);
    if ((flags & 0x0007u) != 0 || (flags & 0x4000u) != 0)
        return false;
    const std::uint16_t protocol = load16(f + at + 2);
    const std::uint32_t inner = at + 4 + ((flags & 0x8000u) ? 4 : 0) + ((flags & 0x2000u) ? 4 : 0) +
                                ((flags & 0x1000u) ? 4 : 0);
    if (inner > end)
        return false;
    if (protocol != kEtherIpv4 && protocol != kEtherIpv6 && protocol != kEtherMpls &&
        protocol != kEtherMplsMulticast && protocol != kEtherBridging)
        return false;
    p.tunnel = ZC_TUNNEL_GRE;
    p.tunnel_offset = at;
    p.inner_offset = inner;
    p.inner.end = end;
    if (protocol == kEtherBridging)
        parse_ethernet(f, inner, p.inner);
    else
        parse_ethertype(f, inner, protocol, p.inner);
    return true;
}

void open_tunnel(const std::uint8_t* f, Packet& p) noexcept
{
    const Layer& outer = p.outer;
    if (!outer.has(ZC_PARSED_L4))
        return;
    if (outer.protocol == kProtoGre) {
        open_gre(f, outer.l4, outer.end, p);
        return;
    }
    if (outer.protocol != kProtoUdp || !outer.has(ZC_PARSED_PORTS))
        return;
    // Either port, so that both directions are recognised alike.
    const std::uint32_t payload = outer.l4 + kUdpHeader;
    if ((outer.src_port == kPortGtpu || outer.dst_port == kPortGtpu) && open_gtpu(f, payload, outer.end, p))
        return;
    if (outer.src_port == kPortVxlan || outer.dst_port == kPortVxlan)
        open_vxlan(f, payload, outer.end, p);
}

void fill_layer(const std::uint8_t* f, const Layer& from, zc_parsed_layer& to) noexcept
{
    to = zc_parsed_layer{};
    to.flags = from.flags;
    to.l2_offset = from.l2;
    to.l3_offset = from.l3;
    to.l4_offset = from.l4;
    to.ethertype = from.ethertype;
    to.ip_version = from.ip_version;
    to.protocol = from.protocol;
    to.vlan_count = from.vlan_count;
    to.mpls_count = from.mpls_count;
    std::memcpy(to.vlan_ids, from.vlan_ids, sizeof to.vlan_ids);
    to.src_port = from.src_port;
    to.dst_port = from.dst_port;
    if (from.has(ZC_PARSED_IP)) {
        const std::size_t bytes = from.ip_version == 4 ? 4 : 16;
        std::memcpy(to.src_addr, f + src_addr_offset(from), bytes);
        std::memcpy(to.dst_addr, f + dst_addr_offset(from), bytes);
    }
}

} // namespace

// flatten: one function on the fast path (about 15% fewer instructions per packet).
[[gnu::flatten]] Packet parse_frame(const std::uint8_t* frame, std::uint32_t caplen, Tunnels tunnels) noexcept
{
    Packet p;
    if (frame == nullptr)
        caplen = 0;
    p.outer.end = caplen;
    parse_ethernet(frame, 0, p.outer);
    if (tunnels == Tunnels::Open)
        open_tunnel(frame, p);
    return p;
}

} // namespace zc::parse

extern "C" int zc_packet_parse(const std::uint8_t* frame, std::uint32_t caplen, zc_parsed* out)
{
    if (out == nullptr || out->struct_size != sizeof *out)
        return -EINVAL;
    const zc::parse::Packet p = zc::parse::parse_frame(frame, caplen, zc::parse::Tunnels::Open);
    out->tunnel = p.tunnel;
    out->tunnel_offset = p.tunnel_offset;
    out->inner_offset = p.inner_offset;
    zc::parse::fill_layer(frame, p.outer, out->outer);
    zc::parse::fill_layer(frame, p.inner, out->inner);
    return 0;
}

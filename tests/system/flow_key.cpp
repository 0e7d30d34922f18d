// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/flow_key.cpp — see flow_key.hpp. Written from the text of
// zc/hash.h alone: every rule below quotes the sentence it follows, so a
// disagreement with the library is either a bug there or a sentence that
// says something else than the code does.

#include "flow_key.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace zc::check {

namespace {

using Bytes16 = std::array<std::uint8_t, 16>;

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// What one packet (the frame, or the packet in a tunnel) yielded.
struct Found {
    std::uint32_t limit = 0; // bytes that may be read (caplen, or less: the IP length)
    bool macs = false;
    std::uint32_t mac_at = 0;
    int ip_version = 0; // 4 or 6: a valid IP header with both addresses captured
    std::uint32_t ip_at = 0;
    std::uint8_t protocol = 0;
    bool upper_reached = false; // not a fragment, every header up to the upper layer captured
    std::uint32_t upper_at = 0;
    bool ports = false;
    std::uint16_t source_port = 0, destination_port = 0;
};

bool carries_ports(std::uint8_t protocol)
{
    // "ports are used for TCP, UDP, UDP-Lite, SCTP and DCCP"
    return protocol == 6 || protocol == 17 || protocol == 136 || protocol == 132 || protocol == 33;
}

void upper_layer(const std::uint8_t* f, std::uint32_t at, Found& found)
{
    // "when the captured bytes end before the ports ... -> 2tuple"
    if (at > found.limit)
        return;
    found.upper_reached = true;
    found.upper_at = at;
    if (carries_ports(found.protocol) && found.limit - at >= 4) {
        found.ports = true;
        found.source_port = be16(f + at);
        found.destination_port = be16(f + at + 2);
    }
}

void read_ipv4(const std::uint8_t* f, std::uint32_t at, Found& found)
{
    // "2tuple -> MAC pair for frames ... whose IP header is invalid (version,
    // IHL < 5, total length shorter than the header) or cut before the addresses"
    if (found.limit < at || found.limit - at < 20)
        return;
    const unsigned version = f[at] >> 4;
    const std::uint32_t header_bytes = 4u * (f[at] & 15u);
    const std::uint32_t total = be16(f + at + 2);
    if (version != 4 || header_bytes < 20 || (total > 0 && total < header_bytes))
        return;
    // "Parsing never reads past ... the IP total length ... when [it is]
    // shorter (Ethernet padding). Zero lengths in those fields mean up to caplen."
    if (total > 0)
        found.limit = std::min(found.limit, at + total);
    found.ip_version = 4;
    found.ip_at = at;
    found.protocol = f[at + 9];
    // "An IPv4 packet with More Fragments set or a fragment offset ... is
    // hashed on its address pair alone"
    const std::uint16_t flags_offset = be16(f + at + 6);
    if ((flags_offset & 0x2000u) != 0 || (flags_offset & 0x1fffu) != 0)
        return;
    upper_layer(f, at + header_bytes, found);
}

void read_ipv6(const std::uint8_t* f, std::uint32_t at, Found& found)
{
    if (found.limit < at || found.limit - at < 40 || (f[at] >> 4) != 6)
        return;
    const std::uint32_t payload = be16(f + at + 4);
    if (payload > 0)
        found.limit = std::min(found.limit, at + 40 + payload);
    found.ip_version = 6;
    found.ip_at = at;
    std::uint8_t next = f[at + 6];
    std::uint32_t at_header = at + 40;
    // Hop-by-hop (0), routing (43), fragment (44), authentication (51) and
    // destination options (60) are walked; at most ZC_PARSE_IPV6_EXT_MAX (8)
    // of them ("when ... an IP header field is beyond a bound (IPv6 extension
    // headers) -> 2tuple").
    for (int walked = 0;; ++walked) {
        const bool extension = next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
        found.protocol = next;
        if (!extension) {
            upper_layer(f, at_header, found);
            return;
        }
        if (walked == 8)
            return;
        std::uint32_t length = 0;
        if (next == 44) {
            if (found.limit < at_header || found.limit - at_header < 8)
                return;
            // "an IPv6 packet whose Fragment header has M set or an offset"
            // is a fragment; "an atomic fragment (M 0, offset 0) is not".
            const std::uint16_t offset_flags = be16(f + at_header + 2);
            const bool more = (offset_flags & 1u) != 0;
            const unsigned offset = offset_flags >> 3;
            if (more || offset != 0) {
                found.protocol = f[at_header];
                return;
            }
            length = 8;
        } else {
            if (found.limit < at_header || found.limit - at_header < 2)
                return;
            const std::uint32_t units = f[at_header + 1];
            length = next == 51 ? (units + 2) * 4 : (units + 1) * 8;
        }
        next = f[at_header];
        at_header += length;
    }
}

// The bytes after an Ethertype: VLAN tags, MPLS, IP.
void read_after_ethertype(const std::uint8_t* f, std::uint32_t at, std::uint16_t type, Found& found)
{
    // "ZC_PARSE_VLAN_MAX 8: VLAN tags followed; a 9th makes the frame non-IP"
    int tags = 0;
    while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
        if (tags == 8 || found.limit < at || found.limit - at < 4)
            return;
        type = be16(f + at + 2);
        at += 4;
        ++tags;
    }
    if (type == 0x8847 || type == 0x8848) {
        // "ZC_PARSE_MPLS_MAX 16: MPLS labels followed to bottom of stack";
        // what follows is guessed IP from its first nibble.
        for (int labels = 0;; ++labels) {
            if (labels == 16 || found.limit < at || found.limit - at < 4)
                return;
            const bool bottom = (f[at + 2] & 1u) != 0;
            at += 4;
            if (bottom)
                break;
        }
        if (found.limit <= at)
            return;
        if ((f[at] >> 4) == 4)
            read_ipv4(f, at, found);
        else if ((f[at] >> 4) == 6)
            read_ipv6(f, at, found);
        return;
    }
    if (type == 0x0800)
        read_ipv4(f, at, found);
    else if (type == 0x86dd)
        read_ipv6(f, at, found);
}

void read_ethernet(const std::uint8_t* f, std::uint32_t at, Found& found)
{
    // "MAC pair -> a constant, for frames shorter than 12 bytes"
    if (found.limit < at || found.limit - at < 12)
        return;
    found.macs = true;
    found.mac_at = at;
    if (found.limit - at < 14)
        return;
    read_after_ethertype(f, at + 14, be16(f + at + 12), found);
}

// The tunnels of inner-5tuple: true when `inner` was read from one (which
// does not yet mean it yielded anything).
bool open_gtpu(const std::uint8_t* f, std::uint32_t at, std::uint32_t limit, Found& inner)
{
    // GTP-U: version 1, protocol type GTP, message G-PDU (255).
    if (limit < at || limit - at < 8)
        return false;
    const std::uint8_t flags = f[at];
    if ((flags & 0xe0u) != 0x20u || (flags & 0x10u) == 0 || f[at + 1] != 255)
        return false;
    std::uint32_t payload = at + 8;
    if ((flags & 0x07u) != 0) { // E, S or PN: four more bytes
        if (limit - at < 12)
            return false;
        payload = at + 12;
        std::uint8_t extension = f[at + 11];
        // "ZC_PARSE_GTPU_EXT_MAX 4: GTP-U extension headers followed"
        for (int walked = 0; (flags & 0x04u) != 0 && extension != 0; ++walked) {
            if (walked == 4 || limit <= payload)
                return false;
            const std::uint32_t length = 4u * f[payload];
            if (length == 0 || limit - payload < length)
                return false;
            extension = f[payload + length - 1];
            payload += length;
        }
    }
    inner.limit = limit;
    if (limit > payload) {
        if ((f[payload] >> 4) == 4)
            read_ipv4(f, payload, inner);
        else if ((f[payload] >> 4) == 6)
            read_ipv6(f, payload, inner);
    }
    return true;
}

bool open_vxlan(const std::uint8_t* f, std::uint32_t at, std::uint32_t limit, Found& inner)
{
    if (limit < at || limit - at < 8 || (f[at] & 0x08u) == 0) // the I flag
        return false;
    inner.limit = limit;
    read_ethernet(f, at + 8, inner);
    return true;
}

bool open_gre(const std::uint8_t* f, std::uint32_t at, std::uint32_t limit, Found& inner)
{
    // "GRE (IP protocol 47, version 0, optional checksum/key/sequence,
    // carrying IPv4, IPv6, MPLS or Ethernet (0x6558))"
    if (limit < at || limit - at < 4)
        return false;
    const std::uint16_t flags = be16(f + at);
    const std::uint16_t type = be16(f + at + 2);
    if ((flags & 7u) != 0 || (flags & 0x4000u) != 0) // a version, or source routing
        return false;
    std::uint32_t header = 4;
    for (std::uint16_t optional : {0x8000, 0x2000, 0x1000}) // checksum (+reserved), key, sequence
        if ((flags & optional) != 0)
            header += 4;
    if (limit - at < header)
        return false;
    if (type != 0x0800 && type != 0x86dd && type != 0x8847 && type != 0x8848 && type != 0x6558)
        return false;
    inner.limit = limit;
    if (type == 0x6558)
        read_ethernet(f, at + header, inner);
    else
        read_after_ethertype(f, at + header, type, inner);
    return true;
}

bool open_tunnel(const std::uint8_t* f, const Found& outer, Found& inner)
{
    if (!outer.upper_reached) // a fragment, or the headers cut short
        return false;
    if (outer.protocol == 47)
        return open_gre(f, outer.upper_at, outer.limit, inner);
    if (outer.protocol != 17 || !outer.ports)
        return false;
    const std::uint32_t payload = outer.upper_at + 8;
    const bool gtpu = outer.source_port == 2152 || outer.destination_port == 2152;
    const bool vxlan = outer.source_port == 4789 || outer.destination_port == 4789;
    if (gtpu && open_gtpu(f, payload, outer.limit, inner))
        return true;
    return vxlan && open_vxlan(f, payload, outer.limit, inner);
}

// ------------------------------------------------------------------ keys

std::string address_text(const std::uint8_t* a, int version)
{
    char text[48];
    if (version == 4) {
        std::snprintf(text, sizeof text, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    } else {
        int n = 0;
        for (int i = 0; i < 16; i += 2)
            n += std::snprintf(text + n, sizeof text - static_cast<std::size_t>(n), "%s%x", i ? ":" : "",
                               be16(a + i));
    }
    return text;
}

std::string mac_text(const std::uint8_t* m)
{
    char text[24];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return text;
}

// An endpoint as bytes that compare as "addresses ... as big-endian numbers, ports after".
struct Endpoint {
    Bytes16 address{};
    std::uint16_t port = 0;
    bool operator<(const Endpoint& o) const { return address != o.address ? address < o.address : port < o.port; }
    bool operator==(const Endpoint& o) const = default;
};

FlowKey pair_key(const char* kind, std::string head, const Endpoint& source, const Endpoint& destination,
                 const std::string& source_text, const std::string& destination_text)
{
    FlowKey k;
    k.kind = kind;
    const bool swapped = destination < source;
    k.direction = source == destination ? -1 : (swapped ? 1 : 0);
    k.first = swapped ? destination.address : source.address;
    k.second = swapped ? source.address : destination.address;
    k.first_port = swapped ? destination.port : source.port;
    k.second_port = swapped ? source.port : destination.port;
    k.key = std::move(head) + " " + (swapped ? destination_text : source_text) + " <-> " +
            (swapped ? source_text : destination_text);
    return k;
}

// The 5tuple rules with their fallbacks, for one packet.
FlowKey layer_key(const std::uint8_t* f, const Found& found, bool use_ports)
{
    if (found.ip_version != 0) {
        const std::uint32_t bytes = found.ip_version == 4 ? 4 : 16;
        const std::uint32_t source_at = found.ip_at + (found.ip_version == 4 ? 12 : 8);
        const std::uint32_t destination_at = source_at + bytes;
        Endpoint source, destination;
        std::copy(f + source_at, f + source_at + bytes, source.address.begin());
        std::copy(f + destination_at, f + destination_at + bytes, destination.address.begin());
        std::string source_text = address_text(f + source_at, found.ip_version);
        std::string destination_text = address_text(f + destination_at, found.ip_version);
        const std::string family = found.ip_version == 4 ? "ipv4" : "ipv6";
        if (use_ports && found.ports) {
            source.port = found.source_port;
            destination.port = found.destination_port;
            const char* separator = found.ip_version == 4 ? ":" : ".";
            FlowKey k = pair_key("5tuple", "5tuple " + family + " proto " + std::to_string(found.protocol), source,
                                 destination, source_text + separator + std::to_string(source.port),
                                 destination_text + separator + std::to_string(destination.port));
            k.ip_version = found.ip_version;
            k.protocol = found.protocol;
            return k;
        }
        FlowKey k = pair_key("2tuple", "2tuple " + family, source, destination, source_text, destination_text);
        k.ip_version = found.ip_version;
        return k;
    }
    if (found.macs) {
        // The frame's source MAC is the second address in the header.
        Endpoint source, destination;
        std::copy(f + found.mac_at + 6, f + found.mac_at + 12, source.address.begin());
        std::copy(f + found.mac_at, f + found.mac_at + 6, destination.address.begin());
        return pair_key("mac", "mac", source, destination, mac_text(f + found.mac_at + 6),
                        mac_text(f + found.mac_at));
    }
    FlowKey k;
    k.kind = "none";
    k.key = "none";
    return k;
}

} // namespace

bool key_mode_from_name(const std::string& name, KeyMode* out)
{
    if (name == "5tuple")
        *out = KeyMode::FiveTuple;
    else if (name == "2tuple")
        *out = KeyMode::TwoTuple;
    else if (name == "inner-5tuple")
        *out = KeyMode::InnerFiveTuple;
    else if (name == "vlan")
        *out = KeyMode::Vlan;
    else
        return false;
    return true;
}

FlowKey flow_key(KeyMode mode, const std::uint8_t* frame, std::uint32_t length)
{
    if (mode == KeyMode::Vlan) {
        // "the outermost VLAN id (0 when untagged or priority-tagged)"
        unsigned id = 0;
        if (length >= 16) {
            const std::uint16_t type = be16(frame + 12);
            if (type == 0x8100 || type == 0x88a8 || type == 0x9100)
                id = be16(frame + 14) & 0x0fffu;
        }
        FlowKey k;
        k.kind = "vlan";
        k.key = "vlan " + std::to_string(id);
        k.vlan = id;
        return k;
    }
    Found outer;
    outer.limit = length;
    read_ethernet(frame, 0, outer);
    if (mode == KeyMode::InnerFiveTuple) {
        // "hashes the inner packet by the 5tuple rules ... when its IP
        // addresses (or, for VXLAN and GRE 0x6558, its MAC addresses) were
        // captured; otherwise ... it hashes the outer packet"
        Found inner;
        if (open_tunnel(frame, outer, inner) && (inner.ip_version != 0 || inner.macs)) {
            FlowKey k = layer_key(frame, inner, true);
            k.inner = true;
            return k;
        }
    }
    return layer_key(frame, outer, mode != KeyMode::TwoTuple);
}

} // namespace zc::check

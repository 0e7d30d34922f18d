// SPDX-License-Identifier: BSD-3-Clause
//
// The flow hash and its parser (zc/hash.h): symmetry as a property over
// generated packets, spread (chi-square) and mixing, a corpus of hand-built
// frames (VLAN, QinQ, MPLS, options, extension headers, fragments, tunnels,
// malformed ones) hashed at every prefix length from exactly-sized heap
// copies, and the mode names.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "zc/hash.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr zc_hash_mode kFlowModes[] = {ZC_HASH_5TUPLE, ZC_HASH_2TUPLE, ZC_HASH_INNER_5TUPLE};
constexpr zc_hash_mode kSymmetricModes[] = {ZC_HASH_5TUPLE, ZC_HASH_2TUPLE, ZC_HASH_INNER_5TUPLE, ZC_HASH_VLAN,
                                            ZC_HASH_IFACE};

constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58, kSctp = 132, kDccp = 33, kUdpLite = 136,
                       kGre = 47, kEsp = 50;

// ------------------------------------------------------------------ builders

void append16(Bytes& b, std::uint16_t v)
{
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}

void append32(Bytes& b, std::uint32_t v)
{
    append16(b, static_cast<std::uint16_t>(v >> 16));
    append16(b, static_cast<std::uint16_t>(v));
}

void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

void put16(Bytes& b, std::size_t at, std::uint16_t v)
{
    b.at(at) = static_cast<std::uint8_t>(v >> 8);
    b.at(at + 1) = static_cast<std::uint8_t>(v);
}

using Address = std::array<std::uint8_t, 16>; // IPv4 in the first 4 bytes
using Mac = std::array<std::uint8_t, 6>;

Address v4(std::uint32_t a)
{
    Address out{};
    out[0] = static_cast<std::uint8_t>(a >> 24);
    out[1] = static_cast<std::uint8_t>(a >> 16);
    out[2] = static_cast<std::uint8_t>(a >> 8);
    out[3] = static_cast<std::uint8_t>(a);
    return out;
}

Address v6(std::uint64_t high, std::uint64_t low)
{
    Address out{};
    for (int i = 0; i < 8; ++i) {
        out[i] = static_cast<std::uint8_t>(high >> (56 - 8 * i));
        out[8 + i] = static_cast<std::uint8_t>(low >> (56 - 8 * i));
    }
    return out;
}

struct Flow {
    bool ipv6 = false;
    std::uint8_t protocol = kUdp;
    Address src{}, dst{};
    std::uint16_t src_port = 0, dst_port = 0;

    Flow reversed() const
    {
        Flow r = *this;
        std::swap(r.src, r.dst);
        std::swap(r.src_port, r.dst_port);
        return r;
    }
};

Flow flow4(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t protocol = kUdp)
{
    return Flow{false, protocol, v4(src), v4(dst), sport, dport};
}

Flow flow6(std::uint64_t src, std::uint64_t dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t protocol = kTcp)
{
    return Flow{true, protocol, v6(0x20010db800000000ull, src), v6(0x20010db8ffff0000ull, dst), sport, dport};
}

struct L2 {
    Mac src{0x02, 0, 0, 0, 0, 0x01}, dst{0x02, 0, 0, 0, 0, 0x02};
    std::vector<std::pair<std::uint16_t, std::uint16_t>> vlans; // (TPID, id), outermost first
    int mpls = 0;                                               // labels

    L2 reversed() const
    {
        L2 r = *this;
        std::swap(r.src, r.dst);
        return r;
    }
};

struct IpOptions {
    int ipv4_option_words = 0;              // IHL - 5
    std::uint16_t ipv4_fragment = 0;        // flags and offset field (0x2000 More Fragments)
    std::vector<std::uint8_t> ipv6_ext;     // extension headers in order: 0, 43, 60, 51, 44 (atomic)
    bool ipv6_fragment = false;             // a Fragment header last, with ipv6_fragment_field
    std::uint16_t ipv6_fragment_field = 0;  // offset << 3 | M
};

struct Packet {
    L2 l2;
    Flow flow;
    IpOptions ip;
    Bytes payload = Bytes(16, 0xab);

    Packet reversed() const
    {
        Packet r = *this;
        r.l2 = l2.reversed();
        r.flow = flow.reversed();
        return r;
    }
};

// The L4 header (for the protocols that have one we know) and the payload.
Bytes l4_segment(const Flow& f, const Bytes& payload)
{
    Bytes b;
    switch (f.protocol) {
    case kTcp:
        append16(b, f.src_port);
        append16(b, f.dst_port);
        append32(b, 1);
        append32(b, 0);
        append16(b, 0x5018);
        append16(b, 0xffff);
        append32(b, 0);
        break;
    case kUdp:
    case kUdpLite:
        append16(b, f.src_port);
        append16(b, f.dst_port);
        append16(b, static_cast<std::uint16_t>(8 + payload.size()));
        append16(b, 0);
        break;
    case kSctp:
        append16(b, f.src_port);
        append16(b, f.dst_port);
        append32(b, 0x12345678);
        append32(b, 0);
        break;
    case kDccp:
        append16(b, f.src_port);
        append16(b, f.dst_port);
        append32(b, 0x03000000);
        append32(b, 0);
        append32(b, 0);
        break;
    case kIcmp:
    case kIcmp6:
        append32(b, 0x08000000);
        append32(b, 0x00010001);
        break;
    default: // GRE, ESP, ...: the payload is the whole segment
        break;
    }
    append(b, payload);
    return b;
}

// An IP packet carrying `segment` (an L4 segment, or a piece of one).
Bytes ip_packet(const Flow& f, const IpOptions& o, const Bytes& segment)
{
    Bytes b;
    if (!f.ipv6) {
        const int header = 20 + 4 * o.ipv4_option_words;
        b.push_back(static_cast<std::uint8_t>(0x40 | (header / 4)));
        b.push_back(0);
        append16(b, static_cast<std::uint16_t>(header + segment.size()));
        append16(b, 0x1234);
        append16(b, o.ipv4_fragment);
        b.push_back(64);
        b.push_back(f.protocol);
        append16(b, 0);
        b.insert(b.end(), f.src.begin(), f.src.begin() + 4);
        b.insert(b.end(), f.dst.begin(), f.dst.begin() + 4);
        for (int i = 0; i < 4 * o.ipv4_option_words; ++i)
            b.push_back(1); // NOP
        append(b, segment);
        return b;
    }
    std::vector<std::uint8_t> chain = o.ipv6_ext;
    if (o.ipv6_fragment)
        chain.push_back(44);
    Bytes ext;
    for (std::size_t i = 0; i < chain.size(); ++i) {
        const std::uint8_t next = i + 1 < chain.size() ? chain[i + 1] : f.protocol;
        const std::uint8_t type = chain[i];
        ext.push_back(next);
        if (type == 44) {
            ext.push_back(0);
            const bool last = i + 1 == chain.size() && o.ipv6_fragment;
            append16(ext, last ? o.ipv6_fragment_field : 0);
            append32(ext, 0xabcdef01);
        } else if (type == 51) { // AH: 12 bytes, length in 4-byte units minus 2
            ext.push_back(1);
            append16(ext, 0);
            append32(ext, 0x100);
            append32(ext, 7);
        } else { // 16 bytes, length in 8-byte units minus 1
            ext.push_back(1);
            for (int k = 0; k < 14; ++k)
                ext.push_back(type == 43 && k == 1 ? 0 : 1);
        }
    }
    append32(b, 0x60000000);
    append16(b, static_cast<std::uint16_t>(ext.size() + segment.size()));
    b.push_back(chain.empty() ? f.protocol : chain[0]);
    b.push_back(64);
    b.insert(b.end(), f.src.begin(), f.src.end());
    b.insert(b.end(), f.dst.begin(), f.dst.end());
    append(b, ext);
    append(b, segment);
    return b;
}

Bytes ethernet(const L2& l2, std::uint16_t ethertype, const Bytes& payload)
{
    Bytes b(l2.dst.begin(), l2.dst.end());
    b.insert(b.end(), l2.src.begin(), l2.src.end());
    for (const auto& [tpid, id] : l2.vlans) {
        append16(b, tpid);
        append16(b, id);
    }
    if (l2.mpls > 0) {
        append16(b, 0x8847);
        for (int i = 0; i < l2.mpls; ++i)
            append32(b, static_cast<std::uint32_t>(1000 + i) << 12 | (i + 1 == l2.mpls ? 0x100u : 0u) | 64u);
    } else {
        append16(b, ethertype);
    }
    append(b, payload);
    return b;
}

Bytes build_ip(const Packet& p) { return ip_packet(p.flow, p.ip, l4_segment(p.flow, p.payload)); }

Bytes build(const Packet& p)
{
    return ethernet(p.l2, p.flow.ipv6 ? 0x86dd : 0x0800, build_ip(p));
}

// Every fragment of p's datagram, `piece` bytes of its L4 segment each (a
// multiple of 8), first to last.
std::vector<Bytes> fragments(const Packet& p, std::size_t piece)
{
    const Bytes segment = l4_segment(p.flow, p.payload);
    std::vector<Bytes> out;
    for (std::size_t at = 0; at < segment.size(); at += piece) {
        const std::size_t n = std::min(piece, segment.size() - at);
        const bool more = at + n < segment.size();
        IpOptions o = p.ip;
        if (p.flow.ipv6) {
            o.ipv6_fragment = true;
            o.ipv6_fragment_field = static_cast<std::uint16_t>((at / 8) << 3 | (more ? 1 : 0));
        } else {
            o.ipv4_fragment = static_cast<std::uint16_t>((at / 8) | (more ? 0x2000 : 0));
        }
        const Bytes bytes(segment.begin() + static_cast<std::ptrdiff_t>(at),
                          segment.begin() + static_cast<std::ptrdiff_t>(at + n));
        out.push_back(ethernet(p.l2, p.flow.ipv6 ? 0x86dd : 0x0800, ip_packet(p.flow, o, bytes)));
    }
    return out;
}

enum class Tunnel { Gtpu, GtpuLong, Vxlan, Gre, GreKeyed, GreEthernet };

struct Tunnelled {
    Packet outer; // flow: addresses and the client port; protocol and server port are set by build
    Tunnel kind = Tunnel::Vxlan;
    std::uint32_t id = 1; // TEID, VNI, GRE key
    Packet inner;
    bool outer_reversed = false; // the tunnel port is the source port
};

Bytes build(const Tunnelled& t)
{
    Bytes header;
    Bytes inner;
    Packet outer = t.outer;
    switch (t.kind) {
    case Tunnel::Gtpu:
    case Tunnel::GtpuLong: {
        inner = build_ip(t.inner);
        const bool long_form = t.kind == Tunnel::GtpuLong;
        header.push_back(long_form ? 0x36 : 0x30); // version 1, GTP; E and S
        header.push_back(0xff);                    // G-PDU
        append16(header, static_cast<std::uint16_t>(inner.size() + (long_form ? 12 : 0)));
        append32(header, t.id);
        if (long_form) {
            append16(header, 77);  // sequence
            header.push_back(0);   // N-PDU
            header.push_back(0x85); // PDU session container
            header.push_back(1);
            header.push_back(0x10);
            header.push_back(0x05); // QFI
            header.push_back(0xc0); // another extension (unknown type), 8 bytes
            header.push_back(2);
            for (int i = 0; i < 6; ++i)
                header.push_back(0x11);
            header.push_back(0); // no more
        }
        outer.flow.protocol = kUdp;
        outer.flow.dst_port = 2152;
        break;
    }
    case Tunnel::Vxlan:
        inner = build(t.inner);
        header.push_back(0x08);
        header.insert(header.end(), 3, 0);
        append32(header, t.id << 8);
        outer.flow.protocol = kUdp;
        outer.flow.dst_port = 4789;
        break;
    case Tunnel::Gre:
        inner = build_ip(t.inner);
        append16(header, 0);
        append16(header, t.inner.flow.ipv6 ? 0x86dd : 0x0800);
        outer.flow.protocol = kGre;
        break;
    case Tunnel::GreKeyed:
        inner = build_ip(t.inner);
        append16(header, 0xb000); // checksum, key, sequence
        append16(header, t.inner.flow.ipv6 ? 0x86dd : 0x0800);
        append32(header, 0);
        append32(header, t.id);
        append32(header, 99);
        outer.flow.protocol = kGre;
        break;
    case Tunnel::GreEthernet:
        inner = build(t.inner);
        append16(header, 0x2000);
        append16(header, 0x6558);
        append32(header, t.id);
        outer.flow.protocol = kGre;
        break;
    }
    if (t.outer_reversed)
        outer.flow = outer.flow.reversed();
    append(header, inner);
    outer.payload = header;
    return build(outer);
}

// The other direction of the outer packet (build reverses the flow, since it
// sets the tunnel's port).
Tunnelled outer_reversed(Tunnelled t)
{
    t.outer.l2 = t.outer.l2.reversed();
    t.outer_reversed = !t.outer_reversed;
    return t;
}

// ------------------------------------------------------------------ helpers

std::uint32_t hash(zc_hash_mode mode, const Bytes& frame, std::uint16_t port = 0)
{
    // An exactly-sized heap copy, so that AddressSanitizer sees any over-read.
    std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[frame.size()]);
    if (!frame.empty())
        std::memcpy(copy.get(), frame.data(), frame.size());
    return zc_packet_hash(mode, copy.get(), static_cast<std::uint32_t>(frame.size()), port);
}

zc_parsed parse(const Bytes& frame)
{
    zc_parsed p{};
    p.struct_size = sizeof p;
    std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[frame.size()]);
    if (!frame.empty())
        std::memcpy(copy.get(), frame.data(), frame.size());
    EXPECT_EQ(zc_packet_parse(copy.get(), static_cast<std::uint32_t>(frame.size()), &p), 0);
    return p;
}

Bytes prefix(const Bytes& frame, std::size_t n) { return Bytes(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n)); }

// A non-IP frame with the same MACs: what the MAC-pair fallback hashes.
Bytes mac_only(const L2& l2) { return ethernet(L2{l2.src, l2.dst, {}, 0}, 0x88b5, Bytes(46, 0)); }

struct Random {
    std::mt19937_64 engine;
    explicit Random(std::uint64_t seed) : engine(seed) {}
    std::uint64_t next() { return engine(); } // mt19937_64 is the same everywhere
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
    bool chance(unsigned percent) { return below(100) < percent; }
};

Flow random_flow(Random& r)
{
    static constexpr std::uint8_t kProtocols[] = {kTcp, kUdp, kSctp, kDccp, kUdpLite, kIcmp, kGre, kEsp, 200};
    Flow f;
    f.ipv6 = r.chance(40);
    f.protocol = kProtocols[r.below(std::size(kProtocols))];
    if (f.ipv6 && f.protocol == kIcmp)
        f.protocol = kIcmp6;
    if (f.ipv6) {
        f.src = v6(r.next(), r.next());
        f.dst = r.chance(5) ? f.src : v6(r.next(), r.next());
    } else {
        f.src = v4(static_cast<std::uint32_t>(r.next()));
        f.dst = r.chance(5) ? f.src : v4(static_cast<std::uint32_t>(r.next()));
    }
    f.src_port = static_cast<std::uint16_t>(r.next());
    f.dst_port = r.chance(5) ? f.src_port : static_cast<std::uint16_t>(r.next());
    // Keep plain packets out of the tunnel ports (tunnels are generated on purpose).
    for (std::uint16_t* port : {&f.src_port, &f.dst_port})
        if (*port == 2152 || *port == 4789)
            *port = 80;
    return f;
}

Packet random_packet(Random& r)
{
    static constexpr std::uint16_t kTpids[] = {0x8100, 0x88a8, 0x9100};
    static constexpr std::uint8_t kExt[] = {0, 43, 60, 51, 44};
    Packet p;
    for (auto& b : p.l2.src)
        b = static_cast<std::uint8_t>(r.next());
    for (auto& b : p.l2.dst)
        b = static_cast<std::uint8_t>(r.next());
    const unsigned vlans = r.chance(60) ? 0 : r.below(4);
    for (unsigned i = 0; i < vlans; ++i)
        p.l2.vlans.emplace_back(kTpids[r.below(3)], static_cast<std::uint16_t>(r.below(4096)));
    p.l2.mpls = r.chance(75) ? 0 : 1 + static_cast<int>(r.below(3));
    p.flow = random_flow(r);
    if (!p.flow.ipv6 && r.chance(25))
        p.ip.ipv4_option_words = 1 + static_cast<int>(r.below(10));
    if (p.flow.ipv6 && r.chance(40)) {
        const unsigned n = 1 + r.below(3);
        for (unsigned i = 0; i < n; ++i)
            p.ip.ipv6_ext.push_back(kExt[r.below(std::size(kExt))]);
    }
    if (r.chance(10)) {
        const std::uint16_t offset = static_cast<std::uint16_t>(r.below(200));
        const bool more = offset == 0 || r.chance(50);
        if (p.flow.ipv6) {
            p.ip.ipv6_fragment = true;
            p.ip.ipv6_fragment_field = static_cast<std::uint16_t>(offset << 3 | (more ? 1 : 0));
        } else {
            p.ip.ipv4_fragment = static_cast<std::uint16_t>(offset | (more ? 0x2000 : 0));
        }
    }
    p.payload = Bytes(r.below(40), static_cast<std::uint8_t>(r.next()));
    return p;
}

Tunnelled random_tunnel(Random& r)
{
    static constexpr Tunnel kKinds[] = {Tunnel::Gtpu, Tunnel::GtpuLong, Tunnel::Vxlan,
                                        Tunnel::Gre,  Tunnel::GreKeyed, Tunnel::GreEthernet};
    Tunnelled t;
    t.kind = kKinds[r.below(std::size(kKinds))];
    t.outer = random_packet(r);
    t.outer.ip = IpOptions{}; // an outer fragment would hide the tunnel
    t.outer.flow.src_port = static_cast<std::uint16_t>(1024 + r.below(60000));
    t.outer_reversed = r.chance(50);
    t.id = static_cast<std::uint32_t>(r.next()) & 0xffffff;
    t.inner = random_packet(r);
    return t;
}

bool is_fragment(const Packet& p)
{
    return p.flow.ipv6 ? p.ip.ipv6_fragment && (p.ip.ipv6_fragment_field & 0xfff9) != 0
                       : (p.ip.ipv4_fragment & 0x3fff) != 0;
}

bool has_ports(std::uint8_t protocol)
{
    return protocol == kTcp || protocol == kUdp || protocol == kSctp || protocol == kDccp || protocol == kUdpLite;
}

// What the parser says about a layer against what the builder put there.
void expect_layer(const zc_parsed_layer& l, const Packet& p, const char* which)
{
    SCOPED_TRACE(which);
    ASSERT_TRUE(l.flags & ZC_PARSED_IP) << std::hex << l.flags;
    EXPECT_EQ(l.ip_version, p.flow.ipv6 ? 6 : 4);
    const std::size_t bytes = p.flow.ipv6 ? 16 : 4;
    EXPECT_EQ(std::memcmp(l.src_addr, p.flow.src.data(), bytes), 0);
    EXPECT_EQ(std::memcmp(l.dst_addr, p.flow.dst.data(), bytes), 0);
    EXPECT_EQ((l.flags & ZC_PARSED_FRAGMENT) != 0, is_fragment(p));
    if (is_fragment(p)) {
        EXPECT_FALSE(l.flags & ZC_PARSED_PORTS);
        return;
    }
    EXPECT_EQ(l.protocol, p.flow.protocol);
    EXPECT_TRUE(l.flags & ZC_PARSED_L4);
    EXPECT_EQ((l.flags & ZC_PARSED_PORTS) != 0, has_ports(p.flow.protocol));
    if (l.flags & ZC_PARSED_PORTS) {
        EXPECT_EQ(l.src_port, p.flow.src_port);
        EXPECT_EQ(l.dst_port, p.flow.dst_port);
    }
}

void expect_symmetric(const Bytes& a, const Bytes& b, const char* what)
{
    for (zc_hash_mode mode : kSymmetricModes) {
        EXPECT_EQ(hash(mode, a, 3), hash(mode, b, 3)) << what << ", mode " << zc_hash_mode_name(mode);
    }
}

// ------------------------------------------------------------------ names

TEST(HashModeNames, RoundTrip)
{
    const char* const names[] = {"5tuple", "2tuple", "inner-5tuple", "round-robin", "vlan", "iface"};
    for (int i = 0; i < ZC_HASH_MODE_COUNT; ++i) {
        const auto mode = static_cast<zc_hash_mode>(i);
        ASSERT_NE(zc_hash_mode_name(mode), nullptr);
        EXPECT_STREQ(zc_hash_mode_name(mode), names[i]);
        zc_hash_mode back = ZC_HASH_MODE_COUNT;
        EXPECT_EQ(zc_hash_mode_from_name(names[i], &back), 0);
        EXPECT_EQ(back, mode);
    }
    EXPECT_EQ(ZC_HASH_MODE_DEFAULT, ZC_HASH_5TUPLE);
}

TEST(HashModeNames, UnknownNamesAreRejected)
{
    for (const char* name : {"", "5-tuple", "5TUPLE", "5tuple ", " 5tuple", "inner_5tuple", "roundrobin", "0", "1",
                             "vlan-id", "interface", "5tuplex"}) {
        zc_hash_mode mode = ZC_HASH_VLAN;
        EXPECT_EQ(zc_hash_mode_from_name(name, &mode), -EINVAL) << '"' << name << '"';
        EXPECT_EQ(mode, ZC_HASH_VLAN) << "*out must stay unchanged";
    }
    zc_hash_mode mode;
    EXPECT_EQ(zc_hash_mode_from_name(nullptr, &mode), -EINVAL);
    EXPECT_EQ(zc_hash_mode_from_name("5tuple", nullptr), -EINVAL);
    EXPECT_EQ(zc_hash_mode_name(ZC_HASH_MODE_COUNT), nullptr);
    EXPECT_EQ(zc_hash_mode_name(static_cast<zc_hash_mode>(-1)), nullptr);
}

// ------------------------------------------------------------------ symmetry

TEST(HashSymmetry, GeneratedPacketsHashAlikeInBothDirections)
{
    Random r(0x5eed0001);
    for (int i = 0; i < 20000; ++i) {
        const Packet p = random_packet(r);
        const Bytes forward = build(p);
        const Bytes backward = build(p.reversed());
        SCOPED_TRACE("packet " + std::to_string(i));
        expect_symmetric(forward, backward, "reversed packet");

        const zc_parsed parsed = parse(forward);
        expect_layer(parsed.outer, p, "outer");
        EXPECT_EQ(parsed.outer.vlan_count, p.l2.vlans.size());
        EXPECT_EQ(parsed.outer.mpls_count, static_cast<unsigned>(p.l2.mpls));
        EXPECT_EQ(parsed.tunnel, ZC_TUNNEL_NONE);

        // The fallbacks: a fragment or a packet without ports hashes as its address pair.
        if (is_fragment(p) || !has_ports(p.flow.protocol)) {
            EXPECT_EQ(hash(ZC_HASH_5TUPLE, forward), hash(ZC_HASH_2TUPLE, forward));
        }
        EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, forward), hash(ZC_HASH_5TUPLE, forward)) << "no tunnel";
        if (testing::Test::HasFailure())
            return;
    }
}

TEST(HashSymmetry, GeneratedTunnelsHashTheInnerFlowAlikeInBothDirections)
{
    Random r(0x5eed0002);
    for (int i = 0; i < 20000; ++i) {
        Tunnelled t = random_tunnel(r);
        SCOPED_TRACE("tunnel " + std::to_string(i) + " kind " + std::to_string(static_cast<int>(t.kind)));
        const Bytes frame = build(t);

        Tunnelled inner_back = t;
        inner_back.inner = t.inner.reversed();
        const Tunnelled outer_back = outer_reversed(t);
        Tunnelled both_back = outer_back;
        both_back.inner = t.inner.reversed();
        expect_symmetric(frame, build(both_back), "both reversed");

        const std::uint32_t inner_hash = hash(ZC_HASH_INNER_5TUPLE, frame);
        EXPECT_EQ(inner_hash, hash(ZC_HASH_INNER_5TUPLE, build(inner_back)));
        EXPECT_EQ(inner_hash, hash(ZC_HASH_INNER_5TUPLE, build(outer_back)));
        // The inner flow hashes as it would untunnelled.
        EXPECT_EQ(inner_hash, hash(ZC_HASH_5TUPLE, build(t.inner)));

        const zc_parsed parsed = parse(frame);
        const zc_tunnel expected = t.kind == Tunnel::Gtpu || t.kind == Tunnel::GtpuLong ? ZC_TUNNEL_GTPU
                                   : t.kind == Tunnel::Vxlan                            ? ZC_TUNNEL_VXLAN
                                                                                        : ZC_TUNNEL_GRE;
        EXPECT_EQ(parsed.tunnel, expected);
        expect_layer(parsed.inner, t.inner, "inner");
        if (testing::Test::HasFailure())
            return;
    }
}

TEST(HashSymmetry, SyntheticFramesHashAlikeInBothDirections)
{
    std::vector<std::byte> buffer(zc::frames::frame_bytes(zc::frames::kMinSize));
    auto frame_of = [&](zc::frames::Flow flow) {
        zc::frames::build(buffer.data(), zc::frames::kMinSize, flow, 42);
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(buffer.data());
        return Bytes(bytes, bytes + buffer.size());
    };
    for (std::uint32_t n = 0; n < 5000; ++n) {
        const Bytes forward = frame_of({n, false});
        const Bytes backward = frame_of({n, true});
        ASSERT_NE(forward, backward);
        for (zc_hash_mode mode : kSymmetricModes)
            ASSERT_EQ(hash(mode, forward), hash(mode, backward)) << "flow " << n;
        const zc_parsed p = parse(forward);
        ASSERT_TRUE(p.outer.flags & ZC_PARSED_PORTS);
        EXPECT_EQ(p.outer.protocol, kUdp);
        EXPECT_EQ(p.outer.dst_port, zc::frames::kUdpPort);
        EXPECT_EQ(p.outer.src_port, 1024 + n % 60000);
    }
}

// ------------------------------------------------------------------ spread and mixing

// Chi-square critical values at p = 0.0001 for 3, 7 and 15 degrees of
// freedom: a uniform hash exceeds them once in ten thousand inputs, and the
// inputs are fixed (seeded), so the test cannot flake.
double critical(std::uint32_t queues)
{
    switch (queues) {
    case 4:
        return 21.108;
    case 8:
        return 29.877;
    case 16:
        return 42.579;
    }
    return 0;
}

void expect_uniform(const std::vector<std::uint32_t>& hashes, const char* what)
{
    for (std::uint32_t queues : {4u, 8u, 16u}) {
        std::vector<double> modulo(queues), multiply(queues);
        for (std::uint32_t h : hashes) {
            modulo[h % queues] += 1;
            multiply[static_cast<std::uint64_t>(h) * queues >> 32] += 1;
        }
        const double expected = static_cast<double>(hashes.size()) / queues;
        double chi_modulo = 0, chi_multiply = 0;
        for (std::uint32_t q = 0; q < queues; ++q) {
            chi_modulo += (modulo[q] - expected) * (modulo[q] - expected) / expected;
            chi_multiply += (multiply[q] - expected) * (multiply[q] - expected) / expected;
        }
        EXPECT_LT(chi_modulo, critical(queues)) << what << ", " << queues << " queues, hash % n";
        EXPECT_LT(chi_multiply, critical(queues)) << what << ", " << queues << " queues, (hash * n) >> 32";
    }
}

TEST(HashSpread, RandomFlowsSpreadEvenly)
{
    Random r(0x5eed0003);
    std::vector<std::uint32_t> four, six, two, inner;
    for (int i = 0; i < 100000; ++i) {
        Flow f4 = flow4(static_cast<std::uint32_t>(r.next()), static_cast<std::uint32_t>(r.next()),
                        static_cast<std::uint16_t>(r.next()), static_cast<std::uint16_t>(r.next()),
                        r.chance(50) ? kTcp : kUdp);
        Flow f6 = flow6(r.next(), r.next(), static_cast<std::uint16_t>(r.next()), static_cast<std::uint16_t>(r.next()));
        four.push_back(hash(ZC_HASH_5TUPLE, build(Packet{{}, f4})));
        six.push_back(hash(ZC_HASH_5TUPLE, build(Packet{{}, f6})));
        two.push_back(hash(ZC_HASH_2TUPLE, build(Packet{{}, f4})));
        if (i % 4 == 0) {
            Tunnelled t;
            t.kind = Tunnel::Gtpu;
            t.outer.flow = flow4(0x0a000001, 0x0a000002, 2152, 2152);
            t.inner.flow = f4;
            inner.push_back(hash(ZC_HASH_INNER_5TUPLE, build(t)));
        }
    }
    expect_uniform(four, "IPv4 5tuple");
    expect_uniform(six, "IPv6 5tuple");
    expect_uniform(two, "IPv4 2tuple");
    expect_uniform(inner, "GTP-U inner-5tuple, one tunnel");
}

TEST(HashSpread, StructuredFlowsSpreadEvenly)
{
    // Consecutive addresses and ports: where sums and xors of fields fail.
    std::vector<std::uint32_t> synthetic, ports, hosts, vlans;
    std::vector<std::byte> buffer(zc::frames::frame_bytes(zc::frames::kMinSize));
    for (std::uint32_t n = 0; n < 65536; ++n) {
        zc::frames::build(buffer.data(), zc::frames::kMinSize, {n, false}, 0);
        synthetic.push_back(zc_packet_hash(ZC_HASH_5TUPLE, reinterpret_cast<const std::uint8_t*>(buffer.data()),
                                           static_cast<std::uint32_t>(buffer.size()), 0));
    }
    for (std::uint32_t n = 0; n < 40000; ++n) {
        ports.push_back(hash(ZC_HASH_5TUPLE, build(Packet{{}, flow4(0x0a000001, 0x0a000002, 1024 + n, 443, kTcp)})));
        hosts.push_back(hash(ZC_HASH_2TUPLE, build(Packet{{}, flow4(0x0a000000 + n, 0xc0a80001, 1, 2)})));
    }
    for (std::uint16_t id = 0; id < 4096; ++id) {
        L2 l2;
        l2.vlans.emplace_back(0x8100, id);
        vlans.push_back(hash(ZC_HASH_VLAN, build(Packet{l2, flow4(1, 2, 3, 4)})));
    }
    expect_uniform(synthetic, "synthetic frames");
    expect_uniform(ports, "one host pair, consecutive client ports");
    expect_uniform(hosts, "consecutive hosts");
    expect_uniform(vlans, "VLAN ids 0..4095");
}

TEST(HashMixing, OneInputBitFlipsHalfTheOutputBits)
{
    Random r(0x5eed0004);
    std::array<std::uint64_t, 32> flipped{};
    std::uint64_t trials = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::uint32_t a = static_cast<std::uint32_t>(r.next()), b = static_cast<std::uint32_t>(r.next());
        const auto sp = static_cast<std::uint16_t>(r.next()), dp = static_cast<std::uint16_t>(r.next());
        const std::uint32_t base = hash(ZC_HASH_5TUPLE, build(Packet{{}, flow4(a, b, sp, dp)}));
        for (int bit = 0; bit < 32; ++bit) {
            const std::uint32_t changed[] = {
                hash(ZC_HASH_5TUPLE, build(Packet{{}, flow4(a ^ (1u << bit), b, sp, dp)})),
                hash(ZC_HASH_5TUPLE, build(Packet{{}, flow4(a, b, static_cast<std::uint16_t>(sp ^ (1u << (bit % 16))), dp)})),
            };
            for (std::uint32_t c : changed) {
                const std::uint32_t diff = base ^ c;
                for (int o = 0; o < 32; ++o)
                    flipped[o] += (diff >> o) & 1;
                ++trials;
            }
        }
    }
    for (int o = 0; o < 32; ++o) {
        const double rate = static_cast<double>(flipped[o]) / static_cast<double>(trials);
        EXPECT_GT(rate, 0.47) << "output bit " << o;
        EXPECT_LT(rate, 0.53) << "output bit " << o;
    }
}

TEST(HashMixing, NotAnXorOfFields)
{
    // With hash = f(src) ^ f(dst) ^ g(sport) ^ g(dport), a:p->b:q and
    // a:q->b:p collide; with a mixed canonical tuple they do not.
    Random r(0x5eed0005);
    int equal = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::uint32_t a = static_cast<std::uint32_t>(r.next()), b = static_cast<std::uint32_t>(r.next());
        const auto p = static_cast<std::uint16_t>(r.next()), q = static_cast<std::uint16_t>(r.next());
        if (p == q)
            continue;
        equal += hash(ZC_HASH_5TUPLE, build(Packet{{}, flow4(a, b, p, q)})) ==
                 hash(ZC_HASH_5TUPLE, build(Packet{{}, flow4(a, b, q, p)}));
    }
    EXPECT_EQ(equal, 0);
    // The protocol counts in 5tuple, not in 2tuple.
    const Flow tcp = flow4(0x0a000001, 0x0a000002, 1000, 2000, kTcp);
    Flow udp = tcp;
    udp.protocol = kUdp;
    EXPECT_NE(hash(ZC_HASH_5TUPLE, build(Packet{{}, tcp})), hash(ZC_HASH_5TUPLE, build(Packet{{}, udp})));
    EXPECT_EQ(hash(ZC_HASH_2TUPLE, build(Packet{{}, tcp})), hash(ZC_HASH_2TUPLE, build(Packet{{}, udp})));
    // IPv6 addresses count whole: a change in the last byte alone changes the hash.
    EXPECT_NE(hash(ZC_HASH_2TUPLE, build(Packet{{}, flow6(1, 2, 3, 4)})),
              hash(ZC_HASH_2TUPLE, build(Packet{{}, flow6(1, 3, 3, 4)})));
    Flow upper = flow6(1, 2, 3, 4);
    upper.src[0] ^= 0x80;
    EXPECT_NE(hash(ZC_HASH_2TUPLE, build(Packet{{}, flow6(1, 2, 3, 4)})), hash(ZC_HASH_2TUPLE, build(Packet{{}, upper})));
}

// ------------------------------------------------------------------ the corpus

const Flow kTcpFlow = flow4(0xc0a80001, 0x0a000005, 40000, 443, kTcp);
const Flow kUdpFlow = flow4(0xc0a80002, 0x0a000006, 5353, 53, kUdp);
const Flow kTcp6Flow = flow6(0x11, 0x22, 50000, 22, kTcp);

L2 vlans(std::initializer_list<std::pair<std::uint16_t, std::uint16_t>> tags)
{
    L2 l2;
    l2.vlans = tags;
    return l2;
}

Tunnelled tunnel(Tunnel kind, Flow inner, Flow outer = flow4(0x0a010101, 0x0a020202, 33333, 0))
{
    Tunnelled t;
    t.kind = kind;
    t.outer.flow = outer;
    t.inner.flow = inner;
    return t;
}

struct Entry {
    std::string name;
    Bytes frame;
    Bytes reversed; // the other direction, or empty when there is none
};

// Every corpus frame, in both directions; malformations applied alike.
std::vector<Entry> corpus()
{
    std::vector<Entry> out;
    auto add = [&](std::string name, const Packet& p, auto&& damage) {
        Bytes a = build(p), b = build(p.reversed());
        damage(a);
        damage(b);
        out.push_back({std::move(name), std::move(a), std::move(b)});
    };
    auto plain = [&](std::string name, const Packet& p) { add(std::move(name), p, [](Bytes&) {}); };
    auto add_tunnel = [&](std::string name, const Tunnelled& t, auto&& damage) {
        Tunnelled back = outer_reversed(t);
        back.inner = t.inner.reversed();
        Bytes a = build(t), b = build(back);
        damage(a);
        damage(b);
        out.push_back({std::move(name), std::move(a), std::move(b)});
    };
    auto plain_tunnel = [&](std::string name, const Tunnelled& t) { add_tunnel(std::move(name), t, [](Bytes&) {}); };

    plain("ipv4 tcp", Packet{{}, kTcpFlow});
    plain("ipv4 udp", Packet{{}, kUdpFlow});
    plain("ipv4 icmp", Packet{{}, flow4(1, 2, 0, 0, kIcmp)});
    plain("ipv4 sctp", Packet{{}, flow4(1, 2, 3868, 3868, kSctp)});
    plain("ipv6 tcp", Packet{{}, kTcp6Flow});
    plain("ipv6 esp", Packet{{}, flow6(5, 6, 0, 0, kEsp)});
    plain("vlan", Packet{vlans({{0x8100, 100}}), kTcpFlow});
    plain("qinq 88a8", Packet{vlans({{0x88a8, 10}, {0x8100, 20}}), kTcpFlow});
    plain("qinq 9100", Packet{vlans({{0x9100, 30}, {0x8100, 40}}), kTcp6Flow});
    plain("vlan x8", Packet{vlans({{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}, {0x8100, 4}, {0x8100, 5}, {0x8100, 6},
                                   {0x8100, 7}, {0x8100, 8}}),
                            kUdpFlow});
    {
        L2 mpls;
        mpls.mpls = 1;
        plain("mpls 1 ipv4", Packet{mpls, kTcpFlow});
        mpls.mpls = 3;
        mpls.vlans = {{0x8100, 7}};
        plain("vlan mpls 3 ipv6", Packet{mpls, kTcp6Flow});
    }
    {
        Packet p{{}, kUdpFlow};
        p.ip.ipv4_option_words = 10;
        plain("ipv4 options ihl 15", p);
    }
    {
        Packet p{{}, kTcp6Flow};
        p.ip.ipv6_ext = {0, 43, 60, 51};
        plain("ipv6 hop-by-hop routing destination ah", p);
        p.ip.ipv6_ext = {0, 44};
        plain("ipv6 atomic fragment", p);
    }
    {
        Packet p{{}, kUdpFlow};
        p.payload = Bytes(100, 0x5a);
        const auto pieces = fragments(p, 48), back = fragments(p.reversed(), 48);
        for (std::size_t i = 0; i < pieces.size(); ++i)
            out.push_back({"ipv4 fragment " + std::to_string(i), pieces[i], back[i]});
        Packet q{{}, kTcp6Flow};
        q.ip.ipv6_ext = {0};
        q.payload = Bytes(100, 0x6b);
        const auto pieces6 = fragments(q, 40), back6 = fragments(q.reversed(), 40);
        for (std::size_t i = 0; i < pieces6.size(); ++i)
            out.push_back({"ipv6 fragment " + std::to_string(i), pieces6[i], back6[i]});
    }
    plain_tunnel("gtp-u", tunnel(Tunnel::Gtpu, kTcpFlow));
    plain_tunnel("gtp-u long, ipv6 in ipv6", tunnel(Tunnel::GtpuLong, kTcp6Flow, flow6(7, 8, 2152, 0, kUdp)));
    {
        Tunnelled t = tunnel(Tunnel::Vxlan, kUdpFlow);
        t.inner.l2 = vlans({{0x8100, 55}});
        plain_tunnel("vxlan, inner vlan", t);
    }
    plain_tunnel("gre", tunnel(Tunnel::Gre, kTcpFlow));
    plain_tunnel("gre checksum key sequence", tunnel(Tunnel::GreKeyed, kTcp6Flow));
    plain_tunnel("gre over ipv6", tunnel(Tunnel::Gre, kUdpFlow, flow6(9, 10, 0, 0)));
    plain_tunnel("gre ethernet", tunnel(Tunnel::GreEthernet, kTcpFlow));

    // Malformed: each says what it breaks. Offsets: Ethernet 14, IPv4 at 14.
    add("ipv4 ihl 4", Packet{{}, kTcpFlow}, [](Bytes& b) { b[14] = 0x44; });
    add("ipv4 ihl 0", Packet{{}, kTcpFlow}, [](Bytes& b) { b[14] = 0x40; });
    add("ipv4 ihl 15 in a short packet", Packet{{}, kTcpFlow}, [](Bytes& b) {
        b[14] = 0x4f;
        put16(b, 16, 100); // and a total length to match, beyond the frame
    });
    add("ipv4 total length beyond the frame", Packet{{}, kTcpFlow}, [](Bytes& b) { put16(b, 16, 9000); });
    add("ipv4 total length below the header", Packet{{}, kTcpFlow}, [](Bytes& b) { put16(b, 16, 12); });
    add("ipv4 total length ends before the ports, padding after", Packet{{}, kTcpFlow}, [](Bytes& b) { put16(b, 16, 22); });
    add("ipv4 version 6 behind 0x0800", Packet{{}, kTcpFlow}, [](Bytes& b) { b[14] = 0x65; });
    add("ipv6 payload length cuts the extension headers", Packet{{}, kTcp6Flow, {0, 0, {0, 60}}},
        [](Bytes& b) { put16(b, 18, 10); });
    {
        Packet loop{{}, kTcp6Flow};
        loop.ip.ipv6_ext = std::vector<std::uint8_t>(20, 60);
        plain("ipv6 20 destination option headers", loop);
    }
    add("ipv6 extension length 255 beyond the frame", Packet{{}, kTcp6Flow, {0, 0, {43}}},
        [](Bytes& b) { b[14 + 40 + 1] = 255; });
    plain("vlan x9", Packet{vlans({{0x8100, 1}, {0x8100, 2}, {0x8100, 3}, {0x8100, 4}, {0x8100, 5}, {0x8100, 6},
                                   {0x8100, 7}, {0x8100, 8}, {0x8100, 9}}),
                            kUdpFlow});
    {
        L2 mpls;
        mpls.mpls = 20;
        add("mpls without bottom of stack", Packet{mpls, kTcpFlow}, [](Bytes& b) {
            for (std::size_t at = 14; at < 14 + 20 * 4; at += 4)
                b[at + 2] &= 0xfe;
        });
        mpls.mpls = 2;
        add("mpls carrying neither ipv4 nor ipv6", Packet{mpls, kTcpFlow}, [](Bytes& b) { b[14 + 8] = 0x05; });
    }
    // GTP-U header at 14 + 20 + 8 = 42; its first extension at 42 + 12 = 54.
    add_tunnel("gtp-u extension length 0", tunnel(Tunnel::GtpuLong, kTcpFlow), [](Bytes& b) { b[54] = 0; });
    add_tunnel("gtp-u extensions beyond the bound", tunnel(Tunnel::GtpuLong, kTcpFlow), [](Bytes& b) {
        for (std::size_t at = 54; at < 54 + 4 * (ZC_PARSE_GTPU_EXT_MAX + 1); at += 4) {
            b[at] = 1;        // 4 bytes long ...
            b[at + 3] = 0x85; // ... and another follows
        }
    });
    add_tunnel("gtp-u echo request", tunnel(Tunnel::Gtpu, kTcpFlow), [](Bytes& b) { b[43] = 1; });
    add_tunnel("gtp-u version 2", tunnel(Tunnel::Gtpu, kTcpFlow), [](Bytes& b) { b[42] = 0x50; });
    add_tunnel("vxlan without the I flag", tunnel(Tunnel::Vxlan, kTcpFlow), [](Bytes& b) { b[42] = 0; });
    add_tunnel("gre with routing", tunnel(Tunnel::Gre, kTcpFlow), [](Bytes& b) { b[34] = 0x40; });
    add_tunnel("gre version 1", tunnel(Tunnel::Gre, kTcpFlow), [](Bytes& b) { b[35] = 0x01; });
    add_tunnel("gre inner ihl 3", tunnel(Tunnel::Gre, kTcpFlow), [](Bytes& b) { b[38] = 0x43; });

    L2 l2;
    out.push_back({"arp", ethernet(l2, 0x0806, Bytes(28, 1)), ethernet(l2.reversed(), 0x0806, Bytes(28, 1))});
    out.push_back({"802.3 llc", ethernet(l2, 0x0026, Bytes(38, 0x42)), ethernet(l2.reversed(), 0x0026, Bytes(38, 0x42))});
    out.push_back({"13 bytes", Bytes(13, 0x81), Bytes(13, 0x81)});
    out.push_back({"all 0xff", Bytes(200, 0xff), {}});
    out.push_back({"all 0x00", Bytes(200, 0x00), {}});
    return out;
}

const Entry& find(const std::vector<Entry>& entries, const std::string& name)
{
    for (const Entry& e : entries)
        if (e.name == name)
            return e;
    ADD_FAILURE() << "no corpus entry " << name;
    return entries.front();
}

// Invariants of any parse of `length` bytes.
void expect_sane(const zc_parsed_layer& l, std::uint32_t length, bool inner)
{
    for (std::uint32_t offset : {l.l2_offset, l.l3_offset, l.l4_offset})
        if (offset != ZC_PARSED_ABSENT) {
            EXPECT_LE(offset, length);
        }
    if (l.flags & ZC_PARSED_PORTS) {
        EXPECT_TRUE(l.flags & ZC_PARSED_L4);
    }
    if (l.flags & ZC_PARSED_L4) {
        EXPECT_TRUE(l.flags & ZC_PARSED_IP);
    }
    if (l.flags & ZC_PARSED_FRAGMENT) {
        EXPECT_FALSE(l.flags & (ZC_PARSED_L4 | ZC_PARSED_PORTS));
    }
    if (l.flags & ZC_PARSED_IP) {
        EXPECT_TRUE(l.ip_version == 4 || l.ip_version == 6);
    }
    if (!inner && length >= 12) {
        EXPECT_TRUE(l.flags & ZC_PARSED_ETHERNET);
    }
    EXPECT_LE(l.vlan_count, ZC_PARSE_VLAN_MAX);
    EXPECT_LE(l.mpls_count, ZC_PARSE_MPLS_MAX);
}

TEST(HashCorpus, EveryPrefixOfEveryFrameIsSafeAndSymmetric)
{
    int prefixes = 0;
    for (const Entry& e : corpus()) {
        SCOPED_TRACE(e.name);
        for (std::size_t n = 0; n <= e.frame.size(); ++n) {
            const Bytes a = prefix(e.frame, n);
            for (int mode = 0; mode <= ZC_HASH_MODE_COUNT; ++mode) // and one value that is not a mode
                hash(static_cast<zc_hash_mode>(mode), a, 1);
            const zc_parsed p = parse(a);
            expect_sane(p.outer, static_cast<std::uint32_t>(n), false);
            if (p.tunnel != ZC_TUNNEL_NONE) {
                EXPECT_LE(p.inner_offset, n);
                expect_sane(p.inner, static_cast<std::uint32_t>(n), true);
            }
            if (!e.reversed.empty()) {
                ASSERT_EQ(e.reversed.size(), e.frame.size());
                const Bytes b = prefix(e.reversed, n);
                for (zc_hash_mode mode : kSymmetricModes) {
                    EXPECT_EQ(hash(mode, a), hash(mode, b)) << "prefix " << n << ", " << zc_hash_mode_name(mode);
                }
            }
            ++prefixes;
            if (testing::Test::HasFailure())
                return;
        }
    }
    EXPECT_GT(prefixes, 5000);
}

// libzc hashes untagged IPv4 and IPv6 frames by a direct path
// (core/src/packet_hash.hpp) and everything else by the full parser; a tag
// sends a frame through the parser and is in no tuple. So every frame, and
// every prefix of it, must hash as its copy with an 802.1Q tag inserted —
// the corpus, and copies with random damage to their IP and L4 headers
// (lengths, versions, fragments, protocols, header lengths).
TEST(HashCorpus, UntaggedFramesHashAsTheirTaggedCopies)
{
    std::mt19937 random(13);
    int compared = 0;
    for (const Entry& e : corpus()) {
        if (e.frame.size() < 14)
            continue;
        const unsigned type = e.frame[12] << 8 | e.frame[13];
        if (type != 0x0800 && type != 0x86dd)
            continue;
        SCOPED_TRACE(e.name);
        std::vector<Bytes> variants{e.frame};
        for (int k = 0; k < 100; ++k) {
            Bytes v = e.frame;
            const int damaged = 1 + static_cast<int>(random() % 3);
            for (int d = 0; d < damaged; ++d)
                v[14 + random() % std::min<std::size_t>(v.size() - 14, 64)] = static_cast<std::uint8_t>(random());
            variants.push_back(v);
        }
        for (const Bytes& frame : variants)
            for (std::size_t n = 12; n <= frame.size(); ++n) {
                const Bytes plain = prefix(frame, n);
                Bytes tagged = plain;
                const std::uint8_t tag[] = {0x81, 0x00, 0x00, 0x07};
                tagged.insert(tagged.begin() + 12, std::begin(tag), std::end(tag));
                for (zc_hash_mode mode : {ZC_HASH_5TUPLE, ZC_HASH_2TUPLE})
                    ASSERT_EQ(hash(mode, plain), hash(mode, tagged))
                        << "prefix " << n << ", " << zc_hash_mode_name(mode);
                ++compared;
            }
    }
    EXPECT_GT(compared, 10000);
}

TEST(HashCorpus, NullFrameAndEmptyFrame)
{
    for (int mode = 0; mode < ZC_HASH_MODE_COUNT; ++mode) {
        const auto m = static_cast<zc_hash_mode>(mode);
        EXPECT_EQ(zc_packet_hash(m, nullptr, 0, 0), hash(m, Bytes{}));
        EXPECT_EQ(zc_packet_hash(m, nullptr, 100, 0), hash(m, Bytes{})) << "NULL with a length counts as empty";
    }
    zc_parsed p{};
    p.struct_size = sizeof p;
    EXPECT_EQ(zc_packet_parse(nullptr, 60, &p), 0);
    EXPECT_EQ(p.outer.flags, ZC_PARSED_TRUNCATED);
}

TEST(HashCorpus, VlanQinQAndMplsParseToTheFlow)
{
    const auto entries = corpus();
    const std::uint32_t plain = hash(ZC_HASH_5TUPLE, find(entries, "ipv4 tcp").frame);
    for (const char* name : {"vlan", "qinq 88a8", "mpls 1 ipv4"}) {
        EXPECT_EQ(hash(ZC_HASH_5TUPLE, find(entries, name).frame), plain) << name;
    }
    EXPECT_EQ(hash(ZC_HASH_5TUPLE, find(entries, "qinq 9100").frame), hash(ZC_HASH_5TUPLE, find(entries, "ipv6 tcp").frame));
    EXPECT_EQ(hash(ZC_HASH_5TUPLE, find(entries, "vlan mpls 3 ipv6").frame),
              hash(ZC_HASH_5TUPLE, find(entries, "ipv6 tcp").frame));
    EXPECT_EQ(hash(ZC_HASH_5TUPLE, find(entries, "vlan x8").frame), hash(ZC_HASH_5TUPLE, find(entries, "ipv4 udp").frame));

    zc_parsed p = parse(find(entries, "qinq 88a8").frame);
    EXPECT_EQ(p.outer.vlan_count, 2);
    EXPECT_EQ(p.outer.vlan_ids[0], 10);
    EXPECT_EQ(p.outer.vlan_ids[1], 20);
    EXPECT_EQ(p.outer.l3_offset, 22u);
    EXPECT_EQ(p.outer.l4_offset, 42u);
    p = parse(find(entries, "vlan mpls 3 ipv6").frame);
    EXPECT_EQ(p.outer.mpls_count, 3);
    EXPECT_EQ(p.outer.ethertype, 0x8847);
    EXPECT_EQ(p.outer.ip_version, 6);
    EXPECT_EQ(p.outer.l3_offset, 14u + 4 + 12);
    p = parse(find(entries, "ipv4 options ihl 15").frame);
    EXPECT_EQ(p.outer.l4_offset, 14u + 60);
    EXPECT_TRUE(p.outer.flags & ZC_PARSED_PORTS);
    EXPECT_EQ(hash(ZC_HASH_5TUPLE, find(entries, "ipv4 options ihl 15").frame),
              hash(ZC_HASH_5TUPLE, find(entries, "ipv4 udp").frame));
}

TEST(HashCorpus, Ipv6ExtensionHeadersAreWalked)
{
    const auto entries = corpus();
    const std::uint32_t plain = hash(ZC_HASH_5TUPLE, find(entries, "ipv6 tcp").frame);
    for (const char* name : {"ipv6 hop-by-hop routing destination ah", "ipv6 atomic fragment"}) {
        const zc_parsed p = parse(find(entries, name).frame);
        EXPECT_EQ(p.outer.protocol, kTcp) << name;
        EXPECT_TRUE(p.outer.flags & ZC_PARSED_PORTS) << name;
        EXPECT_FALSE(p.outer.flags & ZC_PARSED_FRAGMENT) << name;
        EXPECT_EQ(hash(ZC_HASH_5TUPLE, find(entries, name).frame), plain) << name;
    }
    const zc_parsed p = parse(find(entries, "ipv6 hop-by-hop routing destination ah").frame);
    EXPECT_EQ(p.outer.l4_offset, 14u + 40 + 16 + 16 + 16 + 12);
}

TEST(HashFragments, EveryFragmentOfADatagramHashesAlike)
{
    for (bool ipv6 : {false, true}) {
        SCOPED_TRACE(ipv6 ? "IPv6" : "IPv4");
        Packet p{vlans({{0x8100, 12}}), ipv6 ? kTcp6Flow : kUdpFlow};
        p.payload = Bytes(300, 0x77);
        if (ipv6)
            p.ip.ipv6_ext = {0, 60};
        const auto forward = fragments(p, 96), backward = fragments(p.reversed(), 96);
        ASSERT_GE(forward.size(), 3u) << "first, middle and last";
        const std::uint32_t pair = hash(ZC_HASH_2TUPLE, build(p));
        for (std::size_t i = 0; i < forward.size(); ++i) {
            SCOPED_TRACE("fragment " + std::to_string(i));
            const zc_parsed parsed = parse(forward[i]);
            EXPECT_TRUE(parsed.outer.flags & ZC_PARSED_FRAGMENT);
            EXPECT_FALSE(parsed.outer.flags & ZC_PARSED_PORTS);
            for (zc_hash_mode mode : kFlowModes) {
                EXPECT_EQ(hash(mode, forward[i]), pair) << zc_hash_mode_name(mode);
                EXPECT_EQ(hash(mode, backward[i]), pair) << zc_hash_mode_name(mode);
            }
        }
        // The documented cost: the unfragmented flow goes by its 5-tuple.
        EXPECT_NE(hash(ZC_HASH_5TUPLE, build(p)), pair);
    }
}

TEST(HashTunnels, InnerFlowDecidesWhateverTheTunnel)
{
    for (const Flow& inner : {kTcpFlow, kUdpFlow, kTcp6Flow}) {
        const std::uint32_t expected = hash(ZC_HASH_5TUPLE, build(Packet{{}, inner}));
        for (Tunnel kind : {Tunnel::Gtpu, Tunnel::GtpuLong, Tunnel::Vxlan, Tunnel::Gre, Tunnel::GreKeyed,
                            Tunnel::GreEthernet}) {
            SCOPED_TRACE(static_cast<int>(kind));
            Tunnelled one = tunnel(kind, inner, flow4(0x0a000001, 0x0a000002, 30000, 0));
            one.id = 5;
            Tunnelled two = tunnel(kind, inner.reversed(), flow6(0xaa, 0xbb, 40000, 0));
            two.id = 6;
            two.outer.l2 = vlans({{0x8100, 300}});
            const Bytes a = build(one), b = build(two);
            EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, a), expected);
            EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, b), expected) << "another tunnel, the other direction";
            EXPECT_NE(hash(ZC_HASH_5TUPLE, a), hash(ZC_HASH_5TUPLE, b)) << "5tuple hashes the tunnel";
            const zc_parsed p = parse(a);
            EXPECT_NE(p.tunnel, ZC_TUNNEL_NONE);
            EXPECT_NE(p.inner_offset, ZC_PARSED_ABSENT);
            expect_layer(p.inner, one.inner, "inner");
        }
    }
}

TEST(HashTunnels, OuterFragmentsHashAsTheOuterAddressPair)
{
    Tunnelled t = tunnel(Tunnel::Gtpu, kTcpFlow);
    t.outer.ip.ipv4_fragment = 0x2000; // first fragment: the tunnel is visible but not used
    const Bytes first = build(t);
    t.outer.ip.ipv4_fragment = 0x0010;
    const Bytes later = build(t);
    EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, first), hash(ZC_HASH_2TUPLE, first));
    EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, first), hash(ZC_HASH_INNER_5TUPLE, later));
}

TEST(HashFallbacks, MalformedFramesFallBackAsDocumented)
{
    const auto entries = corpus();
    const L2 l2;
    const std::uint32_t macs = hash(ZC_HASH_5TUPLE, mac_only(l2));
    const std::uint32_t tcp = hash(ZC_HASH_5TUPLE, find(entries, "ipv4 tcp").frame);
    const std::uint32_t pair4 = hash(ZC_HASH_2TUPLE, find(entries, "ipv4 tcp").frame);
    const std::uint32_t pair6 = hash(ZC_HASH_2TUPLE, find(entries, "ipv6 tcp").frame);
    auto h5 = [&](const char* name) { return hash(ZC_HASH_5TUPLE, find(entries, name).frame); };
    auto flags = [&](const char* name) { return parse(find(entries, name).frame).outer.flags; };

    // Not IPv4 at all: the MAC pair.
    for (const char* name : {"ipv4 ihl 4", "ipv4 ihl 0", "ipv4 total length below the header", "ipv4 version 6 behind 0x0800",
                             "vlan x9", "mpls without bottom of stack", "mpls carrying neither ipv4 nor ipv6", "arp",
                             "802.3 llc"}) {
        EXPECT_EQ(h5(name), macs) << name;
        EXPECT_EQ(hash(ZC_HASH_2TUPLE, find(entries, name).frame), macs) << name;
        EXPECT_FALSE(flags(name) & ZC_PARSED_IP) << name;
    }
    for (const char* name : {"ipv4 ihl 4", "vlan x9", "mpls without bottom of stack"}) {
        EXPECT_TRUE(flags(name) & ZC_PARSED_MALFORMED) << name;
    }
    // IP, but no ports: the address pair.
    EXPECT_EQ(h5("ipv4 ihl 15 in a short packet"), pair4);
    EXPECT_TRUE(flags("ipv4 ihl 15 in a short packet") & ZC_PARSED_TRUNCATED);
    EXPECT_EQ(h5("ipv4 total length ends before the ports, padding after"), pair4) << "padding is not read as ports";
    EXPECT_EQ(h5("ipv6 payload length cuts the extension headers"), pair6);
    EXPECT_EQ(h5("ipv6 20 destination option headers"), pair6);
    EXPECT_TRUE(flags("ipv6 20 destination option headers") & ZC_PARSED_MALFORMED);
    EXPECT_EQ(h5("ipv6 extension length 255 beyond the frame"), pair6);
    EXPECT_EQ(h5("ipv4 icmp"), hash(ZC_HASH_2TUPLE, find(entries, "ipv4 icmp").frame));
    EXPECT_EQ(h5("ipv6 esp"), hash(ZC_HASH_2TUPLE, find(entries, "ipv6 esp").frame));
    // A total length beyond the frame is bounded by the frame.
    EXPECT_EQ(h5("ipv4 total length beyond the frame"), tcp);
    // Tunnels that are not opened hash as the outer packet.
    for (const char* name : {"gtp-u extension length 0", "gtp-u extensions beyond the bound", "gtp-u echo request",
                             "gtp-u version 2", "vxlan without the I flag", "gre with routing", "gre version 1"}) {
        const Bytes& frame = find(entries, name).frame;
        EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, frame), hash(ZC_HASH_5TUPLE, frame)) << name;
        EXPECT_EQ(parse(frame).tunnel, ZC_TUNNEL_NONE) << name;
    }
    // An opened tunnel whose inner packet is not IP: the outer packet.
    const Bytes& bad_inner = find(entries, "gre inner ihl 3").frame;
    EXPECT_EQ(parse(bad_inner).tunnel, ZC_TUNNEL_GRE);
    EXPECT_EQ(hash(ZC_HASH_INNER_5TUPLE, bad_inner), hash(ZC_HASH_5TUPLE, bad_inner));
    // Too short for MAC addresses: one constant.
    EXPECT_EQ(hash(ZC_HASH_5TUPLE, Bytes(11, 1)), hash(ZC_HASH_5TUPLE, Bytes(3, 2)));
}

// ------------------------------------------------------------------ vlan, iface, round-robin

TEST(HashOtherModes, VlanIsTheOutermostId)
{
    const auto entries = corpus();
    const std::uint32_t hundred = hash(ZC_HASH_VLAN, find(entries, "vlan").frame);
    EXPECT_EQ(hash(ZC_HASH_VLAN, build(Packet{vlans({{0x88a8, 100}, {0x8100, 7}}), kTcp6Flow})), hundred);
    EXPECT_EQ(hash(ZC_HASH_VLAN, build(Packet{vlans({{0x9100, 100}}), kUdpFlow})), hundred);
    EXPECT_EQ(hash(ZC_HASH_VLAN, build(Packet{vlans({{0x8100, 0x3000 | 100}}), kUdpFlow})), hundred) << "priority bits";
    EXPECT_NE(hash(ZC_HASH_VLAN, build(Packet{vlans({{0x8100, 101}}), kTcpFlow})), hundred);
    const std::uint32_t untagged = hash(ZC_HASH_VLAN, find(entries, "ipv4 tcp").frame);
    EXPECT_EQ(hash(ZC_HASH_VLAN, build(Packet{vlans({{0x8100, 0}}), kUdpFlow})), untagged) << "priority-tagged";
    EXPECT_EQ(hash(ZC_HASH_VLAN, find(entries, "arp").frame), untagged);
    EXPECT_EQ(hash(ZC_HASH_VLAN, prefix(find(entries, "vlan").frame, 15)), untagged) << "tag cut short";
}

TEST(HashOtherModes, IfaceIsThePort)
{
    const auto entries = corpus();
    const Bytes& a = find(entries, "ipv4 tcp").frame;
    const Bytes& b = find(entries, "ipv6 tcp").frame;
    for (std::uint16_t port : {0, 1, 2, 65535}) {
        EXPECT_EQ(hash(ZC_HASH_IFACE, a, port), hash(ZC_HASH_IFACE, b, port));
        EXPECT_EQ(hash(ZC_HASH_IFACE, Bytes{}, port), hash(ZC_HASH_IFACE, b, port));
        EXPECT_NE(hash(ZC_HASH_IFACE, a, port), hash(ZC_HASH_IFACE, a, static_cast<std::uint16_t>(port + 1)));
    }
    EXPECT_EQ(hash(ZC_HASH_5TUPLE, a, 0), hash(ZC_HASH_5TUPLE, a, 9)) << "only iface looks at the port";
}

TEST(HashOtherModes, RoundRobinAndUnknownModesReportNoHash)
{
    const Bytes frame = build(Packet{{}, kTcpFlow});
    EXPECT_EQ(hash(ZC_HASH_ROUND_ROBIN, frame), 0u);
    EXPECT_EQ(hash(ZC_HASH_MODE_COUNT, frame), 0u);
    EXPECT_EQ(hash(static_cast<zc_hash_mode>(1000), frame), 0u);
}

TEST(PacketParse, StructSizeIsChecked)
{
    const Bytes frame = build(Packet{{}, kTcpFlow});
    zc_parsed p{};
    p.struct_size = sizeof p - 4;
    EXPECT_EQ(zc_packet_parse(frame.data(), static_cast<std::uint32_t>(frame.size()), &p), -EINVAL);
    EXPECT_EQ(zc_packet_parse(frame.data(), static_cast<std::uint32_t>(frame.size()), nullptr), -EINVAL);
    p.struct_size = sizeof p;
    ASSERT_EQ(zc_packet_parse(frame.data(), static_cast<std::uint32_t>(frame.size()), &p), 0);
    EXPECT_EQ(p.struct_size, sizeof p);
    EXPECT_EQ(p.tunnel, ZC_TUNNEL_NONE);
    EXPECT_EQ(p.tunnel_offset, ZC_PARSED_ABSENT);
    EXPECT_EQ(p.outer.l2_offset, 0u);
    EXPECT_EQ(p.outer.l3_offset, 14u);
    EXPECT_EQ(p.outer.l4_offset, 34u);
    EXPECT_EQ(p.outer.flags, ZC_PARSED_ETHERNET | ZC_PARSED_IP | ZC_PARSED_L4 | ZC_PARSED_PORTS);
    EXPECT_EQ(p.inner.flags, 0u);
}

} // namespace

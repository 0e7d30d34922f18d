// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/corpus_hostile.cpp — what a hostile link carries, for
// make-corpus: IP headers that cannot be (bad IHL or version, total length
// shorter than the header), cuts at every layer, runts from 14 bytes, the
// bounds of hash.h (ZC_PARSE_VLAN_MAX, _MPLS_MAX, _IPV6_EXT_MAX, _GTPU_EXT_MAX:
// at the bound and one past it), length fields past the frame or zero,
// non-IP frames, and tunnel ports or protocols that carry no tunnel hash.h
// opens. Each kind is a conversation of one flow, both ways.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "corpus_frames.hpp"

namespace zc::corpus {

namespace {

// Where a hostile frame draws from: `same` gives the same endpoints and MACs
// for every frame of one conversation (so its frames are one flow), `fresh`
// the payloads and IP ids that keep frames distinct.
struct Draw {
    Corpus& same;
    Corpus& fresh;
};

// A malformed frame one way: `base` is a well-formed frame of the
// conversation's flow; the kind spoils it or builds its own.
using Spoil = std::function<Bytes(Draw&, Bytes base, Way)>;

struct Hostile {
    const char* name;
    bool v6;
    std::uint8_t protocol;
    Spoil spoil;
};

Bytes cut(Bytes b, std::size_t n)
{
    b.resize(std::min(n, b.size()));
    return b;
}

Link fixed_link(std::uint8_t n) { return Link{{2, 0, 0, 0, n, 1}, {2, 0, 0, 0, n, 2}, {}, {}}; }

Bytes inner_ip(Draw& d, bool v6, std::uint8_t protocol, Way w, std::uint32_t low, std::uint32_t high)
{
    const Endpoints e = d.same.endpoints(v6, protocol);
    const Bytes body = d.fresh.payload(low, high);
    return d.fresh.ip(e, protocol, w, body);
}

Bytes over_ip(Draw& d, bool v6, std::uint8_t protocol, Way w, const Bytes& body)
{
    const Link l = d.same.link();
    const Endpoints e = d.same.endpoints(v6, protocol);
    const Direction x = way(e, w);
    const std::uint16_t id = d.fresh.id();
    return padded(ethernet(l, w, v6 ? 0x86dd : 0x0800,
                           v6 ? ipv6(x.source, x.destination, protocol, id, body)
                              : ipv4(x.source, x.destination, protocol, id, body)));
}

Bytes over_udp(Draw& d, std::uint8_t link, bool v6, Way w, std::uint16_t client_port, std::uint16_t server_port,
               const Bytes& body)
{
    const Tunnel t{fixed_link(link), d.same.endpoints(v6, kUdp)};
    const std::uint16_t source = w == Way::ToServer ? client_port : server_port;
    const std::uint16_t destination = w == Way::ToServer ? server_port : client_port;
    return udp_around(d.fresh, t, w, source, destination, body);
}

Bytes tags(int n, std::uint16_t first_tpid, std::uint16_t first_id)
{
    Bytes b;
    for (int i = 0; i < n; ++i) {
        put16(b, i == 0 ? first_tpid : 0x8100);
        put16(b, static_cast<unsigned>(first_id + i));
    }
    return b;
}

Bytes labels(int n, bool bottom_last)
{
    Bytes b;
    for (int i = 0; i < n; ++i)
        put32(b, static_cast<std::uint32_t>(1000 + i) << 12 | (bottom_last && i + 1 == n ? 0x100u : 0u) | 64u);
    return b;
}

Bytes insert(Bytes b, std::size_t at, const Bytes& more)
{
    b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), more.begin(), more.end());
    return b;
}

// An IPv6 frame of one fixed flow with this chain of extension headers.
Bytes ipv6_chain(Draw& d, std::uint8_t n, std::uint8_t protocol, const std::vector<Ipv6Extension>& chain, Way w)
{
    IpExtras x;
    x.v6.chain = chain;
    Endpoints e = d.same.endpoints(true, protocol);
    e.client = Address{0x20, 0x01, 0x0d, 0xb8, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    e.server = Address{0x20, 0x01, 0x0d, 0xb8, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    const Bytes body = d.fresh.payload(0, 40);
    return d.fresh.frame(fixed_link(n), e, protocol, w, body, x);
}

// A G-PDU with `n` 4-byte extension headers, then an inner packet: the
// parser follows ZC_PARSE_GTPU_EXT_MAX (4) of them.
Bytes gtpu_extensions(Draw& d, int n, Way w)
{
    const Bytes inner = inner_ip(d, false, kUdp, w, 0, 30);
    Bytes body{0x34, 0xff};
    put16(body, static_cast<unsigned>(4 + 4 * n + inner.size()));
    put32(body, 0x4000u + static_cast<unsigned>(n));
    put16(body, 0);  // sequence
    put8(body, 0);   // N-PDU
    put8(body, 0x20); // the first extension's type
    for (int i = 0; i < n; ++i) {
        put8(body, 1); // 4 bytes
        put16(body, static_cast<unsigned>(i));
        put8(body, i + 1 < n ? 0x20 : 0);
    }
    append(body, inner);
    return body;
}

const std::vector<Hostile>& hostile_list()
{
    static const std::vector<Hostile> kinds = {
        // IP headers that cannot be: hashed on the MAC pair.
        {"ipv4 IHL 4", false, kTcp, [](Draw&, Bytes b, Way) { b[14] = 0x44; return b; }},
        {"ipv4 IHL 0", false, kUdp, [](Draw&, Bytes b, Way) { b[14] = 0x40; return b; }},
        {"ipv4 version 6", false, kUdp, [](Draw&, Bytes b, Way) { b[14] = 0x65; return b; }},
        {"ipv6 version 4", true, kTcp, [](Draw&, Bytes b, Way) { b[14] = static_cast<std::uint8_t>(0x40 | (b[14] & 15)); return b; }},
        {"ipv4 total length 12", false, kTcp, [](Draw&, Bytes b, Way) { set16(b, 16, 12); return b; }},
        {"ipv4 header cut", false, kTcp, [](Draw&, Bytes b, Way) { return cut(std::move(b), 14 + 19); }},
        {"ipv6 header cut", true, kTcp, [](Draw&, Bytes b, Way) { return cut(std::move(b), 14 + 30); }},
        {"runt 14 bytes", false, kUdp, [](Draw&, Bytes b, Way) { return cut(std::move(b), 14); }},
        {"runt of random length", false, kTcp,
         [](Draw& d, Bytes b, Way) { return cut(std::move(b), d.fresh.random().between(15, 59)); }},
        {"vlan tag cut", false, kUdp, [](Draw&, Bytes b, Way) { set16(b, 12, 0x8100); return cut(std::move(b), 16); }},
        {"9 vlan tags", false, kUdp, [](Draw&, Bytes b, Way) { return insert(std::move(b), 12, tags(9, 0x8100, 100)); }},
        {"17 mpls labels", false, kUdp,
         [](Draw&, Bytes b, Way) { set16(b, 12, 0x8847); return insert(std::move(b), 14, labels(17, true)); }},
        {"mpls pseudowire control word", false, kUdp,
         [](Draw&, Bytes b, Way) {
             Bytes more = labels(1, true);
             put32(more, 0); // a control word: first nibble 0
             set16(b, 12, 0x8847);
             return insert(std::move(b), 14, more);
         }},
        {"mpls stack cut", false, kUdp,
         [](Draw&, Bytes b, Way) {
             b.resize(12);
             put16(b, 0x8847);
             append(b, labels(1, false));
             put16(b, 0x0fa0);
             return b;
         }},
        // Lengths and bounds: the rules say how far the parser goes.
        {"ipv4 total length past the frame", false, kUdp, [](Draw&, Bytes b, Way) { set16(b, 16, 1400); return b; }},
        {"ipv4 total length 0", false, kTcp, [](Draw&, Bytes b, Way) { set16(b, 16, 0); return b; }},
        {"ipv4 total length cuts the ports", false, kTcp, [](Draw&, Bytes b, Way) { set16(b, 16, 22); return b; }},
        {"ipv4 IHL past the frame", false, kUdp,
         [](Draw&, Bytes b, Way) { b[14] = 0x4f; set16(b, 16, 0); return cut(std::move(b), 14 + 40); }},
        {"tcp cut after 2 bytes", false, kTcp, [](Draw&, Bytes b, Way) { return cut(std::move(b), 14 + 20 + 2); }},
        {"tcp cut after 4 to 7 bytes", false, kTcp,
         [](Draw& d, Bytes b, Way) { return cut(std::move(b), 14 + 20 + d.fresh.random().between(4, 7)); }},
        {"udp cut after 3 bytes (ipv6)", true, kUdp, [](Draw&, Bytes b, Way) { return cut(std::move(b), 14 + 40 + 3); }},
        {"8 vlan tags", false, kTcp, [](Draw&, Bytes b, Way) { return insert(std::move(b), 12, tags(8, 0x88a8, 200)); }},
        {"16 mpls labels", true, kTcp,
         [](Draw&, Bytes b, Way) { set16(b, 12, 0x8848); return insert(std::move(b), 14, labels(16, true)); }},
        {"ipv6 9 extension headers", true, kUdp,
         [](Draw& d, Bytes, Way w) { return ipv6_chain(d, 9, kUdp, std::vector<Ipv6Extension>(9, {kDestination, 0}), w); }},
        {"ipv6 8 extension headers", true, kTcp,
         [](Draw& d, Bytes, Way w) {
             std::vector<Ipv6Extension> chain;
             for (int i = 0; i < 8; ++i)
                 chain.push_back({i % 2 ? kDestination : kRouting, 0});
             return ipv6_chain(d, 8, kTcp, chain, w);
         }},
        {"ipv6 extension header past the frame", true, kUdp,
         [](Draw&, Bytes b, Way) {
             const Bytes hop{kUdp, 200, 1, 4, 0, 0, 0, 0}; // claims 1608 bytes
             b[14 + 6] = kHopByHop;
             b = insert(std::move(b), 14 + 40, hop);
             set16(b, 14 + 4, static_cast<unsigned>(b.size() - 14 - 40));
             return b;
         }},
        {"ipv6 payload length 0", true, kUdp, [](Draw&, Bytes b, Way) { set16(b, 18, 0); return b; }},
        {"ipv6 payload length cuts the ports", true, kTcp, [](Draw&, Bytes b, Way) { set16(b, 18, 2); return b; }},
        {"ipv4 don't-fragment and reserved bits", false, kUdp,
         [](Draw&, Bytes b, Way w) { set16(b, 20, w == Way::ToServer ? 0x4000 : 0x8000); return b; }},
        {"ipv6 fragment header, reserved bits only", true, kUdp,
         [](Draw&, Bytes b, Way) {
             const Bytes fragment{kUdp, 0, 0, 0x06, 1, 2, 3, 4};
             b[14 + 6] = kFragment;
             b = insert(std::move(b), 14 + 40, fragment);
             set16(b, 14 + 4, static_cast<unsigned>(b.size() - 14 - 40));
             return b;
         }},
        // Not IP at all.
        {"arp", false, kUdp,
         [](Draw& d, Bytes b, Way w) {
             b.resize(12);
             put16(b, 0x0806);
             append(b, Bytes{0, 1, 8, 0, 6, 4, 0, static_cast<std::uint8_t>(w == Way::ToServer ? 1 : 2)});
             append(b, d.fresh.payload(12, 12));
             return padded(std::move(b));
         }},
        {"lldp", false, kUdp,
         [](Draw& d, Bytes b, Way) { b.resize(12); put16(b, 0x88cc); append(b, d.fresh.payload(30, 60)); return b; }},
        {"802.3 length and LLC", false, kUdp,
         [](Draw& d, Bytes b, Way) {
             Bytes llc{0x42, 0x42, 0x03};
             append(llc, d.fresh.payload(30, 40));
             b.resize(12);
             put16(b, static_cast<unsigned>(llc.size()));
             append(b, llc);
             return padded(std::move(b));
         }},
        // Tunnel ports and protocols that do not carry a tunnel we open.
        {"gtp version 2 G-PDU on 2152", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             const Bytes inner = inner_ip(d, false, kUdp, w, 0, 30);
             Bytes body{0x50, 0xff};
             put16(body, static_cast<unsigned>(inner.size()));
             put32(body, 0x1234);
             append(body, inner);
             return padded(over_udp(d, 1, false, w, 40001, 2152, body));
         }},
        {"gtp' G-PDU on 2152", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             const Bytes inner = inner_ip(d, false, kTcp, w, 0, 30);
             Bytes body{0x20, 0xff};
             put16(body, static_cast<unsigned>(inner.size()));
             put32(body, 0x1235);
             append(body, inner);
             return padded(over_udp(d, 11, false, w, 2152, 2152, body));
         }},
        {"gtp-u end marker, then bytes like an ip packet", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             const Bytes inner = inner_ip(d, false, kUdp, w, 0, 30);
             Bytes body{0x30, 0xfe}; // End Marker: carries no user packet
             put16(body, 0);
             put32(body, 0x1237);
             append(body, inner);
             return padded(over_udp(d, 13, false, w, 2152, 2152, body));
         }},
        {"gtp-u from port 2152 to another", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             const Bytes inner = inner_ip(d, false, kUdp, w, 0, 30);
             Bytes body = gtpu_header(0x1236, inner.size(), false, d.fresh.random());
             append(body, inner);
             return padded(over_udp(d, 12, false, w, 40002, 2152, body));
         }},
        {"gtp-u extension of length 0", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x34, 0xff, 0, 20, 0, 0, 0, 9, 0, 0, 0, 0x85, 0, 0, 0, 0};
             append(body, d.fresh.payload(10, 40));
             return padded(over_udp(d, 2, false, w, 2152, 2152, body));
         }},
        {"gtp-u inner packet cut", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             Bytes body = gtpu_header(77, 12, false, d.fresh.random());
             append(body, cut(inner_ip(d, false, kTcp, w, 0, 10), 12));
             return padded(over_udp(d, 3, true, w, 2152, 2152, body));
         }},
        {"gtp-u inner not ip", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             Bytes inner{0x12, 0x34};
             append(inner, d.fresh.payload(10, 40));
             Bytes body = gtpu_header(78, inner.size(), false, d.fresh.random());
             append(body, inner);
             return padded(over_udp(d, 4, false, w, 2152, 2152, body));
         }},
        {"gtp-u 4 extension headers", false, kUdp,
         [](Draw& d, Bytes, Way w) { return padded(over_udp(d, 9, false, w, 2152, 2152, gtpu_extensions(d, 4, w))); }},
        {"gtp-u 5 extension headers", false, kUdp,
         [](Draw& d, Bytes, Way w) { return padded(over_udp(d, 10, false, w, 2152, 2152, gtpu_extensions(d, 5, w))); }},
        {"gtp-u header cut", false, kUdp,
         [](Draw& d, Bytes, Way w) { return padded(over_udp(d, 5, false, w, 2152, 2152, Bytes{0x30, 0xff, 0, 0, 0})); }},
        {"vxlan without the I flag", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0, 0, 0, 0, 0, 0, 1, 0};
             append(body, padded(ethernet(fixed_link(0x16), w, 0x0800, inner_ip(d, false, kUdp, w, 0, 20))));
             return padded(over_udp(d, 6, false, w, 50001, 4789, body));
         }},
        {"vxlan inner frame cut before the MACs", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             const Bytes body{0x08, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 7, 1, 2, 0, 0, 0};
             return over_udp(d, 7, false, w, 50002, 4789, body);
         }},
        {"vxlan inner frame of MACs only", false, kUdp,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x08, 0, 0, 0, 0, 0, 3, 0};
             append(body, cut(ethernet(fixed_link(0x17), w, 0x0800, {}), 13));
             return over_udp(d, 8, false, w, 50003, 4789, body);
         }},
        {"gre version 1 carrying ipv4", false, kGre,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x00, 0x01, 0x08, 0x00};
             append(body, inner_ip(d, false, kUdp, w, 0, 20));
             return over_ip(d, false, kGre, w, body);
         }},
        {"gre version 1 (pptp)", false, kGre,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x30, 0x01, 0x88, 0x0b, 0, 40, 0, 1};
             append(body, d.fresh.payload(20, 40));
             return over_ip(d, false, kGre, w, body);
         }},
        {"gre source routing", false, kGre,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x40, 0x00, 0x08, 0x00};
             append(body, inner_ip(d, false, kUdp, w, 0, 20));
             return over_ip(d, false, kGre, w, body);
         }},
        {"gre carrying erspan", true, kGre,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1};
             append(body, d.fresh.payload(30, 60));
             return over_ip(d, true, kGre, w, body);
         }},
        {"gre key cut", false, kGre,
         [](Draw& d, Bytes, Way w) { return over_ip(d, false, kGre, w, Bytes{0x20, 0x00, 0x08, 0x00, 0, 0}); }},
        {"gre inner ipv4 IHL 3", false, kGre,
         [](Draw& d, Bytes, Way w) {
             Bytes body{0x00, 0x00, 0x08, 0x00};
             Bytes inner = inner_ip(d, false, kUdp, w, 0, 20);
             inner[0] = 0x43;
             append(body, inner);
             return over_ip(d, false, kGre, w, body);
         }},
    };
    return kinds;
}

} // namespace

std::size_t hostile_kinds() { return hostile_list().size(); }

// Frames of one hostile kind, both ways, of one flow.
Frames hostile(Corpus& c, std::size_t index)
{
    const Hostile& kind = hostile_list().at(index);
    Random& r = c.random();
    const Link l = c.link();
    const Endpoints e = c.endpoints(kind.v6, kind.protocol);
    const std::uint64_t identity = r.next();
    Frames out;
    const std::size_t n = r.between(2, 4);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i);
        const Bytes body = c.payload(8, 60);
        Bytes base = ethernet(l, w, kind.v6 ? 0x86dd : 0x0800, c.ip(e, kind.protocol, w, body));
        Corpus same(identity); // draws the same endpoints for every frame
        Draw draw{same, c};
        out.push_back(kind.spoil(draw, std::move(base), w));
    }
    return out;
}

} // namespace zc::corpus

// SPDX-License-Identifier: BSD-3-Clause
//
// make-corpus -w FILE [--seed N] [--conversations N]
//
// Writes a deterministic capture (pcap, Ethernet) of bidirectional traffic
// for the balancer's system tests: every conversation sends frames both ways,
// and the conversations are interleaved at random. The same seed gives the
// same file, byte for byte, on every machine (mt19937_64, whose output the
// C++ standard fixes, and no std:: distributions, whose output it does not).
//
// What is in it (each kind appears at least once, then at random):
//   plain IPv4 and IPv6 (TCP, UDP, UDP-Lite, SCTP, DCCP, ICMP, ESP, others);
//   802.1Q, QinQ (0x88a8 and 0x9100 outer tags), MPLS stacks;
//   IPv4 options; IPv6 hop-by-hop, routing, destination options, AH and
//   atomic-fragment headers;
//   IPv4 and IPv6 datagrams cut in fragments (first and later ones) next to
//   unfragmented packets of the same flow;
//   GTP-U (short and long headers, extension headers, echo messages), VXLAN
//   (inner VLAN, inner ARP), GRE (IPv4, IPv6, MPLS, Ethernet; checksum, key,
//   sequence), the same inner flow also untunnelled, and fragmented tunnels;
//   and what a hostile link carries: bad IHL and versions, IP lengths too
//   short or beyond the frame or zero, truncation at every layer, runts from
//   14 bytes, too many VLAN tags, MPLS labels or IPv6 extension headers,
//   non-IP frames, and tunnel headers that are not quite tunnels.
// Payloads start with a frame counter where there is a payload, so frames
// are (nearly all) distinct.
//
// Prints one line: frames, conversations, and frames per kind.

#include <getopt.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "corpus_frames.hpp"

namespace {

using namespace zc::corpus;

// ------------------------------------------------------------------ conversations

Frames plain(Corpus& c, bool v6, Link link, IpExtras extras = {})
{
    Random& r = c.random();
    const std::uint8_t protocol = c.protocol(v6);
    const Endpoints e = c.endpoints(v6, protocol);
    Frames out;
    const std::size_t n = r.between(2, 10);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i); // (one draw per statement: argument order is unspecified)
        out.push_back(c.frame(link, e, protocol, w, c.payload(0, 300), extras));
    }
    return out;
}

Frames plain_ipv4(Corpus& c) { return plain(c, false, c.link()); }
Frames plain_ipv6(Corpus& c) { return plain(c, true, c.link()); }

Frames vlan(Corpus& c)
{
    Link l = c.link();
    // A priority tag (id 0) now and then, and PCP/DEI bits that are not the id.
    const std::uint16_t id = c.random().chance(10) ? 0 : static_cast<std::uint16_t>(c.random().between(1, 4094));
    l.tags.push_back({0x8100, id});
    Frames out = plain(c, c.random().chance(30), l);
    for (Bytes& frame : out) // priority and DEI bits vary within a flow; they are not the id
        frame[14] = static_cast<std::uint8_t>(c.random().below(16) << 4 | (frame[14] & 0x0f));
    return out;
}

Frames qinq(Corpus& c)
{
    Link l = c.link();
    static constexpr std::uint16_t kOuter[] = {0x88a8, 0x88a8, 0x9100, 0x8100};
    l.tags.push_back({c.random().pick(kOuter), static_cast<std::uint16_t>(c.random().between(1, 4094))});
    l.tags.push_back({0x8100, static_cast<std::uint16_t>(c.random().between(1, 4094))});
    return plain(c, c.random().chance(30), l);
}

Frames mpls(Corpus& c)
{
    Link l = c.link();
    const std::uint32_t labels = c.random().between(1, 3);
    for (std::uint32_t i = 0; i < labels; ++i)
        l.labels.push_back(c.random().between(16, 0xfffff));
    if (c.random().chance(20))
        l.tags.push_back({0x8100, static_cast<std::uint16_t>(c.random().between(1, 4094))});
    return plain(c, c.random().chance(40), l);
}

Frames ipv4_options(Corpus& c)
{
    IpExtras x;
    const std::uint32_t words = c.random().between(1, 10);
    for (std::uint32_t i = 0; i + 1 < words * 4; ++i)
        put8(x.v4.options, 1); // NOP
    put8(x.v4.options, 0);     // End of options
    if (c.random().chance(30)) {
        x.v4.options.assign({7, 7, 4, 0, 0, 0, 0, 0}); // record route, one slot
        x.v4.options.resize(words * 4 < 8 ? 8 : words * 4, 0);
    }
    return plain(c, false, c.link(), x);
}

Frames ipv6_extensions(Corpus& c)
{
    static constexpr std::uint8_t kTypes[] = {kHopByHop, kRouting, kDestination, kAh, kFragment};
    IpExtras x;
    const std::uint32_t n = c.random().between(1, 4);
    for (std::uint32_t i = 0; i < n; ++i)
        x.v6.chain.push_back({c.random().pick(kTypes), 0}); // a Fragment header here is atomic: not a fragment
    return plain(c, true, c.link(), x);
}

// A flow that sends whole packets and fragmented datagrams, both ways.
Frames fragments(Corpus& c, bool v6)
{
    Random& r = c.random();
    Link l = c.link();
    if (r.chance(20))
        l.tags.push_back({0x8100, static_cast<std::uint16_t>(r.between(1, 4094))});
    static constexpr std::uint8_t kProtocols[] = {kUdp, kUdp, kTcp, kIcmp};
    std::uint8_t protocol = r.pick(kProtocols);
    if (v6 && protocol == kIcmp)
        protocol = kIcmp6;
    const Endpoints e = c.endpoints(v6, protocol);
    Frames out;
    const std::size_t n = r.between(2, 6);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i);
        if (r.chance(30)) { // a whole packet of the same flow
            out.push_back(c.frame(l, e, protocol, w, c.payload(0, 100)));
            continue;
        }
        const Direction d = way(e, w);
        const Bytes body = c.payload(200, 700);
        const Bytes upper = segment(protocol, d.source_port, d.destination_port, w == Way::ToClient, c.counter(), body);
        const std::size_t piece = 8 * r.between(8, 40);
        const std::uint16_t id = c.id();
        std::vector<Ipv6Extension> before;
        if (v6 && r.chance(30))
            before.push_back({kHopByHop, 0});
        for (std::size_t at = 0; at < upper.size(); at += piece) {
            const Bytes part = slice(upper, at, at + piece);
            const bool more = at + piece < upper.size();
            Bytes packet;
            if (v6) {
                Ipv6Extras x;
                x.chain = before;
                x.chain.push_back({kFragment, static_cast<std::uint16_t>((at / 8) << 3 | (more ? 1 : 0))});
                packet = ipv6(d.source, d.destination, protocol, id, part, x);
            } else {
                Ipv4Extras x;
                x.flags_offset = static_cast<std::uint16_t>((more ? 0x2000 : 0) | at / 8);
                packet = ipv4(d.source, d.destination, protocol, id, part, x);
            }
            out.push_back(padded(ethernet(l, w, v6 ? 0x86dd : 0x0800, packet)));
        }
    }
    return out;
}

Frames ipv4_fragments(Corpus& c) { return fragments(c, false); }
Frames ipv6_fragments(Corpus& c) { return fragments(c, true); }


Frames gtpu(Corpus& c)
{
    Random& r = c.random();
    const Tunnel t{c.link(), c.endpoints(r.chance(25), kGre)}; // eNB (client) and gateway (server)
    const bool inner_v6 = r.chance(30);
    static constexpr std::uint8_t kInner[] = {kTcp, kUdp, kUdp, kIcmp};
    std::uint8_t protocol = r.pick(kInner);
    if (inner_v6 && protocol == kIcmp)
        protocol = kIcmp6;
    const Endpoints inner = c.endpoints(inner_v6, protocol); // user equipment (client) and a server
    const std::uint32_t teid_up = r.next() & 0xffffffffu, teid_down = r.next() & 0xffffffffu;
    const bool long_form = r.chance(40);
    static constexpr std::uint8_t kShortForms[] = {0x30, 0x30, 0x32, 0x31}; // plain, S, PN
    const std::uint8_t flags = r.pick(kShortForms);
    Frames out;
    const std::size_t n = r.between(2, 10);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i);
        if (r.chance(10)) { // echo request or response: not a G-PDU, hashed as the outer packet
            Bytes echo{0x32, static_cast<std::uint8_t>(w == Way::ToServer ? 1 : 2), 0, 4, 0, 0, 0, 0};
            put16(echo, r.below(65536));
            put16(echo, 0);
            out.push_back(padded(udp_around(c, t, w, 2152, 2152, echo)));
            continue;
        }
        const std::uint32_t teid = w == Way::ToServer ? teid_up : teid_down;
        if (!inner_v6 && r.chance(15)) {
            // The user's datagram cut in two inside the tunnel: both pieces
            // go by the inner address pair.
            const Direction d = way(inner, w);
            const Bytes body = c.payload(100, 300);
            const Bytes upper =
                segment(protocol, d.source_port, d.destination_port, w == Way::ToClient, c.counter(), body);
            const std::size_t half = (upper.size() / 16) * 8;
            const std::uint16_t id = c.id();
            for (int piece = 0; piece < 2; ++piece) {
                Ipv4Extras x;
                x.flags_offset = static_cast<std::uint16_t>(piece == 0 ? 0x2000 : half / 8);
                const Bytes packet = ipv4(d.source, d.destination, protocol, id,
                                          piece == 0 ? slice(upper, 0, half) : slice(upper, half, upper.size()), x);
                Bytes tunnelled = gtpu_header(teid, packet.size(), long_form, r, flags);
                append(tunnelled, packet);
                out.push_back(padded(udp_around(c, t, w, 2152, 2152, tunnelled)));
            }
            continue;
        }
        const Bytes packet = c.ip(inner, protocol, w, c.payload(0, 200));
        Bytes body = gtpu_header(teid, packet.size(), long_form, r, flags);
        append(body, packet);
        out.push_back(padded(udp_around(c, t, w, 2152, 2152, body)));
    }
    // The same inner flow seen untunnelled (a tap behind the gateway): in
    // inner-5tuple mode it hashes as its tunnelled frames do.
    if (r.chance(30)) {
        const Link tap = c.link();
        for (std::size_t i = 0; i < 2; ++i)
            out.push_back(c.frame(tap, inner, protocol, c.nth_way(i), c.payload(0, 100)));
    }
    return out;
}

Frames vxlan(Corpus& c)
{
    Random& r = c.random();
    const Tunnel t{c.link(), c.endpoints(r.chance(20), kGre)}; // two VTEPs
    // Each VTEP picks its own source port (from the inner flow's hash): the
    // two ways of one inner flow are two outer 5-tuples.
    const std::uint16_t port_up = static_cast<std::uint16_t>(r.between(49152, 65535));
    const std::uint16_t port_down = static_cast<std::uint16_t>(r.between(49152, 65535));
    Link inner_link = c.link();
    if (r.chance(25))
        inner_link.tags.push_back({0x8100, static_cast<std::uint16_t>(r.between(1, 4094))});
    if (r.chance(10))
        inner_link.tags.push_back({0x8100, static_cast<std::uint16_t>(r.between(1, 4094))}); // QinQ inside
    const bool inner_v6 = r.chance(30);
    const std::uint8_t protocol = inner_v6 ? kTcp : c.protocol(false);
    const Endpoints inner = c.endpoints(inner_v6, protocol);
    const std::uint32_t vni = r.between(1, 0xffffff);
    const bool arp = r.chance(15);
    Frames out;
    const std::size_t n = r.between(2, 10);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i);
        Bytes body{0x08, 0, 0, 0};
        put32(body, vni << 8);
        if (arp) { // inner ARP: hashed on the inner MAC pair
            Bytes a{0, 1, 8, 0, 6, 4, 0, static_cast<std::uint8_t>(w == Way::ToServer ? 1 : 2)};
            append(a, c.payload(20, 20));
            append(body, padded(ethernet(inner_link, w, 0x0806, a)));
        } else {
            append(body, padded(c.frame(inner_link, inner, protocol, w, c.payload(0, 200))));
        }
        out.push_back(padded(udp_around(c, t, w, w == Way::ToServer ? port_up : port_down, 4789, body)));
    }
    return out;
}

Frames gre(Corpus& c)
{
    Random& r = c.random();
    const Tunnel t{c.link(), c.endpoints(r.chance(20), kGre)};
    static constexpr std::uint16_t kFlags[] = {0x0000, 0x2000, 0xb000, 0x8000, 0x1000, 0x3000};
    const std::uint16_t flags = r.pick(kFlags);
    static constexpr std::uint16_t kCarried[] = {0x0800, 0x0800, 0x86dd, 0x8847, 0x6558};
    const std::uint16_t carried = r.pick(kCarried);
    const bool inner_v6 = carried == 0x86dd || (carried != 0x0800 && r.chance(30));
    const std::uint8_t protocol = inner_v6 ? kUdp : c.protocol(false);
    const Endpoints inner = c.endpoints(inner_v6, protocol);
    Link inner_link = c.link();
    if (carried == 0x6558 && r.chance(30))
        inner_link.tags.push_back({0x8100, static_cast<std::uint16_t>(r.between(1, 4094))});
    const std::uint32_t key = r.next() & 0xffffffffu;
    Frames out;
    const std::size_t n = r.between(2, 10);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i);
        Bytes body;
        put16(body, flags);
        put16(body, carried);
        if (flags & 0x8000) {
            put16(body, 0); // checksum
            put16(body, 0); // reserved
        }
        if (flags & 0x2000)
            put32(body, key);
        if (flags & 0x1000)
            put32(body, static_cast<std::uint32_t>(i));
        if (carried == 0x6558) {
            append(body, padded(c.frame(inner_link, inner, protocol, w, c.payload(0, 200))));
        } else {
            if (carried == 0x8847)
                put32(body, r.between(16, 0xfffff) << 12 | 0x100u | 64u);
            append(body, c.ip(inner, protocol, w, c.payload(0, 200)));
        }
        const Direction d = way(t.outer, w);
        const Bytes packet = t.outer.ipv6 ? ipv6(d.source, d.destination, kGre, c.id(), body)
                                          : ipv4(d.source, d.destination, kGre, c.id(), body);
        out.push_back(padded(ethernet(t.link, w, t.outer.ipv6 ? 0x86dd : 0x0800, packet)));
    }
    return out;
}

// A tunnel whose outer packets are fragmented: every piece is hashed on the
// outer address pair, in every mode.
Frames tunnel_fragments(Corpus& c)
{
    Random& r = c.random();
    const bool v6 = r.chance(30);
    const Tunnel t{c.link(), c.endpoints(v6, kGre)};
    const Endpoints inner = c.endpoints(false, kUdp);
    const int kind = static_cast<int>(r.below(3)); // GRE, VXLAN, GTP-U
    Frames out;
    const std::size_t n = r.between(2, 4);
    for (std::size_t i = 0; i < n; ++i) {
        const Way w = c.nth_way(i);
        const Direction d = way(t.outer, w);
        const Bytes packet = c.ip(inner, kUdp, w, c.payload(300, 600));
        Bytes upper;
        std::uint8_t protocol = kUdp;
        if (kind == 0) {
            protocol = kGre;
            put16(upper, 0);
            put16(upper, 0x0800);
            append(upper, packet);
        } else {
            Bytes body;
            if (kind == 1) {
                body = {0x08, 0, 0, 0, 0, 0, 0x2a, 0};
                append(body, ethernet(c.link(), w, 0x0800, packet));
            } else {
                body = gtpu_header(0x1234, packet.size(), false, r);
                append(body, packet);
            }
            put16(upper, kind == 1 ? 50000 : 2152);
            put16(upper, kind == 1 ? 4789 : 2152);
            put16(upper, static_cast<unsigned>(8 + body.size()));
            put16(upper, 0);
            append(upper, body);
        }
        const std::uint16_t id = c.id();
        const std::size_t piece = 8 * r.between(10, 30);
        for (std::size_t at = 0; at < upper.size(); at += piece) {
            const Bytes part = slice(upper, at, at + piece);
            const bool more = at + piece < upper.size();
            Bytes ip_packet;
            if (v6) {
                Ipv6Extras x;
                x.chain.push_back({kFragment, static_cast<std::uint16_t>((at / 8) << 3 | (more ? 1 : 0))});
                ip_packet = ipv6(d.source, d.destination, protocol, id, part, x);
            } else {
                Ipv4Extras x;
                x.flags_offset = static_cast<std::uint16_t>((more ? 0x2000 : 0) | at / 8);
                ip_packet = ipv4(d.source, d.destination, protocol, id, part, x);
            }
            out.push_back(padded(ethernet(t.link, w, v6 ? 0x86dd : 0x0800, ip_packet)));
        }
    }
    return out;
}

// ------------------------------------------------------------------ main

struct Kind {
    const char* name;
    Frames (*make)(Corpus&);
    unsigned weight;
};

constexpr Kind kKinds[] = {
    {"plain-ipv4", plain_ipv4, 14},
    {"plain-ipv6", plain_ipv6, 8},
    {"vlan", vlan, 8},
    {"qinq", qinq, 5},
    {"mpls", mpls, 5},
    {"ipv4-options", ipv4_options, 4},
    {"ipv6-extensions", ipv6_extensions, 5},
    {"ipv4-fragments", ipv4_fragments, 6},
    {"ipv6-fragments", ipv6_fragments, 4},
    {"gtp-u", gtpu, 10},
    {"vxlan", vxlan, 8},
    {"gre", gre, 8},
    {"tunnel-fragments", tunnel_fragments, 3},
    {"hostile", nullptr, 12},
};

const char kUsage[] = "usage: make-corpus -w FILE [--seed N] [--conversations N]\n";

} // namespace

int main(int argc, char** argv)
{
    std::uint64_t seed = 1;
    unsigned long conversations = 500;
    std::string path;
    static const option kLong[] = {{"write", required_argument, nullptr, 'w'},
                                   {"seed", required_argument, nullptr, 's'},
                                   {"conversations", required_argument, nullptr, 'n'},
                                   {"help", no_argument, nullptr, 'h'},
                                   {nullptr, 0, nullptr, 0}};
    int option = 0;
    while ((option = getopt_long(argc, argv, "w:s:n:h", kLong, nullptr)) != -1) {
        char* end = nullptr;
        switch (option) {
        case 'w': path = optarg; break;
        case 's':
            seed = std::strtoull(optarg, &end, 0);
            if (*end || end == optarg) {
                std::fprintf(stderr, "make-corpus: --seed %s: not a number\n%s", optarg, kUsage);
                return 2;
            }
            break;
        case 'n':
            conversations = std::strtoul(optarg, &end, 10);
            if (*end || end == optarg || conversations == 0 || conversations > 1000000) {
                std::fprintf(stderr, "make-corpus: --conversations %s: a number from 1 to 1000000\n%s", optarg, kUsage);
                return 2;
            }
            break;
        case 'h': std::fputs(kUsage, stdout); return 0;
        default: std::fputs(kUsage, stderr); return 2;
        }
    }
    if (path.empty() || optind != argc) {
        std::fputs(kUsage, stderr);
        return 2;
    }

    Corpus corpus(seed);
    Random& r = corpus.random();
    std::vector<Frames> made;
    std::map<std::string, std::size_t> per_kind;
    auto add = [&](const char* name, Frames frames) {
        per_kind[name] += frames.size();
        made.push_back(std::move(frames));
    };
    // Every kind, and every hostile kind, once; then kinds at random by weight.

    for (const Kind& kind : kKinds) {
        if (kind.make)
            add(kind.name, kind.make(corpus));
        else
            for (std::size_t h = 0; h < hostile_kinds(); ++h)
                add(kind.name, hostile(corpus, h));
    }
    unsigned total_weight = 0;
    for (const Kind& kind : kKinds)
        total_weight += kind.weight;
    while (made.size() < conversations) {
        unsigned pick = r.below(total_weight);
        const Kind* kind = kKinds;
        while (pick >= kind->weight)
            pick -= (kind++)->weight;
        if (kind->make)
            add(kind->name, kind->make(corpus));
        else
            add(kind->name, hostile(corpus, r.below(static_cast<std::uint32_t>(hostile_kinds()))));
    }

    // Interleave the conversations, each in its own order.
    std::vector<std::size_t> next(made.size(), 0);
    std::vector<std::size_t> open(made.size());
    for (std::size_t i = 0; i < made.size(); ++i)
        open[i] = i;
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* dumper = dead ? pcap_dump_open(dead, path.c_str()) : nullptr;
    if (!dumper) {
        std::fprintf(stderr, "make-corpus: %s: %s\n", path.c_str(), dead ? pcap_geterr(dead) : "out of memory");
        return 1;
    }
    std::uint64_t frames = 0;
    std::size_t longest = 0;
    while (!open.empty()) {
        const std::size_t slot = r.below(static_cast<std::uint32_t>(open.size()));
        const std::size_t conversation = open[slot];
        const Bytes& frame = made[conversation][next[conversation]++];
        if (next[conversation] == made[conversation].size()) {
            open[slot] = open.back();
            open.pop_back();
        }
        pcap_pkthdr header{};
        header.ts.tv_sec = static_cast<time_t>(1'700'000'000 + frames / 1'000'000);
        header.ts.tv_usec = static_cast<suseconds_t>(frames % 1'000'000);
        header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.data());
        longest = std::max(longest, frame.size());
        ++frames;
    }
    if (pcap_dump_flush(dumper) != 0) {
        std::fprintf(stderr, "make-corpus: %s: cannot write\n", path.c_str());
        return 1;
    }
    pcap_dump_close(dumper);
    pcap_close(dead);

    std::printf("make-corpus: %llu frames (longest %zu bytes), %zu conversations, seed %llu:",
                static_cast<unsigned long long>(frames), longest, made.size(), static_cast<unsigned long long>(seed));
    for (const auto& [name, count] : per_kind)
        std::printf(" %s %zu", name.c_str(), count);
    std::printf("\n");
    return 0;
}

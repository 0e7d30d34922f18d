// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/corpus_frames.hpp — the frame builders of make-corpus:
// bytes, a deterministic random source, Ethernet (VLAN tags, MPLS), IPv4
// (options, fragments), IPv6 (extension headers), the upper layers, the
// UDP and GTP-U headers of tunnels, and Corpus, which draws addresses,
// ports, MACs and payloads (with a frame counter, so frames stay distinct).
// Nothing here is random but through Random: the same seed, the same bytes.

#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace zc::corpus {

using Bytes = std::vector<std::uint8_t>;
using Address = std::array<std::uint8_t, 16>; // IPv4 in the first 4 bytes
using Mac = std::array<std::uint8_t, 6>;

inline constexpr std::uint8_t kHopByHop = 0, kIcmp = 1, kTcp = 6, kUdp = 17, kDccp = 33, kRouting = 43, kFragment = 44,
                       kGre = 47, kEsp = 50, kAh = 51, kIcmp6 = 58, kDestination = 60, kSctp = 132, kUdpLite = 136;

// ------------------------------------------------------------------ bytes

inline void put8(Bytes& b, unsigned v) { b.push_back(static_cast<std::uint8_t>(v)); }
inline void put16(Bytes& b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v);
}
inline void put32(Bytes& b, std::uint32_t v)
{
    put16(b, v >> 16);
    put16(b, v & 0xffffu);
}
inline void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }
inline void set16(Bytes& b, std::size_t at, unsigned v)
{
    b.at(at) = static_cast<std::uint8_t>(v >> 8);
    b.at(at + 1) = static_cast<std::uint8_t>(v);
}
inline Bytes slice(const Bytes& b, std::size_t from, std::size_t to)
{
    to = std::min(to, b.size());
    return Bytes(b.begin() + static_cast<std::ptrdiff_t>(std::min(from, to)), b.begin() + static_cast<std::ptrdiff_t>(to));
}

inline std::uint16_t ipv4_checksum(const Bytes& b, std::size_t at, std::size_t length)
{
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < length; i += 2)
        sum += static_cast<std::uint32_t>(b[at + i] << 8 | b[at + i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// ------------------------------------------------------------------ randomness

struct Random {
    std::mt19937_64 engine;
    explicit Random(std::uint64_t seed) : engine(seed) {}
    std::uint64_t next() { return engine(); }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
    std::uint32_t between(std::uint32_t low, std::uint32_t high) { return low + below(high - low + 1); }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <typename T, std::size_t N> T pick(const T (&choices)[N]) { return choices[below(N)]; }
};

// ------------------------------------------------------------------ headers

struct Ipv4Extras {
    Bytes options;                 // a multiple of 4 bytes
    std::uint16_t flags_offset = 0; // 0x2000 More Fragments, offset in 8-byte units
};

struct Ipv6Extension {
    std::uint8_t type;
    std::uint16_t fragment_field = 0; // Fragment: offset << 3 | M
};

struct Ipv6Extras {
    std::vector<Ipv6Extension> chain; // in order, before the upper layer
};

struct IpExtras {
    Ipv4Extras v4;
    Ipv6Extras v6;
};

struct Endpoints {
    bool ipv6 = false;
    Address client{}, server{};
    std::uint16_t client_port = 0, server_port = 0;
};

enum class Way { ToServer, ToClient };

struct Direction {
    Address source, destination;
    std::uint16_t source_port, destination_port;
};

inline Direction way(const Endpoints& e, Way w)
{
    if (w == Way::ToServer)
        return {e.client, e.server, e.client_port, e.server_port};
    return {e.server, e.client, e.server_port, e.client_port};
}

inline Bytes ipv4(const Address& source, const Address& destination, std::uint8_t protocol, std::uint16_t id,
           const Bytes& payload, const Ipv4Extras& x = {})
{
    Bytes b;
    const std::size_t header = 20 + x.options.size();
    put8(b, static_cast<unsigned>(0x40 | header / 4));
    put8(b, 0);
    put16(b, static_cast<unsigned>(header + payload.size()));
    put16(b, id);
    put16(b, x.flags_offset);
    put8(b, 64);
    put8(b, protocol);
    put16(b, 0);
    b.insert(b.end(), source.begin(), source.begin() + 4);
    b.insert(b.end(), destination.begin(), destination.begin() + 4);
    append(b, x.options);
    set16(b, 10, ipv4_checksum(b, 0, header));
    append(b, payload);
    return b;
}

inline Bytes ipv6(const Address& source, const Address& destination, std::uint8_t protocol, std::uint32_t flow_label,
           const Bytes& payload, const Ipv6Extras& x = {})
{
    Bytes extensions;
    for (std::size_t i = 0; i < x.chain.size(); ++i) {
        const std::uint8_t next = i + 1 < x.chain.size() ? x.chain[i + 1].type : protocol;
        switch (x.chain[i].type) {
        case kFragment:
            put8(extensions, next);
            put8(extensions, 0);
            put16(extensions, x.chain[i].fragment_field);
            put32(extensions, 0x5a5a0000u | (flow_label & 0xffffu)); // identification
            break;
        case kAh: // 24 bytes: length in 4-byte units minus 2
            put8(extensions, next);
            put8(extensions, 4);
            put16(extensions, 0);
            put32(extensions, 0x1000 + flow_label); // SPI
            put32(extensions, 1);                   // sequence
            for (int k = 0; k < 12; ++k)
                put8(extensions, 0xa5); // ICV
            break;
        case kRouting: // segment routing, one segment left 0: 24 bytes
            put8(extensions, next);
            put8(extensions, 2);
            put8(extensions, 4); // type 4, SRH
            put8(extensions, 0); // segments left
            put32(extensions, 0);
            extensions.insert(extensions.end(), destination.begin(), destination.end());
            break;
        default: // hop-by-hop, destination options: 8 or 16 bytes of PadN
        {
            const unsigned units = (flow_label + i) % 2;
            put8(extensions, next);
            put8(extensions, units);
            put8(extensions, 1); // PadN
            put8(extensions, 4 + 8 * units);
            for (unsigned k = 0; k < 4 + 8 * units; ++k)
                put8(extensions, 0);
            break;
        }
        }
    }
    Bytes b;
    put32(b, 0x60000000u | (flow_label & 0xfffffu));
    put16(b, static_cast<unsigned>(extensions.size() + payload.size()));
    put8(b, x.chain.empty() ? protocol : x.chain[0].type);
    put8(b, 64);
    b.insert(b.end(), source.begin(), source.end());
    b.insert(b.end(), destination.begin(), destination.end());
    append(b, extensions);
    append(b, payload);
    return b;
}

// The upper-layer header and payload of one packet.
inline Bytes segment(std::uint8_t protocol, std::uint16_t source_port, std::uint16_t destination_port, bool reply,
              std::uint32_t counter, const Bytes& payload)
{
    Bytes b;
    switch (protocol) {
    case kTcp:
        put16(b, source_port);
        put16(b, destination_port);
        put32(b, counter * 1000u);
        put32(b, counter * 7u);
        put16(b, 0x5018); // 20 bytes, ACK PSH
        put16(b, 0xfaf0);
        put32(b, 0);
        break;
    case kUdp:
    case kUdpLite:
        put16(b, source_port);
        put16(b, destination_port);
        put16(b, static_cast<unsigned>(protocol == kUdp ? 8 + payload.size() : 8)); // UDP-Lite: coverage
        put16(b, 0);
        break;
    case kSctp:
        put16(b, source_port);
        put16(b, destination_port);
        put32(b, 0xc0ffee00u + counter % 2);
        put32(b, 0);
        break;
    case kDccp:
        put16(b, source_port);
        put16(b, destination_port);
        put8(b, 4); // data offset: 16 bytes
        put8(b, 0);
        put16(b, 0);
        put8(b, 0x03); // DATA, X=1
        put8(b, 0);
        put16(b, 0);
        put32(b, counter);
        break;
    case kIcmp:
        put8(b, reply ? 0 : 8);
        put8(b, 0);
        put16(b, 0);
        put16(b, source_port ^ destination_port); // identifier
        put16(b, counter & 0xffffu);
        break;
    case kIcmp6:
        put8(b, reply ? 129 : 128);
        put8(b, 0);
        put16(b, 0);
        put16(b, source_port ^ destination_port);
        put16(b, counter & 0xffffu);
        break;
    case kEsp:
        put32(b, 0x2000u + (reply ? 1 : 0)); // SPI
        put32(b, counter);
        break;
    default:
        break;
    }
    append(b, payload);
    return b;
}

struct Link {
    Mac client{}, server{};
    std::vector<std::pair<std::uint16_t, std::uint16_t>> tags; // (TPID, TCI), outermost first
    std::vector<std::uint32_t> labels;                         // MPLS labels (20 bits), outermost first
};

inline Bytes ethernet(const Link& l, Way w, std::uint16_t type, const Bytes& payload)
{
    const Mac& source = w == Way::ToServer ? l.client : l.server;
    const Mac& destination = w == Way::ToServer ? l.server : l.client;
    Bytes b(destination.begin(), destination.end());
    b.insert(b.end(), source.begin(), source.end());
    for (const auto& [tpid, tci] : l.tags) {
        put16(b, tpid);
        put16(b, tci);
    }
    if (!l.labels.empty()) {
        put16(b, 0x8847);
        for (std::size_t i = 0; i < l.labels.size(); ++i)
            put32(b, l.labels[i] << 12 | (i + 1 == l.labels.size() ? 0x100u : 0u) | 64u);
    } else {
        put16(b, type);
    }
    append(b, payload);
    return b;
}

// Short frames are padded to 60 bytes, as Ethernet does: the padding is not
// the IP packet's (hash.h reads no further than the IP length).
inline Bytes padded(Bytes frame)
{
    if (frame.size() < 60)
        frame.resize(60, 0);
    return frame;
}

// ------------------------------------------------------------------ the generator

class Corpus {
public:
    explicit Corpus(std::uint64_t seed) : r_(seed) {}

    Random& random() { return r_; }

    Address ipv4_address()
    {
        static constexpr std::uint32_t kPrefixes[] = {0x0a000000, 0xac100000, 0xc0a80000, 0x64400000, 0x08080000,
                                                      0xc6120000};
        const std::uint32_t prefix = r_.pick(kPrefixes);
        const std::uint32_t a = prefix | (r_.below(0xfffe) + 1);
        return Address{static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                       static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)};
    }

    Address ipv6_address()
    {
        Address a{0x20, 0x01, 0x0d, 0xb8};
        for (std::size_t i = 4; i < 16; ++i)
            a[i] = static_cast<std::uint8_t>(r_.below(4) == 0 ? 0 : r_.below(256));
        return a;
    }

    Mac mac()
    {
        Mac m;
        for (auto& byte : m)
            byte = static_cast<std::uint8_t>(r_.below(256));
        m[0] = static_cast<std::uint8_t>((m[0] & 0xfc) | 0x02); // locally administered, unicast
        return m;
    }

    Link link()
    {
        Link l{mac(), mac(), {}, {}};
        if (r_.chance(3))
            l.server = Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; // broadcast, one way
        return l;
    }

    std::uint16_t client_port() { return static_cast<std::uint16_t>(r_.between(1024, 65535)); }

    std::uint16_t server_port()
    {
        static constexpr std::uint16_t kPorts[] = {53, 80, 443, 123, 161, 5060, 8080, 3478, 1812, 25, 0};
        const std::uint16_t p = r_.pick(kPorts);
        return p ? p : static_cast<std::uint16_t>(r_.between(1, 65535));
    }

    // Two endpoints; the tunnel ports are avoided (those are chosen on purpose).
    Endpoints endpoints(bool v6, std::uint8_t protocol)
    {
        Endpoints e;
        e.ipv6 = v6;
        e.client = v6 ? ipv6_address() : ipv4_address();
        do
            e.server = v6 ? ipv6_address() : ipv4_address();
        while (e.server == e.client);
        if (protocol == kTcp || protocol == kUdp || protocol == kUdpLite || protocol == kSctp || protocol == kDccp) {
            do {
                e.client_port = client_port();
                e.server_port = server_port();
            } while (e.client_port == 2152 || e.client_port == 4789 || e.server_port == 2152 ||
                     e.server_port == 4789);
        } else if (protocol == kIcmp || protocol == kIcmp6) {
            e.client_port = client_port(); // only for the ICMP identifier
        }
        return e;
    }

    std::uint8_t protocol(bool v6)
    {
        static constexpr std::uint8_t kV4[] = {kTcp, kTcp, kUdp, kUdp, kIcmp, kSctp, kDccp, kUdpLite, kEsp, 253};
        static constexpr std::uint8_t kV6[] = {kTcp, kTcp, kUdp, kUdp, kIcmp6, kSctp, kUdpLite, kEsp};
        return v6 ? r_.pick(kV6) : r_.pick(kV4);
    }

    // A payload whose first bytes are the frame counter: frames stay distinct.
    Bytes payload(std::uint32_t low, std::uint32_t high)
    {
        Bytes b;
        put32(b, 0x7a63636fu); // "zcco"
        put32(b, ++counter_);
        const std::uint32_t n = r_.between(low, high);
        for (std::uint32_t i = 0; i < n; ++i)
            put8(b, r_.below(256));
        return b;
    }

    std::uint32_t counter() const { return counter_; }
    std::uint16_t id() { return static_cast<std::uint16_t>(++ids_); }

    // An IP packet (no Ethernet) of endpoints e going way w.
    Bytes ip(const Endpoints& e, std::uint8_t protocol, Way w, const Bytes& body, const IpExtras& x = {})
    {
        const Direction d = way(e, w);
        const Bytes upper = segment(protocol, d.source_port, d.destination_port, w == Way::ToClient, counter_, body);
        if (e.ipv6)
            return ipv6(d.source, d.destination, protocol, id(), upper, x.v6);
        return ipv4(d.source, d.destination, protocol, id(), upper, x.v4);
    }

    Bytes frame(const Link& l, const Endpoints& e, std::uint8_t protocol, Way w, const Bytes& body,
                const IpExtras& x = {})
    {
        return padded(ethernet(l, w, e.ipv6 ? 0x86dd : 0x0800, ip(e, protocol, w, body, x)));
    }

    // Which way the i-th frame of a conversation goes: the first two are one
    // each way, the rest at random.
    Way nth_way(std::size_t i)
    {
        if (i < 2)
            return i == 0 ? Way::ToServer : Way::ToClient;
        return r_.chance(50) ? Way::ToServer : Way::ToClient;
    }

private:
    Random r_;
    std::uint32_t counter_ = 0;
    std::uint32_t ids_ = 0;
};

using Frames = std::vector<Bytes>;

// The outer UDP or GRE packet around an inner packet, one way.
struct Tunnel {
    Link link;
    Endpoints outer; // addresses; ports chosen per kind
};

inline Bytes udp_around(Corpus& c, const Tunnel& t, Way w, std::uint16_t source_port, std::uint16_t destination_port,
                 const Bytes& body, const IpExtras& x = {})
{
    Endpoints e = t.outer;
    const Direction d = way(e, w);
    Bytes udp;
    put16(udp, source_port);
    put16(udp, destination_port);
    put16(udp, static_cast<unsigned>(8 + body.size()));
    put16(udp, 0);
    append(udp, body);
    const Bytes packet = e.ipv6 ? ipv6(d.source, d.destination, kUdp, c.id(), udp, x.v6)
                                : ipv4(d.source, d.destination, kUdp, c.id(), udp, x.v4);
    return ethernet(t.link, w, e.ipv6 ? 0x86dd : 0x0800, packet);
}

// A G-PDU header: the 8-byte form; with `long_form`, S and E and extension
// headers; with `flags` other than 0x30, that first byte (S or PN alone: the
// 4 optional bytes without extensions).
inline Bytes gtpu_header(std::uint32_t teid, std::size_t inner_size, bool long_form, Random& r, std::uint8_t flags = 0x30)
{
    Bytes h;
    put8(h, long_form ? 0x36 : flags); // version 1, GTP; E and S in the long form
    put8(h, 0xff);                     // G-PDU
    Bytes extensions;
    if (!long_form && (flags & 0x07) != 0) {
        put16(extensions, r.below(65536)); // sequence
        put8(extensions, 0);               // N-PDU
        put8(extensions, 0);               // no extension
    }
    if (long_form) {
        put16(extensions, r.below(65536)); // sequence
        put8(extensions, 0);               // N-PDU
        put8(extensions, 0x85);            // PDU session container follows
        put8(extensions, 1);               // 4 bytes
        put8(extensions, 0x10);
        put8(extensions, r.below(64)); // QFI
        if (r.chance(50)) {
            put8(extensions, 0xc0); // another (unknown) extension, 8 bytes
            put8(extensions, 2);
            for (int i = 0; i < 6; ++i)
                put8(extensions, 0x11);
        }
        put8(extensions, 0); // no more
    }
    put16(h, static_cast<unsigned>(extensions.size() + inner_size));
    put32(h, teid);
    append(h, extensions);
    return h;
}

// A hostile link's frames (corpus_hostile.cpp): kinds of malformed,
// truncated and almost-tunnel frames, each as a conversation both ways.
std::size_t hostile_kinds();
Frames hostile(Corpus& c, std::size_t kind);

} // namespace zc::corpus

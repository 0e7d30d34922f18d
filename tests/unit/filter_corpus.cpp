// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_corpus.cpp — see filter_corpus.hpp. (Moved out of
// filter_translate_test.cpp unchanged; the random programs too.)

#include "filter_corpus.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "filter_runner.hpp"

namespace zc::filter::test {
namespace {

using namespace zc::corpus;

// ------------------------------------------------------------------ the corpus

Address v4(const char* text)
{
    Address a{};
    EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1) << text;
    return a;
}

Address v6(const char* text)
{
    Address a{};
    EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
    return a;
}

constexpr Mac kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Mac kMulticast{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
constexpr Mac kHostA{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr Mac kHostB{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr Mac kHostC{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc};

class CorpusBuilder {
public:
    CorpusBuilder() : random_(20240612)
    {
        for (const char* a : {"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.10", "192.168.1.77", "172.16.5.4",
                              "8.8.8.8", "224.0.0.251", "255.255.255.255", "100.64.0.9"})
            v4_.push_back(v4(a));
        for (const char* a : {"2001:db8::1", "2001:db8::2", "2001:db8:1::5", "fe80::1", "ff02::1", "::1",
                              "2001:db8:ffff::abcd"})
            v6_.push_back(v6(a));
    }

    Frames build()
    {
        Frames frames;
        for (int i = 0; i < 420; ++i)
            frames.push_back(ip_frame(false));
        for (int i = 0; i < 220; ++i)
            frames.push_back(ip_frame(true));
        for (int i = 0; i < 80; ++i)
            frames.push_back(arp(i));
        add_tagged(frames);
        add_other_protocols(frames);
        add_malformed(frames);
        add_cuts(frames);
        Corpus hostile_source(7);
        for (std::size_t kind = 0; kind < hostile_kinds(); ++kind)
            for (Bytes& frame : hostile(hostile_source, kind))
                frames.push_back(std::move(frame));
        return frames;
    }

private:
    Mac mac()
    {
        static constexpr Mac kMacs[] = {kHostA, kHostB, kHostC, kHostA, kHostB, kHostC, kBroadcast, kMulticast};
        return random_.pick(kMacs);
    }

    std::uint16_t port()
    {
        static constexpr std::uint16_t kPorts[] = {22,   53,   80,   443,   8080, 1024, 5000, 6000,
                                                   5500, 1500, 123,  161,   25,   3389, 65535, 0};
        return random_.chance(80) ? random_.pick(kPorts) : static_cast<std::uint16_t>(random_.below(65536));
    }

    Bytes payload()
    {
        static constexpr std::uint32_t kSizes[] = {0, 0, 6, 20, 100, 300, 700, 1400, 1460};
        Bytes b(random_.pick(kSizes));
        for (auto& byte : b)
            byte = static_cast<std::uint8_t>(random_.below(256));
        return b;
    }

    Link link()
    {
        Link l{mac(), mac(), {}, {}};
        return l;
    }

    // An upper layer with its header fields varied: TCP flags and data
    // offset, ICMP type.
    Bytes upper(std::uint8_t protocol, bool v6)
    {
        if (protocol == 0) {
            static constexpr std::uint8_t kOthers[] = {kGre, kEsp, kAh, kSctp, 2 /* IGMP */, 89 /* OSPF */, 103};
            protocol = random_.pick(kOthers);
        }
        last_protocol_ = protocol;
        Bytes b = segment(protocol, port(), port(), random_.chance(50), random_.below(1000), payload());
        if (protocol == kTcp) {
            static constexpr std::uint8_t kFlags[] = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0xc2};
            b[13] = random_.pick(kFlags);
            if (random_.chance(10))
                b[12] = static_cast<std::uint8_t>(random_.between(0, 15) << 4); // data offsets, some impossible
        } else if (protocol == kIcmp || protocol == kIcmp6) {
            static constexpr std::uint8_t kTypes[] = {0, 3, 8, 11, 5, 13};
            static constexpr std::uint8_t kTypes6[] = {128, 129, 1, 135, 136, 133};
            b[0] = v6 ? random_.pick(kTypes6) : random_.pick(kTypes);
        }
        return b;
    }

    Bytes ipv4_packet(std::uint8_t protocol)
    {
        static constexpr std::uint8_t kProtocols[] = {kTcp, kTcp, kTcp, kUdp, kUdp, kIcmp, 0};
        if (protocol == 0xff)
            protocol = random_.pick(kProtocols);
        Ipv4Extras x;
        if (random_.chance(12)) {
            static constexpr std::uint16_t kFragments[] = {0x2000, 0x0010, 0x2010, 0x1fff, 0x20b9};
            x.flags_offset = random_.pick(kFragments);
        } else if (random_.chance(25)) {
            x.flags_offset = 0x4000; // DF
        }
        if (random_.chance(10))
            x.options.assign(4 * random_.between(1, 10), 0x01); // NOPs: IHL 6..15
        Bytes b = ipv4(random_.pick_from(v4_), random_.pick_from(v4_), 0,
                       static_cast<std::uint16_t>(random_.below(65536)),
                       upper(protocol, false), x);
        b[9] = last_protocol_;
        if (random_.chance(20))
            b[1] = static_cast<std::uint8_t>(random_.below(256)); // DSCP and ECN
        if (random_.chance(20))
            b[8] = static_cast<std::uint8_t>(random_.between(1, 10)); // TTL
        return b;
    }

    Bytes ipv6_packet()
    {
        static constexpr std::uint8_t kProtocols[] = {kTcp, kTcp, kUdp, kUdp, kIcmp6, 0};
        const std::uint8_t protocol = random_.pick(kProtocols);
        Ipv6Extras x;
        if (random_.chance(15))
            x.chain.push_back({kHopByHop});
        if (random_.chance(10))
            x.chain.push_back({kFragment, static_cast<std::uint16_t>(random_.chance(50) ? 1 : 0x100)});
        const Bytes body = upper(protocol, true);
        return ipv6(random_.pick_from(v6_), random_.pick_from(v6_), last_protocol_, random_.below(1 << 20), body, x);
    }

    Bytes ip_frame(bool v6)
    {
        return padded(ethernet(link(), Way::ToServer, v6 ? 0x86dd : 0x0800, v6 ? ipv6_packet() : ipv4_packet(0xff)));
    }

    Bytes arp(int i)
    {
        Bytes b;
        put16(b, 1);      // Ethernet
        put16(b, 0x0800); // IPv4
        put8(b, 6);
        put8(b, 4);
        put16(b, i % 2 ? 2 : 1); // reply, request
        const Mac sender = mac();
        b.insert(b.end(), sender.begin(), sender.end());
        const Address a = random_.pick_from(v4_), t = random_.pick_from(v4_);
        b.insert(b.end(), a.begin(), a.begin() + 4);
        const Mac target = i % 2 ? mac() : Mac{};
        b.insert(b.end(), target.begin(), target.end());
        b.insert(b.end(), t.begin(), t.begin() + 4);
        Link l{mac(), i % 2 ? mac() : kBroadcast, {}, {}};
        return padded(ethernet(l, Way::ToServer, i % 5 == 4 ? 0x8035 : 0x0806, b)); // and a few RARP
    }

    void add_tagged(Frames& frames)
    {
        static constexpr std::uint16_t kIds[] = {1, 100, 200, 4094};
        for (int i = 0; i < 240; ++i) {
            Link l = link();
            const std::uint16_t outer = random_.pick(kIds);
            if (i % 3 == 2) // QinQ: 802.1ad or two 802.1Q tags outside, 802.1Q inside
                l.tags.push_back({static_cast<std::uint16_t>(i % 2 ? 0x88a8 : 0x8100), outer});
            l.tags.push_back({0x8100, static_cast<std::uint16_t>((random_.below(8) << 13) | random_.pick(kIds))});
            const bool v6 = i % 4 == 1;
            frames.push_back(padded(ethernet(l, Way::ToServer, v6 ? 0x86dd : 0x0800,
                                             v6 ? ipv6_packet() : ipv4_packet(0xff))));
        }
        for (int i = 0; i < 12; ++i) { // MPLS
            Link l = link();
            l.labels = {static_cast<std::uint32_t>(i % 2 ? 100 : 16 + i)};
            if (i % 3 == 0)
                l.labels.push_back(200);
            frames.push_back(padded(ethernet(l, Way::ToServer, 0x0800, ipv4_packet(kUdp))));
        }
    }

    void add_other_protocols(Frames& frames)
    {
        for (int i = 0; i < 40; ++i)
            frames.push_back(padded(ethernet(link(), Way::ToServer, 0x0800, ipv4_packet(0))));
        for (int i = 0; i < 6; ++i) { // Geneve (UDP 6081) around Ethernet, with and without options
            Bytes geneve;
            put8(geneve, i % 2 ? 0x01 : 0x00); // version 0, option length in 4-byte units
            put8(geneve, 0);
            put16(geneve, 0x6558); // transparent Ethernet bridging
            put32(geneve, 0x00abcd00);
            if (i % 2)
                put32(geneve, 0x01020300);
            append(geneve, ethernet(link(), Way::ToServer, 0x0800, ipv4_packet(kTcp)));
            frames.push_back(padded(ethernet(link(), Way::ToServer, 0x0800,
                                             ipv4(v4_[i % 3], v4_[3], kUdp, 1,
                                                  segment(kUdp, port(), 6081, false, 1, geneve)))));
        }
        for (std::uint16_t type : {0x88cc, 0x8137, 0x88e5, 0x9000, 0x0842, 0x88f7}) {
            frames.push_back(padded(ethernet(link(), Way::ToServer, type, payload())));
        }
        for (int i = 0; i < 6; ++i) { // 802.3 with LLC: the type field is a length
            Bytes llc{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00};
            if (i % 2)
                llc = {0x42, 0x42, 0x03, 0, 0, 0, 0, 0}; // spanning tree
            append(llc, payload());
            const auto length = static_cast<unsigned>(std::min<std::size_t>(llc.size(), 1500));
            frames.push_back(padded(ethernet(link(), Way::ToServer, length, llc)));
        }
    }

    void add_malformed(Frames& frames)
    {
        for (int i = 0; i < 60; ++i) {
            Bytes f = padded(ethernet(link(), Way::ToServer, 0x0800, ipv4_packet(0xff)));
            switch (i % 6) {
            case 0:
                f[14] = static_cast<std::uint8_t>(0x40 | random_.below(5)); // IHL below 5
                break;
            case 1:
                f[14] = 0x4f; // IHL 15 over a header of 20
                break;
            case 2:
                set16(f, 16, random_.below(20)); // total length below the header
                break;
            case 3:
                set16(f, 16, 0xffff); // total length past the frame
                break;
            case 4:
                f[14] = static_cast<std::uint8_t>(0x60 | (f[14] & 0x0f)); // version 6 under IPv4's type
                break;
            default:
                f[12] = 0x86; // IPv4 under IPv6's type
                f[13] = 0xdd;
                break;
            }
            frames.push_back(f);
        }
    }

    // Every cut from 0 to 80 bytes of a few real frames.
    void add_cuts(Frames& frames)
    {
        std::vector<Bytes> whole;
        whole.push_back(ethernet(Link{kHostA, kHostB, {}, {}}, Way::ToServer, 0x0800,
                                 ipv4(v4_[0], v4_[1], kTcp, 7, segment(kTcp, 1024, 80, false, 1, Bytes(40, 0x41)),
                                      Ipv4Extras{Bytes(8, 1), 0})));
        whole.push_back(ethernet(Link{kHostB, kHostC, {}, {}}, Way::ToServer, 0x86dd,
                                 ipv6(v6_[0], v6_[2], kTcp, 9, segment(kTcp, 443, 5000, false, 1, Bytes(20, 0x42)))));
        whole.push_back(ethernet(Link{kHostC, kBroadcast, {{0x8100, 100}}, {}}, Way::ToServer, 0x0800,
                                 ipv4(v4_[3], v4_[6], kUdp, 8, segment(kUdp, 5353, 53, false, 1, Bytes(30, 0x43)))));
        whole.push_back(arp(1));
        whole.push_back(ethernet(Link{kHostA, kMulticast, {{0x88a8, 200}, {0x8100, 1}}, {}}, Way::ToServer, 0x86dd,
                                 ipv6(v6_[1], v6_[4], kUdp, 3, segment(kUdp, 123, 123, false, 1, Bytes(30, 0x44)))));
        whole.push_back(ethernet(Link{kHostB, kHostA, {}, {}}, Way::ToServer, 0x0800,
                                 ipv4(v4_[2], v4_[5], kIcmp, 5, segment(kIcmp, 1, 2, false, 1, Bytes(40, 0x45)))));
        for (const Bytes& frame : whole)
            for (std::size_t length = 0; length <= 80; ++length)
                frames.push_back(slice(frame, 0, length));
    }

    struct Draw : Random {
        using Random::Random;
        template <typename T> const T& pick_from(const std::vector<T>& choices)
        {
            return choices[below(static_cast<std::uint32_t>(choices.size()))];
        }
    };

    Draw random_;
    std::vector<Address> v4_, v6_;
    std::uint8_t last_protocol_ = 0;
};

} // namespace

const Frames& corpus()
{
    static const Frames frames = CorpusBuilder().build();
    return frames;
}

// ------------------------------------------------------------------ the expressions

const char* const kExpressions[] = {
    // hosts and nets
    "host 10.0.0.1", "src host 10.0.0.2", "dst host 192.168.1.10", "host 8.8.8.8", "host 255.255.255.255",
    "src host 224.0.0.251", "host 10.0.0.1 and host 10.0.0.2", "host 10.0.0.1 or host 172.16.5.4",
    "not host 10.0.0.1", "net 10.0.0.0/8", "net 192.168.1.0/24", "src net 172.16.0.0/12", "dst net 224.0.0.0/4",
    "net 100.64.0.0/10", "net 10.0.0.0 mask 255.255.0.0", "src net 192.168.0.0/16 and dst net 10.0.0.0/8",
    "ip host 192.168.1.77", "ip src 10.1.2.3", "ip dst 8.8.8.8", "not net 10.0.0.0/8 and ip",
    "ip6 host 2001:db8::1", "ip6 src 2001:db8::2", "ip6 dst fe80::1", "ip6 net 2001:db8:1::/48",
    "ip6 and dst net ff02::/16", "src net 2001:db8::/32", "ip6 host ::1", "host 2001:db8:ffff::abcd",
    "ip6 and not net 2001:db8::/32", "dst host ff02::1 or dst host 2001:db8::2",
    // ports and port ranges
    "port 80", "tcp port 443", "udp port 53", "udp dst port 53", "tcp src port 22", "src port 8080",
    "dst port 5000", "port 0", "port 65535", "tcp port 80 or tcp port 443", "tcp dst port 3389",
    "udp port 123 or udp port 161", "not port 22", "tcp and not port 80", "portrange 1000-2000",
    "tcp portrange 5000-6000", "udp portrange 50-60", "src portrange 1-1023", "dst portrange 1024-65535",
    "tcp src portrange 8000-9000", "ip6 and port 80", "ip6 and tcp dst port 443", "ip and udp portrange 100-200",
    "tcp port 25 or udp port 53 or port 123", "(tcp or udp) and not port 53", "port 80 and host 10.0.0.1",
    "tcp port 80 and (host 10.0.0.1 or host 192.168.1.10)", "udp and src port 53 and dst portrange 1024-65535",
    "tcp and dst port 80 and src net 10.0.0.0/8", "sctp port 80", "sctp", "port 1500",
    // protocols
    "tcp", "udp", "icmp", "arp", "rarp", "ip", "ip6", "icmp6", "igmp", "ah", "esp", "not ip",
    "ip and not tcp and not udp", "not ip and not ip6 and not arp", "ip proto 47", "ip proto 50",
    "ip proto 89", "proto 132", "ip6 proto 17", "ip6 proto 58", "ip6 proto 6", "ip proto \\tcp",
    "ip6 and udp", "ip6 and tcp", "ip and icmp", "tcp or icmp", "udp or icmp6", "arp or rarp",
    "ip proto 103", "ip6 proto 0", "ip6 proto 44", "tcp and ip6 proto 6",
    // arp details
    "arp host 10.0.0.1", "arp src host 192.168.1.10", "arp dst host 8.8.8.8", "arp and ether dst ff:ff:ff:ff:ff:ff",
    "arp[6:2] = 1", "arp[6:2] = 2", "arp and arp[7] = 2 and arp[14:4] = 0x0a000002",
    // ethernet
    "ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:02", "ether dst 00:1b:21:aa:bb:cc",
    "ether broadcast", "ether multicast", "not ether broadcast", "ether proto 0x88cc", "ether proto 0x8137",
    "ether[12:2] = 0x0806", "ether[0] & 1 != 0", "ether[12:2] < 1536", "ether proto 0x9000",
    "ether src 02:00:00:00:00:01 and ip", "ether host 00:1b:21:aa:bb:cc and not ip6", "llc", "stp",
    "ether[6:4] = 0x02000000", "ether[12:2] > 0x8000",
    // multicast and broadcast
    "ip multicast", "ip6 multicast", "ether multicast and ip", "not ip multicast and udp",
    // VLAN, QinQ, MPLS
    "vlan", "vlan 100", "vlan 200", "vlan 4094", "vlan and tcp", "vlan and ip6", "vlan and udp port 53",
    "vlan 100 and host 10.0.0.1", "vlan and vlan", "vlan 200 and vlan", "vlan and vlan 100", "not vlan",
    "vlan and icmp", "vlan and not ip", "vlan and ip6 and tcp port 80", "vlan and src net 192.168.0.0/16",
    "tcp or vlan", "mpls", "mpls 100", "mpls and ip", "mpls 16 or mpls 18", "vlan 1", "vlan and vlan and ip",
    // TCP flags
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
    "tcp[tcpflags] & tcp-rst != 0", "tcp[tcpflags] & tcp-fin != 0", "tcp[13] = 0x10", "tcp[13] & 0x18 = 0x18",
    "tcp[tcpflags] & (tcp-ece|tcp-cwr) != 0", "tcp[tcpflags] & tcp-urg != 0", "tcp[tcpflags] == tcp-syn",
    "ip6 and ip6[53] & 2 != 0", "tcp[12] & 0xf0 > 0x50", "tcp[12] & 0xf0 < 0x50",
    "tcp[tcpflags] & tcp-push != 0 and port 443",
    // ICMP
    "icmp[icmptype] == icmp-echo", "icmp[icmptype] == icmp-echoreply", "icmp[icmptype] == icmp-unreach",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply", "icmp[0] = 11",
    "icmp6[icmp6type] == icmp6-echo", "icmp6[0] = 135 or icmp6[0] = 136", "icmp6 and ip6[40] = 129",
    // lengths
    "len < 100", "len >= 1000", "len = 60", "len > 64 and len < 200", "greater 500", "less 64", "greater 1400",
    "less 100 and tcp", "len <= 14", "len > 1500", "len < 20", "len = 0 or len = 80",
    // bytes, bits and arithmetic
    "ip[1] & 0xfc != 0", "ip[1] & 0x3 = 3", "ip[8] < 10", "ip[0] & 0xf > 5", "ip[0] & 0xf != 5", "ip[0] >> 4 != 4",
    "ip[6:2] & 0x1fff != 0", "ip[6] & 0x20 != 0", "ip[6] & 0x40 != 0", "ip[6:2] & 0x3fff != 0",
    "ip[2:2] - ((ip[0]&0xf)<<2) > 40", "ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) > 0",
    "ip[2:2] > 576", "ip[2:2] < 40", "(ip[2:2] * 3) / 4 > 100", "ip[2:2] % 7 = 3", "ip[3] ^ 0xff = 0xc3",
    "ip[2:2] >> 2 > 100", "udp[4:2] << 1 > 200", "udp[4:2] - 8 = 0", "ip[4:2] & 0xff = 0x10",
    "ip[12:4] = 0x0a000001", "ip[16:4] & 0xffffff00 = 0xc0a80100", "ip[9] = 6 and ip[0] & 0xf = 5",
    "tcp[0:2] > 1023 and tcp[2:2] < 1024", "udp[0:2] = udp[2:2]", "tcp[0:2] + tcp[2:2] > 10000",
    "tcp[4:4] > 0x10000", "udp[8] & 0x80 != 0", "tcp[20] = 0x41", "ip[2:2] != len - 14",
    "ip[2:2] + 14 > len", "ip6[4:2] > 100", "ip6[6] = 0", "ip6[7] < 64", "ip6[8:4] = 0x20010db8",
    "ip6[24:4] = 0xff020000", "len - 14 > ip[2:2]", "ip[0] & 0xf0 = 0x40 and ip[0] & 0x0f < 5",
    "ip[2:2] / (ip[1] & 0xfc) > 40", "ip[2:2] % (ip[1] & 0xfc) > 4",
    "ip[2:2] << (ip[8] & 0x3f) > 0x100000", "ip[2:2] >> (ip[8] & 0x3f) > 4", "ip[2:2] & (ip[1] | 1) != 0",
    "-ip[8] > 0xffffffc0",
    "ip[8] * ip[9] > 300", "ip[2:2] / 0x1000 = 0", "tcp[13] & -tcp[13] = 2",
    // combinations
    "tcp and (port 80 or port 443) and not host 8.8.8.8", "(ip or ip6) and udp and port 53",
    "not (tcp or udp or icmp)", "ip and (tcp[tcpflags] & tcp-syn != 0) and dst portrange 1-1024",
    "host 10.0.0.1 and (tcp or icmp) and len > 100", "not arp and not ip6 and ether broadcast",
    "(vlan and ip) or (not vlan and ip6)", "icmp or (udp and port 123) or arp",
    "ip6 and not icmp6 and not tcp", "src host 10.0.0.1 and dst host 10.0.0.2 and tcp",
    "ether src 02:00:00:00:00:01 and ether dst 02:00:00:00:00:02", "ip[6:2] & 0x1fff = 0 and udp",
    "(tcp port 80 or tcp port 8080) and tcp[tcpflags] & tcp-syn != 0",
    "not tcp port 443 and not udp port 53 and ip", "geneve", "geneve and tcp",
    "ip and len > 1000 and ip[6] & 0x40 != 0",
    "ether multicast and not ether broadcast", "udp and greater 200 and less 1000",
    "ip6 and (src net 2001:db8::/32 or dst net ff02::/16) and udp",
    "tcp and ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) = 0",
    "vlan and (tcp[tcpflags] & tcp-ack != 0)", "icmp and ip[8] < 5", "ip and ip[9] != 6 and ip[9] != 17",
    "",
};


const std::size_t kExpressionCount = sizeof kExpressions / sizeof kExpressions[0];

std::vector<Program> random_programs()
{
    std::vector<Program> programs;
    std::mt19937_64 random(12);
    for (int n = 0; n < 600; ++n) {
        std::vector<std::uint8_t> bytes(8 * (1 + random() % 40));
        for (auto& byte : bytes)
            byte = static_cast<std::uint8_t>(random());
        programs.push_back(shape_program(bytes.data(), bytes.size()));
    }
    return programs;
}

Frames every_eleventh(const Frames& frames)
{
    Frames out;
    for (std::size_t i = 0; i < frames.size(); i += 11)
        out.push_back(frames[i]);
    return out;
}

} // namespace zc::filter::test

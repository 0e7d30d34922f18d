// SPDX-License-Identifier: BSD-3-Clause
//
// The flow hash (zc/hash.h): a canonical tuple, then a multiply-xorshift
// chain. Symmetry comes from the ordering below, never from the mixer: the
// mixer is free to be as asymmetric as it likes.

#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "packet_hash.hpp"
#include "packet_parse.hpp"

namespace zc::hash {

namespace {

using parse::Layer;
using parse::load16;
using parse::load32;
using parse::load48;
using parse::load64;

// murmur3's 64-bit finaliser: a bijection in which every input bit reaches
// every output bit.
constexpr std::uint64_t fmix64(std::uint64_t x) noexcept
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

constexpr std::uint64_t kSeed = 0x7a63'6261'6c61'6e63ull; // "zcbalanc"

// What a value is a hash of: the same bytes as two kinds of tuple do not
// give the same hash on purpose.
enum class Kind : std::uint64_t {
    FiveTuple4 = 1,
    FiveTuple6,
    TwoTuple4,
    TwoTuple6,
    MacPair,
    Nothing,
    Vlan,
    Iface,
};

constexpr std::uint64_t start(Kind kind) noexcept
{
    return kSeed ^ (static_cast<std::uint64_t>(kind) * 0x9e3779b97f4a7c15ull);
}

struct Mixer {
    std::uint64_t h;
    constexpr explicit Mixer(Kind kind) noexcept : h(start(kind)) {}
    constexpr void add(std::uint64_t word) noexcept { h = fmix64(h ^ word); }
    constexpr std::uint32_t finish() const noexcept { return static_cast<std::uint32_t>(h ^ (h >> 32)); }
};

constexpr std::uint32_t kNothingHash = [] {
    Mixer m(Kind::Nothing);
    m.add(0);
    return m.finish();
}();

// An IPv6 address as a 128-bit big-endian number.
struct Address6 {
    std::uint64_t high, low;
};

Address6 load_address6(const std::uint8_t* at) noexcept { return {load64(at), load64(at + 8)}; }

bool less(Address6 a, Address6 b) noexcept { return a.high != b.high ? a.high < b.high : a.low < b.low; }

std::uint32_t hash_macs(const std::uint8_t* f, const Layer& l) noexcept
{
    std::uint64_t a = load48(f + l.l2);
    std::uint64_t b = load48(f + l.l2 + 6);
    if (b < a)
        std::swap(a, b);
    Mixer m(Kind::MacPair);
    m.add(a);
    m.add(b);
    return m.finish();
}

// The tuple mixers, from the values themselves: the full parse and the
// direct path (below) both end here, so they give one value per tuple.
[[gnu::always_inline]] inline std::uint32_t two_tuple4(std::uint32_t a, std::uint32_t b) noexcept
{
    if (b < a)
        std::swap(a, b);
    Mixer m(Kind::TwoTuple4);
    m.add(static_cast<std::uint64_t>(a) << 32 | b);
    return m.finish();
}

std::uint32_t two_tuple6(const std::uint8_t* src, const std::uint8_t* dst) noexcept
{
    Address6 a = load_address6(src);
    Address6 b = load_address6(dst);
    if (less(b, a))
        std::swap(a, b);
    Mixer m(Kind::TwoTuple6);
    m.add(a.high);
    m.add(a.low);
    m.add(b.high);
    m.add(b.low);
    return m.finish();
}

[[gnu::always_inline]] inline std::uint32_t five_tuple4(std::uint32_t src, std::uint32_t dst, std::uint16_t src_port,
                                                        std::uint16_t dst_port, std::uint64_t protocol) noexcept
{
    // Endpoints as 48-bit numbers, address above port: one compare orders both.
    std::uint64_t a = static_cast<std::uint64_t>(src) << 16 | src_port;
    std::uint64_t b = static_cast<std::uint64_t>(dst) << 16 | dst_port;
    if (b < a)
        std::swap(a, b);
    Mixer m(Kind::FiveTuple4);
    m.add(a | protocol << 48);
    m.add(b);
    return m.finish();
}

std::uint32_t five_tuple6(const std::uint8_t* src, const std::uint8_t* dst, std::uint16_t port_a,
                          std::uint16_t port_b, std::uint64_t protocol) noexcept
{
    Address6 a = load_address6(src);
    Address6 b = load_address6(dst);
    if (less(b, a) || (a.high == b.high && a.low == b.low && port_b < port_a)) {
        std::swap(a, b);
        std::swap(port_a, port_b);
    }
    Mixer m(Kind::FiveTuple6);
    m.add(a.high);
    m.add(a.low);
    m.add(b.high);
    m.add(b.low);
    m.add(static_cast<std::uint64_t>(port_a) << 16 | port_b | protocol << 32);
    return m.finish();
}

std::uint32_t hash_addresses(const std::uint8_t* f, const Layer& l) noexcept
{
    if (l.ip_version == 4)
        return two_tuple4(load32(f + parse::src_addr_offset(l)), load32(f + parse::dst_addr_offset(l)));
    return two_tuple6(f + parse::src_addr_offset(l), f + parse::dst_addr_offset(l));
}

std::uint32_t hash_five_tuple(const std::uint8_t* f, const Layer& l) noexcept
{
    if (l.ip_version == 4)
        return five_tuple4(load32(f + parse::src_addr_offset(l)), load32(f + parse::dst_addr_offset(l)),
                           l.src_port, l.dst_port, l.protocol);
    return five_tuple6(f + parse::src_addr_offset(l), f + parse::dst_addr_offset(l), l.src_port, l.dst_port,
                       l.protocol);
}

// The 5tuple rules with their fallbacks (zc/hash.h), for one layer.
std::uint32_t hash_flow(const std::uint8_t* f, const Layer& l, bool ports) noexcept
{
    if (l.has(ZC_PARSED_IP)) {
        if (ports && l.has(ZC_PARSED_PORTS)) // never set on a fragment
            return hash_five_tuple(f, l);
        return hash_addresses(f, l);
    }
    if (l.has(ZC_PARSED_ETHERNET))
        return hash_macs(f, l);
    return kNothingHash;
}

// The outermost VLAN id, without parsing further than the first tag.
std::uint32_t hash_vlan(const std::uint8_t* f, std::uint32_t caplen) noexcept
{
    std::uint64_t id = 0;
    if (f != nullptr && caplen >= 16) {
        const std::uint16_t type = load16(f + 12);
        if (type == 0x8100 || type == 0x88a8 || type == 0x9100)
            id = load16(f + 14) & 0x0fffu;
    }
    Mixer m(Kind::Vlan);
    m.add(id);
    return m.finish();
}

// The direct path (packet_hash.hpp): the common frame, read in place, with
// the parser's checks in the parser's order; false sends the frame through
// parse_frame. Only frames whose parse would end in five_tuple4/6 (5tuple)
// or two_tuple4/6 (2tuple) with these very fields are taken.
constexpr std::uint32_t kEthernet = 14;

inline bool carries_ports(std::uint8_t protocol) noexcept // packet_parse.cpp has_ports
{
    return protocol == 6 || protocol == 17 || protocol == 132 || protocol == 33 || protocol == 136;
}

[[gnu::always_inline]] inline bool direct_flow_hash(const std::uint8_t* f, std::uint32_t caplen, bool ports,
                                                std::uint32_t& out) noexcept
{
    if (f == nullptr || caplen < kEthernet + 20)
        return false;
    // The commonest frame of all, in one test: IPv4 without options, not
    // a fragment, TCP or UDP, the ports captured and inside the IP length
    // (0: unknown, as the parser takes it). Exactly the frames the 5tuple
    // branch below would hash with five_tuple4 at l4 = 34, with the same
    // fields; about half its instructions.
    if (ports && caplen >= kEthernet + 24) {
        const std::uint8_t* ip = f + kEthernet;
        const std::uint32_t total = load16(ip + 2);
        const std::uint8_t protocol = ip[9];
        const bool common = (load16(f + 12) == 0x0800) & (ip[0] == 0x45) & ((load16(ip + 6) & 0x3fffu) == 0) &
                            ((protocol == 6) | (protocol == 17)) & ((total == 0) | (total >= 24));
        if (common) [[likely]] {
            out = five_tuple4(load32(ip + 12), load32(ip + 16), load16(ip + 20), load16(ip + 22), protocol);
            return true;
        }
    }
    const std::uint16_t type = load16(f + 12);
    const std::uint8_t* ip = f + kEthernet;
    if (type == 0x0800) {
        const std::uint32_t header = (ip[0] & 0x0fu) * 4u;
        const std::uint32_t total = load16(ip + 2);
        if ((ip[0] >> 4) != 4 || header < 20 || (total != 0 && total < header))
            return false; // malformed: the parser's MAC-pair fallback
        if ((load16(ip + 6) & 0x3fffu) != 0)
            return false; // a fragment: the parser's rule
        // The addresses lie within both caplen (>= 34) and the IP length
        // (>= header >= 20).
        const std::uint32_t src = load32(ip + 12);
        const std::uint32_t dst = load32(ip + 16);
        if (!ports) {
            out = two_tuple4(src, dst);
            return true;
        }
        std::uint32_t end = caplen;
        if (total != 0 && kEthernet + total < end)
            end = kEthernet + total;
        const std::uint32_t l4 = kEthernet + header;
        if (!carries_ports(ip[9]) || l4 + 4 > end)
            return false;
        out = five_tuple4(src, dst, load16(f + l4), load16(f + l4 + 2), ip[9]);
        return true;
    }
    if (type == 0x86dd) {
        if (caplen < kEthernet + 40 || (ip[0] >> 4) != 6)
            return false;
        if (!ports) {
            out = two_tuple6(ip + 8, ip + 24);
            return true;
        }
        // A next header with ports is no extension header: L4 follows.
        const std::uint8_t next = ip[6];
        const std::uint32_t payload = load16(ip + 4);
        std::uint32_t end = caplen;
        if (payload != 0 && kEthernet + 40 + payload < end)
            end = kEthernet + 40 + payload;
        const std::uint32_t l4 = kEthernet + 40;
        if (!carries_ports(next) || l4 + 4 > end)
            return false;
        out = five_tuple6(ip + 8, ip + 24, load16(f + l4), load16(f + l4 + 2), next);
        return true;
    }
    return false;
}

struct ModeName {
    zc_hash_mode mode;
    const char* name;
};

constexpr ModeName kModeNames[] = {
    {ZC_HASH_5TUPLE, "5tuple"},       {ZC_HASH_2TUPLE, "2tuple"}, {ZC_HASH_INNER_5TUPLE, "inner-5tuple"},
    {ZC_HASH_ROUND_ROBIN, "round-robin"}, {ZC_HASH_VLAN, "vlan"},     {ZC_HASH_IFACE, "iface"},
};
static_assert(std::size(kModeNames) == ZC_HASH_MODE_COUNT, "a name for every mode");

std::uint32_t parsed_hash(zc_hash_mode mode, const std::uint8_t* frame, std::uint32_t caplen,
                          std::uint16_t port) noexcept
{
    switch (mode) {
    case ZC_HASH_5TUPLE:
    case ZC_HASH_2TUPLE: {
        const parse::Packet p = parse::parse_frame(frame, caplen, parse::Tunnels::Ignore);
        return hash_flow(frame, p.outer, mode == ZC_HASH_5TUPLE);
    }
    case ZC_HASH_INNER_5TUPLE: {
        const parse::Packet p = parse::parse_frame(frame, caplen, parse::Tunnels::Open);
        const bool inner = p.tunnel != ZC_TUNNEL_NONE && p.inner.has(ZC_PARSED_IP | ZC_PARSED_ETHERNET);
        return hash_flow(frame, inner ? p.inner : p.outer, true);
    }
    case ZC_HASH_VLAN:
        return hash_vlan(frame, caplen);
    case ZC_HASH_IFACE: {
        Mixer m(Kind::Iface);
        m.add(port);
        return m.finish();
    }
    case ZC_HASH_ROUND_ROBIN: // the balancer deals packets out itself
    case ZC_HASH_MODE_INVALID:
    case ZC_HASH_MODE_COUNT:
    case ZC_HASH_MODE_INT_MAX:
        break;
    }
    return 0;
}

inline std::uint32_t packet_hash(zc_hash_mode mode, const std::uint8_t* frame, std::uint32_t caplen,
                                 std::uint16_t port) noexcept
{
    std::uint32_t hash = 0;
    if ((mode == ZC_HASH_5TUPLE || mode == ZC_HASH_2TUPLE) &&
        direct_flow_hash(frame, caplen, mode == ZC_HASH_5TUPLE, hash))
        return hash;
    return parsed_hash(mode, frame, caplen, port);
}

// Frames ahead whose first line hash_burst asks for.
constexpr std::uint32_t kHashAhead = 8;

// hash_burst for 5tuple (Ports) or 2tuple: the direct path, the parser
// for what it does not take. One loop per mode, so that the mode's tests
// are decided at compile time, not per packet.
template <bool Ports>
void direct_burst(zc_hash_mode mode, const zc_packet* packets, std::uint32_t n, std::uint32_t* hashes) noexcept
{
    for (std::uint32_t i = 0; i < n; ++i) {
        if (i + kHashAhead < n)
            __builtin_prefetch(packets[i + kHashAhead].data, 0, 3);
        const zc_packet& p = packets[i];
        std::uint32_t hash;
        if (!direct_flow_hash(p.data, p.caplen, Ports, hash)) [[unlikely]]
            hash = parsed_hash(mode, p.data, p.caplen, p.port);
        hashes[i] = hash;
    }
}

} // namespace

void hash_burst(zc_hash_mode mode, const zc_packet* packets, std::uint32_t n, std::uint32_t* hashes) noexcept
{
    for (std::uint32_t i = 0; i < n && i < kHashAhead; ++i)
        __builtin_prefetch(packets[i].data, 0, 3);
    if (mode == ZC_HASH_5TUPLE) {
        direct_burst<true>(mode, packets, n, hashes);
        return;
    }
    if (mode == ZC_HASH_2TUPLE) {
        direct_burst<false>(mode, packets, n, hashes);
        return;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
        if (i + kHashAhead < n)
            __builtin_prefetch(packets[i + kHashAhead].data, 0, 3);
        hashes[i] = parsed_hash(mode, packets[i].data, packets[i].caplen, packets[i].port);
    }
}

std::uint32_t packet_hash_parsed(zc_hash_mode mode, const std::uint8_t* frame, std::uint32_t caplen,
                                 std::uint16_t port) noexcept
{
    return parsed_hash(mode, frame, caplen, port);
}

} // namespace zc::hash

extern "C" uint32_t zc_packet_hash(zc_hash_mode mode, const uint8_t* frame, uint32_t caplen, uint16_t port)
{
    return zc::hash::packet_hash(mode, frame, caplen, port);
}

extern "C" int zc_hash_mode_from_name(const char* name, zc_hash_mode* out)
{
    if (name == nullptr || out == nullptr)
        return -EINVAL;
    for (const auto& entry : zc::hash::kModeNames) {
        if (std::strcmp(name, entry.name) == 0) {
            *out = entry.mode;
            return 0;
        }
    }
    return -EINVAL;
}

extern "C" const char* zc_hash_mode_name(zc_hash_mode mode)
{
    for (const auto& entry : zc::hash::kModeNames)
        if (entry.mode == mode)
            return entry.name;
    return nullptr;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// The flow hash (zc/hash.h): a canonical tuple, then a multiply-xorshift
// chain. Symmetry comes from the ordering below, never from the mixer: the
// mixer is free to be as asymmetric as it likes.

#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

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

std::uint32_t hash_addresses(const std::uint8_t* f, const Layer& l) noexcept
{
    if (l.ip_version == 4) {
        std::uint32_t a = load32(f + parse::src_addr_offset(l));
        std::uint32_t b = load32(f + parse::dst_addr_offset(l));
        if (b < a)
            std::swap(a, b);
        Mixer m(Kind::TwoTuple4);
        m.add(static_cast<std::uint64_t>(a) << 32 | b);
        return m.finish();
    }
    Address6 a = load_address6(f + parse::src_addr_offset(l));
    Address6 b = load_address6(f + parse::dst_addr_offset(l));
    if (less(b, a))
        std::swap(a, b);
    Mixer m(Kind::TwoTuple6);
    m.add(a.high);
    m.add(a.low);
    m.add(b.high);
    m.add(b.low);
    return m.finish();
}

std::uint32_t hash_five_tuple(const std::uint8_t* f, const Layer& l) noexcept
{
    const std::uint64_t protocol = l.protocol;
    if (l.ip_version == 4) {
        // Endpoints as 48-bit numbers, address above port: one compare orders both.
        std::uint64_t a = static_cast<std::uint64_t>(load32(f + parse::src_addr_offset(l))) << 16 | l.src_port;
        std::uint64_t b = static_cast<std::uint64_t>(load32(f + parse::dst_addr_offset(l))) << 16 | l.dst_port;
        if (b < a)
            std::swap(a, b);
        Mixer m(Kind::FiveTuple4);
        m.add(a | protocol << 48);
        m.add(b);
        return m.finish();
    }
    Address6 a = load_address6(f + parse::src_addr_offset(l));
    Address6 b = load_address6(f + parse::dst_addr_offset(l));
    std::uint16_t port_a = l.src_port;
    std::uint16_t port_b = l.dst_port;
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

struct ModeName {
    zc_hash_mode mode;
    const char* name;
};

constexpr ModeName kModeNames[] = {
    {ZC_HASH_5TUPLE, "5tuple"},       {ZC_HASH_2TUPLE, "2tuple"}, {ZC_HASH_INNER_5TUPLE, "inner-5tuple"},
    {ZC_HASH_ROUND_ROBIN, "round-robin"}, {ZC_HASH_VLAN, "vlan"},     {ZC_HASH_IFACE, "iface"},
};
static_assert(std::size(kModeNames) == ZC_HASH_MODE_COUNT, "a name for every mode");

std::uint32_t packet_hash(zc_hash_mode mode, const std::uint8_t* frame, std::uint32_t caplen,
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

} // namespace

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

// SPDX-License-Identifier: BSD-3-Clause

#include "frames.hpp"

#include <cstring>

namespace zc::frames {

namespace {

constexpr std::size_t kEthernet = 14;
constexpr std::size_t kIpv4 = 20;
constexpr std::size_t kUdp = 8;
constexpr std::size_t kPayload = kEthernet + kIpv4 + kUdp;
static_assert(kPayload == kSequenceOffset);

void put16(std::byte* at, std::uint16_t value) noexcept
{
    at[0] = static_cast<std::byte>(value >> 8);
    at[1] = static_cast<std::byte>(value);
}

std::uint16_t get16(const std::byte* at) noexcept
{
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(at[0]) << 8 | std::to_integer<unsigned>(at[1]));
}

std::uint16_t ipv4_checksum(const std::byte* header) noexcept
{
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < kIpv4; i += 2)
        sum += get16(header + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// Client 198.18.x.y, server 198.19.x.y, x.y = flow number (up to 65536 flows).
void put_address(std::byte* at, bool server, std::uint32_t flow) noexcept
{
    at[0] = std::byte{198};
    at[1] = std::byte{static_cast<unsigned char>(server ? 19 : 18)};
    at[2] = static_cast<std::byte>(flow >> 8);
    at[3] = static_cast<std::byte>(flow);
}

const unsigned char kClientMac[6] = {0x02, 0x7a, 0x63, 0x00, 0x00, 0x01};
const unsigned char kServerMac[6] = {0x02, 0x7a, 0x63, 0x00, 0x00, 0x02};

} // namespace

void build(std::byte* out, std::uint32_t size, Flow flow, std::uint64_t sequence) noexcept
{
    const std::uint32_t bytes = frame_bytes(size);
    std::memset(out, 0, bytes);
    const bool from_server = flow.reverse;
    std::memcpy(out, from_server ? kClientMac : kServerMac, 6);     // destination
    std::memcpy(out + 6, from_server ? kServerMac : kClientMac, 6); // source
    put16(out + 12, 0x0800);

    std::byte* ip = out + kEthernet;
    ip[0] = std::byte{0x45};
    put16(ip + 2, static_cast<std::uint16_t>(bytes - kEthernet));
    put16(ip + 4, static_cast<std::uint16_t>(flow.number));
    ip[8] = std::byte{64};
    ip[9] = std::byte{17}; // UDP
    put_address(ip + 12, from_server, flow.number);
    put_address(ip + 16, !from_server, flow.number);
    put16(ip + 10, ipv4_checksum(ip));

    std::byte* udp = ip + kIpv4;
    std::uint16_t client_port = static_cast<std::uint16_t>(1024 + flow.number % 60000);
    put16(udp, from_server ? kUdpPort : client_port);
    put16(udp + 2, from_server ? client_port : kUdpPort);
    put16(udp + 4, static_cast<std::uint16_t>(bytes - kEthernet - kIpv4));
    // UDP checksum 0: none, allowed over IPv4.

    std::byte* payload = out + kPayload;
    for (std::uint32_t i = 8; i < bytes - kPayload; ++i)
        payload[i] = static_cast<std::byte>(i * 7 + flow.number);
    set_sequence(out, sequence);
}

bool parse(const std::byte* frame, std::uint32_t length, Flow* flow, std::uint64_t* sequence) noexcept
{
    if (length < frame_bytes(kMinSize) || get16(frame + 12) != 0x0800)
        return false;
    const std::byte* ip = frame + kEthernet;
    if (ip[0] != std::byte{0x45} || ip[9] != std::byte{17} || ip[12] != std::byte{198})
        return false;
    bool from_server = ip[13] == std::byte{19};
    flow->number = get16(ip + 14);
    flow->reverse = from_server;
    std::memcpy(sequence, frame + kPayload, sizeof *sequence);
    return true;
}

} // namespace zc::frames

// SPDX-License-Identifier: BSD-3-Clause
//
// Test and benchmark frames: Ethernet / IPv4 / UDP, one flow per number,
// each flow in both directions. The synthetic driver and zc-send build the
// same frames, so what one sends the other can recognise.
//
// Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for
// benchmarks; MACs are locally administered. Sizes are on the wire,
// including the 4-byte FCS the NIC adds: size 64 builds a 60-byte frame.

#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace zc::frames {

inline constexpr std::uint32_t kMinSize = 64;   // smallest Ethernet frame, with FCS
inline constexpr std::uint32_t kMaxSize = 1518; // largest untagged frame, with FCS
inline constexpr std::uint32_t kFcs = 4;
inline constexpr std::uint16_t kUdpPort = 9; // discard

struct Flow {
    std::uint32_t number;  // 0 .. flows-1
    bool reverse;          // false: client to server, true: server to client
};

// Bytes build() writes for an on-the-wire size (size - FCS).
constexpr std::uint32_t frame_bytes(std::uint32_t size) noexcept { return size - kFcs; }

// Writes one frame of `size` bytes on the wire (frame_bytes(size) into out)
// for `flow`, with `sequence` in the first 8 bytes of the UDP payload.
// `size` must be in [kMinSize, kMaxSize].
void build(std::byte* out, std::uint32_t size, Flow flow, std::uint64_t sequence) noexcept;

// Where the sequence number is: the first 8 bytes of the UDP payload.
inline constexpr std::size_t kSequenceOffset = 14 + 20 + 8;

// Rewrites only the sequence number of a frame build() wrote (inline: the
// synthetic driver does it for every packet).
inline void set_sequence(std::byte* frame, std::uint64_t sequence) noexcept
{
    std::memcpy(frame + kSequenceOffset, &sequence, sizeof sequence);
}

// Reads back flow and sequence from a frame build() wrote; false for any
// other frame (or one shorter than `length`).
bool parse(const std::byte* frame, std::uint32_t length, Flow* flow, std::uint64_t* sequence) noexcept;

// The n-th frame of a stream over `flows` flows: flows take turns, and each
// flow alternates client-to-server and server-to-client.
constexpr Flow nth(std::uint64_t n, std::uint32_t flows) noexcept
{
    return Flow{static_cast<std::uint32_t>((n / 2) % flows), (n & 1) != 0};
}

} // namespace zc::frames

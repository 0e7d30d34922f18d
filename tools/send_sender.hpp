// SPDX-License-Identifier: BSD-3-Clause
//
// tools/send_sender.hpp — what zc-send's main loop drives: a Sender, which
// is either the live path (BPF_PROG_RUN with live frames, send_live.cpp) or
// a zc device's TX (send_device.cpp). The loop asks a sender how many frames
// are due, tells it to send them, and reads its totals once per second.

#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace zc::send {

// What to send, from the command line.
struct Plan {
    std::string interface;     // a plain interface (live) or a zc device name (device)
    std::uint32_t size = 64;   // generated frames: bytes on the wire, with FCS
    std::uint32_t flows = 1;   // generated frames: flows, each in both directions
    std::uint64_t rate = 0;    // packets per second; 0: as fast as possible
    std::string pcap;          // replay this capture instead of generated frames
    double speed = 1.0;        // replay timing: 1 original, 2 twice as fast, 0 top speed
    std::uint64_t loops = 1;   // replay: times to play the capture, 0 forever
};

// On-the-wire accounting. Every frame counts with its 4-byte FCS, and a
// frame shorter than the Ethernet minimum counts as the 64 bytes the NIC
// pads it to. Line rate adds 20 bytes per frame (preamble, start delimiter,
// inter-frame gap) on top: see wire_bits().
inline constexpr std::uint32_t kFcsBytes = 4;
inline constexpr std::uint32_t kMinWireBytes = 64;
inline constexpr std::uint32_t kLineOverheadBytes = 20;

constexpr std::uint64_t wire_bytes(std::uint32_t frame_length) noexcept
{
    std::uint64_t bytes = static_cast<std::uint64_t>(frame_length) + kFcsBytes;
    return bytes < kMinWireBytes ? kMinWireBytes : bytes;
}

constexpr std::uint64_t wire_bits(std::uint64_t packets, std::uint64_t bytes) noexcept
{
    return (bytes + packets * kLineOverheadBytes) * 8;
}

struct Totals {
    std::uint64_t packets = 0; // handed to the kernel / the device
    std::uint64_t bytes = 0;   // the same frames, in wire_bytes()
};

// What the interface said happened to the frames after we handed them over.
struct Losses {
    bool known = false;        // false: this interface cannot tell us
    std::uint64_t dropped = 0; // frames it dropped (TX ring or peer ring full, no receiver)
    std::string reason;        // why, in a sentence, when dropped > 0
};

class Sender {
public:
    // due() once the stream is over (a capture played to its last loop).
    static constexpr std::uint64_t kEnd = UINT64_MAX;

    Sender() = default;
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;
    virtual ~Sender() = default;

    // How many of the next frames are due `elapsed_ns` after the start, at
    // most `limit`. 0: none yet, and *wake_ns is when the next one is due.
    // kEnd: nothing more to send.
    virtual std::uint64_t due(std::uint64_t elapsed_ns, std::uint64_t limit, std::uint64_t* wake_ns) = 0;

    // Sends up to `n` frames that due() reported (fewer when the device's
    // ring is full, or the call was interrupted by a signal). Returns how
    // many it handed over, or a negative errno with error() set.
    virtual std::int64_t send(std::uint64_t n, std::uint64_t elapsed_ns) = 0;

    [[nodiscard]] virtual Totals totals() const noexcept = 0;

    // Control path: what the interface reports lost so far (reads counters).
    virtual Losses losses() = 0;

    // Once the loop is over: waits (briefly) for frames still in flight so
    // that losses() and the device counters are final.
    virtual void finish() = 0;

    // Lines for the end of the report ("note: ..."): device counters, skipped
    // frames, hints. Each a full sentence.
    [[nodiscard]] virtual std::vector<std::string> notes() = 0;

    // "live" or the zc device's mode ("afxdp-copy", "afpacket", ...).
    [[nodiscard]] virtual std::string mode() const = 0;

    [[nodiscard]] const std::string& error() const noexcept { return error_; }

    // Something the user should hear about now (empty: nothing), once: the
    // loop asks after opening and once per second.
    [[nodiscard]] std::string take_warning() { return std::exchange(warning_, std::string()); }

protected:
    std::string error_;
    std::string warning_;
};

} // namespace zc::send

// SPDX-License-Identifier: BSD-3-Clause
//
// tools/send_pcap.hpp — the frames of a capture file, in order, played
// `loops` times, each with the time (after the first frame) at which it is
// due at the original speed. A capture of up to 64 MiB is read from the
// file once and played again from memory; a larger one is read again for
// every loop.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct pcap pcap_t;

namespace zc::send {

class PcapReader {
public:
    struct Frame {
        const std::byte* data = nullptr; // valid until advance()
        std::uint32_t length = 0;        // bytes to send (the captured bytes)
        std::uint64_t offset_ns = 0;     // due time at speed 1, from the first frame of the first loop
    };

    // Opens `path` and reads its first frame. `loops` 0 plays forever.
    // Frames longer than `max_length` are skipped (and counted). Throws
    // std::runtime_error with a sentence for a missing, unreadable or
    // non-Ethernet file, or one without a frame we can send.
    PcapReader(std::string path, std::uint64_t loops, std::uint32_t max_length);
    PcapReader(const PcapReader&) = delete;
    PcapReader& operator=(const PcapReader&) = delete;
    ~PcapReader();

    // The next frame, or false once the last loop is played out.
    [[nodiscard]] bool peek(Frame* frame) const noexcept;
    // Moves to the following frame (rewinding for the next loop). Throws on
    // a read error (a truncated file, say).
    void advance();

    // Frames of the capture (not of all loops) skipped for their length, and
    // captured shorter than they were on the wire.
    [[nodiscard]] std::uint64_t skipped_long() const noexcept { return skipped_long_; }
    [[nodiscard]] std::uint64_t truncated() const noexcept { return truncated_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    struct Cached {
        std::size_t offset;   // into cache_bytes_
        std::uint32_t length;
        std::uint64_t gap_ns; // after the loop's first frame
    };

    void open();
    bool read_next(); // false at end of file
    void place(const std::byte* data, std::uint32_t length, std::uint64_t gap_ns) noexcept;

    std::string path_;
    std::uint64_t loops_;
    std::uint32_t max_length_;
    pcap_t* pcap_ = nullptr;
    std::uint64_t loop_ = 0;
    bool have_frame_ = false;
    Frame frame_{};
    // Timing: the first frame's timestamp in this loop, and where this loop
    // starts on the replay's time line.
    bool first_in_loop_ = true;
    std::uint64_t loop_first_ts_ = 0;
    std::uint64_t loop_base_ns_ = 0;
    std::uint64_t last_offset_ns_ = 0;
    std::uint64_t skipped_long_ = 0;
    std::uint64_t truncated_ = 0;
    // The first loop's frames, while they fit; later loops play from here.
    bool caching_ = true;
    bool from_cache_ = false;
    std::vector<std::byte> cache_bytes_;
    std::vector<Cached> cache_;
    std::size_t cache_next_ = 0;
};

} // namespace zc::send

// SPDX-License-Identifier: BSD-3-Clause
//
// What the DAQ 2 and DAQ 3 module tests (daq_test.cpp, daq3_test.cpp)
// share, apart from libdaq itself (this file includes neither libdaq's
// headers: each test talks to its own): capture files to replay, the veth
// network of the live cases and its sender, the inline bridge's verdict
// plan and its far end, and reading the module's debug line at stop.
#ifndef ZC_TESTS_SYSTEM_DAQ_FIXTURE_HPP
#define ZC_TESTS_SYSTEM_DAQ_FIXTURE_HPP

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "netns.hpp"

namespace zc::test {

// ------------------------------------------------------------ capture files

struct FileFrame {
    Bytes bytes;
    std::uint64_t timestamp_ns;
};

// A directory of its own under /tmp, removed with everything in it.
class TempDirectory {
public:
    TempDirectory();
    ~TempDirectory();
    TempDirectory(const TempDirectory&) = delete;
    TempDirectory& operator=(const TempDirectory&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// A nanosecond pcap file of `frames` (a gtest failure if it cannot be written).
void write_pcap(const std::string& path, const std::vector<FileFrame>& frames);

inline constexpr std::uint64_t kFirstNs = 1700000000123456789ull;
inline constexpr std::uint32_t kFileFlows = 4;

// `count` test frames over kFileFlows flows, `gap_ns` apart.
std::vector<FileFrame> file_frames(std::uint32_t count, std::uint64_t gap_ns = 1000);

// The sequence number frames::build wrote in a frame, or ~0 for a stranger.
std::uint64_t sequence_of(const Bytes& bytes);

// ------------------------------------------------------------ veth (root)

inline constexpr std::uint64_t kVethFrames = 2000;

struct Network {
    Network();
    NetnsPair pair;
    NetnsPair::Veth veth = pair.add_veth(1);
    NetnsPair::Veth second = pair.add_veth(1); // inline: veth.b and second.b are the bridge
    EnterNetns inside{pair.b()};
};

// Sends test frames 0 .. count-1 out of `interface` (in `netns`) once told go().
Child start_sender(const std::string& interface, std::uint64_t count, const std::string& netns);

// Packet (AF_PACKET) sockets open in this thread's network namespace.
std::size_t packet_sockets_here();

// ------------------------------------------------------------ inline

// What the bridge's Snort says to each frame, by sequence number (mod 5):
// block, pass, whitelist, blacklist, replace (after changing the frame's
// last byte in place, as Snort's in-place rewrites do). Exactly 1, 2 and
// 4 (mod 5) may cross.
enum class Fate { Block, Pass, Whitelist, Blacklist, Replace };
Fate fate_of(std::uint64_t sequence);
bool crosses(std::uint64_t sequence);
// Of frames 0 .. count-1, how many cross.
std::uint64_t crossing(std::uint64_t count);
// REPLACE's in-place change, on a frame of the test's.
void rewrite_in_place(std::uint8_t* data, std::size_t length);
// The frame the far end must get for `sequence` (rewritten for REPLACE).
Bytes crossed_frame(std::uint64_t sequence);

// The far end of the bridge, on `interface` in `netns`: every frame that
// crosses (of 0 .. count-1) exactly once, byte for byte, and none other; it
// reports 'r' once listening and exits 0 when that held, after a last
// second of quiet to let a stray one show.
Child start_far_end(const std::string& interface, std::uint64_t count, const std::string& netns);

// ------------------------------------------------------------ debug line

// Standard error, redirected into a file from construction to text().
class StderrCapture {
public:
    StderrCapture();
    ~StderrCapture();
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;
    // Restores standard error and returns what was written meanwhile.
    std::string text();

private:
    int saved_ = -1;
    int file_ = -1;
};

// The counters of the module's debug line at stop ("... N injected, N
// forwarded from their own buffers (N of them copied by the kernel), N
// forwards failed ...").
struct StopLine {
    bool found = false;
    std::uint64_t injected = 0;
    std::uint64_t forwarded = 0;
    std::uint64_t forward_copied = 0;
    std::uint64_t forward_failed = 0;
};
StopLine parse_stop_line(const std::string& text);

// ------------------------------------------------------------ initialize errors

// An initialize (DAQ 2) or instantiate (DAQ 3) that must fail, and words its
// error buffer must hold. The mode is each libdaq's DAQ_Mode of that name.
struct InitError {
    enum class Mode { Passive, Inline, None };
    const char* title;
    std::string name;
    std::vector<std::pair<const char*, const char*>> values; // --daq-var KEY=VALUE
    std::vector<std::string> said;
    Mode mode = Mode::Passive;
};

// The cases both modules answer alike: bad variables, names, interfaces, a
// missing cluster or file, inline names that are not pairs.
std::vector<InitError> init_errors();

} // namespace zc::test

#endif // ZC_TESTS_SYSTEM_DAQ_FIXTURE_HPP

// SPDX-License-Identifier: BSD-3-Clause
//
// See daq_fixture.hpp.

#include "daq_fixture.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <stdexcept>

#include "../../drivers/synthetic/frames.hpp"

namespace zc::test {

// ------------------------------------------------------------ capture files

TempDirectory::TempDirectory()
{
    std::string pattern = "/tmp/zc-daq-test-XXXXXX";
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDirectory::~TempDirectory() { std::filesystem::remove_all(path_); }

void write_pcap(const std::string& path, const std::vector<FileFrame>& frames)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    ASSERT_NE(dead, nullptr);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << path << ": " << pcap_geterr(dead);
    for (const FileFrame& frame : frames) {
        struct pcap_pkthdr header {};
        header.ts.tv_sec = static_cast<time_t>(frame.timestamp_ns / 1000000000u);
        header.ts.tv_usec = static_cast<suseconds_t>(frame.timestamp_ns % 1000000000u); // ns: nano precision
        header.caplen = static_cast<bpf_u_int32>(frame.bytes.size());
        header.len = header.caplen;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.bytes.data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

std::vector<FileFrame> file_frames(std::uint32_t count, std::uint64_t gap_ns)
{
    std::vector<FileFrame> frames;
    for (std::uint32_t i = 0; i < count; ++i)
        frames.push_back(FileFrame{test_frame(i, kFileFlows), kFirstNs + i * gap_ns});
    return frames;
}

std::uint64_t sequence_of(const Bytes& bytes)
{
    frames::Flow flow{};
    std::uint64_t sequence = 0;
    if (!frames::parse(reinterpret_cast<const std::byte*>(bytes.data()), static_cast<std::uint32_t>(bytes.size()),
                       &flow, &sequence))
        return ~0ull;
    return sequence;
}

// ------------------------------------------------------------ veth (root)

Network::Network() { mount_bpffs(); }

Child start_sender(const std::string& interface, std::uint64_t count, const std::string& netns)
{
    return Child(
        [=] {
            RawSocket out(interface, RawSocket::Direction::Send);
            for (std::uint64_t sequence = 0; sequence < count; ++sequence)
                if (!out.send(test_frame(sequence)))
                    return 1;
            return 0;
        },
        netns, Child::Start::OnGo);
}

std::size_t packet_sockets_here()
{
    std::ifstream table("/proc/thread-self/net/packet");
    std::string line;
    std::size_t lines = 0;
    while (std::getline(table, line))
        ++lines;
    return lines > 0 ? lines - 1 : 0; // the first is the header
}

// ------------------------------------------------------------ inline

Fate fate_of(std::uint64_t sequence)
{
    static constexpr Fate kFates[] = {Fate::Block, Fate::Pass, Fate::Whitelist, Fate::Blacklist, Fate::Replace};
    return kFates[sequence % 5];
}

bool crosses(std::uint64_t sequence)
{
    const Fate fate = fate_of(sequence);
    return fate == Fate::Pass || fate == Fate::Whitelist || fate == Fate::Replace;
}

std::uint64_t crossing(std::uint64_t count)
{
    std::uint64_t n = 0;
    for (std::uint64_t k = 0; k < count; ++k)
        n += crosses(k) ? 1 : 0;
    return n;
}

void rewrite_in_place(std::uint8_t* data, std::size_t length)
{
    // The last byte: past the sequence number, so the frame stays one of ours.
    if (length > 0)
        data[length - 1] ^= 0xa5;
}

Bytes crossed_frame(std::uint64_t sequence)
{
    Bytes frame = test_frame(sequence);
    if (fate_of(sequence) == Fate::Replace)
        rewrite_in_place(frame.data(), frame.size());
    return frame;
}

Child start_far_end(const std::string& interface, std::uint64_t count, const std::string& netns)
{
    const std::uint64_t expected = crossing(count);
    return Child(
        [=] {
            RawSocket in(interface, RawSocket::Direction::Receive);
            Child::report('r');
            std::map<std::uint64_t, unsigned> got;
            std::uint64_t wrong = 0;
            const Clock::time_point give_up = Clock::now() + std::chrono::seconds(15);
            Bytes frame;
            while (Clock::now() < give_up) {
                if (!in.receive(frame, 1000)) {
                    if (got.size() >= expected)
                        break;
                    continue;
                }
                std::uint64_t sequence = sequence_of(frame);
                if (sequence >= count || !crosses(sequence) || frame != crossed_frame(sequence)) {
                    ++wrong;
                    continue;
                }
                ++got[sequence];
            }
            std::uint64_t duplicates = 0;
            for (const auto& [sequence, times] : got)
                duplicates += times - 1;
            std::printf("   far end on %s: %zu of %llu frames, %llu wrong, %llu duplicates\n", interface.c_str(),
                        got.size(), static_cast<unsigned long long>(expected), static_cast<unsigned long long>(wrong),
                        static_cast<unsigned long long>(duplicates));
            return got.size() == expected && wrong == 0 && duplicates == 0 ? 0 : 1;
        },
        netns);
}

// ------------------------------------------------------------ debug line

StderrCapture::StderrCapture()
{
    char path[] = "/tmp/zc-daq-stderr-XXXXXX";
    file_ = ::mkstemp(path);
    if (file_ < 0)
        throw std::runtime_error("mkstemp failed");
    ::unlink(path);
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(file_, STDERR_FILENO);
}

StderrCapture::~StderrCapture()
{
    if (saved_ >= 0)
        text();
    if (file_ >= 0)
        ::close(file_);
}

std::string StderrCapture::text()
{
    std::fflush(stderr);
    if (saved_ >= 0) {
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        saved_ = -1;
    }
    std::string text;
    char buffer[4096];
    for (off_t offset = 0;;) {
        ssize_t got = ::pread(file_, buffer, sizeof buffer, offset);
        if (got <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(got));
        offset += got;
    }
    std::fputs(text.c_str(), stderr); // still shown in the test's log
    return text;
}

StopLine parse_stop_line(const std::string& text)
{
    static const std::regex line(R"((\d+) injected, (\d+) forwarded from their own buffers \((\d+) of them copied )"
                                 R"(by the kernel\), (\d+) forwards failed)");
    std::smatch match;
    StopLine stop;
    if (!std::regex_search(text, match, line))
        return stop;
    stop.found = true;
    stop.injected = std::stoull(match[1]);
    stop.forwarded = std::stoull(match[2]);
    stop.forward_copied = std::stoull(match[3]);
    stop.forward_failed = std::stoull(match[4]);
    return stop;
}

std::vector<InitError> init_errors()
{
    using Mode = InitError::Mode;
    return {
        {"UnknownVariable", "zc:synthetic", {{"no_such_thing", "1"}}, {"unknown DAQ variable", "no_such_thing"}},
        {"RingSizeNotPowerOfTwo", "zc:synthetic", {{"ring_size", "1000"}}, {"ring_size", "'1000'", "power of two"}},
        {"FrameCountNotANumber", "zc:synthetic", {{"frame_count", "many"}}, {"frame_count", "'many'"}},
        {"BusyPollOutOfRange", "zc:synthetic", {{"busy_poll", "-5"}}, {"busy_poll", "'-5'"}},
        {"SwitchWithAStrangeValue", "zc:synthetic", {{"copy_mode", "perhaps"}}, {"copy_mode", "'perhaps'"}},
        {"BadInterfaceName", "zc:eth/0", {}, {"'eth/0' is not a valid interface name"}},
        {"NoSuchInterface", "zc:zcdaqnosuch0", {}, {"zcdaqnosuch0", "no such interface"}},
        {"NoSuchCluster", "zc:64999@0", {}, {"cluster 64999", "zc-balance"}},
        {"NoSuchFile", "zc:pcap:/nonexistent/zc-daq-test.pcap", {}, {"/nonexistent/zc-daq-test.pcap"}},
        {"EmptyName", "", {}, {"no interface given"}},
        {"InlineNotAPair", "zc:eth0", {}, {"'eth0' is not a pair of interfaces"}, Mode::Inline},
        {"InlineThreeInterfaces", "eth0:eth1:eth2", {}, {"is not a pair of interfaces"}, Mode::Inline},
        {"InlineNoSuchInterface", "zc:zcdaqnosuch0:zcdaqnosuch1", {}, {"zcdaqnosuch0", "no such interface"},
         Mode::Inline},
    };
}

} // namespace zc::test

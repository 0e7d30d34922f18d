// SPDX-License-Identifier: BSD-3-Clause
//
// zc:pcap:FILE replay (no root needed). Writes small captures (pcap with
// libpcap's pcap_dump, pcapng by hand) and replays them: at top speed byte
// for byte with the files' nanosecond timestamps; paced at 1x and 2x, never
// a packet before it is due; poll() on the selectable fd; loops; and the
// errors: missing file, not a capture, empty, not Ethernet, a directory,
// a file the user may not read.
//
// Time is checked only where the replay's own schedule decides it: a
// packet must never come early (start is taken before the first read, so
// a slow machine cannot make one look early), and the upper bounds are
// wide enough for a loaded machine yet tell 1x from 2x.

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "netns.hpp"

namespace zc::test {
namespace {

// No test may hang: each gets 30 s, then the program fails (netns.hpp).
[[maybe_unused]] const bool bounded = bound_each_test(30);

constexpr std::uint64_t kFirstNs = 1700000000123456789ull; // a timestamp with every ns digit set
constexpr std::uint64_t kGapNs = 10000000;                  // 10 ms between packets
constexpr std::uint32_t kPackets = 50;                      // a 490 ms file (500 ms with the jumbo frame)

struct Frame {
    Bytes bytes;
    std::uint32_t wire;
    std::uint64_t timestamp_ns;
};

// kPackets test frames of every size, kGapNs apart, then one frame larger
// than a pool buffer (a jumbo frame): it comes out with caplen < len.
std::vector<Frame> make_frames(std::uint64_t gap_ns = kGapNs, std::uint32_t count = kPackets)
{
    std::vector<Frame> frames;
    for (std::uint32_t i = 0; i < count; ++i) {
        Bytes bytes = test_frame(i);
        auto wire = static_cast<std::uint32_t>(bytes.size());
        frames.push_back(Frame{std::move(bytes), wire, kFirstNs + i * gap_ns});
    }
    frames.push_back(Frame{jumbo_frame(count, 3000), 3000, kFirstNs + count * gap_ns});
    return frames;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Reads a top-speed replay to its end: `each` sees every packet and its
// index, in order, before the burst is released. Returns the count.
template <typename Each>
std::size_t read_to_end(zc_device* device, Each each)
{
    zc_packet burst[32];
    std::size_t count = 0;
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 32);
        if (n == ZC_DEVICE_END)
            return count;
        if (n == 0) {
            ADD_FAILURE() << "top speed made packet " << count << " wait";
            return count;
        }
        for (std::uint32_t i = 0; i < n; ++i)
            each(burst[i], count++);
        zc_device_release_burst(device, burst, n);
    }
}

class PcapFileTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = "/tmp/zc-pcapfile-test-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        directory = pattern;
        // Traversable by anyone, so that a file's own mode is what a test exercises.
        ::chmod(directory.c_str(), 0755);
        frames = make_frames();
        pcap = directory + "/frames.pcap";
        write_pcap(pcap, frames);
    }
    void TearDown() override { std::filesystem::remove_all(directory); }

    static void write_pcap(const std::string& path, const std::vector<Frame>& frames, int link = DLT_EN10MB)
    {
        pcap_t* dead = pcap_open_dead_with_tstamp_precision(link, 65535, PCAP_TSTAMP_PRECISION_NANO);
        pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
        ASSERT_NE(dumper, nullptr) << path << ": " << pcap_geterr(dead);
        for (const Frame& frame : frames) {
            struct pcap_pkthdr header {};
            header.ts.tv_sec = static_cast<time_t>(frame.timestamp_ns / 1000000000u);
            header.ts.tv_usec = static_cast<suseconds_t>(frame.timestamp_ns % 1000000000u); // ns: nano precision
            header.caplen = static_cast<bpf_u_int32>(frame.bytes.size());
            header.len = frame.wire;
            pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.bytes.data());
        }
        pcap_dump_close(dumper);
        pcap_close(dead);
    }

    // pcapng by hand (libpcap reads it but cannot write it): SHB, one IDB
    // with if_tsresol 9 (nanoseconds), one EPB per frame.
    static void write_pcapng(const std::string& path, const std::vector<Frame>& frames)
    {
        std::vector<std::uint8_t> out;
        auto put32 = [&](std::uint32_t v) {
            out.insert(out.end(), reinterpret_cast<std::uint8_t*>(&v), reinterpret_cast<std::uint8_t*>(&v) + 4);
        };
        auto put16 = [&](std::uint16_t v) {
            out.insert(out.end(), reinterpret_cast<std::uint8_t*>(&v), reinterpret_cast<std::uint8_t*>(&v) + 2);
        };
        put32(0x0a0d0d0a); // SHB
        put32(28);
        put32(0x1a2b3c4d);
        put16(1);
        put16(0);
        put32(0xffffffff); // section length unknown
        put32(0xffffffff);
        put32(28);
        put32(1); // IDB
        put32(32);
        put16(DLT_EN10MB);
        put16(0);
        put32(65535);
        put16(9); // if_tsresol
        put16(1);
        out.push_back(9);
        out.push_back(0);
        out.push_back(0);
        out.push_back(0);
        put16(0); // opt_endofopt
        put16(0);
        put32(32);
        for (const Frame& frame : frames) {
            std::uint32_t padded = (static_cast<std::uint32_t>(frame.bytes.size()) + 3) & ~3u;
            std::uint32_t total = 32 + padded;
            put32(6); // EPB
            put32(total);
            put32(0);
            put32(static_cast<std::uint32_t>(frame.timestamp_ns >> 32));
            put32(static_cast<std::uint32_t>(frame.timestamp_ns));
            put32(static_cast<std::uint32_t>(frame.bytes.size()));
            put32(frame.wire);
            out.insert(out.end(), frame.bytes.begin(), frame.bytes.end());
            out.resize(out.size() + padded - frame.bytes.size(), 0);
            put32(total);
        }
        FILE* file = std::fopen(path.c_str(), "wb");
        ASSERT_NE(file, nullptr) << path;
        EXPECT_EQ(std::fwrite(out.data(), 1, out.size(), file), out.size());
        std::fclose(file);
    }

    static Opened open_pcap(const std::string& path, double speed = 0, std::uint32_t loops = 1)
    {
        zc_device_config config = device_config();
        config.replay_speed = speed;
        config.replay_loops = loops;
        return open_device("zc:pcap:" + path, config);
    }

    // One received packet is `frame` (cut to `capacity`), its timestamp
    // shifted by `shift` ns.
    static bool same(const zc_packet& p, const Frame& frame, std::uint32_t capacity, std::uint64_t shift)
    {
        std::uint32_t caplen = std::min<std::uint32_t>(static_cast<std::uint32_t>(frame.bytes.size()), capacity);
        return p.caplen == caplen && p.len == frame.wire && p.timestamp_ns == frame.timestamp_ns + shift &&
               std::memcmp(p.data, frame.bytes.data(), caplen) == 0;
    }

    void replay_at_top_speed(const std::string& path);
    void replay_paced(double speed);

    std::string directory, pcap;
    std::vector<Frame> frames;
};

void PcapFileTest::replay_at_top_speed(const std::string& path)
{
    Opened opened = open_pcap(path);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_STREQ(zc_device_mode(device), "pcap");
    zc_cluster* pool = zc_device_cluster(device);
    const std::uint32_t capacity = zc_buffer_capacity(pool);
    const std::uint32_t free_at_start = zc_pool_free_count(pool);
    std::size_t wrong = 0;
    zc_packet last{};
    const std::size_t count = read_to_end(device, [&](const zc_packet& p, std::size_t i) {
        wrong += i >= frames.size() || !same(p, frames[i], capacity, 0);
        last = p;
    });
    EXPECT_EQ(count, frames.size());
    EXPECT_EQ(wrong, 0u) << "packets that differ from the file (bytes, caplen, len or ns timestamp)";
    EXPECT_EQ(last.caplen, capacity) << "the jumbo frame is cut to the buffer";
    EXPECT_EQ(last.len, 3000u);
    zc_packet burst[16];
    EXPECT_EQ(zc_device_recv_burst(device, burst, 16), ZC_DEVICE_END) << "END again after the end";
    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 0), 1) << "the selectable fd is readable at the end";
    zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.packets, frames.size());
    EXPECT_EQ(stats.copied, frames.size()) << "a replay copies every packet into the pool, and says so";
    EXPECT_EQ(stats.dropped, 0u);
    // Every buffer came home, but for the spares the driver takes ahead
    // (one chunk of 64 at the most).
    EXPECT_LE(free_at_start - zc_pool_free_count(pool), 64u) << "buffers did not come home";
}

TEST_F(PcapFileTest, TopSpeedReplayOfPcapIsTheFile) { replay_at_top_speed(pcap); }

TEST_F(PcapFileTest, TopSpeedReplayOfPcapngIsTheFile)
{
    std::string pcapng = directory + "/frames.pcapng";
    write_pcapng(pcapng, frames);
    replay_at_top_speed(pcapng);
}

// Replays at `speed`: no packet comes before its time (file gap / speed
// after the first), and the whole run takes about span / speed.
void PcapFileTest::replay_paced(double speed)
{
    Opened opened = open_pcap(pcap, speed);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    std::size_t count = 0, early = 0;
    double last = 0;
    zc_packet burst[16];
    const auto start = Clock::now(); // the replay's clock starts at the first read, after this
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 16);
        if (n == ZC_DEVICE_END)
            break;
        const double at = seconds_since(start);
        for (std::uint32_t i = 0; i < n; ++i, ++count) {
            const double due = static_cast<double>(burst[i].timestamp_ns - kFirstNs) / 1e9 / speed;
            early += at < due;
            last = at;
        }
        zc_device_release_burst(device, burst, n);
        if (n == 0) {
            ASSERT_EQ(zc_device_wait(device, 1000), 1) << "wait returns 1 when the next packet is due";
        }
    }
    const double expected = static_cast<double>(frames.back().timestamp_ns - kFirstNs) / 1e9 / speed;
    EXPECT_EQ(count, frames.size());
    EXPECT_EQ(early, 0u) << "packets came before their time";
    EXPECT_GE(last, expected);
    // Wide for a loaded machine, yet 2x replayed at 1x would fail.
    EXPECT_LT(last, expected * 1.8) << "speed " << speed << ": the replay is slower than the file says";
}

TEST_F(PcapFileTest, PacedReplayAtOriginalSpeedFollowsTheFile) { replay_paced(1.0); }
TEST_F(PcapFileTest, PacedReplayAtTwiceTheSpeedTakesHalfTheTime) { replay_paced(2.0); }

// A file of three packets 200 ms apart: wide margins, so "not yet" and
// "now" cannot be confused on a loaded machine.
TEST_F(PcapFileTest, SelectableFdIsReadableWhenAPacketIsDue)
{
    constexpr std::uint64_t kWideGapNs = 200000000;
    std::string slow = directory + "/slow.pcap";
    write_pcap(slow, make_frames(kWideGapNs, 2));
    Opened opened = open_pcap(slow, 1.0);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 0), 1) << "readable before the first read: the first packet is due at once";
    zc_packet burst[16];
    ASSERT_EQ(zc_device_recv_burst(device, burst, 16), 1u) << "one packet at once";
    zc_device_release_burst(device, burst, 1);
    EXPECT_EQ(zc_device_recv_burst(device, burst, 16), 0u) << "the next one is 200 ms away: recv_burst does not wait";
    EXPECT_EQ(::poll(&entry, 1, 0), 0) << "not readable before it is due";
    const auto before = Clock::now();
    EXPECT_EQ(::poll(&entry, 1, 5000), 1) << "readable when due";
    const double waited = seconds_since(before);
    EXPECT_GT(waited, 0.1) << "readable long before the packet was due";
    EXPECT_LT(waited, 1.0) << "readable long after the packet was due";
    ASSERT_EQ(zc_device_recv_burst(device, burst, 16), 1u) << "and then the packet is there";
    zc_device_release_burst(device, burst, 1);
    EXPECT_EQ(zc_device_wait(device, 1), 0) << "wait times out before the next is due";
}

TEST_F(PcapFileTest, LoopsShiftTimestampsByOnePeriodEach)
{
    Opened opened = open_pcap(pcap, 0, 3);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    const std::uint32_t capacity = zc_buffer_capacity(zc_device_cluster(device));
    // Period: the file's span (500 ms) plus its mean gap (10 ms).
    const std::uint64_t period = (frames.back().timestamp_ns - kFirstNs) + kGapNs;
    std::size_t wrong = 0, backwards = 0;
    std::uint64_t last = 0;
    const std::size_t count = read_to_end(device, [&](const zc_packet& p, std::size_t i) {
        wrong += !same(p, frames[i % frames.size()], capacity, (i / frames.size()) * period);
        backwards += p.timestamp_ns <= last;
        last = p.timestamp_ns;
    });
    EXPECT_EQ(count, 3 * frames.size());
    EXPECT_EQ(wrong, 0u) << "packets with other bytes, or timestamps not shifted by one period per loop";
    EXPECT_EQ(backwards, 0u) << "timestamps that do not increase across loops";
}

TEST_F(PcapFileTest, ZeroLoopsPlaysForever)
{
    Opened opened = open_pcap(pcap, 0, 0);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    std::size_t count = 0;
    zc_packet burst[32];
    while (count < 20 * frames.size()) {
        std::uint32_t n = zc_device_recv_burst(opened.device.get(), burst, 32);
        ASSERT_NE(n, ZC_DEVICE_END) << "loops 0 ended after " << count << " packets";
        ASSERT_NE(n, 0u) << "top speed never makes a packet wait";
        count += n;
        zc_device_release_burst(opened.device.get(), burst, n);
    }
}

// A file of many small frames: every one, in order, across several rounds
// of the pool's buffers.
TEST_F(PcapFileTest, LargeFileReplaysEveryPacketInOrder)
{
    constexpr std::uint32_t kCount = 20000;
    std::string path = directory + "/many.pcap";
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
    std::uint8_t frame[60];
    for (std::uint32_t i = 0; i < kCount; ++i) {
        zc::frames::build(reinterpret_cast<std::byte*>(frame), 64, zc::frames::nth(i, 64), i);
        struct pcap_pkthdr header {};
        header.ts.tv_sec = 1700000000;
        header.ts.tv_usec = static_cast<suseconds_t>(i) * 1000;
        header.caplen = header.len = sizeof frame;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame);
    }
    pcap_dump_close(dumper);
    pcap_close(dead);

    Opened opened = open_pcap(path);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    std::size_t wrong = 0;
    const std::size_t count = read_to_end(opened.device.get(), [&](const zc_packet& p, std::size_t i) {
        zc::frames::build(reinterpret_cast<std::byte*>(frame), 64, zc::frames::nth(i, 64), i);
        wrong += p.caplen != sizeof frame || std::memcmp(p.data, frame, sizeof frame) != 0;
    });
    EXPECT_EQ(count, kCount);
    EXPECT_EQ(wrong, 0u) << "packets out of order or with other bytes";
}

// ------------------------------------------------------------ errors

TEST_F(PcapFileTest, MissingFileIsENOENT)
{
    Opened opened = open_pcap(directory + "/missing.pcap");
    EXPECT_EQ(opened.rc, -ENOENT) << opened.message;
    EXPECT_NE(opened.message.find("no such file"), std::string::npos) << opened.message;
}

TEST_F(PcapFileTest, TextFileIsEPROTO)
{
    std::string text = directory + "/text.pcap";
    FILE* file = std::fopen(text.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("this is not a capture file, it is text long enough for a header\n", file);
    std::fclose(file);
    Opened opened = open_pcap(text);
    EXPECT_EQ(opened.rc, -EPROTO) << opened.message;
    EXPECT_NE(opened.message.find("not a capture file"), std::string::npos) << opened.message;
}

TEST_F(PcapFileTest, EmptyFileIsEPROTO)
{
    std::string empty = directory + "/empty.pcap";
    std::fclose(std::fopen(empty.c_str(), "w"));
    Opened opened = open_pcap(empty);
    EXPECT_EQ(opened.rc, -EPROTO) << opened.message;
}

TEST_F(PcapFileTest, LinkTypeOtherThanEthernetIsEPROTO)
{
    std::string raw = directory + "/raw.pcap";
    write_pcap(raw, frames, DLT_RAW);
    Opened opened = open_pcap(raw);
    EXPECT_EQ(opened.rc, -EPROTO) << opened.message;
    EXPECT_NE(opened.message.find("not Ethernet"), std::string::npos) << opened.message;
}

TEST_F(PcapFileTest, DirectoryIsEISDIR)
{
    Opened opened = open_pcap(directory);
    EXPECT_EQ(opened.rc, -EISDIR) << opened.message;
}

// A file the user may not read. As root: a root-only file, opened by a
// child running as nobody. As anyone else: the user's own file, mode 000.
TEST_F(PcapFileTest, UnreadableFileIsEACCES)
{
    std::string secret = directory + "/secret.pcap";
    write_pcap(secret, frames);
    zc_device_config config = device_config();
    Opened opened;
    if (is_root()) {
        ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
        opened = open_as_nobody("zc:pcap:" + secret, config);
    } else {
        ASSERT_EQ(::chmod(secret.c_str(), 0), 0);
        opened = open_device("zc:pcap:" + secret, config);
    }
    EXPECT_EQ(opened.rc, -EACCES) << opened.message;
    EXPECT_NE(opened.message.find("permission denied"), std::string::npos) << opened.message;
}

} // namespace
} // namespace zc::test

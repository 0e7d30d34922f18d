// SPDX-License-Identifier: BSD-3-Clause
//
// pcapfile_smoke — a hand-run check of zc:pcap:FILE replay. Writes small
// captures (pcap with libpcap's pcap_dump, pcapng by hand), replays them at
// top speed, 1x and 2x with loops, and checks bytes, timestamps, pacing
// (roughly: elapsed times are printed and held to wide bounds), poll() on
// the selectable fd, and the errors: missing file, not a capture, a link
// type other than Ethernet, and (run as root: through setpriv as nobody)
// a file the user may not read.
//
//   pcapfile_smoke                      exit 0 all passed, 1 something failed
//   pcapfile_smoke --open FILE          (internal) prints "rc=N message" for FILE

#include <pcap/pcap.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../synthetic/frames.hpp"
#include "zc/device.h"

namespace {

int failures = 0;

#define CHECK(condition, ...)                                                                                          \
    do {                                                                                                               \
        if (!(condition)) {                                                                                            \
            ++failures;                                                                                                \
            std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition);                                           \
            std::printf(__VA_ARGS__);                                                                                  \
            std::printf("\n");                                                                                         \
        }                                                                                                              \
    } while (0)

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kFirstNs = 1700000000123456789ull; // a timestamp with every ns digit set
constexpr std::uint64_t kGapNs = 10000000;                  // 10 ms between packets
constexpr std::uint32_t kPackets = 50;                      // a 490 ms file

std::string directory;

struct Frame {
    std::vector<std::uint8_t> bytes;
    std::uint32_t wire;
    std::uint64_t timestamp_ns;
};

std::vector<Frame> make_frames()
{
    std::vector<Frame> frames;
    for (std::uint32_t i = 0; i < kPackets; ++i) {
        std::uint32_t size = 64 + (i * 97) % (1518 - 64 + 1);
        Frame frame;
        frame.bytes.resize(zc::frames::frame_bytes(size));
        zc::frames::build(reinterpret_cast<std::byte*>(frame.bytes.data()), size, zc::frames::nth(i, 4), i);
        frame.wire = static_cast<std::uint32_t>(frame.bytes.size());
        frame.timestamp_ns = kFirstNs + i * kGapNs;
        frames.push_back(frame);
    }
    // One frame larger than a pool buffer (a jumbo frame): caplen < len.
    Frame jumbo;
    jumbo.bytes.resize(3000);
    zc::frames::build(reinterpret_cast<std::byte*>(jumbo.bytes.data()), 1518, zc::frames::nth(kPackets, 4), kPackets);
    for (std::size_t b = 1514; b < jumbo.bytes.size(); ++b)
        jumbo.bytes[b] = static_cast<std::uint8_t>(b);
    jumbo.wire = 3000;
    jumbo.timestamp_ns = kFirstNs + kPackets * kGapNs;
    frames.push_back(jumbo);
    return frames;
}

void write_pcap(const std::string& path, const std::vector<Frame>& frames, int link = DLT_EN10MB)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(link, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    if (!dumper) {
        std::printf("cannot write %s: %s\n", path.c_str(), pcap_geterr(dead));
        std::exit(99);
    }
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

// pcapng by hand (libpcap reads it but cannot write it): SHB, one IDB with
// if_tsresol 9 (nanoseconds), one EPB per frame.
void write_pcapng(const std::string& path, const std::vector<Frame>& frames)
{
    std::vector<std::uint8_t> out;
    auto put32 = [&](std::uint32_t v) { out.insert(out.end(), reinterpret_cast<std::uint8_t*>(&v),
                                                   reinterpret_cast<std::uint8_t*>(&v) + 4); };
    auto put16 = [&](std::uint16_t v) { out.insert(out.end(), reinterpret_cast<std::uint8_t*>(&v),
                                                   reinterpret_cast<std::uint8_t*>(&v) + 2); };
    // Section header block
    put32(0x0A0D0D0A); put32(28); put32(0x1A2B3C4D); put16(1); put16(0);
    put32(0xffffffff); put32(0xffffffff); put32(28);
    // Interface description block, if_tsresol = 9
    put32(1); put32(32); put16(1); put16(0); put32(0);
    put16(9); put16(1); out.push_back(9); out.push_back(0); out.push_back(0); out.push_back(0);
    put16(0); put16(0);
    put32(32);
    for (const Frame& frame : frames) {
        std::uint32_t padded = (static_cast<std::uint32_t>(frame.bytes.size()) + 3) & ~3u;
        std::uint32_t total = 32 + padded;
        put32(6); put32(total); put32(0);
        put32(static_cast<std::uint32_t>(frame.timestamp_ns >> 32));
        put32(static_cast<std::uint32_t>(frame.timestamp_ns));
        put32(static_cast<std::uint32_t>(frame.bytes.size())); put32(frame.wire);
        out.insert(out.end(), frame.bytes.begin(), frame.bytes.end());
        out.resize(out.size() + padded - frame.bytes.size(), 0);
        put32(total);
    }
    FILE* file = std::fopen(path.c_str(), "wb");
    std::fwrite(out.data(), 1, out.size(), file);
    std::fclose(file);
}

zc_device* open_pcap(const std::string& path, double speed, std::uint32_t loops, int* rc, zc_error* error)
{
    zc_device_config config;
    zc_device_config_init(&config);
    config.replay_speed = speed;
    config.replay_loops = loops;
    zc_device* device = nullptr;
    *error = zc_error{};
    *rc = zc_device_open(("zc:pcap:" + path).c_str(), &config, &device, error);
    return device;
}

// Compares one received packet with the frame it should be.
bool same(const zc_packet& p, const Frame& frame, std::uint32_t capacity, std::uint64_t shift)
{
    std::uint32_t caplen = std::min<std::uint32_t>(static_cast<std::uint32_t>(frame.bytes.size()), capacity);
    return p.caplen == caplen && p.len == frame.wire && p.timestamp_ns == frame.timestamp_ns + shift &&
           std::memcmp(p.data, frame.bytes.data(), caplen) == 0;
}

void check_top_speed(const std::string& path, const std::vector<Frame>& frames, const char* what)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_pcap(path, 0, 1, &rc, &error);
    CHECK(rc == 0, "open %s: %s", what, error.message);
    if (!device)
        return;
    CHECK(std::strcmp(zc_device_mode(device), "pcap") == 0, "mode %s", zc_device_mode(device));
    std::uint32_t capacity = zc_buffer_capacity(zc_device_cluster(device));
    auto start = Clock::now();
    std::vector<zc_packet> got;
    zc_packet burst[16];
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 16);
        if (n == ZC_DEVICE_END)
            break;
        CHECK(n != 0, "top speed never makes a packet wait");
        if (n == 0)
            break;
        got.insert(got.end(), burst, burst + n);
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    CHECK(got.size() == frames.size(), "%s: %zu packets of %zu", what, got.size(), frames.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < got.size() && i < frames.size(); ++i)
        bad += !same(got[i], frames[i], capacity, 0);
    CHECK(bad == 0, "%s: %zu packets differ from the file (bytes, caplen, len or ns timestamp)", what, bad);
    CHECK(!got.empty() && got.back().caplen == capacity && got.back().len == 3000,
          "the jumbo frame is cut to the buffer (caplen %u len %u)", got.empty() ? 0 : got.back().caplen,
          got.empty() ? 0 : got.back().len);
    CHECK(zc_device_recv_burst(device, burst, 16) == ZC_DEVICE_END, "END again after the end");
    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    CHECK(::poll(&entry, 1, 0) == 1, "the selectable fd is readable at the end");
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    zc_device_get_stats(device, &stats);
    CHECK(stats.packets == frames.size() && stats.copied == frames.size() && stats.dropped == 0,
          "stats packets %llu copied %llu", static_cast<unsigned long long>(stats.packets),
          static_cast<unsigned long long>(stats.copied));
    for (const zc_packet& p : got)
        zc_device_release_burst(device, &p, 1);
    CHECK(zc_pool_free_count(zc_device_cluster(device)) + 64 >= 4096, "buffers came home (free %u)",
          zc_pool_free_count(zc_device_cluster(device)));
    std::printf("ok   %s, top speed: %zu packets byte for byte, ns timestamps, in %.1f ms\n", what, got.size(),
                elapsed * 1e3);
    zc_device_close(device);
}

// Replays at `speed` and checks that packet i arrives no earlier than its
// gap allows and the whole run takes about span / speed.
void check_paced(const std::string& path, const std::vector<Frame>& frames, double speed)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_pcap(path, speed, 1, &rc, &error);
    CHECK(rc == 0, "open: %s", error.message);
    if (!device)
        return;
    std::vector<double> arrival;
    zc_packet burst[16];
    auto start = Clock::now();
    bool first = true;
    std::size_t early = 0;
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 16);
        if (n == ZC_DEVICE_END)
            break;
        auto now = Clock::now();
        if (first && n > 0) {
            start = now;
            first = false;
        }
        for (std::uint32_t i = 0; i < n; ++i) {
            double at = std::chrono::duration<double>(now - start).count();
            double due = static_cast<double>(burst[i].timestamp_ns - kFirstNs) / 1e9 / speed;
            if (at + 0.0005 < due)
                ++early;
            arrival.push_back(at);
        }
        zc_device_release_burst(device, burst, n);
        if (n == 0) {
            int ready = zc_device_wait(device, 1000);
            CHECK(ready == 1, "wait returns 1 when the next packet is due (got %d)", ready);
        }
    }
    double elapsed = arrival.empty() ? 0 : arrival.back();
    double expected = static_cast<double>(frames.back().timestamp_ns - kFirstNs) / 1e9 / speed;
    CHECK(arrival.size() == frames.size(), "%zu packets", arrival.size());
    CHECK(early == 0, "%zu packets came before their time", early);
    CHECK(elapsed >= expected && elapsed < expected + 0.05, "speed %.1f: elapsed %.3f s, expected %.3f s", speed,
          elapsed, expected);
    std::printf("ok   speed %.1f: %zu packets over %.1f ms (file gaps say %.1f ms), none early\n", speed,
                arrival.size(), elapsed * 1e3, expected * 1e3);
    zc_device_close(device);
}

void check_poll(const std::string& path)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_pcap(path, 1.0, 1, &rc, &error);
    if (!device)
        return;
    int fd = zc_device_selectable_fd(device);
    struct pollfd entry = {fd, POLLIN, 0};
    CHECK(::poll(&entry, 1, 0) == 1, "readable before the first read: the first packet is due at once");
    zc_packet burst[16];
    CHECK(zc_device_recv_burst(device, burst, 16) == 1, "one packet at once");
    zc_device_release_burst(device, burst, 1);
    auto before = Clock::now();
    CHECK(zc_device_recv_burst(device, burst, 16) == 0, "the next one is 10 ms away");
    double spent = std::chrono::duration<double>(Clock::now() - before).count();
    CHECK(spent < 0.002, "recv_burst does not sleep (%.3f ms)", spent * 1e3);
    CHECK(::poll(&entry, 1, 0) == 0, "not readable before it is due");
    before = Clock::now();
    int ready = ::poll(&entry, 1, 1000);
    double waited = std::chrono::duration<double>(Clock::now() - before).count();
    CHECK(ready == 1 && waited > 0.005 && waited < 0.03, "readable when due: %d after %.1f ms", ready, waited * 1e3);
    CHECK(zc_device_recv_burst(device, burst, 16) == 1, "and then the packet is there");
    zc_device_release_burst(device, burst, 1);
    CHECK(zc_device_wait(device, 1) == 0, "wait times out before the next is due");
    std::printf("ok   poll on the selectable fd: readable when a packet is due (%.1f ms for a 10 ms gap)\n",
                waited * 1e3);
    zc_device_close(device);
}

void check_loops(const std::string& path, const std::vector<Frame>& frames)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_pcap(path, 0, 3, &rc, &error);
    CHECK(rc == 0, "open: %s", error.message);
    if (!device)
        return;
    std::uint32_t capacity = zc_buffer_capacity(zc_device_cluster(device));
    // Period: the file's span (500 ms) plus its mean gap (10 ms).
    const std::uint64_t period = (frames.back().timestamp_ns - kFirstNs) + kGapNs;
    std::size_t count = 0, bad = 0;
    std::uint64_t last = 0;
    zc_packet burst[32];
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 32);
        if (n == ZC_DEVICE_END || n == 0)
            break;
        for (std::uint32_t i = 0; i < n; ++i, ++count) {
            std::size_t loop = count / frames.size();
            bad += !same(burst[i], frames[count % frames.size()], capacity, loop * period);
            bad += burst[i].timestamp_ns <= last;
            last = burst[i].timestamp_ns;
        }
        zc_device_release_burst(device, burst, n);
    }
    CHECK(count == 3 * frames.size(), "3 loops: %zu packets", count);
    CHECK(bad == 0, "%zu packets wrong (bytes, or timestamps not shifted by one period per loop)", bad);
    std::printf("ok   3 loops: %zu packets, timestamps shifted by %.0f ms per loop, increasing\n", count,
                period / 1e6);
    zc_device_close(device);

    device = open_pcap(path, 0, 0, &rc, &error);
    CHECK(rc == 0, "open forever: %s", error.message);
    if (!device)
        return;
    count = 0;
    while (count < 20 * frames.size()) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 32);
        if (n == ZC_DEVICE_END || n == 0)
            break;
        count += n;
        zc_device_release_burst(device, burst, n);
    }
    CHECK(count >= 20 * frames.size(), "loops 0 goes on (stopped after %zu)", count);
    std::printf("ok   loops 0: still playing after %zu packets (20 passes)\n", count);
    zc_device_close(device);
}

int open_errno(const std::string& path, std::string* message)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_pcap(path, 1.0, 1, &rc, &error);
    if (device)
        zc_device_close(device);
    *message = error.message;
    return rc;
}

void check_errors(const char* self, const std::vector<Frame>& frames)
{
    std::string message;
    int rc = open_errno(directory + "/missing.pcap", &message);
    CHECK(rc == -ENOENT, "missing file: %d %s", rc, message.c_str());
    std::printf("ok   missing file: %d \"%s\"\n", rc, message.c_str());

    std::string text = directory + "/text.pcap";
    FILE* file = std::fopen(text.c_str(), "w");
    std::fputs("this is not a capture file, it is text long enough for a header\n", file);
    std::fclose(file);
    rc = open_errno(text, &message);
    CHECK(rc == -EPROTO, "text file: %d %s", rc, message.c_str());
    std::printf("ok   not a capture: %d \"%s\"\n", rc, message.c_str());

    std::string empty = directory + "/empty.pcap";
    std::fclose(std::fopen(empty.c_str(), "w"));
    rc = open_errno(empty, &message);
    CHECK(rc == -EPROTO, "empty file: %d %s", rc, message.c_str());
    std::printf("ok   empty file: %d \"%s\"\n", rc, message.c_str());

    std::string raw = directory + "/raw.pcap";
    write_pcap(raw, frames, DLT_RAW);
    rc = open_errno(raw, &message);
    CHECK(rc == -EPROTO, "raw IP file: %d %s", rc, message.c_str());
    std::printf("ok   not Ethernet: %d \"%s\"\n", rc, message.c_str());

    rc = open_errno(directory, &message);
    CHECK(rc == -EISDIR, "a directory: %d %s", rc, message.c_str());

    if (::geteuid() != 0) {
        std::printf("skip permission check (needs root to run a child as nobody)\n");
        return;
    }
    std::string secret = directory + "/secret.pcap";
    write_pcap(secret, frames);
    ::chmod(secret.c_str(), 0600);
    ::chmod(directory.c_str(), 0755);
    std::string command = "setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(self) + " --open " +
                          secret;
    FILE* child = ::popen(command.c_str(), "r");
    char line[512] = {};
    if (!child || !std::fgets(line, sizeof line, child))
        line[0] = 0;
    if (child)
        ::pclose(child);
    CHECK(std::strncmp(line, "rc=-13 ", 7) == 0, "as nobody, a root-only file: %s", line);
    std::printf("ok   permission (as nobody): %s", line);
}

// Top-speed replay rate of a file of 64-byte frames (printed, never asserted).
void measure()
{
    constexpr std::uint32_t kCount = 500000;
    std::string path = directory + "/rate.pcap";
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    std::uint8_t frame[60];
    for (std::uint32_t i = 0; i < kCount; ++i) {
        zc::frames::build(reinterpret_cast<std::byte*>(frame), 64, zc::frames::nth(i, 64), i);
        struct pcap_pkthdr header {};
        header.ts.tv_sec = 1700000000 + i / 1000000;
        header.ts.tv_usec = static_cast<suseconds_t>(i % 1000000) * 1000;
        header.caplen = header.len = sizeof frame;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame);
    }
    pcap_dump_close(dumper);
    pcap_close(dead);

    int rc = 0;
    zc_error error;
    zc_device* device = open_pcap(path, 0, 1, &rc, &error);
    if (!device)
        return;
    zc_packet burst[64];
    std::uint64_t count = 0;
    auto start = Clock::now();
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 64);
        if (n == ZC_DEVICE_END || n == 0)
            break;
        count += n;
        zc_device_release_burst(device, burst, n);
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    CHECK(count == kCount, "rate file: %llu of %u", static_cast<unsigned long long>(count), kCount);
    std::printf("rate pcap replay, top speed, 64-byte frames: %.2f Mpps (%.0f ns/packet, libpcap read included)\n",
                count / elapsed / 1e6, elapsed * 1e9 / count);
    zc_device_close(device);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc == 3 && std::strcmp(argv[1], "--open") == 0) {
        std::string message;
        int rc = open_errno(argv[2], &message);
        std::printf("rc=%d %s\n", rc, message.c_str());
        return 0;
    }
    char pattern[] = "/tmp/zc-pcapfile-smoke-XXXXXX";
    if (!::mkdtemp(pattern))
        return 99;
    directory = pattern;

    std::vector<Frame> frames = make_frames();
    std::string pcap = directory + "/frames.pcap";
    std::string pcapng = directory + "/frames.pcapng";
    write_pcap(pcap, frames);
    write_pcapng(pcapng, frames);

    check_top_speed(pcap, frames, "pcap");
    check_top_speed(pcapng, frames, "pcapng");
    check_paced(pcap, frames, 1.0);
    check_paced(pcap, frames, 2.0);
    check_poll(pcap);
    check_loops(pcap, frames);
    check_errors(argv[0], frames);
    measure();

    std::string cleanup = "rm -rf " + directory;
    if (std::system(cleanup.c_str()) != 0)
        std::printf("could not remove %s\n", directory.c_str());
    std::printf(failures == 0 ? "pcapfile_smoke: all passed\n" : "pcapfile_smoke: %d FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}

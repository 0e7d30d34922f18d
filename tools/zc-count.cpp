// SPDX-License-Identifier: BSD-3-Clause
//
// zc-count — counts what a zc device receives, like pfcount: packets and
// bits per second, totals, drops, and the mode the device runs in.

#include <getopt.h>
#include <pcap/pcap.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "zc/device.h"

#include "parse_number.hpp"

namespace {

using zc::tools::parse_number;

constexpr const char* kUsage = R"(Usage: zc-count -i DEVICE [options]
Count the packets a zc device receives: per-second rates, totals, drops.

  -i, --interface DEVICE  zc:eth0, zc:eth0@2, zc:eth0,eth1, zc:afpacket:eth0,
                          zc:pcap:FILE, zc:synthetic (see zc(7))
  -c, --count N           stop after N packets
  -d, --duration SECONDS  stop after SECONDS seconds
  -w, --write FILE        also write the packets to FILE (pcap, ns timestamps)
  -s, --snaplen BYTES     bytes kept per packet (default: all)
      --copy-mode         AF_XDP: do not try zero-copy
      --skb-mode          AF_XDP: attach XDP in generic (skb) mode
      --busy-poll         AF_XDP: busy polling (SO_PREFER_BUSY_POLL)
      --no-promisc        leave promiscuous mode alone
      --speed X           zc:pcap: replay at X times the original pace (0: top speed)
      --json              JSON lines: one object a second and a final one
  -q, --quiet             only the final report
  -h, --help              this text
)";

struct Options {
    const char* device = nullptr;
    std::uint64_t count = 0;   // 0: no limit
    double duration = 0;       // 0: no limit
    const char* write_path = nullptr;
    std::uint32_t snaplen = 0;
    std::uint32_t flags = ZC_DEVICE_RX;
    double replay_speed = 1.0;
    bool json = false;
    bool quiet = false;
};

enum LongOption { kCopyMode = 256, kSkbMode, kBusyPoll, kNoPromisc, kSpeed, kJson };

// Returns 0 to run, 1 after --help, 2 on a usage error (already reported).
int parse_options(int argc, char** argv, Options& options)
{
    static const struct option longs[] = {
        {"interface", required_argument, nullptr, 'i'}, {"count", required_argument, nullptr, 'c'},
        {"duration", required_argument, nullptr, 'd'},  {"write", required_argument, nullptr, 'w'},
        {"snaplen", required_argument, nullptr, 's'},   {"copy-mode", no_argument, nullptr, kCopyMode},
        {"skb-mode", no_argument, nullptr, kSkbMode},   {"busy-poll", no_argument, nullptr, kBusyPoll},
        {"no-promisc", no_argument, nullptr, kNoPromisc}, {"speed", required_argument, nullptr, kSpeed},
        {"json", no_argument, nullptr, kJson},          {"quiet", no_argument, nullptr, 'q'},
        {"help", no_argument, nullptr, 'h'},            {nullptr, 0, nullptr, 0},
    };
    int option = 0;
    double value = 0;
    while ((option = getopt_long(argc, argv, "i:c:d:w:s:qh", longs, nullptr)) != -1) {
        switch (option) {
        case 'i': options.device = optarg; break;
        case 'c':
            if (!parse_number(optarg, 1, 1e18, &value)) {
                std::fprintf(stderr, "zc-count: --count takes a whole number of packets, 1 or more (got '%s')\n", optarg);
                return 2;
            }
            options.count = static_cast<std::uint64_t>(value);
            break;
        case 'd':
            if (!parse_number(optarg, 0.001, 1e9, &options.duration)) {
                std::fprintf(stderr, "zc-count: --duration takes seconds, more than 0 (got '%s')\n", optarg);
                return 2;
            }
            break;
        case 'w': options.write_path = optarg; break;
        case 's':
            if (!parse_number(optarg, 1, 262144, &value)) {
                std::fprintf(stderr, "zc-count: --snaplen takes 1 to 262144 bytes (got '%s')\n", optarg);
                return 2;
            }
            options.snaplen = static_cast<std::uint32_t>(value);
            break;
        case kCopyMode: options.flags |= ZC_DEVICE_COPY_MODE; break;
        case kSkbMode: options.flags |= ZC_DEVICE_SKB_MODE; break;
        case kBusyPoll: options.flags |= ZC_DEVICE_BUSY_POLL; break;
        case kNoPromisc: options.flags |= ZC_DEVICE_NO_PROMISC; break;
        case kSpeed:
            if (!parse_number(optarg, 0, 1e6, &options.replay_speed)) {
                std::fprintf(stderr, "zc-count: --speed takes a factor, 0 (top speed) or more (got '%s')\n", optarg);
                return 2;
            }
            break;
        case kJson: options.json = true; break;
        case 'q': options.quiet = true; break;
        case 'h': std::fputs(kUsage, stdout); return 1;
        default: std::fputs("Try 'zc-count --help'.\n", stderr); return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "zc-count: unexpected argument '%s'; try 'zc-count --help'\n", argv[optind]);
        return 2;
    }
    if (!options.device) {
        std::fputs("zc-count: no device: give one with -i (for example -i zc:eth0)\n", stderr);
        return 2;
    }
    return 0;
}

std::atomic<bool> g_stop{false}; // set by SIGINT/SIGTERM; the only process-wide state

void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

double now_seconds()
{
    struct timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Bits on the wire: frame + FCS (4) + preamble and gap (20), the usual
// line-rate accounting.
double wire_bits(std::uint64_t packets, std::uint64_t bytes)
{
    return static_cast<double>(bytes + packets * 24) * 8.0;
}

struct Totals {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

void report_second(const Options& options, const char* mode, double elapsed, const Totals& delta, double interval,
                   const zc_device_stats& stats)
{
    double pps = static_cast<double>(delta.packets) / interval;
    double bps = wire_bits(delta.packets, delta.bytes) / interval;
    if (options.json)
        std::printf("{\"elapsed\":%.3f,\"pps\":%.0f,\"bps\":%.0f,\"packets\":%" PRIu64 ",\"dropped\":%" PRIu64
                    ",\"if_dropped\":%" PRIu64 ",\"mode\":\"%s\"}\n",
                    elapsed, pps, bps, stats.packets, stats.dropped, stats.if_dropped, mode);
    else
        std::printf("%7.1fs %12.0f pps %9.3f Gbit/s  total %" PRIu64 "  dropped %" PRIu64 "  if-dropped %" PRIu64
                    "  [%s]\n",
                    elapsed, pps, bps / 1e9, stats.packets, stats.dropped, stats.if_dropped, mode);
    std::fflush(stdout);
}

void report_final(const Options& options, const char* name, const char* mode, double elapsed, const Totals& totals,
                  const zc_device_stats& stats)
{
    double pps = elapsed > 0 ? static_cast<double>(totals.packets) / elapsed : 0;
    double bps = elapsed > 0 ? wire_bits(totals.packets, totals.bytes) / elapsed : 0;
    if (options.json) {
        std::printf("{\"device\":\"%s\",\"mode\":\"%s\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
                    ",\"dropped\":%" PRIu64 ",\"if_dropped\":%" PRIu64 ",\"copied\":%" PRIu64
                    ",\"truncated\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.0f,\"bps\":%.0f}\n",
                    name, mode, totals.packets, totals.bytes, stats.dropped, stats.if_dropped, stats.copied,
                    stats.truncated, elapsed, pps, bps);
    } else {
        std::printf("zc-count: %s [%s]: %" PRIu64 " packets, %" PRIu64 " bytes in %.3f s: %.3f Mpps, %.3f Gbit/s; "
                    "dropped %" PRIu64 ", if-dropped %" PRIu64 ", copied %" PRIu64 ", truncated %" PRIu64 "\n",
                    name, mode, totals.packets, totals.bytes, elapsed, pps / 1e6, bps / 1e9, stats.dropped,
                    stats.if_dropped, stats.copied, stats.truncated);
    }
    std::fflush(stdout);
}

// The pcap writer for --write, released on every path.
struct Writer {
    pcap_t* dead = nullptr;
    pcap_dumper_t* dumper = nullptr;
    ~Writer()
    {
        if (dumper)
            pcap_dump_close(dumper);
        if (dead)
            pcap_close(dead);
    }
    bool open(const char* path)
    {
        dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 262144, PCAP_TSTAMP_PRECISION_NANO);
        dumper = dead ? pcap_dump_open(dead, path) : nullptr;
        if (!dumper)
            std::fprintf(stderr, "zc-count: cannot write %s: %s\n", path, dead ? pcap_geterr(dead) : "no memory");
        return dumper != nullptr;
    }
    void write(const zc_packet& packet)
    {
        struct pcap_pkthdr header {};
        header.ts.tv_sec = static_cast<time_t>(packet.timestamp_ns / 1000000000u);
        header.ts.tv_usec = static_cast<suseconds_t>(packet.timestamp_ns % 1000000000u); // ns: NANO precision
        header.caplen = packet.caplen;
        header.len = packet.len;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, packet.data);
    }
};

int run(const Options& options)
{
    zc_device_config config;
    zc_device_config_init(&config);
    config.flags = options.flags;
    config.snaplen = options.snaplen;
    config.replay_speed = options.replay_speed;
    zc_device* device = nullptr;
    zc_error error{};
    if (zc_device_open(options.device, &config, &device, &error) != 0) {
        std::fprintf(stderr, "zc-count: %s\n", error.message);
        return 1;
    }
    Writer writer;
    if (options.write_path && !writer.open(options.write_path)) {
        zc_device_close(device);
        return 1;
    }
    const char* mode = zc_device_mode(device);
    if (!options.quiet && !options.json) {
        std::printf("zc-count: counting on %s [%s]\n", options.device, mode);
        std::fflush(stdout); // scripts wait for this line
    }

    constexpr std::uint32_t kBurst = 64;
    zc_packet packets[kBurst];
    Totals totals;
    Totals last_second;
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    const double start = now_seconds();
    double next_report = start + 1.0;
    double last_report = start;
    bool ended = false;

    while (!g_stop.load(std::memory_order_relaxed) && !ended) {
        std::uint32_t got = zc_device_recv_burst(device, packets, kBurst);
        if (got == ZC_DEVICE_END) {
            ended = true;
            got = 0;
        }
        if (options.count && totals.packets + got > options.count) {
            // Hand back what is past the count, untouched.
            std::uint32_t keep = static_cast<std::uint32_t>(options.count - totals.packets);
            zc_device_release_burst(device, packets + keep, got - keep);
            got = keep;
        }
        for (std::uint32_t i = 0; i < got; ++i) {
            totals.bytes += packets[i].len;
            if (writer.dumper)
                writer.write(packets[i]);
        }
        totals.packets += got;
        if (got)
            zc_device_release_burst(device, packets, got);
        if (options.count && totals.packets >= options.count)
            break;

        double now = got ? 0 : now_seconds();
        if (!got) {
            if (options.duration && now - start >= options.duration)
                break;
            int rc = zc_device_wait(device, 100);
            if (rc < 0 && rc != -EINTR) {
                std::fprintf(stderr, "zc-count: waiting for packets failed: %s\n", std::strerror(-rc));
                break;
            }
            now = now_seconds();
        } else if ((totals.packets & 0x3ff) < got) {
            now = now_seconds(); // look at the clock about every 1024 packets
        }
        if (now >= next_report) {
            zc_device_get_stats(device, &stats);
            if (!options.quiet) {
                Totals delta{totals.packets - last_second.packets, totals.bytes - last_second.bytes};
                report_second(options, mode, now - start, delta, now - last_report, stats);
            }
            last_second = totals;
            last_report = now;
            next_report = now + 1.0;
            if (options.duration && now - start >= options.duration)
                break;
        }
    }
    double elapsed = now_seconds() - start;
    zc_device_get_stats(device, &stats);
    report_final(options, options.device, mode, elapsed, totals, stats);
    zc_device_close(device);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    Options options;
    int rc = parse_options(argc, argv, options);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    return run(options);
}

// SPDX-License-Identifier: BSD-3-Clause
//
// bench/balance/busy_count — a consumer that never sleeps: it counts and
// hands back what one or more zc devices receive (usually queues of a
// zc-balance cluster, zc:CLUSTER@QUEUE), going round them in one loop, and
// when a whole round found nothing it calls sched_yield() instead of
// zc_device_wait(). So the balancer is measured, not a consumer's wake-up
// (zc-count sleeps in zc_device_wait when its queue is empty). Public API
// only (zc/device.h), like any consumer.
//
//   busy-count -i DEVICE [-i DEVICE ...] [-d SECONDS] [--json]

#include <getopt.h>
#include <sched.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "zc/device.h"

namespace {

constexpr std::uint32_t kBurst = 64;
constexpr std::size_t kMaxDevices = 64;

double now_seconds()
{
    struct timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

int usage()
{
    std::fputs("usage: busy-count -i DEVICE [-i DEVICE ...] [-d SECONDS] [--json]\n", stderr);
    return 2;
}

struct Devices {
    std::vector<zc_device*> open;
    ~Devices()
    {
        for (zc_device* device : open)
            zc_device_close(device);
    }
};

} // namespace

int main(int argc, char** argv)
{
    std::vector<const char*> names;
    double duration = 5;
    bool json = false;
    static const struct option longs[] = {{"interface", required_argument, nullptr, 'i'},
                                          {"duration", required_argument, nullptr, 'd'},
                                          {"json", no_argument, nullptr, 'j'},
                                          {"help", no_argument, nullptr, 'h'},
                                          {nullptr, 0, nullptr, 0}};
    int option = 0;
    while ((option = getopt_long(argc, argv, "i:d:h", longs, nullptr)) != -1) {
        switch (option) {
        case 'i': names.push_back(optarg); break;
        case 'd': duration = std::strtod(optarg, nullptr); break;
        case 'j': json = true; break;
        case 'h': usage(); return 0;
        default: return usage();
        }
    }
    if (names.empty() || names.size() > kMaxDevices || optind < argc || !(duration > 0))
        return usage();

    Devices devices;
    for (const char* name : names) {
        zc_device_config config;
        zc_device_config_init(&config);
        zc_device* device = nullptr;
        zc_error error{};
        if (zc_device_open(name, &config, &device, &error) != 0) {
            std::fprintf(stderr, "busy-count: %s\n", error.message);
            return 1;
        }
        devices.open.push_back(device);
    }
    // Scripts wait for this line: every device is open.
    std::fprintf(stderr, "busy-count: counting on %zu device(s)\n", devices.open.size());

    zc_packet packets[kBurst];
    std::uint64_t received = 0;
    std::uint64_t bytes = 0;
    std::uint64_t yields = 0;
    const double start = now_seconds();
    const double end = start + duration;
    for (std::uint32_t rounds = 0;; ++rounds) {
        std::uint32_t round_total = 0;
        for (zc_device* device : devices.open) {
            std::uint32_t got = zc_device_recv_burst(device, packets, kBurst);
            if (got == 0 || got == ZC_DEVICE_END)
                continue;
            for (std::uint32_t i = 0; i < got; ++i)
                bytes += packets[i].len;
            zc_device_release_burst(device, packets, got);
            round_total += got;
        }
        received += round_total;
        if (round_total == 0) {
            ++yields;
            sched_yield(); // let a balancer or another consumer on this CPU run
            if (now_seconds() >= end)
                break;
        } else if ((rounds & 0xff) == 0 && now_seconds() >= end) {
            break;
        }
    }
    const double elapsed = now_seconds() - start;

    // Packets the balancer could not put on these queues (they were full).
    std::uint64_t dropped = 0;
    for (zc_device* device : devices.open) {
        zc_device_stats stats{};
        stats.struct_size = sizeof stats;
        if (zc_device_get_stats(device, &stats) == 0)
            dropped += stats.dropped;
    }
    if (json)
        std::printf("{\"packets\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"dropped\":%llu,"
                    "\"yields\":%llu}\n",
                    static_cast<unsigned long long>(received), static_cast<unsigned long long>(bytes), elapsed,
                    static_cast<double>(received) / elapsed, static_cast<unsigned long long>(dropped),
                    static_cast<unsigned long long>(yields));
    else
        std::printf("busy-count: %zu device(s): %llu packets in %.3f s: %.3f Mpps; dropped %llu; %llu empty "
                    "rounds\n",
                    devices.open.size(), static_cast<unsigned long long>(received), elapsed,
                    static_cast<double>(received) / elapsed / 1e6, static_cast<unsigned long long>(dropped),
                    static_cast<unsigned long long>(yields));
    return 0;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// synthetic_smoke — a hand-run check of zc:synthetic (no root needed):
// every packet is byte-for-byte the frame zc::frames::build makes for flow
// nth(k) and sequence k, in order, across many wraps of the pool; a buffer
// the consumer holds is never handed out again; bad configs are refused;
// and a receive rate (printed, never asserted).
//
//   synthetic_smoke [--seconds S]      exit 0 all passed, 1 something failed

#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "frames.hpp"
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

zc_device* open_synthetic(std::uint32_t size, std::uint32_t flows, std::uint32_t frame_count, int* rc,
                          zc_error* error, std::uint32_t snaplen = 0)
{
    zc_device_config config;
    zc_device_config_init(&config);
    config.synthetic_size = size;
    config.synthetic_flows = flows;
    config.frame_count = frame_count;
    config.snaplen = snaplen;
    zc_device* device = nullptr;
    *error = zc_error{};
    *rc = zc_device_open("zc:synthetic", &config, &device, error);
    return device;
}

// Receives `total` packets in bursts of `burst`, releasing each burst at
// once, and checks every byte of every one.
void check_stream(std::uint32_t size, std::uint32_t flows, std::uint64_t total, std::uint32_t burst)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_synthetic(size, flows, 0, &rc, &error);
    CHECK(rc == 0, "open size %u flows %u: %d %s", size, flows, rc, error.message);
    if (!device)
        return;
    CHECK(std::strcmp(zc_device_mode(device), "synthetic") == 0, "mode %s", zc_device_mode(device));
    const std::uint32_t bytes = zc::frames::frame_bytes(size);
    std::vector<std::byte> expected(bytes);
    std::vector<zc_packet> packets(burst);
    std::uint64_t k = 0;
    std::uint64_t bad = 0;
    while (k < total) {
        std::uint32_t got = zc_device_recv_burst(device, packets.data(), burst);
        CHECK(got == burst, "a synthetic device always has a full burst (got %u of %u)", got, burst);
        if (got == 0 || got == ZC_DEVICE_END)
            break;
        for (std::uint32_t i = 0; i < got; ++i, ++k) {
            const zc_packet& p = packets[i];
            zc::frames::build(expected.data(), size, zc::frames::nth(k, flows), k);
            if (p.caplen != bytes || p.len != bytes || std::memcmp(p.data, expected.data(), bytes) != 0) {
                if (bad++ < 3)
                    CHECK(false, "packet %llu (size %u flows %u): caplen %u len %u or bytes differ",
                          static_cast<unsigned long long>(k), size, flows, p.caplen, p.len);
            }
        }
        zc_device_release_burst(device, packets.data(), got);
    }
    CHECK(bad == 0, "%llu of %llu packets were not the expected frame", static_cast<unsigned long long>(bad),
          static_cast<unsigned long long>(k));
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    CHECK(zc_device_get_stats(device, &stats) == 0, "stats");
    CHECK(stats.packets == k && stats.bytes == k * bytes && stats.copied == 0, "stats %llu packets %llu bytes",
          static_cast<unsigned long long>(stats.packets), static_cast<unsigned long long>(stats.bytes));
    std::printf("ok   size %4u flows %5u: %llu packets in order, byte for byte\n", size, flows,
                static_cast<unsigned long long>(k));
    zc_device_close(device);
}

void check_held_buffers()
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_synthetic(64, 2, 64, &rc, &error);
    CHECK(rc == 0, "open with 64 buffers: %s", error.message);
    if (!device)
        return;
    zc_cluster* pool = zc_device_cluster(device);
    CHECK(zc_pool_free_count(pool) == 0, "the stream owns every buffer (free %u)", zc_pool_free_count(pool));
    zc_pool_report report{};
    report.struct_size = sizeof report;
    CHECK(zc_pool_check(pool, &report) == 0, "pool consistent: %s", report.first_error);

    std::vector<zc_packet> all(100);
    std::uint32_t got = zc_device_recv_burst(device, all.data(), 100);
    CHECK(got == 64, "all 64 buffers handed out, no more (got %u)", got);
    CHECK(zc_device_recv_burst(device, all.data() + 64, 10) == 0, "nothing while the consumer holds everything");
    // Give back 10..19 only: the stream is at buffer 0 again, still held.
    zc_device_release_burst(device, all.data() + 10, 10);
    CHECK(zc_device_recv_burst(device, all.data() + 64, 10) == 0, "the stream waits for the oldest buffer");
    zc_device_release_burst(device, all.data(), 10);
    zc_packet more[32];
    got = zc_device_recv_burst(device, more, 32);
    CHECK(got == 20, "0..19 came back, so 20 go out again (got %u)", got);
    for (std::uint32_t i = 0; i < got; ++i)
        CHECK(more[i].buffer == all[i].buffer, "position %u reuses its buffer", i);
    std::uint64_t sequence = 0;
    zc::frames::Flow flow{};
    CHECK(got > 0 && zc::frames::parse(reinterpret_cast<const std::byte*>(more[0].data), more[0].caplen, &flow,
                                       &sequence) &&
              sequence == 64,
          "sequence continues at 64 (got %llu)", static_cast<unsigned long long>(sequence));
    // Double release is ignored; later releases still work.
    zc_device_release_burst(device, more, got);
    zc_device_release_burst(device, more, got);
    zc_device_release_burst(device, all.data() + 20, 44);
    CHECK(zc_device_recv_burst(device, all.data(), 64) == 64, "everything back, a full round again");
    zc_device_release_burst(device, all.data(), 64);

    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    CHECK(::poll(&entry, 1, 0) == 1, "the selectable fd is always readable");
    CHECK(zc_device_wait(device, 1000) == 1, "wait never blocks");
    std::printf("ok   held buffers are never handed out twice; selectable fd readable\n");
    zc_device_close(device);
}

void check_config()
{
    int rc = 0;
    zc_error error;
    CHECK(!open_synthetic(63, 1, 0, &rc, &error) && rc == -EINVAL, "size 63: %d", rc);
    CHECK(!open_synthetic(1519, 1, 0, &rc, &error) && rc == -EINVAL, "size 1519: %d", rc);
    CHECK(!open_synthetic(64, 0, 0, &rc, &error) && rc == -EINVAL, "0 flows: %d", rc);
    CHECK(!open_synthetic(64, 100, 64, &rc, &error) && rc == -EINVAL, "100 flows in 64 buffers: %d (%s)", rc,
          error.message);
    std::printf("ok   bad configs refused (last: %s)\n", error.message);

    zc_device* device = open_synthetic(1518, 3, 0, &rc, &error, 100);
    CHECK(device != nullptr, "snaplen 100: %s", error.message);
    if (device) {
        zc_packet p[4];
        CHECK(zc_device_recv_burst(device, p, 4) == 4 && p[0].caplen == 100 && p[0].len == 1514,
              "snaplen keeps 100 of 1514 bytes (caplen %u len %u)", p[0].caplen, p[0].len);
        zc_device_release_burst(device, p, 4);
        zc_device_close(device);
    }
    // Many flows: the pool grows to hold both directions of each.
    device = open_synthetic(64, 65536, 0, &rc, &error);
    CHECK(device != nullptr, "65536 flows: %s", error.message);
    if (device) {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        zc_cluster_get_info(zc_device_cluster(device), &info);
        CHECK(info.frame_count == 131072, "pool of %u buffers", info.frame_count);
        zc_device_close(device);
    }
}

void measure(double seconds, std::uint32_t burst)
{
    int rc = 0;
    zc_error error;
    zc_device* device = open_synthetic(64, 1024, 0, &rc, &error);
    if (!device)
        return;
    std::vector<zc_packet> packets(burst);
    std::uint64_t total = 0;
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    std::uint64_t check_sum = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        for (int round = 0; round < 1024; ++round) {
            std::uint32_t got = zc_device_recv_burst(device, packets.data(), burst);
            check_sum += packets[0].len; // touch the result
            zc_device_release_burst(device, packets.data(), got);
            total += got;
        }
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("rate synthetic 64-byte frames, burst %u: %.1f Mpps (%.2f ns/packet) [%llu]\n", burst,
                total / elapsed / 1e6, elapsed * 1e9 / total, static_cast<unsigned long long>(check_sum % 10));
    zc_device_close(device);
}

} // namespace

int main(int argc, char** argv)
{
    double seconds = 1.0;
    if (argc == 3 && std::strcmp(argv[1], "--seconds") == 0)
        seconds = std::atof(argv[2]);
    check_stream(64, 1, 20000, 32);
    check_stream(64, 3, 20000, 7); // 4098 buffers, bursts that straddle the wrap
    check_stream(128, 1000, 10000, 64);
    check_stream(1518, 5, 10000, 256);
    check_held_buffers();
    check_config();
    measure(seconds, 32);
    measure(seconds, 256);
    std::printf(failures == 0 ? "synthetic_smoke: all passed\n" : "synthetic_smoke: %d FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}

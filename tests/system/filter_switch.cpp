// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/filter_switch.cpp — a filter changed under traffic, for
// tests/system/filter_kernel.sh: opens DEVICE, filters with
//   A = "udp dst port 53 or udp dst port 54"
// and after SWITCH packets changes to
//   B = "udp dst port 53 or udp dst port 55"
// while the traffic keeps coming. Every packet is counted by UDP
// destination port; any packet received after the change that B refuses is
// a violation. Ends once no packet came for SECONDS, and prints
//   modes A-MODE B-MODE port53 N port54 N port55 N other N violations N
// Port 53 matches both filters: the test checks that none of it is lost.
// With --unprivileged the process gives up root (uid and gid 65534, no
// capabilities) right after opening the device, as tcpdump does, so the
// filters can only go to zc's in-kernel interpreter.

#include <pcap/pcap.h>
#include <grp.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "zc/device.h"

namespace {

bool compile(const char* expression, bpf_program* out)
{
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    bool ok = dead && pcap_compile(dead, out, expression, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!ok)
        std::fprintf(stderr, "filter-switch: cannot compile '%s'\n", expression);
    if (dead)
        pcap_close(dead);
    return ok;
}

double now()
{
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The UDP destination port of an untagged IPv4 frame, or 0.
unsigned udp_port(const zc_packet& p)
{
    if (p.caplen < 14 + 20 + 8 || p.data[12] != 0x08 || p.data[13] != 0x00 || p.data[14 + 9] != 17)
        return 0;
    const unsigned header = (p.data[14] & 0xfu) * 4;
    if (p.caplen < 14 + header + 8)
        return 0;
    return static_cast<unsigned>(p.data[14 + header + 2] << 8 | p.data[14 + header + 3]);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: filter-switch DEVICE SWITCH SECONDS [--unprivileged]\n");
        return 2;
    }
    char* end = nullptr;
    const std::uint64_t switch_after = std::strtoull(argv[2], &end, 10);
    const bool switch_ok = end != argv[2] && *end == '\0';
    const double idle = std::strtod(argv[3], &end);
    if (!switch_ok || end == argv[3] || *end != '\0' || !(idle > 0 && idle < 3600) ||
        (argc > 4 && std::strcmp(argv[4], "--unprivileged") != 0) || argc > 5) {
        std::fprintf(stderr, "filter-switch: SWITCH is a packet count, SECONDS from 0 to 3600, then "
                             "--unprivileged or nothing\n");
        return 2;
    }
    const bool unprivileged = argc > 4;

    bpf_program a{}, b{};
    if (!compile("udp dst port 53 or udp dst port 54", &a) || !compile("udp dst port 53 or udp dst port 55", &b))
        return 1;
    // Rings that hold every datagram the test sends that a filter may take
    // (3000 to port 53, and 3000 to 54 or 55: 6000), so that however long a
    // loaded machine keeps this process from reading, the kernel has room
    // for them and a short count can only be the filters' doing.
    zc_device_config config;
    zc_device_config_init(&config);
    config.ring_size = 8192;
    config.frame_count = 2 * 8192;
    zc_device* device = nullptr;
    zc_error error{};
    if (zc_device_open(argv[1], &config, &device, &error) != 0) {
        std::fprintf(stderr, "filter-switch: %s\n", error.message);
        return 1;
    }
    if (unprivileged && (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                         setresuid(65534, 65534, 65534) != 0)) {
        std::perror("filter-switch: giving up root");
        return 1;
    }
    const int mode_a = zc_device_set_filter(device, reinterpret_cast<const zc_filter_insn*>(a.bf_insns), a.bf_len, 0,
                                            &error);
    if (mode_a < 0) {
        std::fprintf(stderr, "filter-switch: %s\n", error.message);
        return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);

    std::uint64_t total = 0, counts[4] = {}, violations = 0;
    int mode_b = -1;
    double last = now();
    zc_packet packets[64];
    for (;;) {
        // Idle time is judged only once the rings are empty: a process the
        // machine kept from running for a while still reads what came.
        std::uint32_t got = zc_device_recv_burst(device, packets, 64);
        if (got == 0) {
            if (now() - last >= idle)
                break;
            zc_device_wait(device, 100);
            continue;
        }
        last = now();
        for (std::uint32_t i = 0; i < got; ++i) {
            const unsigned port = udp_port(packets[i]);
            ++counts[port == 53 ? 0 : port == 54 ? 1 : port == 55 ? 2 : 3];
            if (mode_b >= 0 && port != 53 && port != 55)
                ++violations;
        }
        zc_device_release_burst(device, packets, got);
        total += got;
        if (mode_b < 0 && total >= switch_after) {
            mode_b = zc_device_set_filter(device, reinterpret_cast<const zc_filter_insn*>(b.bf_insns), b.bf_len, 0,
                                          &error);
            if (mode_b < 0) {
                std::fprintf(stderr, "filter-switch: %s\n", error.message);
                return 1;
            }
        }
    }
    // The kernel's drops (an RX ring full: the machine kept this process
    // from reading in time), which say why a count is short.
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    const std::uint64_t dropped = zc_device_get_stats(device, &stats) == 0 ? stats.dropped : 0;
    std::printf("modes %s %s port53 %llu port54 %llu port55 %llu other %llu violations %llu dropped %llu\n",
                zc_device_filter_mode_name(mode_a), mode_b < 0 ? "unchanged" : zc_device_filter_mode_name(mode_b),
                static_cast<unsigned long long>(counts[0]), static_cast<unsigned long long>(counts[1]),
                static_cast<unsigned long long>(counts[2]), static_cast<unsigned long long>(counts[3]),
                static_cast<unsigned long long>(violations), static_cast<unsigned long long>(dropped));
    zc_device_close(device);
    pcap_freecode(&a);
    pcap_freecode(&b);
    return 0;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// bench/capture/xdp_rxdrop — the reference for what the kernel can hand to
// user space: a bare libxdp AF_XDP receive loop that drops every packet
// (like xdpsock -r), with libxdp's own XDP program and nothing of zc. Its
// loop is the same as zc's when idle: poll() when the RX ring is empty,
// wake the kernel for the fill ring only when need_wakeup says so.
//
//   xdp-rxdrop -i IFACE [-q QUEUE] [-d SECONDS] [--json]

#include <getopt.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

constexpr std::uint32_t kFrames = 8192;
constexpr std::uint32_t kFrameSize = XSK_UMEM__DEFAULT_FRAME_SIZE;
constexpr std::uint32_t kRingSize = 2048;
constexpr std::uint32_t kBatch = 64;

double now_seconds()
{
    struct timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// libbpf's and libxdp's diagnostics (section names they skip, a missing
// bpffs they work around): only with XDP_RXDROP_VERBOSE set; a failure is
// reported by this program's own message.
int library_print(const char* format, va_list args)
{
    return std::getenv("XDP_RXDROP_VERBOSE") ? std::vfprintf(stderr, format, args) : 0;
}
int libbpf_print(enum libbpf_print_level, const char* format, va_list args) { return library_print(format, args); }
int libxdp_print(enum libxdp_print_level, const char* format, va_list args) { return library_print(format, args); }

int usage()
{
    std::fputs("usage: xdp-rxdrop -i IFACE [-q QUEUE] [-d SECONDS] [--json]\n", stderr);
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    const char* interface = nullptr;
    unsigned queue = 0;
    double duration = 5;
    bool json = false;
    static const struct option longs[] = {{"interface", required_argument, nullptr, 'i'},
                                          {"queue", required_argument, nullptr, 'q'},
                                          {"duration", required_argument, nullptr, 'd'},
                                          {"json", no_argument, nullptr, 'j'},
                                          {nullptr, 0, nullptr, 0}};
    libbpf_set_print(libbpf_print);
    libxdp_set_print(libxdp_print);
    int option = 0;
    while ((option = getopt_long(argc, argv, "i:q:d:", longs, nullptr)) != -1) {
        switch (option) {
        case 'i': interface = optarg; break;
        case 'q': queue = static_cast<unsigned>(std::strtoul(optarg, nullptr, 10)); break;
        case 'd': duration = std::strtod(optarg, nullptr); break;
        case 'j': json = true; break;
        default: return usage();
        }
    }
    if (!interface || duration <= 0)
        return usage();

    void* area = mmap(nullptr, std::size_t{kFrames} * kFrameSize, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (area == MAP_FAILED) {
        std::perror("xdp-rxdrop: mmap");
        return 1;
    }
    xsk_ring_prod fill{};
    xsk_ring_cons completion{};
    xsk_umem_config umem_config{kRingSize * 2, kRingSize, kFrameSize, 0, 0};
    xsk_umem* umem = nullptr;
    int rc = xsk_umem__create(&umem, area, std::uint64_t{kFrames} * kFrameSize, &fill, &completion, &umem_config);
    if (rc != 0) {
        std::fprintf(stderr, "xdp-rxdrop: xsk_umem__create: %s\n", std::strerror(-rc));
        return 1;
    }
    xsk_ring_cons rx{};
    xsk_socket_config config{};
    config.rx_size = kRingSize;
    config.tx_size = 0;
    config.bind_flags = XDP_USE_NEED_WAKEUP; // zero-copy where the driver can, else copy
    xsk_socket* socket = nullptr;
    rc = xsk_socket__create(&socket, interface, queue, umem, &rx, nullptr, &config);
    if (rc != 0) {
        std::fprintf(stderr, "xdp-rxdrop: xsk_socket__create on %s queue %u: %s\n", interface, queue,
                     std::strerror(-rc));
        return 1;
    }
    int fd = xsk_socket__fd(socket);

    std::uint32_t index = 0;
    std::uint32_t initial = kRingSize * 2;
    if (xsk_ring_prod__reserve(&fill, initial, &index) != initial) {
        std::fputs("xdp-rxdrop: cannot fill the fill ring\n", stderr);
        return 1;
    }
    for (std::uint32_t i = 0; i < initial; ++i)
        *xsk_ring_prod__fill_addr(&fill, index + i) = std::uint64_t{i} * kFrameSize;
    xsk_ring_prod__submit(&fill, initial);

    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    const double start = now_seconds();
    double end = start + duration;
    struct pollfd wait_for{fd, POLLIN, 0};
    for (std::uint32_t loops = 0;; ++loops) {
        std::uint32_t rx_index = 0;
        std::uint32_t got = xsk_ring_cons__peek(&rx, kBatch, &rx_index);
        if (got == 0) {
            if (xsk_ring_prod__needs_wakeup(&fill))
                recvfrom(fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
            poll(&wait_for, 1, 100);
            if (now_seconds() >= end)
                break;
            continue;
        }
        std::uint32_t fill_index = 0;
        while (xsk_ring_prod__reserve(&fill, got, &fill_index) != got) {
            if (xsk_ring_prod__needs_wakeup(&fill))
                recvfrom(fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
        }
        for (std::uint32_t i = 0; i < got; ++i) {
            const xdp_desc* desc = xsk_ring_cons__rx_desc(&rx, rx_index + i);
            bytes += desc->len;
            *xsk_ring_prod__fill_addr(&fill, fill_index + i) = xsk_umem__extract_addr(desc->addr);
        }
        xsk_ring_prod__submit(&fill, got);
        xsk_ring_cons__release(&rx, got);
        packets += got;
        if ((loops & 0xff) == 0 && now_seconds() >= end)
            break;
    }
    double elapsed = now_seconds() - start;

    xdp_statistics statistics{};
    socklen_t length = sizeof statistics;
    getsockopt(fd, SOL_XDP, XDP_STATISTICS, &statistics, &length);
    if (json)
        std::printf("{\"packets\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"dropped\":%llu}\n",
                    static_cast<unsigned long long>(packets), static_cast<unsigned long long>(bytes), elapsed,
                    static_cast<double>(packets) / elapsed,
                    static_cast<unsigned long long>(statistics.rx_dropped + statistics.rx_ring_full));
    else
        std::printf("xdp-rxdrop: %s queue %u: %llu packets in %.3f s: %.3f Mpps; dropped %llu\n", interface, queue,
                    static_cast<unsigned long long>(packets), elapsed, static_cast<double>(packets) / elapsed / 1e6,
                    static_cast<unsigned long long>(statistics.rx_dropped + statistics.rx_ring_full));
    xsk_socket__delete(socket);
    xsk_umem__delete(umem);
    munmap(area, std::size_t{kFrames} * kFrameSize);
    return 0;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/udp_probe.cpp — the host's side of tests/system/
// filter_kernel.sh: an ordinary UDP socket, as any program on the capturing
// host has, to count what the kernel stack still receives.
//
//   udp-probe send ADDRESS PORT COUNT [RATE]
//       COUNT datagrams to ADDRESS:PORT (payload: their sequence number),
//       RATE per second (default 20000), paced without bursts (see send());
//       exit 0 when all were sent.
//   udp-probe receive PORT COUNT SECONDS
//       binds 0.0.0.0:PORT, prints "ready", then counts datagrams until
//       COUNT have come or SECONDS passed without one; prints
//       "received N" and exits 0 when N == COUNT, else 1.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int usage()
{
    std::fprintf(stderr, "usage: udp-probe send ADDRESS PORT COUNT [RATE] | udp-probe receive PORT COUNT SECONDS\n");
    return 2;
}

std::uint64_t now_ns()
{
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1000000000u + static_cast<std::uint64_t>(t.tv_nsec);
}

// Paced without bursts: a sender that fell behind (a loaded machine took
// its CPU) does not catch up at full speed, which would overflow the veth's
// ring (256 frames) or an AF_XDP RX ring before the far side runs; it
// carries on at RATE from where it is. Between steps it sleeps, so the
// receivers on the same 2 cores get their turn.
int send(const char* address, int port, std::uint64_t count, std::uint64_t rate)
{
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd < 0 || ::inet_pton(AF_INET, address, &to.sin_addr) != 1) {
        std::perror("udp-probe send");
        return 1;
    }
    constexpr std::uint64_t kMostAtOnce = 8;
    if (rate == 0)
        rate = 1;
    std::uint64_t start = now_ns(), base = 0; // `base` datagrams were due at `start`
    for (std::uint64_t i = 0; i < count;) {
        const std::uint64_t due = base + (now_ns() - start) * rate / 1000000000u;
        if (due <= i) {
            const timespec pause{0, 200000}; // 0.2 ms
            ::nanosleep(&pause, nullptr);
            continue;
        }
        std::uint64_t burst = due - i;
        if (burst > kMostAtOnce) { // behind: carry on from here, no catching up
            burst = kMostAtOnce;
            start = now_ns();
            base = i + burst;
        }
        for (const std::uint64_t end = std::min(count, i + burst); i < end; ++i) {
            char payload[32];
            int length = std::snprintf(payload, sizeof payload, "%llu", static_cast<unsigned long long>(i));
            while (::sendto(fd, payload, static_cast<std::size_t>(length), 0, reinterpret_cast<sockaddr*>(&to),
                            sizeof to) < 0) {
                if (errno != ENOBUFS && errno != EAGAIN) {
                    std::perror("udp-probe sendto");
                    return 1;
                }
                ::usleep(100);
            }
        }
    }
    ::close(fd);
    return 0;
}

int receive(int port, std::uint64_t count, int seconds)
{
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    int size = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
        std::perror("udp-probe receive");
        return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    std::uint64_t got = 0;
    while (got < count) {
        pollfd entry{fd, POLLIN, 0};
        if (::poll(&entry, 1, seconds * 1000) <= 0)
            break;
        char buffer[2048];
        while (::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) >= 0)
            ++got;
    }
    std::printf("received %llu\n", static_cast<unsigned long long>(got));
    return got == count ? 0 : 1;
}

// A whole decimal number no larger than `most`, or false.
bool number(const char* text, std::uint64_t most, std::uint64_t* out)
{
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value > most) {
        std::fprintf(stderr, "udp-probe: '%s' is not a number from 0 to %llu\n", text,
                     static_cast<unsigned long long>(most));
        return false;
    }
    *out = value;
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    std::uint64_t port = 0, count = 0, rate = 20000, seconds = 0;
    if (argc >= 5 && argc <= 6 && std::strcmp(argv[1], "send") == 0) {
        if (!number(argv[3], 65535, &port) || !number(argv[4], UINT64_MAX / 2, &count) ||
            (argc == 6 && !number(argv[5], 100000000, &rate)))
            return 2;
        return send(argv[2], static_cast<int>(port), count, rate);
    }
    if (argc == 5 && std::strcmp(argv[1], "receive") == 0) {
        if (!number(argv[2], 65535, &port) || !number(argv[3], UINT64_MAX / 2, &count) ||
            !number(argv[4], 3600, &seconds))
            return 2;
        return receive(static_cast<int>(port), count, static_cast<int>(seconds));
    }
    return usage();
}

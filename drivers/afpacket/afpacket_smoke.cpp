// SPDX-License-Identifier: BSD-3-Clause
//
// afpacket_smoke — a hand-run check of zc:afpacket:IFACE, as root, with real
// frames through veth pairs between two network namespaces of its own:
//
//   netns zcp-a: zcps, zcps1   ──veth──   netns zcp-b: zcpd, zcpd1
//
// IPv6 is off on every end, so the kernel sends nothing of its own; the only
// frames are the ones this program sends, built by zc::frames. The
// namespaces are deleted on every exit path (and first, if a previous run
// left them). It checks: N frames arrive byte for byte, in order, with sane
// kernel timestamps; VLAN tags (802.1Q and 802.1ad) come back into the
// frame; a jumbo frame is cut to the pool buffer (caplen < len); snaplen;
// promiscuous mode on and off; an aggregate of two interfaces (port, poll on
// the selectable fd); frames sent through the device arrive at the far end
// and are not captured by the sender; the two kinds of drops (pool empty,
// ring full) are counted; the errors (no such interface, interface down,
// duplicate interface, not root). Then it measures a receive rate (printed,
// never asserted).
//
//   afpacket_smoke [--seconds S]        exit 0 all passed, 1 failed, 77 not root
//   afpacket_smoke --open NAME          (internal) prints "rc=N message"

#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
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
            std::fflush(stdout);                                                                                       \
        }                                                                                                              \
    } while (0)

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

const char* const kNsA = "zcp-a";
const char* const kNsB = "zcp-b";

// ------------------------------------------------------------------ setup

int run(const std::string& command)
{
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void teardown()
{
    // Deleting a namespace deletes its veth ends, and with them the pairs.
    run("ip netns del zcp-a 2>/dev/null");
    run("ip netns del zcp-b 2>/dev/null");
}

void on_signal(int number)
{
    teardown();
    ::signal(number, SIG_DFL);
    ::raise(number);
}

bool setup()
{
    teardown();
    const char* commands[] = {
        "ip netns add zcp-a",
        "ip netns add zcp-b",
        "ip link add zcps netns zcp-a type veth peer name zcpd netns zcp-b",
        "ip link add zcps1 netns zcp-a type veth peer name zcpd1 netns zcp-b",
    };
    for (const char* command : commands)
        if (run(command) != 0) {
            std::printf("setup failed: %s\n", command);
            return false;
        }
    struct End {
        const char* ns;
        const char* dev;
    };
    for (End end : {End{kNsA, "zcps"}, End{kNsA, "zcps1"}, End{kNsB, "zcpd"}, End{kNsB, "zcpd1"}}) {
        std::string ns = end.ns, dev = end.dev;
        if (run("ip netns exec " + ns + " sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 >/dev/null") != 0 ||
            run("ip netns exec " + ns + " sysctl -q -w net.ipv6.conf." + dev + ".disable_ipv6=1 >/dev/null") != 0 ||
            run("ip -n " + ns + " link set " + dev + " mtu 4000") != 0 ||
            run("ip -n " + ns + " link set lo up") != 0 || run("ip -n " + ns + " link set " + dev + " up") != 0) {
            std::printf("setup failed on %s in %s\n", end.dev, end.ns);
            return false;
        }
    }
    return true;
}

void enter(const char* ns)
{
    std::string path = std::string("/run/netns/") + ns;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        std::printf("cannot enter netns %s: %s\n", ns, std::strerror(errno));
        std::_Exit(99);
    }
    ::close(fd);
}

// Runs `body` in a child process inside netns `ns`; its return is the exit code.
pid_t spawn_in(const char* ns, const std::function<int()>& body)
{
    std::fflush(stdout);
    pid_t pid = ::fork();
    if (pid == 0) {
        enter(ns);
        int code = body();
        std::fflush(stdout);
        std::_Exit(code);
    }
    return pid;
}

int join(pid_t pid)
{
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// PACKET_MR_PROMISC raises the device's promiscuity count, which SIOCGIFFLAGS
// does not show (it reports only what ip link set promisc sets): ask ip -d.
bool promiscuous(const char* interface)
{
    std::string command = std::string("ip -d -n zcp-b link show ") + interface + " | grep -q 'promiscuity [1-9]'";
    return run(command) == 0;
}

// ------------------------------------------------------------------ frames

// Frame i of the main stream: sizes sweep 64..1518, four flows.
Bytes test_frame(std::uint64_t i)
{
    std::uint32_t size = 64 + static_cast<std::uint32_t>((i * 37) % (1518 - 64 + 1));
    Bytes frame(zc::frames::frame_bytes(size));
    zc::frames::build(reinterpret_cast<std::byte*>(frame.data()), size, zc::frames::nth(i, 4), i);
    return frame;
}

Bytes with_tag(const Bytes& frame, std::uint16_t tpid, std::uint16_t tci)
{
    Bytes tagged(frame.size() + 4);
    std::memcpy(tagged.data(), frame.data(), 12);
    tagged[12] = static_cast<std::uint8_t>(tpid >> 8);
    tagged[13] = static_cast<std::uint8_t>(tpid);
    tagged[14] = static_cast<std::uint8_t>(tci >> 8);
    tagged[15] = static_cast<std::uint8_t>(tci);
    std::memcpy(tagged.data() + 16, frame.data() + 12, frame.size() - 12);
    return tagged;
}

// A plain AF_PACKET socket that sends on one interface (the test's traffic source).
class RawSender {
public:
    explicit RawSender(const char* interface)
    {
        fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        struct sockaddr_ll address {};
        address.sll_family = AF_PACKET;
        address.sll_ifindex = static_cast<int>(::if_nametoindex(interface));
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            std::printf("sender on %s: %s\n", interface, std::strerror(errno));
            std::_Exit(99);
        }
    }
    ~RawSender() { ::close(fd_); }
    bool send(const Bytes& frame)
    {
        for (int attempt = 0; attempt < 1000; ++attempt) {
            if (::send(fd_, frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size()))
                return true;
            if (errno != ENOBUFS && errno != EAGAIN)
                break;
            ::usleep(100);
        }
        std::printf("send of %zu bytes: %s\n", frame.size(), std::strerror(errno));
        return false;
    }
    int fd() const { return fd_; }

private:
    int fd_ = -1;
};

// ------------------------------------------------------------------ device helpers

zc_device_config default_config()
{
    zc_device_config config;
    zc_device_config_init(&config);
    return config;
}

zc_device* open_device(const char* name, const zc_device_config& config, int* rc, std::string* message)
{
    zc_device* device = nullptr;
    zc_error error{};
    *rc = zc_device_open(name, &config, &device, &error);
    if (message)
        *message = error.message;
    return device;
}

struct Received {
    Bytes bytes;
    std::uint32_t len;
    std::uint64_t timestamp_ns;
    std::uint16_t port;
    std::uint16_t queue;
};

// Receives until `count` packets (then lingers `linger_ms` for extras) or
// `timeout_s`; copies each packet out and releases it (unless told not to).
std::vector<Received> receive(zc_device* device, std::size_t count, double timeout_s, int linger_ms = 100,
                              bool release = true)
{
    std::vector<Received> out;
    zc_packet burst[32];
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    auto linger_until = Clock::time_point::max();
    for (;;) {
        auto now = Clock::now();
        if (now >= deadline || now >= linger_until)
            break;
        std::uint32_t n = zc_device_recv_burst(device, burst, 32);
        for (std::uint32_t i = 0; i < n; ++i)
            out.push_back(Received{Bytes(burst[i].data, burst[i].data + burst[i].caplen), burst[i].len,
                                   burst[i].timestamp_ns, burst[i].port, burst[i].queue});
        if (release)
            zc_device_release_burst(device, burst, n);
        if (out.size() >= count && linger_until == Clock::time_point::max())
            linger_until = Clock::now() + std::chrono::milliseconds(linger_ms);
        if (n == 0)
            zc_device_wait(device, 10);
    }
    return out;
}

zc_device_stats stats_of(zc_device* device)
{
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    zc_device_get_stats(device, &stats);
    return stats;
}

std::uint64_t realtime_now()
{
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
}

// ------------------------------------------------------------------ checks

void check_stream()
{
    constexpr std::size_t kFrames = 2000;
    int rc = 0;
    std::string message;
    zc_device* device = open_device("zc:afpacket:zcpd", default_config(), &rc, &message);
    CHECK(rc == 0, "open zc:afpacket:zcpd: %d %s", rc, message.c_str());
    if (!device)
        return;
    CHECK(std::strcmp(zc_device_mode(device), "afpacket") == 0, "mode %s", zc_device_mode(device));
    CHECK(promiscuous("zcpd"), "zcpd is promiscuous while the device is open");

    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    CHECK(::poll(&entry, 1, 50) == 0, "nothing to read before anything is sent (the kernel is quiet)");

    std::uint64_t before = realtime_now();
    pid_t sender = spawn_in(kNsA, [] {
        RawSender out("zcps");
        for (std::size_t i = 0; i < kFrames; ++i) {
            if (!out.send(test_frame(i)))
                return 1;
            if (i % 64 == 63)
                ::usleep(200); // stay well inside the veth backlog
        }
        return 0;
    });
    std::vector<Received> got = receive(device, kFrames, 10.0);
    std::uint64_t after = realtime_now();
    CHECK(join(sender) == 0, "the sender sent every frame");

    CHECK(got.size() == kFrames, "%zu frames arrived of %zu sent", got.size(), kFrames);
    std::size_t bad = 0, bad_time = 0;
    std::uint64_t previous = 0;
    for (std::size_t i = 0; i < got.size() && i < kFrames; ++i) {
        Bytes expected = test_frame(i);
        if (got[i].bytes != expected || got[i].len != expected.size() || got[i].port != 0 || got[i].queue != 0) {
            if (bad++ < 3)
                std::printf("  frame %zu: %zu bytes (len %u), expected %zu\n", i, got[i].bytes.size(), got[i].len,
                            expected.size());
        }
        if (got[i].timestamp_ns < previous || got[i].timestamp_ns < before || got[i].timestamp_ns > after)
            ++bad_time;
        previous = got[i].timestamp_ns;
    }
    CHECK(bad == 0, "%zu frames differ from what was sent (or came out of order)", bad);
    CHECK(bad_time == 0, "%zu kernel timestamps out of order or outside the test", bad_time);
    zc_device_stats stats = stats_of(device);
    CHECK(stats.packets == kFrames && stats.copied == kFrames && stats.dropped == 0,
          "stats: packets %llu copied %llu dropped %llu", static_cast<unsigned long long>(stats.packets),
          static_cast<unsigned long long>(stats.copied), static_cast<unsigned long long>(stats.dropped));
    std::printf("ok   %zu frames of 60..1514 bytes arrived byte for byte, in order, kernel timestamps\n", got.size());

    // VLAN tags: the kernel takes them out of the frame; the driver puts them back.
    Bytes q = with_tag(test_frame(5000), 0x8100, 0x2064);  // priority 1, VLAN 100
    Bytes ad = with_tag(test_frame(5001), 0x88a8, 0x00c8); // 802.1ad, VLAN 200
    Bytes jumbo(3000);
    zc::frames::build(reinterpret_cast<std::byte*>(jumbo.data()), 1518, zc::frames::nth(0, 1), 5002);
    for (std::size_t b = 1514; b < jumbo.size(); ++b)
        jumbo[b] = static_cast<std::uint8_t>(b * 13);
    sender = spawn_in(kNsA, [&] {
        RawSender out("zcps");
        return out.send(q) && out.send(ad) && out.send(jumbo) ? 0 : 1;
    });
    got = receive(device, 3, 5.0);
    CHECK(join(sender) == 0, "sent tagged and jumbo frames");
    CHECK(got.size() == 3, "%zu of 3 arrived", got.size());
    if (got.size() == 3) {
        CHECK(got[0].bytes == q && got[0].len == q.size(), "802.1Q frame comes back tagged (%zu bytes, %02x%02x)",
              got[0].bytes.size(), got[0].bytes[12], got[0].bytes[13]);
        CHECK(got[1].bytes == ad && got[1].len == ad.size(), "802.1ad frame comes back tagged (%zu bytes, %02x%02x)",
              got[1].bytes.size(), got[1].bytes[12], got[1].bytes[13]);
        std::uint32_t capacity = zc_buffer_capacity(zc_device_cluster(device));
        CHECK(got[2].bytes.size() == capacity && got[2].len == 3000 &&
                  std::memcmp(got[2].bytes.data(), jumbo.data(), capacity) == 0,
              "3000-byte frame: caplen %zu (buffer %u), len %u", got[2].bytes.size(), capacity, got[2].len);
        std::printf("ok   VLAN tags restored (802.1Q, 802.1ad); 3000-byte frame kept as %zu of %u bytes\n",
                    got[2].bytes.size(), got[2].len);
    }

    // Frames another socket of this host sends out of zcpd are not captured.
    {
        RawSender local("zcpd"); // this process is in zcp-b
        for (std::uint64_t i = 0; i < 5; ++i)
            local.send(test_frame(i));
    }
    got = receive(device, 1, 0.3);
    CHECK(got.empty(), "outgoing frames of another local socket are not captured (got %zu)", got.size());
    std::printf("ok   frames this host sends out of zcpd are not captured\n");
    zc_device_close(device);
    CHECK(!promiscuous("zcpd"), "promiscuous mode ends with the device");
}

void check_options()
{
    int rc = 0;
    std::string message;
    zc_device_config config = default_config();
    config.flags |= ZC_DEVICE_NO_PROMISC;
    config.snaplen = 100;
    zc_device* device = open_device("zc:afpacket:zcpd", config, &rc, &message);
    CHECK(rc == 0, "open with snaplen 100, no promisc: %s", message.c_str());
    if (!device)
        return;
    CHECK(!promiscuous("zcpd"), "ZC_DEVICE_NO_PROMISC leaves zcpd alone");
    Bytes big(1514);
    zc::frames::build(reinterpret_cast<std::byte*>(big.data()), 1518, zc::frames::nth(0, 1), 7);
    pid_t sender = spawn_in(kNsA, [&] { return RawSender("zcps").send(big) ? 0 : 1; });
    std::vector<Received> got = receive(device, 1, 5.0);
    join(sender);
    CHECK(got.size() == 1 && got[0].bytes.size() == 100 && got[0].len == 1514 &&
              std::memcmp(got[0].bytes.data(), big.data(), 100) == 0,
          "snaplen 100 keeps 100 bytes of 1514 (got %zu)", got.empty() ? 0 : got[0].bytes.size());
    std::printf("ok   snaplen 100: caplen 100, len 1514; no-promisc honoured\n");
    zc_device_close(device);
}

void check_aggregate()
{
    int rc = 0;
    std::string message;
    zc_device* device = open_device("zc:afpacket:zcpd,zcpd1", default_config(), &rc, &message);
    CHECK(rc == 0, "open zc:afpacket:zcpd,zcpd1: %s", message.c_str());
    if (!device)
        return;
    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    CHECK(::poll(&entry, 1, 20) == 0, "aggregate: nothing readable before traffic");
    pid_t sender = spawn_in(kNsA, [] {
        RawSender zero("zcps"), one("zcps1");
        for (std::uint64_t i = 0; i < 100; ++i)
            if (!zero.send(test_frame(i)) || !one.send(test_frame(1000 + i)))
                return 1;
        return 0;
    });
    CHECK(::poll(&entry, 1, 2000) == 1, "aggregate: the selectable fd (epoll over both) becomes readable");
    std::vector<Received> got = receive(device, 200, 5.0);
    join(sender);
    CHECK(got.size() == 200, "%zu of 200", got.size());
    std::uint64_t next[2] = {0, 1000};
    std::size_t bad = 0;
    for (const Received& r : got) {
        zc::frames::Flow flow{};
        std::uint64_t sequence = 0;
        zc::frames::parse(reinterpret_cast<const std::byte*>(r.bytes.data()), static_cast<std::uint32_t>(r.bytes.size()),
                          &flow, &sequence);
        std::uint16_t port = sequence >= 1000 ? 1 : 0;
        if (r.port != port || r.queue != port || sequence != next[port] || r.bytes != test_frame(sequence))
            ++bad;
        else
            ++next[port];
    }
    CHECK(bad == 0, "%zu frames with the wrong port, order or bytes", bad);
    std::printf("ok   aggregate zcpd,zcpd1: 200 frames, port = interface, in order per interface\n");
    zc_device_close(device);
}

// Sends through the device (with its receive side too, or TX only).
void check_transmit(bool with_receive)
{
    constexpr std::uint32_t kFrames = 500;
    int rc = 0;
    std::string message;
    zc_device_config config = default_config();
    config.flags = with_receive ? ZC_DEVICE_RX | ZC_DEVICE_TX : ZC_DEVICE_TX;
    zc_device* device = open_device("zc:afpacket:zcpd", config, &rc, &message);
    CHECK(rc == 0, "open %s: %s", with_receive ? "RX+TX" : "TX", message.c_str());
    if (!device)
        return;

    int ready[2];
    if (::pipe(ready) != 0)
        return;
    // The far end captures with a zc device of its own.
    pid_t receiver = spawn_in(kNsA, [&] {
        ::close(ready[0]);
        int code = 0;
        std::string why;
        zc_device* far = open_device("zc:afpacket:zcps", default_config(), &code, &why);
        char byte = far ? 1 : 0;
        if (::write(ready[1], &byte, 1) != 1 || !far)
            return 2;
        std::vector<Received> got = receive(far, kFrames + 1, 10.0);
        zc_device_close(far);
        std::size_t bad = got.size() == kFrames + 1 ? 0 : 1;
        for (std::size_t i = 0; i < got.size() && i < kFrames + 1; ++i)
            bad += got[i].bytes != test_frame(i);
        if (bad)
            std::printf("  far end: %zu frames, %zu wrong\n", got.size(), bad);
        return bad == 0 ? 0 : 1;
    });
    ::close(ready[1]);
    char byte = 0;
    CHECK(::read(ready[0], &byte, 1) == 1 && byte == 1, "the far end opened zc:afpacket:zcps");
    ::close(ready[0]);

    zc_cluster* pool = zc_device_cluster(device);
    std::uint32_t sent = 0;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (sent < kFrames && Clock::now() < deadline) {
        std::uint32_t buffers[32], lengths[32];
        std::uint32_t want = std::min<std::uint32_t>(32, kFrames - sent);
        std::uint32_t got = zc_device_tx_alloc(device, buffers, want);
        for (std::uint32_t i = 0; i < got; ++i) {
            Bytes frame = test_frame(sent + i);
            std::memcpy(zc_buffer_data(pool, buffers[i]), frame.data(), frame.size());
            lengths[i] = static_cast<std::uint32_t>(frame.size());
        }
        std::uint32_t queued = zc_device_send_burst(device, buffers, lengths, got);
        if (queued < got) {
            // Not queued: still ours. Give them back and retry from there.
            zc_pool_release_burst(pool, buffers + queued, got - queued);
            ::usleep(1000);
        }
        sent += queued;
    }
    CHECK(sent == kFrames, "send_burst queued %u of %u", sent, kFrames);
    Bytes last = test_frame(kFrames);
    CHECK(zc_device_inject(device, last.data(), static_cast<std::uint32_t>(last.size())) == 0, "inject one more");
    Bytes huge(4000);
    CHECK(zc_device_inject(device, huge.data(), 4000) == -EMSGSIZE, "inject of 4000 bytes: EMSGSIZE");
    CHECK(join(receiver) == 0, "the far end received all %u frames byte for byte, in order", kFrames + 1);
    std::vector<Received> own = receive(device, 1, 0.2);
    CHECK(own.empty(), "the sender does not capture its own frames (got %zu)", own.size());
    zc_device_stats stats = stats_of(device);
    CHECK(stats.sent == kFrames + 1 && stats.packets == 0, "stats sent %llu packets %llu",
          static_cast<unsigned long long>(stats.sent), static_cast<unsigned long long>(stats.packets));
    CHECK(zc_pool_free_count(pool) + 64 >= 4096, "sent buffers came home (free %u)", zc_pool_free_count(pool));
    std::printf("ok   %s: %u frames by send_burst + 1 by inject arrived at the far end; not captured by the sender\n",
                with_receive ? "RX+TX" : "TX only", kFrames);
    zc_device_close(device);
}

void check_drops()
{
    // Pool empty: 64 buffers, never released.
    int rc = 0;
    std::string message;
    zc_device_config config = default_config();
    config.frame_count = 64;
    zc_device* device = open_device("zc:afpacket:zcpd", config, &rc, &message);
    CHECK(rc == 0, "open with 64 buffers: %s", message.c_str());
    if (!device)
        return;
    pid_t sender = spawn_in(kNsA, [] {
        RawSender out("zcps");
        for (std::uint64_t i = 0; i < 200; ++i)
            if (!out.send(test_frame(i)))
                return 1;
        return 0;
    });
    join(sender);
    std::vector<zc_packet> held;
    zc_packet burst[32];
    auto deadline = Clock::now() + std::chrono::seconds(5);
    zc_device_stats stats{};
    while (Clock::now() < deadline) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 32);
        held.insert(held.end(), burst, burst + n);
        stats = stats_of(device);
        if (stats.packets + stats.dropped >= 200)
            break;
        if (n == 0)
            zc_device_wait(device, 10);
    }
    CHECK(held.size() == 64 && stats.packets == 64 && stats.dropped == 136,
          "pool of 64: %zu held, packets %llu, dropped %llu (expected 64 and 136)", held.size(),
          static_cast<unsigned long long>(stats.packets), static_cast<unsigned long long>(stats.dropped));
    zc_device_release_burst(device, held.data(), static_cast<std::uint32_t>(held.size()));
    sender = spawn_in(kNsA, [] {
        RawSender out("zcps");
        for (std::uint64_t i = 0; i < 10; ++i)
            if (!out.send(test_frame(i)))
                return 1;
        return 0;
    });
    std::vector<Received> got = receive(device, 10, 5.0);
    join(sender);
    CHECK(got.size() == 10, "after the release, capture goes on (%zu of 10)", got.size());
    std::printf("ok   pool empty: 64 delivered, 136 counted in dropped; capture resumes after release\n");
    zc_device_close(device);

    // Ring full: a 32 KiB ring nobody reads while 2000 frames arrive.
    config = default_config();
    config.ring_size = 8;
    device = open_device("zc:afpacket:zcpd", config, &rc, &message);
    CHECK(rc == 0, "open with ring_size 8: %s", message.c_str());
    if (!device)
        return;
    sender = spawn_in(kNsA, [] {
        RawSender out("zcps");
        Bytes frame(1000);
        zc::frames::build(reinterpret_cast<std::byte*>(frame.data()), 1004, zc::frames::nth(0, 1), 0);
        for (int i = 0; i < 2000; ++i)
            if (!out.send(frame))
                return 1;
        return 0;
    });
    join(sender);
    got = receive(device, 2000, 0.5, 0);
    stats = stats_of(device);
    CHECK(stats.dropped > 0 && stats.packets == got.size() && stats.packets + stats.dropped == 2000,
          "ring full: received %llu + dropped %llu should be 2000", static_cast<unsigned long long>(stats.packets),
          static_cast<unsigned long long>(stats.dropped));
    std::printf("ok   ring full: %llu received, %llu dropped by the kernel (tp_drops), sum 2000\n",
                static_cast<unsigned long long>(stats.packets), static_cast<unsigned long long>(stats.dropped));
    zc_device_close(device);
}

void check_errors(const char* self)
{
    int rc = 0;
    std::string message;
    zc_device* device = open_device("zc:afpacket:zcpnone", default_config(), &rc, &message);
    CHECK(!device && rc == -ENODEV, "no such interface: %d %s", rc, message.c_str());
    std::printf("ok   no such interface: %d \"%s\"\n", rc, message.c_str());

    run("ip -n zcp-b link set zcpd down");
    device = open_device("zc:afpacket:zcpd", default_config(), &rc, &message);
    CHECK(!device && rc == -ENETDOWN, "interface down: %d %s", rc, message.c_str());
    std::printf("ok   interface down: %d \"%s\"\n", rc, message.c_str());
    run("ip -n zcp-b link set zcpd up");

    device = open_device("zc:afpacket:zcpd,zcpd", default_config(), &rc, &message);
    CHECK(!device && rc == -EINVAL, "duplicate: %d %s", rc, message.c_str());
    std::printf("ok   named twice: %d \"%s\"\n", rc, message.c_str());

    std::string command = "ip netns exec zcp-b setpriv --reuid=65534 --regid=65534 --clear-groups " +
                          std::string(self) + " --open zc:afpacket:zcpd";
    FILE* child = ::popen(command.c_str(), "r");
    char line[512] = {};
    if (!child || !std::fgets(line, sizeof line, child))
        line[0] = 0;
    if (child)
        ::pclose(child);
    CHECK(std::strcmp(line, "rc=-1 zcpd: AF_PACKET needs CAP_NET_RAW (run as root)\n") == 0, "as nobody: %s", line);
    std::printf("ok   not root: %s", line);
}

// Receives while a sender in zcp-a sends as fast as it can for `seconds`.
void measure(double seconds, std::uint32_t size, std::uint32_t ring_size = 2048)
{
    int rc = 0;
    std::string message;
    zc_device_config config = default_config();
    config.ring_size = ring_size;
    zc_device* device = open_device("zc:afpacket:zcpd", config, &rc, &message);
    if (!device)
        return;
    int report[2];
    if (::pipe(report) != 0)
        return;
    pid_t sender = spawn_in(kNsA, [&] {
        RawSender out("zcps");
        Bytes frame(zc::frames::frame_bytes(size));
        constexpr int kBatch = 64;
        std::vector<Bytes> frames(kBatch, frame);
        mmsghdr messages[kBatch] = {};
        iovec vectors[kBatch];
        for (int i = 0; i < kBatch; ++i) {
            zc::frames::build(reinterpret_cast<std::byte*>(frames[i].data()), size, zc::frames::nth(i, 64), i);
            vectors[i] = iovec{frames[i].data(), frames[i].size()};
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        std::uint64_t sent = 0;
        auto start = Clock::now();
        auto end = start + std::chrono::duration<double>(seconds);
        while (Clock::now() < end) {
            int n = ::sendmmsg(out.fd(), messages, kBatch, 0);
            if (n > 0)
                sent += static_cast<std::uint64_t>(n);
        }
        double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        double values[2] = {static_cast<double>(sent), elapsed};
        return ::write(report[1], values, sizeof values) == sizeof values ? 0 : 1;
    });
    ::close(report[1]);
    struct rusage usage_before {};
    ::getrusage(RUSAGE_SELF, &usage_before);
    std::uint64_t received = 0;
    zc_packet burst[64];
    auto start = Clock::now();
    auto last_packet = start;
    for (;;) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 64);
        if (n > 0) {
            received += n;
            zc_device_release_burst(device, burst, n);
            last_packet = Clock::now();
            continue;
        }
        if (Clock::now() - last_packet > std::chrono::milliseconds(300) &&
            Clock::now() - start > std::chrono::duration<double>(seconds))
            break;
        zc_device_wait(device, 20);
    }
    struct rusage usage_after {};
    ::getrusage(RUSAGE_SELF, &usage_after);
    auto seconds_of = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    double cpu = seconds_of(usage_after.ru_utime) - seconds_of(usage_before.ru_utime) +
                 seconds_of(usage_after.ru_stime) - seconds_of(usage_before.ru_stime);
    double values[2] = {0, 1};
    if (::read(report[0], values, sizeof values) != sizeof values)
        values[0] = 0;
    ::close(report[0]);
    join(sender);
    zc_device_stats stats = stats_of(device);
    std::printf("rate afpacket %4u-byte frames, ring %5u: sender %.2f Mpps; received %llu = %.2f Mpps (%.2f Gbit/s), "
                "dropped %llu; receiver CPU %.0f ns/packet (user+sys, the kernel's ring copy is the sender's)\n",
                size, ring_size, values[0] / values[1] / 1e6, static_cast<unsigned long long>(received),
                received / values[1] / 1e6, received * (size + 20) * 8 / values[1] / 1e9,
                static_cast<unsigned long long>(stats.dropped), received ? cpu * 1e9 / received : 0.0);
    zc_device_close(device);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc == 3 && std::strcmp(argv[1], "--open") == 0) {
        int rc = 0;
        std::string message;
        zc_device* device = open_device(argv[2], default_config(), &rc, &message);
        if (device)
            zc_device_close(device);
        std::printf("rc=%d %s\n", rc, message.c_str());
        return 0;
    }
    double seconds = 2.0;
    if (argc == 3 && std::strcmp(argv[1], "--seconds") == 0)
        seconds = std::atof(argv[2]);
    if (::geteuid() != 0) {
        std::printf("SKIP: afpacket_smoke needs root (network namespaces)\n");
        return 77;
    }
    ::signal(SIGINT, on_signal);
    ::signal(SIGTERM, on_signal);
    if (!setup()) {
        teardown();
        return 99;
    }
    std::atexit(teardown);
    enter(kNsB);

    check_stream();
    check_options();
    check_aggregate();
    check_transmit(true);
    check_transmit(false);
    check_drops();
    check_errors(argv[0]);
    if (seconds > 0) {
        measure(seconds, 64);
        measure(seconds, 1518);
        measure(seconds, 1518, 16384);
    }
    std::printf(failures == 0 ? "afpacket_smoke: all passed\n" : "afpacket_smoke: %d FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// afxdp_smoke — a by-hand system test of the AF_XDP driver. Run as root:
//
//   afxdp_smoke [--frames N] [--rate N]
//
// Builds two network namespaces, zcx-a and zcx-b, joined by two veth pairs
// (zcxs<->zcxd with 4 queues, zcxs2<->zcxd2 with 1), with IPv6 off and no
// addresses so the kernel sends nothing of its own, and only ever sends
// between them. Then, from inside zcx-b:
//
//   receive   N frames sent from zcx-a with an AF_PACKET socket arrive, each
//             once, byte for byte, in native XDP, generic XDP, one queue
//             (zc:zcxd@1: the other queues' frames pass to the stack) and an
//             aggregate (zc:zcxd,zcxd2: port says which interface);
//             descriptors, buffers and metadata agree; stats add up; the pool
//             accounts for every buffer;
//   transmit  frames sent with tx_alloc/send_burst and inject arrive in zcx-a,
//             with and without receive (no XDP program when only sending);
//   fallback  an interface without native XDP (ifb) gets generic XDP;
//   release   buffers released twice, or not ours, are ignored and counted;
//             snaplen cuts caplen; the selectable fd reports waiting frames;
//   cleanup   after close and after SIGKILL of a process that had the device
//             open, no XDP program is left and promiscuity is as before;
//   errors    no such interface, queue out of range, interface down, another
//             XDP program attached, a queue another socket holds, too few
//             buffers, and no privileges (setpriv to nobody); no file
//             descriptor stays open after all of it.
//
// --rate N also blasts N 64-byte frames and prints the receive rate (a
// number to read, not a pass/fail check). The namespaces are always
// deleted, also at the start of a run (leftovers of a crashed one).
//
// Exit status: 0 when every check passed, 1 otherwise, 77 when not root.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../kmod/objects.hpp"
#include "../../kmod/zc_xdp.h"
#include "../synthetic/frames.hpp"
#include "zc/device.h"

namespace {

constexpr const char* kNsA = "zcx-a";
constexpr const char* kNsB = "zcx-b";
constexpr std::uint32_t kQueues = 4;
constexpr std::uint32_t kFlows = 16;

int g_checks = 0;
int g_failures = 0;

void check(bool ok, const char* format, ...) __attribute__((format(printf, 2, 3)));
void check(bool ok, const char* format, ...)
{
    ++g_checks;
    if (ok)
        return;
    ++g_failures;
    std::va_list args;
    va_start(args, format);
    std::fputs("FAIL: ", stdout);
    std::vprintf(format, args);
    std::fputc('\n', stdout);
    va_end(args);
    std::fflush(stdout);
}

void note(const char* format, ...) __attribute__((format(printf, 1, 2)));
void note(const char* format, ...)
{
    std::va_list args;
    va_start(args, format);
    std::fputs("-- ", stdout);
    std::vprintf(format, args);
    std::fputc('\n', stdout);
    va_end(args);
    std::fflush(stdout);
}

int run(const std::string& command)
{
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void delete_namespaces()
{
    run(std::string("ip netns del ") + kNsA + " 2>/dev/null");
    run(std::string("ip netns del ") + kNsB + " 2>/dev/null");
}

void on_signal(int)
{
    delete_namespaces();
    _exit(99);
}

bool create_namespaces()
{
    delete_namespaces();
    const std::string a = kNsA, b = kNsB;
    std::vector<std::string> commands = {
        "ip netns add " + a,
        "ip netns add " + b,
        // IPv6 off before the links exist (default) and on them (all): no
        // router or neighbour solicitations, no MLD — the kernel stays quiet.
        "ip netns exec " + a + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1",
        "ip netns exec " + b + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1",
        "ip link add zcxs netns " + a + " numtxqueues 4 numrxqueues 4 type veth peer name zcxd netns " + b +
            " numtxqueues 4 numrxqueues 4",
        "ip link add zcxs2 netns " + a + " type veth peer name zcxd2 netns " + b,
        "ip -n " + a + " link set zcxs up",
        "ip -n " + a + " link set zcxs2 up",
        "ip -n " + b + " link set zcxd up",
        "ip -n " + b + " link set zcxd2 up",
    };
    for (const std::string& command : commands)
        if (run(command) != 0) {
            std::printf("cannot set up the namespaces: '%s' failed\n", command.c_str());
            return false;
        }
    return true;
}

bool enter_namespace(const char* name)
{
    std::string path = std::string("/run/netns/") + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        std::printf("cannot enter netns %s: %s\n", name, std::strerror(errno));
        if (fd >= 0)
            ::close(fd);
        return false;
    }
    ::close(fd);
    return true;
}

// ------------------------------------------------------------ the frames

std::uint32_t size_of(std::uint64_t sequence, bool small)
{
    if (small)
        return zc::frames::kMinSize;
    return zc::frames::kMinSize +
           static_cast<std::uint32_t>((sequence * 97) % (zc::frames::kMaxSize - zc::frames::kMinSize + 1));
}

void build_frame(std::vector<std::byte>& out, std::uint64_t sequence, bool small)
{
    std::uint32_t size = size_of(sequence, small);
    out.resize(zc::frames::frame_bytes(size));
    zc::frames::build(out.data(), size, zc::frames::nth(sequence, kFlows), sequence);
}

// ------------------------------------------------------------ the sender

// The rate test keeps sender (and the veth softirq work it triggers) and
// receiver on different CPUs when there are two or more.
void pin_to_cpu(int cpu)
{
    if (::sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::sched_setaffinity(0, sizeof set, &set);
}

// A child in zcx-a that sends frames [first, first + count) on `interface`
// with an AF_PACKET socket once told to go. Forked before the device is
// opened, so it holds none of the device's descriptors.
struct Sender {
    pid_t pid = -1;
    int go = -1;

    static Sender start(const char* interface, std::uint64_t first, std::uint64_t count, bool small)
    {
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0)
            return {};
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(pipe_fds[1]);
            char byte;
            if (::read(pipe_fds[0], &byte, 1) != 1)
                _exit(3);
            if (!enter_namespace(kNsA))
                _exit(2);
            if (small)
                pin_to_cpu(0);
            _exit(send_frames(interface, first, count, small));
        }
        ::close(pipe_fds[0]);
        return Sender{pid, pipe_fds[1]};
    }

    void release()
    {
        char byte = 1;
        if (::write(go, &byte, 1) != 1)
            std::printf("cannot start the sender\n");
        ::close(go);
        go = -1;
    }

    int finish()
    {
        if (go >= 0)
            ::close(go);
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
    }

    static int send_frames(const char* interface, std::uint64_t first, std::uint64_t count, bool small)
    {
        int fd = ::socket(AF_PACKET, SOCK_RAW, 0); // protocol 0: sends, receives nothing
        unsigned ifindex = if_nametoindex(interface);
        if (fd < 0 || ifindex == 0)
            return 4;
        // The rate test goes straight to the driver (the fastest AF_PACKET
        // send); then the TX queue is the sending CPU's. The others go through
        // the qdisc layer, which picks a TX queue — so a veth RX queue — by
        // flow hash and spreads the flows over every queue.
        if (small) {
            int bypass = 1;
            ::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof bypass);
        }
        struct sockaddr_ll to {};
        to.sll_family = AF_PACKET;
        to.sll_ifindex = static_cast<int>(ifindex);
        to.sll_halen = ETH_ALEN;

        constexpr unsigned kBatch = 64;
        std::vector<std::vector<std::byte>> frames(kBatch);
        struct mmsghdr messages[kBatch];
        struct iovec vectors[kBatch];
        std::uint64_t sequence = first;
        const std::uint64_t end = first + count;
        while (sequence < end) {
            unsigned batch = static_cast<unsigned>(std::min<std::uint64_t>(kBatch, end - sequence));
            for (unsigned i = 0; i < batch; ++i) {
                build_frame(frames[i], sequence + i, small);
                vectors[i] = iovec{frames[i].data(), frames[i].size()};
                messages[i] = mmsghdr{};
                messages[i].msg_hdr.msg_name = &to;
                messages[i].msg_hdr.msg_namelen = sizeof to;
                messages[i].msg_hdr.msg_iov = &vectors[i];
                messages[i].msg_hdr.msg_iovlen = 1;
            }
            int sent = ::sendmmsg(fd, messages, batch, 0);
            if (sent < 0) {
                if (errno == ENOBUFS || errno == EAGAIN) {
                    ::usleep(50);
                    continue;
                }
                return 5;
            }
            sequence += static_cast<unsigned>(sent);
        }
        ::close(fd);
        return 0;
    }
};

// ------------------------------------------------------------ helpers

struct XdpState {
    std::uint32_t prog_id = 0;
    std::uint8_t attach_mode = 0;
};

XdpState xdp_state(const char* interface)
{
    XdpState state;
    LIBBPF_OPTS(bpf_xdp_query_opts, query);
    unsigned ifindex = if_nametoindex(interface);
    if (ifindex != 0 && bpf_xdp_query(static_cast<int>(ifindex), 0, &query) == 0) {
        state.prog_id = query.prog_id;
        state.attach_mode = query.attach_mode;
    }
    return state;
}

const char* attach_mode_name(std::uint8_t mode)
{
    switch (mode) {
    case XDP_ATTACHED_NONE: return "none";
    case XDP_ATTACHED_DRV: return "native";
    case XDP_ATTACHED_SKB: return "generic";
    case XDP_ATTACHED_HW: return "offloaded";
    default: return "several";
    }
}

// The interface's promiscuity count, as `ip -d link` shows it (in this
// process's namespace: ip runs in it). ~0u when it cannot tell.
std::uint32_t promiscuity(const char* interface)
{
    std::string command = std::string("ip -d link show dev ") + interface + " 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe)
        return ~0u;
    char text[4096] = {};
    std::size_t used = std::fread(text, 1, sizeof text - 1, pipe);
    ::pclose(pipe);
    text[used] = '\0';
    const char* at = std::strstr(text, " promiscuity ");
    return at ? static_cast<std::uint32_t>(std::strtoul(at + 13, nullptr, 10)) : ~0u;
}

// Waits up to two seconds for the kernel to drop a dead process's link.
bool xdp_gone(const char* interface)
{
    for (int i = 0; i < 200; ++i) {
        if (xdp_state(interface).prog_id == 0)
            return true;
        ::usleep(10000);
    }
    return false;
}

// The XDP program's per-queue counters, summed over CPUs and queues, read
// through the program attached to `interface` (its map ids).
struct XdpCounters {
    bool found = false;
    std::uint64_t packets = 0, redirected = 0, passed = 0;
};

XdpCounters xdp_counters(const char* interface)
{
    XdpCounters total;
    std::uint32_t id = xdp_state(interface).prog_id;
    int prog = id ? bpf_prog_get_fd_by_id(id) : -1;
    if (prog < 0)
        return total;
    std::uint32_t map_ids[8] = {};
    struct bpf_prog_info info {};
    info.nr_map_ids = 8;
    info.map_ids = reinterpret_cast<std::uint64_t>(map_ids);
    std::uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(prog, &info, &length) == 0) {
        int cpus = libbpf_num_possible_cpus();
        for (std::uint32_t m = 0; m < info.nr_map_ids && m < 8; ++m) {
            int map = bpf_map_get_fd_by_id(map_ids[m]);
            struct bpf_map_info map_info {};
            std::uint32_t map_length = sizeof map_info;
            if (map >= 0 && bpf_obj_get_info_by_fd(map, &map_info, &map_length) == 0 &&
                std::strcmp(map_info.name, ZC_XDP_COUNTER_MAP) == 0) {
                std::vector<zc_xdp_counters> values(static_cast<std::size_t>(cpus));
                for (std::uint32_t key = 0; key < map_info.max_entries; ++key)
                    if (bpf_map_lookup_elem(map, &key, values.data()) == 0)
                        for (const zc_xdp_counters& v : values) {
                            total.packets += v.packets;
                            total.redirected += v.redirected;
                            total.passed += v.passed;
                        }
                total.found = true;
            }
            if (map >= 0)
                ::close(map);
        }
    }
    ::close(prog);
    return total;
}

zc_device_config make_config(std::uint32_t flags)
{
    zc_device_config config;
    zc_device_config_init(&config);
    config.flags = flags;
    return config;
}

// ------------------------------------------------------------ receive

struct Expect {
    const char* interface; // sent from (in zcx-a)
    std::uint16_t port;    // expected zc_packet.port
    std::uint64_t first;
    std::uint64_t count;
};

struct Received {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t strangers = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t mismatched = 0;
    std::uint64_t bad_view = 0;
    std::uint64_t per_queue[64] = {};
};

// Receives on an open `device` until `want` frames arrived or `timeout_ms`
// passed since the last one, checking each against what the senders sent.
Received receive(zc_device* device, const std::vector<Expect>& expects, std::uint64_t want, int timeout_ms)
{
    Received got;
    zc_cluster* pool = zc_device_cluster(device);
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    zc_cluster_get_info(pool, &info);
    auto* base = static_cast<const std::byte*>(zc_cluster_pool_base(pool));

    std::uint64_t end = 0;
    for (const Expect& e : expects)
        end = std::max(end, e.first + e.count);
    std::vector<std::uint8_t> seen(end, 0);
    std::vector<std::byte> expected;
    zc_packet packets[64];
    auto last = std::chrono::steady_clock::now();
    while (got.packets + got.strangers < want) {
        std::uint32_t n = zc_device_recv_burst(device, packets, 64);
        auto now = std::chrono::steady_clock::now();
        if (n == 0) {
            if (std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count() > timeout_ms)
                break;
            zc_device_wait(device, 50);
            continue;
        }
        last = now;
        for (std::uint32_t i = 0; i < n; ++i) {
            const zc_packet& p = packets[i];
            // The view and the pool agree: data is the buffer's, the
            // descriptor address maps back to it, the metadata sits at the
            // frame's start and says what the packet says.
            std::uint32_t back = ~0u;
            const auto* meta = zc_buffer_meta_of(pool, p.buffer);
            bool view_ok = p.buffer < info.frame_count &&
                           p.data == static_cast<const std::uint8_t*>(zc_buffer_data(pool, p.buffer)) &&
                           zc_buffer_from_addr(pool, zc_buffer_addr(pool, p.buffer), &back) == 0 &&
                           back == p.buffer &&
                           reinterpret_cast<const std::byte*>(meta) ==
                               base + std::uint64_t{p.buffer} * info.frame_size &&
                           meta->length == p.len && meta->timestamp_ns == p.timestamp_ns &&
                           meta->port == p.port && p.caplen == p.len && p.timestamp_ns != 0 &&
                           zc_buffer_owner(pool, p.buffer) >> 24 == ZC_OWNER_WORKER;
            if (!view_ok)
                ++got.bad_view;
            zc::frames::Flow flow{};
            std::uint64_t sequence = 0;
            if (!zc::frames::parse(reinterpret_cast<const std::byte*>(p.data), p.caplen, &flow, &sequence) ||
                sequence >= end) {
                ++got.strangers;
                continue;
            }
            const Expect* from = nullptr;
            for (const Expect& e : expects)
                if (sequence >= e.first && sequence < e.first + e.count)
                    from = &e;
            build_frame(expected, sequence, false);
            if (!from || from->port != p.port || p.caplen != expected.size() ||
                std::memcmp(p.data, expected.data(), expected.size()) != 0)
                ++got.mismatched;
            if (seen[sequence]++)
                ++got.duplicates;
            ++got.packets;
            got.bytes += p.len;
            if (p.queue < 64)
                ++got.per_queue[p.queue];
        }
        zc_device_release_burst(device, packets, n);
    }
    return got;
}

std::string queue_spread(const Received& got, std::uint32_t queues)
{
    std::string text;
    for (std::uint32_t q = 0; q < queues && q < 64; ++q)
        text += (q ? "/" : "") + std::to_string(got.per_queue[q]);
    return text;
}

// Every buffer is on the free list or with the device (fill ring, kernel):
// the caller released all it received.
void check_pool(zc_device* device, const char* what)
{
    zc_pool_report report{};
    report.struct_size = sizeof report;
    int rc = zc_pool_check(zc_device_cluster(device), &report);
    check(rc == 0 && report.errors == 0, "%s: pool inconsistent: %s", what, report.first_error);
    check(report.by_kind[ZC_OWNER_WORKER] == 0 && report.by_kind[ZC_OWNER_FREE] + report.by_kind[ZC_OWNER_DEVICE] ==
                                                      report.total,
          "%s: buffers unaccounted: %u free + %u device + %u held of %u", what, report.by_kind[ZC_OWNER_FREE],
          report.by_kind[ZC_OWNER_DEVICE], report.by_kind[ZC_OWNER_WORKER], report.total);
}

// Opens `name`, sends each Expect from zcx-a, checks that all arrive.
void receive_test(const char* title, const char* name, std::uint32_t flags, const std::vector<Expect>& expects,
                  std::uint32_t queues, bool all_expected)
{
    std::vector<Sender> senders;
    for (const Expect& e : expects)
        senders.push_back(Sender::start(e.interface, e.first, e.count, false));
    zc_device_config config = make_config(flags);
    zc_device* device = nullptr;
    zc_error error{};
    int rc = zc_device_open(name, &config, &device, &error);
    check(rc == 0, "%s: open %s: %d %s", title, name, rc, error.message);
    if (rc != 0) {
        for (Sender& s : senders)
            s.finish();
        return;
    }
    const char* interface = expects[0].port == 0 ? "zcxd" : "zcxd2";
    XdpState state = xdp_state(interface);
    check(promiscuity(interface) == 1, "%s: %s is not promiscuous while open", title, interface);

    std::uint64_t want = 0;
    for (const Expect& e : expects)
        want += e.count;
    for (Sender& s : senders)
        s.release();
    Received got = receive(device, expects, all_expected ? want : ~0ull, all_expected ? 3000 : 1000);
    for (Sender& s : senders)
        check(s.finish() == 0, "%s: the sender failed", title);

    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    zc_device_get_stats(device, &stats);
    XdpCounters counters = xdp_counters(interface);

    note("%s: %s, %s XDP (prog id %u): %" PRIu64 " of %" PRIu64 " frames, queues %s, dropped %" PRIu64
         ", XDP redirected %" PRIu64 " passed %" PRIu64,
         title, zc_device_mode(device), attach_mode_name(state.attach_mode), state.prog_id, got.packets, want,
         queue_spread(got, queues).c_str(), stats.dropped, counters.redirected, counters.passed);
    if (all_expected)
        check(got.packets == want, "%s: %" PRIu64 " of %" PRIu64 " frames arrived", title, got.packets, want);
    else
        check(counters.found && counters.packets == want && counters.redirected == got.packets &&
                  counters.passed == want - got.packets,
              "%s: XDP counters %" PRIu64 "/%" PRIu64 "/%" PRIu64 " do not add up to %" PRIu64 " sent, %" PRIu64
              " received",
              title, counters.packets, counters.redirected, counters.passed, want, got.packets);
    check(got.strangers == 0, "%s: %" PRIu64 " frames nobody sent", title, got.strangers);
    check(got.duplicates == 0, "%s: %" PRIu64 " duplicates", title, got.duplicates);
    check(got.mismatched == 0, "%s: %" PRIu64 " frames differ from what was sent", title, got.mismatched);
    check(got.bad_view == 0, "%s: %" PRIu64 " packets whose view, buffer or metadata disagree", title,
          got.bad_view);
    check(stats.packets == got.packets + got.strangers && stats.bytes >= got.bytes,
          "%s: stats say %" PRIu64 " packets, %" PRIu64 " bytes", title, stats.packets, stats.bytes);
    check(stats.dropped == 0, "%s: %" PRIu64 " dropped", title, stats.dropped);
    check_pool(device, title);

    zc_device_close(device);
    check(xdp_gone("zcxd") && xdp_gone("zcxd2"), "%s: an XDP program is left after close", title);
    check(promiscuity("zcxd") == 0 && promiscuity("zcxd2") == 0, "%s: promiscuity not restored after close",
          title);
}

// ------------------------------------------------------------ transmit

// A child in zcx-a that counts the frames 0..count-1 arriving on zcxs,
// byte for byte; exit status 0 when all arrived.
pid_t start_listener(std::uint64_t count, int ready_fd)
{
    pid_t pid = ::fork();
    if (pid != 0)
        return pid;
    if (!enter_namespace(kNsA))
        _exit(2);
    int fd = ::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    struct sockaddr_ll at {};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ALL);
    at.sll_ifindex = static_cast<int>(if_nametoindex("zcxs"));
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0)
        _exit(3);
    struct timeval timeout {1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int buffer_bytes = 64 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_bytes, sizeof buffer_bytes);
    char byte = 1;
    if (::write(ready_fd, &byte, 1) != 1)
        _exit(4);
    std::vector<std::uint8_t> seen(count, 0);
    std::vector<std::byte> frame(2048), expected;
    std::uint64_t good = 0, bad = 0;
    while (good < count) {
        ssize_t n = ::recv(fd, frame.data(), frame.size(), 0);
        if (n < 0)
            break; // a second without frames
        zc::frames::Flow flow{};
        std::uint64_t sequence = 0;
        if (!zc::frames::parse(frame.data(), static_cast<std::uint32_t>(n), &flow, &sequence) || sequence >= count) {
            ++bad;
            continue;
        }
        build_frame(expected, sequence, false);
        if (static_cast<std::size_t>(n) != expected.size() || std::memcmp(frame.data(), expected.data(), n) != 0 ||
            seen[sequence]++)
            ++bad;
        else
            ++good;
    }
    std::printf("-- zcxs received %" PRIu64 " of %" PRIu64 " frames, %" PRIu64 " bad\n", good, count,
                bad);
    std::fflush(stdout);
    _exit(good == count && bad == 0 ? 0 : 1);
}

void transmit_test(const char* title, std::uint32_t flags, std::uint64_t count)
{
    int ready[2];
    if (::pipe(ready) != 0)
        return;
    pid_t listener = start_listener(count, ready[1]);
    ::close(ready[1]);
    char byte;
    check(::read(ready[0], &byte, 1) == 1, "transmit: the listener did not start");
    ::close(ready[0]);

    zc_device_config config = make_config(flags);
    zc_device* device = nullptr;
    zc_error error{};
    int rc = zc_device_open("zc:zcxd", &config, &device, &error);
    check(rc == 0, "%s: open zc:zcxd: %d %s", title, rc, error.message);
    if (rc != 0) {
        ::kill(listener, SIGKILL);
        ::waitpid(listener, nullptr, 0);
        return;
    }
    // Receiving needs the XDP program; transmitting alone does not.
    bool receives = (flags & ZC_DEVICE_RX) != 0;
    check((xdp_state("zcxd").prog_id != 0) == receives, "%s: XDP program %s while open", title,
          receives ? "missing" : "attached");
    zc_cluster* pool = zc_device_cluster(device);
    std::vector<std::byte> frame;
    std::uint64_t sequence = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    // All but the last frame through tx_alloc/send_burst, the last through inject.
    while (sequence + 1 < count && std::chrono::steady_clock::now() < deadline) {
        std::uint32_t buffers[32], lengths[32];
        std::uint32_t want = static_cast<std::uint32_t>(std::min<std::uint64_t>(32, count - 1 - sequence));
        std::uint32_t n = zc_device_tx_alloc(device, buffers, want);
        for (std::uint32_t i = 0; i < n; ++i) {
            build_frame(frame, sequence + i, false);
            std::memcpy(zc_buffer_data(pool, buffers[i]), frame.data(), frame.size());
            lengths[i] = static_cast<std::uint32_t>(frame.size());
        }
        std::uint32_t sent = zc_device_send_burst(device, buffers, lengths, n);
        if (sent < n)
            zc_pool_release_burst(pool, buffers + sent, n - sent);
        sequence += sent;
        // Paced: zcxs takes the frames through the backlog of netif_rx, which
        // holds net.core.netdev_max_backlog (1000) frames per CPU.
        ::usleep(sent == 0 ? 100 : 200);
    }
    build_frame(frame, count - 1, false);
    rc = -EAGAIN;
    while (rc == -EAGAIN && std::chrono::steady_clock::now() < deadline) {
        rc = zc_device_inject(device, frame.data(), static_cast<std::uint32_t>(frame.size()));
        if (rc == -EAGAIN)
            ::usleep(100);
    }
    check(rc == 0, "%s: inject: %d", title, rc);
    // Let the kernel send what waits, and take the completions back.
    for (int i = 0; i < 50; ++i) {
        std::uint32_t none = 0;
        zc_device_tx_alloc(device, &none, 0);
        ::usleep(10000);
    }
    int status = 0;
    ::waitpid(listener, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: not every frame arrived in %s intact", title, kNsA);
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    zc_device_get_stats(device, &stats);
    check(stats.sent == count, "%s: stats say %" PRIu64 " sent, %" PRIu64 " failed", title, stats.sent,
          stats.send_failed);
    check_pool(device, title);
    note("%s: %s, %" PRIu64 " frames sent (%" PRIu64 " refused while the TX ring was full)", title,
         zc_device_mode(device), stats.sent, stats.send_failed);
    zc_device_close(device);
    check(xdp_gone("zcxd"), "%s: an XDP program is left after close", title);
}

// Releasing a buffer twice, or one never received, must not put it on a
// fill ring twice: the driver ignores it and the pool stays consistent.
void double_release_test()
{
    Sender sender = Sender::start("zcxs", 0, 64, false);
    zc_device_config config = make_config(ZC_DEVICE_RX);
    config.snaplen = 100;
    zc_device* device = nullptr;
    zc_error error{};
    if (zc_device_open("zc:zcxd", &config, &device, &error) != 0) {
        check(false, "double release: open: %s", error.message);
        sender.finish();
        return;
    }
    sender.release();
    check(sender.finish() == 0, "double release: the sender failed");
    // The selectable fd (epoll over the sockets) reports the waiting frames.
    struct pollfd readable {zc_device_selectable_fd(device), POLLIN, 0};
    check(::poll(&readable, 1, 2000) == 1 && (readable.revents & POLLIN),
          "selectable fd: not readable with frames waiting");
    zc_packet packets[64];
    std::uint32_t got = 0;
    for (int i = 0; i < 300 && got < 64; ++i) {
        got += zc_device_recv_burst(device, packets + got, 64 - got);
        if (got < 64)
            zc_device_wait(device, 10);
    }
    check(got == 64, "double release: %u of 64 frames arrived", got);
    std::uint32_t cut = 0;
    for (std::uint32_t i = 0; i < got; ++i)
        if (packets[i].caplen != std::min<std::uint32_t>(packets[i].len, 100) ||
            packets[i].len < zc::frames::frame_bytes(zc::frames::kMinSize))
            ++cut;
    check(cut == 0, "snaplen: %u packets with caplen other than min(len, 100)", cut);
    zc_device_release_burst(device, packets, got);
    zc_device_release_burst(device, packets, got); // again: ignored
    zc_packet stranger = packets[0];
    stranger.buffer = 1u << 30; // not a buffer of this pool
    zc_device_release_burst(device, &stranger, 1);
    check_pool(device, "double release");
    note("double release: %u buffers released twice and one stranger, pool still consistent", got);
    zc_device_close(device);
}

// An interface whose driver has no native XDP (ifb): the driver falls
// back to generic XDP by itself.
void fallback_test()
{
    if (run(std::string("ip -n ") + kNsB + " link add zcxifb type ifb 2>/dev/null") != 0 ||
        run(std::string("ip -n ") + kNsB + " link set zcxifb up") != 0) {
        note("generic fallback: no ifb interfaces here; not checked");
        return;
    }
    zc_device_config config = make_config(ZC_DEVICE_RX);
    zc_device* device = nullptr;
    zc_error error{};
    int rc = zc_device_open("zc:zcxifb", &config, &device, &error);
    check(rc == 0, "generic fallback: open zc:zcxifb: %d %s", rc, error.message);
    if (rc == 0) {
        XdpState state = xdp_state("zcxifb");
        check(state.attach_mode == XDP_ATTACHED_SKB, "generic fallback: zcxifb has %s XDP, not generic",
              attach_mode_name(state.attach_mode));
        note("generic fallback: zcxifb opened with %s XDP, %s", attach_mode_name(state.attach_mode),
             zc_device_mode(device));
        zc_device_close(device);
        check(xdp_gone("zcxifb"), "generic fallback: an XDP program is left after close");
    }
    run(std::string("ip -n ") + kNsB + " link del zcxifb");
}

// ------------------------------------------------------------ kill, errors

void kill_test()
{
    int ready[2];
    if (::pipe(ready) != 0)
        return;
    pid_t child = ::fork();
    if (child == 0) {
        ::close(ready[0]);
        zc_device_config config = make_config(ZC_DEVICE_RX);
        zc_device* device = nullptr;
        char result = zc_device_open("zc:zcxd", &config, &device, nullptr) == 0 ? 'y' : 'n';
        if (::write(ready[1], &result, 1) != 1)
            _exit(1);
        for (;;)
            ::pause();
    }
    ::close(ready[1]);
    char result = 'n';
    check(::read(ready[0], &result, 1) == 1 && result == 'y', "kill: the child could not open zc:zcxd");
    ::close(ready[0]);
    XdpState before = xdp_state("zcxd");
    check(before.prog_id != 0 && promiscuity("zcxd") == 1, "kill: no XDP program or promiscuity while open");
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    check(xdp_gone("zcxd"), "kill: XDP program %u is left on zcxd after SIGKILL", before.prog_id);
    check(promiscuity("zcxd") == 0, "kill: zcxd stays promiscuous after SIGKILL");
    note("kill: XDP program %u attached while open, gone after SIGKILL; promiscuity back to 0", before.prog_id);
}

void expect_error(const char* title, const char* name, int code, const char* words)
{
    zc_device_config config = make_config(ZC_DEVICE_RX);
    zc_device* device = nullptr;
    zc_error error{};
    int rc = zc_device_open(name, &config, &device, &error);
    check(rc == code && error.code == code && std::strstr(error.message, words) != nullptr,
          "%s: %s gave %d '%s', wanted %d and '%s'", title, name, rc, error.message, code, words);
    note("%s: %d: %s", title, rc, error.message);
    if (rc == 0)
        zc_device_close(device);
}

void error_tests(const char* self)
{
    {
        zc_device_config config = make_config(ZC_DEVICE_RX);
        config.frame_count = 100; // 4 queues need at least 256
        zc_device* device = nullptr;
        zc_error error{};
        int rc = zc_device_open("zc:zcxd", &config, &device, &error);
        check(rc == -EINVAL && std::strstr(error.message, "do not suit 4 AF_XDP socket(s)"),
              "too few buffers: %d %s", rc, error.message);
        note("too few buffers: %d: %s", rc, error.message);
        if (rc == 0)
            zc_device_close(device);
    }
    expect_error("no such interface", "zc:zcxnope", -ENODEV, "zcxnope: no such interface");

    // A queue another AF_XDP socket holds: the bind fails after UMEM and
    // program exist, and everything opened so far is closed again.
    {
        zc_device_config config = make_config(ZC_DEVICE_RX);
        zc_device* holder = nullptr;
        zc_error error{};
        check(zc_device_open("zc:zcxd@0", &config, &holder, &error) == 0, "queue taken: %s", error.message);
        zc_device_config sender_config = make_config(ZC_DEVICE_TX);
        zc_device* second = nullptr;
        int rc = zc_device_open("zc:zcxd@0", &sender_config, &second, &error);
        check(rc == -EBUSY && std::strstr(error.message, "queue 0 is already bound to another AF_XDP socket"),
              "queue taken: %d %s", rc, error.message);
        note("queue taken: %d: %s", rc, error.message);
        if (rc == 0)
            zc_device_close(second);
        zc_device_close(holder);
        check(xdp_gone("zcxd") && promiscuity("zcxd") == 0, "queue taken: something left after close");
    }
    expect_error("queue out of range", "zc:zcxd@9", -EINVAL, "zcxd has 4 RX queues");

    run(std::string("ip -n ") + kNsB + " link set zcxd down");
    expect_error("interface down", "zc:zcxd", -ENETDOWN, "zcxd: interface is down");
    run(std::string("ip -n ") + kNsB + " link set zcxd up");
    check(xdp_state("zcxd").prog_id == 0 && promiscuity("zcxd") == 0, "errors: something left after failures");

    // Another XDP program: ours, loaded and attached the old way (netlink, no link).
    bpf_object* object = bpf_object__open_mem(zc_xdp_object, zc::kmod::xdp_object_size(), nullptr);
    int attached = -1;
    if (object && bpf_object__load(object) == 0) {
        int fd = bpf_program__fd(bpf_object__find_program_by_name(object, ZC_XDP_PROGRAM));
        attached = bpf_xdp_attach(static_cast<int>(if_nametoindex("zcxd")), fd, XDP_FLAGS_SKB_MODE, nullptr);
    }
    check(attached == 0, "busy: cannot attach a foreign XDP program: %d", attached);
    if (attached == 0) {
        std::string words = "another XDP program (id " + std::to_string(xdp_state("zcxd").prog_id) + ") is attached";
        expect_error("another XDP program", "zc:zcxd", -EBUSY, words.c_str());
        check(xdp_state("zcxd").prog_id != 0, "busy: the foreign program was removed");
        bpf_xdp_detach(static_cast<int>(if_nametoindex("zcxd")), XDP_FLAGS_SKB_MODE, nullptr);
    }
    if (object)
        bpf_object__close(object);
    check(xdp_gone("zcxd"), "busy: the foreign program would not go");

    // No privileges: this program again, as nobody, in this namespace.
    int output[2];
    if (::pipe(output) != 0)
        return;
    pid_t child = ::fork();
    if (child == 0) {
        ::dup2(output[1], STDOUT_FILENO);
        ::close(output[0]);
        ::close(output[1]);
        ::execlp("setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", self, "--open",
                 "zc:zcxd", static_cast<char*>(nullptr));
        _exit(127);
    }
    ::close(output[1]);
    char text[512] = {};
    std::size_t used = 0;
    for (ssize_t n; (n = ::read(output[0], text + used, sizeof text - 1 - used)) > 0;)
        used += static_cast<std::size_t>(n);
    ::close(output[0]);
    ::waitpid(child, nullptr, 0);
    std::string expected =
        std::to_string(-EPERM) + " zcxd: AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (run as root)";
    check(std::strncmp(text, expected.c_str(), expected.size()) == 0, "no privileges: as nobody: '%s'", text);
    note("no privileges (as nobody): %s", text);
    check(xdp_state("zcxd").prog_id == 0 && promiscuity("zcxd") == 0, "errors: something left after failures");
}

// --open NAME: opens, prints "<rc> <message>", closes. For the privilege check.
int open_and_report(const char* name)
{
    zc_device_config config = make_config(ZC_DEVICE_RX);
    zc_device* device = nullptr;
    zc_error error{};
    int rc = zc_device_open(name, &config, &device, &error);
    std::printf("%d %s\n", rc, rc == 0 ? zc_device_mode(device) : error.message);
    if (rc == 0)
        zc_device_close(device);
    return rc == 0 ? 0 : 1;
}

// ------------------------------------------------------------ rate

// Receives with nothing but recv_burst and release_burst (what a capture
// loop does at least) and reports the rate: sender, veth and receiver share
// the machine's CPUs, so read it as a floor, not as the driver's ceiling.
void rate_test(const char* title, std::uint32_t flags, std::uint64_t count)
{
    Sender sender = Sender::start("zcxs", 0, count, true);
    zc_device_config config = make_config(flags);
    zc_device* device = nullptr;
    zc_error error{};
    if (zc_device_open("zc:zcxd", &config, &device, &error) != 0) {
        check(false, "rate: open: %s", error.message);
        sender.finish();
        return;
    }
    cpu_set_t before;
    ::sched_getaffinity(0, sizeof before, &before);
    pin_to_cpu(1);
    auto start = std::chrono::steady_clock::now();
    sender.release();
    zc_packet packets[64];
    std::uint64_t received = 0;
    std::chrono::steady_clock::time_point first{}, last{};
    auto idle_since = std::chrono::steady_clock::now();
    while (received < count) {
        std::uint32_t n = zc_device_recv_burst(device, packets, 64);
        if (n == 0) {
            if (std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(1))
                break;
            continue; // spin, as a capture loop at full rate does
        }
        last = idle_since = std::chrono::steady_clock::now();
        if (received == 0)
            first = last;
        received += n;
        zc_device_release_burst(device, packets, n);
    }
    int sent_ok = sender.finish();
    ::sched_setaffinity(0, sizeof before, &before);
    double send_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double seconds = std::chrono::duration<double>(last - first).count();
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    zc_device_get_stats(device, &stats);
    note("rate (%s, %s): %" PRIu64 " of %" PRIu64 " 64-byte frames in %.3f s = %.2f Mpps; kernel dropped %" PRIu64
         " (interface counters: %" PRIu64 "); the sender took %.3f s",
         title, zc_device_mode(device), received, count, seconds, seconds > 0 ? received / seconds / 1e6 : 0.0,
         stats.dropped, stats.if_dropped, send_seconds);
    check(sent_ok == 0, "rate: the sender failed");
    check(received + stats.dropped == count, "rate: %" PRIu64 " received + %" PRIu64 " dropped != %" PRIu64 " sent",
          received, stats.dropped, count);
    check_pool(device, "rate");
    zc_device_close(device);
}

} // namespace

int main(int argc, char** argv)
{
    std::uint64_t frames = 2000;
    std::uint64_t rate = 0;
    static const struct option options[] = {{"frames", required_argument, nullptr, 'n'},
                                            {"rate", required_argument, nullptr, 'r'},
                                            {"open", required_argument, nullptr, 'o'},
                                            {"help", no_argument, nullptr, 'h'},
                                            {nullptr, 0, nullptr, 0}};
    for (int c; (c = getopt_long(argc, argv, "n:r:h", options, nullptr)) != -1;) {
        switch (c) {
        case 'n': frames = std::strtoull(optarg, nullptr, 10); break;
        case 'r': rate = std::strtoull(optarg, nullptr, 10); break;
        case 'o': return open_and_report(optarg);
        default:
            std::printf("usage: %s [--frames N] [--rate N]   (as root; see the comment at the top)\n", argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    if (::geteuid() != 0) {
        std::printf("SKIP: needs root (network namespaces, XDP)\n");
        return 77;
    }
    if (frames == 0 || frames > 1000000) {
        std::printf("--frames must be 1 to 1000000\n");
        return 2;
    }
    char self[4096] = {};
    if (::readlink("/proc/self/exe", self, sizeof self - 1) < 0)
        return 99;

    // Every log line of the library, INFO included: it says which fallbacks
    // (generic XDP, copy mode) were taken and why.
    zc_set_log_handler([](zc_log_level level, const char* message, void*) {
        if (level <= ZC_LOG_INFO)
            std::printf("   zc: %s\n", message);
    }, nullptr);
    ::signal(SIGINT, on_signal);
    ::signal(SIGTERM, on_signal);
    if (!create_namespaces() || !enter_namespace(kNsB)) {
        delete_namespaces();
        return 99;
    }
    // Frames 0..N-1 on zcxs, N..2N-1 on zcxs2: never more than the rings hold
    // at once, so nothing may be lost.
    // Every descriptor opened is closed again: count them around the tests.
    auto open_fds = [] {
        std::string command = "ls /proc/" + std::to_string(::getpid()) + "/fd | wc -l";
        FILE* pipe = ::popen(command.c_str(), "r");
        int count = -1;
        if (pipe && std::fscanf(pipe, "%d", &count) != 1)
            count = -1;
        if (pipe)
            ::pclose(pipe);
        return count;
    };
    int fds_before = open_fds();
    const std::vector<Expect> one{{"zcxs", 0, 0, frames}};
    receive_test("native", "zc:zcxd", ZC_DEVICE_RX, one, kQueues, true);
    receive_test("generic", "zc:zcxd", ZC_DEVICE_RX | ZC_DEVICE_SKB_MODE, one, kQueues, true);
    receive_test("copy mode asked", "zc:zcxd", ZC_DEVICE_RX | ZC_DEVICE_COPY_MODE, one, kQueues, true);
    receive_test("queue 1 only", "zc:zcxd@1", ZC_DEVICE_RX, one, 1, false);
    receive_test("aggregate", "zc:zcxd,zcxd2", ZC_DEVICE_RX,
                 {{"zcxs", 0, 0, frames}, {"zcxs2", 1, frames, frames}}, kQueues + 1, true);
    receive_test("busy poll", "zc:zcxd", ZC_DEVICE_RX | ZC_DEVICE_BUSY_POLL, one, kQueues, true);
    transmit_test("transmit and receive", ZC_DEVICE_RX | ZC_DEVICE_TX, frames);
    transmit_test("transmit only", ZC_DEVICE_TX, frames);
    double_release_test();
    fallback_test();
    kill_test();
    error_tests(self);
    if (rate > 0) {
        rate_test("native XDP", ZC_DEVICE_RX, rate);
        rate_test("generic XDP", ZC_DEVICE_RX | ZC_DEVICE_SKB_MODE, rate);
    }

    int fds_after = open_fds();
    check(fds_before > 0 && fds_after == fds_before, "%d file descriptors open before the tests, %d after",
          fds_before, fds_after);

    delete_namespaces();
    std::printf("afxdp smoke: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// The AF_XDP driver (zc:IFACE), as root, between the two network
// namespaces of this run (netns.hpp), joined by two veth pairs:
//
//   namespace a: a0 (4 queues), a1   ──veth──   namespace b: b0, b1 (tests run here)
//
//   receive   frames sent from namespace a with an AF_PACKET socket arrive,
//             each once, byte for byte, in native XDP, generic XDP, one
//             queue (zc:b0@1: the other queues' frames pass to the stack)
//             and an aggregate (zc:b0,b1: port says which interface);
//             descriptors, buffers and metadata agree; stats add up; the
//             pool accounts for every buffer;
//   transmit  frames sent with tx_alloc/send_burst and inject arrive in
//             namespace a, with and without receive (no XDP program when
//             only sending);
//   fallback  an interface without native XDP (ifb) gets generic XDP;
//   release   buffers released twice, or not ours, are ignored; snaplen
//             cuts caplen; the selectable fd reports waiting frames;
//   cleanup   after close and after SIGKILL of a process that had the
//             device open, no XDP program is left and promiscuity is as
//             before;
//   errors    too few buffers, no such interface, a queue another socket
//             holds, queue out of range, interface down, another XDP
//             program attached, no privileges; no descriptor stays open
//             after any test (NetworkTest).

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "../../kmod/objects.hpp"
#include "../../kmod/zc_xdp.h"
#include "netns.hpp"

namespace zc::test {
namespace {

// No test may hang: each gets 30 s, then the program fails (netns.hpp).
[[maybe_unused]] const bool bounded = bound_each_test(30);

constexpr std::uint32_t kQueues = 4;
constexpr std::uint32_t kFlows = 16;
constexpr std::uint64_t kFrames = 2000; // never more than the rings hold at once: nothing may be lost

struct Network {
    Network()
    {
        mount_bpffs();
        // Every log line of the library, INFO included: it says which
        // fallbacks (generic XDP, copy mode) were taken and why.
        zc_set_log_handler(
            [](zc_log_level level, const char* message, void*) {
                if (level <= ZC_LOG_INFO)
                    std::printf("   zc: %s\n", message);
            },
            nullptr);
    }
    ~Network() { zc_set_log_handler(nullptr, nullptr); }

    NetnsPair pair;
    NetnsPair::Veth four = pair.add_veth(kQueues);
    NetnsPair::Veth one = pair.add_veth(1);
    EnterNetns inside{pair.b()};
};

class AfXdpTest : public NetworkTest<Network> {
protected:
    static std::string device_name(const std::string& interfaces) { return "zc:" + interfaces; }
    static Opened open(const std::string& interfaces, const zc_device_config& config)
    {
        return open_device(device_name(interfaces), config);
    }
};

Bytes frame_of(std::uint64_t sequence) { return test_frame(sequence, kFlows); }

// A child in namespace a that sends frames [first, first + count) from
// `interface` once told to go. Forked before the device is opened, so it
// holds none of the device's descriptors (nor its XDP link).
Child start_sender(const std::string& interface, std::uint64_t first, std::uint64_t count, const std::string& netns)
{
    return Child(
        [=] {
            // Through the qdisc layer, which picks a TX queue — so a veth RX
            // queue — by flow hash and spreads the flows over every queue.
            RawSocket out(interface, RawSocket::Direction::Send);
            for (std::uint64_t sequence = first; sequence < first + count; ++sequence)
                if (!out.send(frame_of(sequence)))
                    return 1;
            return 0;
        },
        netns, Child::Start::OnGo);
}

// ------------------------------------------------------------ XDP state

struct XdpState {
    std::uint32_t prog_id = 0;
    std::uint8_t attach_mode = 0;
};

XdpState xdp_state(const std::string& interface)
{
    XdpState state;
    LIBBPF_OPTS(bpf_xdp_query_opts, query);
    unsigned ifindex = ::if_nametoindex(interface.c_str());
    if (ifindex != 0 && bpf_xdp_query(static_cast<int>(ifindex), 0, &query) == 0) {
        state.prog_id = query.prog_id;
        state.attach_mode = query.attach_mode;
    }
    return state;
}

// Waits up to two seconds for the kernel to drop an XDP program (a dead
// process's link goes asynchronously).
bool xdp_gone(const std::string& interface)
{
    for (int i = 0; i < 200; ++i) {
        if (xdp_state(interface).prog_id == 0)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// No XDP program, not promiscuous: what a closed or failed device leaves.
void expect_interface_clean(const std::string& interface)
{
    EXPECT_TRUE(xdp_gone(interface)) << "an XDP program is left on " << interface;
    EXPECT_EQ(promiscuity(interface), 0u) << interface << " stays promiscuous";
}

// The XDP program's per-queue counters, summed over CPUs and queues, read
// through the program attached to `interface` (its map ids).
struct XdpCounters {
    bool found = false;
    std::uint64_t packets = 0, redirected = 0, passed = 0;
};

XdpCounters xdp_counters(const std::string& interface)
{
    XdpCounters total;
    std::uint32_t id = xdp_state(interface).prog_id;
    zc::UniqueFd prog(id ? bpf_prog_get_fd_by_id(id) : -1);
    if (!prog)
        return total;
    std::uint32_t map_ids[8] = {};
    struct bpf_prog_info info {};
    info.nr_map_ids = 8;
    info.map_ids = reinterpret_cast<std::uint64_t>(map_ids);
    std::uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(prog.get(), &info, &length) != 0)
        return total;
    const int cpus = libbpf_num_possible_cpus();
    for (std::uint32_t m = 0; m < info.nr_map_ids && m < 8; ++m) {
        zc::UniqueFd map(bpf_map_get_fd_by_id(map_ids[m]));
        struct bpf_map_info map_info {};
        std::uint32_t map_length = sizeof map_info;
        if (!map || bpf_obj_get_info_by_fd(map.get(), &map_info, &map_length) != 0 ||
            std::strcmp(map_info.name, ZC_XDP_COUNTER_MAP) != 0)
            continue;
        std::vector<zc_xdp_counters> values(static_cast<std::size_t>(cpus));
        for (std::uint32_t key = 0; key < map_info.max_entries; ++key)
            if (bpf_map_lookup_elem(map.get(), &key, values.data()) == 0)
                for (const zc_xdp_counters& v : values) {
                    total.packets += v.packets;
                    total.redirected += v.redirected;
                    total.passed += v.passed;
                }
        total.found = true;
    }
    return total;
}

// Every buffer is on the free list or with the device (fill ring, kernel):
// the caller released all it received.
void expect_pool_consistent(zc_device* device)
{
    zc_pool_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(zc_pool_check(zc_device_cluster(device), &report), 0) << report.first_error;
    EXPECT_EQ(report.errors, 0u) << report.first_error;
    EXPECT_EQ(report.by_kind[ZC_OWNER_WORKER], 0u) << "buffers still held";
    EXPECT_EQ(report.by_kind[ZC_OWNER_FREE] + report.by_kind[ZC_OWNER_DEVICE], report.total)
        << "buffers unaccounted: " << report.by_kind[ZC_OWNER_FREE] << " free + "
        << report.by_kind[ZC_OWNER_DEVICE] << " device of " << report.total;
}

// ------------------------------------------------------------ receive

struct Expect {
    std::string interface; // sent from (in namespace a)
    std::uint16_t port;    // expected zc_packet.port
    std::uint64_t first;
    std::uint64_t count;
};

struct Received {
    std::uint64_t packets = 0, bytes = 0;
    std::uint64_t strangers = 0, duplicates = 0, mismatched = 0, bad_view = 0;
};

// Whether a packet's view and the pool agree: data is the buffer's, the
// descriptor address maps back to it, the metadata sits at the frame's
// start and says what the packet says, and the caller owns the buffer.
bool view_agrees(zc_cluster* pool, const zc_cluster_info& info, const zc_packet& p)
{
    const auto* base = static_cast<const std::byte*>(zc_cluster_pool_base(pool));
    std::uint32_t back = ~0u;
    if (p.buffer >= info.frame_count)
        return false;
    const zc_buffer_meta* meta = zc_buffer_meta_of(pool, p.buffer);
    return p.data == static_cast<const std::uint8_t*>(zc_buffer_data(pool, p.buffer)) &&
           zc_buffer_from_addr(pool, zc_buffer_addr(pool, p.buffer), &back) == 0 && back == p.buffer &&
           reinterpret_cast<const std::byte*>(meta) == base + std::uint64_t{p.buffer} * info.frame_size &&
           meta->length == p.len && meta->timestamp_ns == p.timestamp_ns && meta->port == p.port &&
           p.caplen == p.len && p.timestamp_ns != 0 && zc_buffer_owner(pool, p.buffer) >> 24 == ZC_OWNER_WORKER;
}

// Receives on `device` until `want` frames arrived or `idle_ms` passed
// since the last one, checking each against what the senders sent.
Received receive(zc_device* device, const std::vector<Expect>& expects, std::uint64_t want, int idle_ms)
{
    Received got;
    zc_cluster* pool = zc_device_cluster(device);
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    zc_cluster_get_info(pool, &info);
    std::uint64_t end = 0;
    for (const Expect& e : expects)
        end = std::max(end, e.first + e.count);
    std::vector<std::uint8_t> seen(end, 0);
    zc_packet packets[64];
    auto last = Clock::now();
    while (got.packets + got.strangers < want) {
        std::uint32_t n = zc_device_recv_burst(device, packets, 64);
        if (n == 0) {
            if (Clock::now() - last > std::chrono::milliseconds(idle_ms))
                break;
            zc_device_wait(device, 50);
            continue;
        }
        last = Clock::now();
        for (std::uint32_t i = 0; i < n; ++i) {
            const zc_packet& p = packets[i];
            got.bad_view += !view_agrees(pool, info, p);
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
            const Bytes expected = frame_of(sequence);
            if (!from || from->port != p.port || p.caplen != expected.size() ||
                std::memcmp(p.data, expected.data(), expected.size()) != 0)
                ++got.mismatched;
            got.duplicates += seen[sequence]++ != 0;
            ++got.packets;
            got.bytes += p.len;
        }
        zc_device_release_burst(device, packets, n);
    }
    return got;
}

struct ReceiveCase {
    const char* title;
    std::uint32_t flags;
    int queue;      // >= 0: zc:b0@queue, the other queues' frames pass to the stack
    bool aggregate; // zc:b0,b1
};

class AfXdpReceiveTest : public AfXdpTest, public ::testing::WithParamInterface<ReceiveCase> {};

TEST_P(AfXdpReceiveTest, EveryFrameArrivesOnceByteForByte)
{
    const ReceiveCase c = GetParam();
    const Network& n = net();
    std::vector<Expect> expects{{n.four.a, 0, 0, kFrames}};
    if (c.aggregate)
        expects.push_back({n.one.a, 1, kFrames, kFrames});
    std::vector<Child> senders;
    senders.reserve(expects.size());
    for (const Expect& e : expects)
        senders.push_back(start_sender(e.interface, e.first, e.count, n.pair.a()));
    std::string name = n.four.b;
    if (c.queue >= 0)
        name += "@" + std::to_string(c.queue);
    if (c.aggregate)
        name += "," + n.one.b;
    Opened opened = open(name, device_config(c.flags));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_EQ(promiscuity(n.four.b), 1u) << n.four.b << " is not promiscuous while open";
    if (c.aggregate) {
        EXPECT_EQ(promiscuity(n.one.b), 1u) << n.one.b << " is not promiscuous while open";
    }

    const std::uint64_t want = kFrames * expects.size();
    for (Child& sender : senders)
        sender.go();
    const bool all_expected = c.queue < 0;
    Received got = receive(device, expects, all_expected ? want : ~0ull, all_expected ? 3000 : 1000);
    for (Child& sender : senders)
        EXPECT_EQ(sender.join(), 0) << "a sender failed";
    const zc_device_stats stats = stats_of(device);
    const XdpCounters counters = xdp_counters(n.four.b);
    std::printf("-- %s: %s, XDP attach mode %u: %llu of %llu frames, XDP redirected %llu, passed %llu\n", c.title,
                zc_device_mode(device), xdp_state(n.four.b).attach_mode,
                static_cast<unsigned long long>(got.packets), static_cast<unsigned long long>(want),
                static_cast<unsigned long long>(counters.redirected), static_cast<unsigned long long>(counters.passed));

    if (all_expected) {
        EXPECT_EQ(got.packets, want) << "frames lost";
    } else {
        ASSERT_TRUE(counters.found) << "no XDP counters";
        EXPECT_GT(got.packets, 0u) << "nothing arrived on queue " << c.queue;
        EXPECT_EQ(counters.packets, want) << "the XDP program did not see every frame";
        EXPECT_EQ(counters.redirected, got.packets) << "redirected frames did not all arrive";
        EXPECT_EQ(counters.passed, want - got.packets) << "the other queues' frames did not pass to the stack";
    }
    EXPECT_EQ(got.strangers, 0u) << "frames nobody sent";
    EXPECT_EQ(got.duplicates, 0u);
    EXPECT_EQ(got.mismatched, 0u) << "frames that differ from what was sent, or on the wrong port";
    EXPECT_EQ(got.bad_view, 0u) << "packets whose view, buffer or metadata disagree";
    EXPECT_EQ(stats.packets, got.packets + got.strangers);
    EXPECT_GE(stats.bytes, got.bytes);
    EXPECT_EQ(stats.dropped, 0u);
    expect_pool_consistent(device);

    opened.device.reset();
    expect_interface_clean(n.four.b);
    expect_interface_clean(n.one.b);
}

INSTANTIATE_TEST_SUITE_P(Modes, AfXdpReceiveTest,
                         ::testing::Values(ReceiveCase{"Native", ZC_DEVICE_RX, -1, false},
                                           ReceiveCase{"Generic", ZC_DEVICE_RX | ZC_DEVICE_SKB_MODE, -1, false},
                                           ReceiveCase{"CopyModeAsked", ZC_DEVICE_RX | ZC_DEVICE_COPY_MODE, -1, false},
                                           ReceiveCase{"QueueOneOnly", ZC_DEVICE_RX, 1, false},
                                           ReceiveCase{"Aggregate", ZC_DEVICE_RX, -1, true},
                                           ReceiveCase{"BusyPoll", ZC_DEVICE_RX | ZC_DEVICE_BUSY_POLL, -1, false}),
                         [](const ::testing::TestParamInfo<ReceiveCase>& test) { return test.param.title; });

// ------------------------------------------------------------ transmit

class AfXdpTransmitTest : public AfXdpTest, public ::testing::WithParamInterface<std::uint32_t> {};

// All but the last frame through tx_alloc/send_burst, the last through
// inject; a listener in namespace a checks that each arrives once, intact.
TEST_P(AfXdpTransmitTest, SentFramesArriveIntact)
{
    const std::uint32_t flags = GetParam();
    const Network& n = net();
    Child listener(
        [&] {
            RawSocket in(n.four.a, RawSocket::Direction::Receive);
            Child::report(1);
            std::vector<std::uint8_t> seen(kFrames, 0);
            std::uint64_t good = 0, bad = 0;
            Bytes frame;
            while (good < kFrames && in.receive(frame, 1000)) {
                zc::frames::Flow flow{};
                std::uint64_t sequence = 0;
                if (zc::frames::parse(reinterpret_cast<const std::byte*>(frame.data()),
                                      static_cast<std::uint32_t>(frame.size()), &flow, &sequence) &&
                    sequence < kFrames && frame == frame_of(sequence) && seen[sequence]++ == 0)
                    ++good;
                else
                    ++bad;
            }
            std::printf("-- listener: %llu of %llu frames, %llu bad\n", static_cast<unsigned long long>(good),
                        static_cast<unsigned long long>(kFrames), static_cast<unsigned long long>(bad));
            return good == kFrames && bad == 0 ? 0 : 1;
        },
        n.pair.a());
    ASSERT_EQ(listener.wait_report(5000), 1) << "the listener did not start";

    Opened opened = open(n.four.b, device_config(flags));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    // Receiving needs the XDP program; transmitting alone does not.
    const bool receives = (flags & ZC_DEVICE_RX) != 0;
    EXPECT_EQ(xdp_state(n.four.b).prog_id != 0, receives) << "XDP program attached: " << !receives;
    zc_cluster* pool = zc_device_cluster(device);
    std::uint64_t sequence = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (sequence + 1 < kFrames && Clock::now() < deadline) {
        std::uint32_t buffers[32], lengths[32];
        const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(32, kFrames - 1 - sequence));
        std::uint32_t got = zc_device_tx_alloc(device, buffers, want);
        for (std::uint32_t i = 0; i < got; ++i) {
            const Bytes frame = frame_of(sequence + i);
            std::memcpy(zc_buffer_data(pool, buffers[i]), frame.data(), frame.size());
            lengths[i] = static_cast<std::uint32_t>(frame.size());
        }
        std::uint32_t sent = zc_device_send_burst(device, buffers, lengths, got);
        if (sent < got)
            zc_pool_release_burst(pool, buffers + sent, got - sent);
        sequence += sent;
        // Paced: the far end takes the frames through the backlog of
        // netif_rx, which holds net.core.netdev_max_backlog (1000) per CPU.
        ::usleep(sent == 0 ? 100 : 200);
    }
    const Bytes last = frame_of(kFrames - 1);
    int rc = -EAGAIN;
    while (rc == -EAGAIN && Clock::now() < deadline) {
        rc = zc_device_inject(device, last.data(), static_cast<std::uint32_t>(last.size()));
        if (rc == -EAGAIN)
            ::usleep(100);
    }
    EXPECT_EQ(rc, 0) << "inject";
    EXPECT_EQ(listener.join(), 0) << "not every frame arrived intact in namespace a";
    // Take the completions back: every buffer comes home once the kernel sent it.
    for (int i = 0; i < 100 && stats_of(device).sent < kFrames; ++i) {
        std::uint32_t none = 0;
        zc_device_tx_alloc(device, &none, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::uint32_t none = 0;
    zc_device_tx_alloc(device, &none, 0);
    EXPECT_EQ(stats_of(device).sent, kFrames);
    expect_pool_consistent(device);
    opened.device.reset();
    expect_interface_clean(n.four.b);
}

INSTANTIATE_TEST_SUITE_P(Modes, AfXdpTransmitTest, ::testing::Values(ZC_DEVICE_RX | ZC_DEVICE_TX, ZC_DEVICE_TX),
                         [](const ::testing::TestParamInfo<std::uint32_t>& test) {
                             return test.param & ZC_DEVICE_RX ? "WithReceive" : "TransmitOnly";
                         });

// ------------------------------------------------------------ release, fallback, kill

// Releasing a buffer twice, or one never received, must not put it on a
// fill ring twice: the driver ignores it and the pool stays consistent.
// With snaplen 100; the selectable fd reports the waiting frames.
TEST_F(AfXdpTest, DoubleAndStrangerReleasesAreIgnored)
{
    constexpr std::uint32_t kCount = 64;
    const Network& n = net();
    Child sender = start_sender(n.four.a, 0, kCount, n.pair.a());
    zc_device_config config = device_config(ZC_DEVICE_RX);
    config.snaplen = 100;
    Opened opened = open(n.four.b, config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    sender.go();
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    struct pollfd readable = {zc_device_selectable_fd(device), POLLIN, 0};
    EXPECT_EQ(::poll(&readable, 1, 2000), 1) << "the selectable fd is not readable with frames waiting";
    zc_packet packets[kCount];
    std::uint32_t got = 0;
    for (int i = 0; i < 300 && got < kCount; ++i) {
        got += zc_device_recv_burst(device, packets + got, kCount - got);
        if (got < kCount)
            zc_device_wait(device, 10);
    }
    ASSERT_EQ(got, kCount);
    for (const zc_packet& p : packets) {
        EXPECT_GE(p.len, zc::frames::frame_bytes(zc::frames::kMinSize));
        EXPECT_EQ(p.caplen, std::min<std::uint32_t>(p.len, 100)) << "snaplen 100";
    }
    zc_device_release_burst(device, packets, got);
    zc_device_release_burst(device, packets, got); // again: ignored
    zc_packet stranger = packets[0];
    stranger.buffer = 1u << 30; // not a buffer of this pool
    zc_device_release_burst(device, &stranger, 1);
    expect_pool_consistent(device);
}

// An interface whose driver has no native XDP (ifb): the driver falls back
// to generic XDP by itself.
TEST_F(AfXdpTest, InterfaceWithoutNativeXdpGetsGenericXdp)
{
    const std::string ifb = net().pair.interface_name("ifb");
    if (run({"ip", "link", "add", ifb, "type", "ifb"}) != 0) {
        GTEST_SKIP() << "no ifb interfaces here (modprobe ifb)";
    }
    struct Remove {
        const std::string& name;
        ~Remove() { run({"ip", "link", "del", name}); }
    } remove{ifb};
    ASSERT_EQ(run({"ip", "link", "set", ifb, "up"}), 0);
    Opened opened = open(ifb, device_config(ZC_DEVICE_RX));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    EXPECT_EQ(xdp_state(ifb).attach_mode, XDP_ATTACHED_SKB) << "not generic XDP";
    opened.device.reset();
    EXPECT_TRUE(xdp_gone(ifb)) << "an XDP program is left after close";
}

TEST_F(AfXdpTest, SigkillLeavesNoXdpProgramNorPromiscuity)
{
    const std::string name = device_name(net().four.b);
    Child holder([&] {
        Opened opened = open_device(name, device_config(ZC_DEVICE_RX));
        Child::report(opened.device ? 'y' : 'n');
        for (;;)
            ::pause();
        return 0;
    });
    ASSERT_EQ(holder.wait_report(5000), 'y') << "the child could not open " << name;
    EXPECT_NE(xdp_state(net().four.b).prog_id, 0u) << "no XDP program while open";
    EXPECT_EQ(promiscuity(net().four.b), 1u) << "not promiscuous while open";
    EXPECT_EQ(holder.join(0), -1) << "the child was to be killed"; // SIGKILL
    expect_interface_clean(net().four.b);
}

// ------------------------------------------------------------ errors

// Opens `name` and expects it to fail with `code` and a message that says `words`.
void expect_error(const std::string& name, int code, const std::string& words,
                  zc_device_config config = device_config(ZC_DEVICE_RX))
{
    Opened opened = open_device(name, config);
    EXPECT_EQ(opened.device, nullptr);
    EXPECT_EQ(opened.rc, code) << opened.message;
    EXPECT_EQ(opened.code, code);
    EXPECT_NE(opened.message.find(words), std::string::npos) << "'" << opened.message << "' lacks '" << words << "'";
}

TEST_F(AfXdpTest, TooFewBuffersIsEINVAL)
{
    zc_device_config config = device_config(ZC_DEVICE_RX);
    config.frame_count = 100; // 4 queues need at least 256
    expect_error(device_name(net().four.b), -EINVAL, "do not suit 4 AF_XDP socket(s)", config);
    expect_interface_clean(net().four.b);
}

TEST_F(AfXdpTest, NoSuchInterfaceIsENODEV)
{
    const std::string missing = net().pair.interface_name("none");
    expect_error(device_name(missing), -ENODEV, missing + ": no such interface");
}

// The bind fails after UMEM and program exist: everything opened so far
// is closed again.
TEST_F(AfXdpTest, QueueAnotherSocketHoldsIsEBUSY)
{
    const std::string name = device_name(net().four.b) + "@0";
    Opened holder = open_device(name, device_config(ZC_DEVICE_RX));
    ASSERT_EQ(holder.rc, 0) << holder.message;
    expect_error(name, -EBUSY, "queue 0 is already bound to another AF_XDP socket",
                 device_config(ZC_DEVICE_TX));
    holder.device.reset();
    expect_interface_clean(net().four.b);
}

// Two devices of one process on one interface (zc-balance --threads with
// zc:IF@0 and zc:IF@1): the second takes the first's XDP program instead of
// calling it foreign; the program stays while either is open and goes with
// the last.
TEST_F(AfXdpTest, DevicesOfOneProcessShareTheInterfacesProgram)
{
    const std::string& interface = net().four.b;
    Opened first = open_device(device_name(interface) + "@0", device_config(ZC_DEVICE_RX));
    ASSERT_EQ(first.rc, 0) << first.message;
    Opened second = open_device(device_name(interface) + "@1", device_config(ZC_DEVICE_RX));
    ASSERT_EQ(second.rc, 0) << second.message;
    first.device.reset();
    EXPECT_FALSE(xdp_gone(interface)) << "the first device's close took the program the second uses";
    second.device.reset();
    expect_interface_clean(interface);
}

TEST_F(AfXdpTest, QueueOutOfRangeIsEINVAL)
{
    expect_error(device_name(net().four.b) + "@9", -EINVAL, net().four.b + " has 4 RX queues");
    expect_interface_clean(net().four.b);
}

TEST_F(AfXdpTest, InterfaceDownIsENETDOWN)
{
    {
        InterfaceDown down(net().four.b);
        expect_error(device_name(net().four.b), -ENETDOWN, net().four.b + ": interface is down");
    }
    expect_interface_clean(net().four.b);
}

// Another XDP program: zc's own, loaded and attached the old way (netlink,
// no link), is somebody else's to zc.
TEST_F(AfXdpTest, AnotherXdpProgramIsEBUSY)
{
    const std::string& interface = net().four.b;
    const int ifindex = static_cast<int>(::if_nametoindex(interface.c_str()));
    std::unique_ptr<bpf_object, void (*)(bpf_object*)> object(
        bpf_object__open_mem(zc_xdp_object, zc::kmod::xdp_object_size(), nullptr), bpf_object__close);
    ASSERT_NE(object, nullptr);
    ASSERT_EQ(bpf_object__load(object.get()), 0);
    const int fd = bpf_program__fd(bpf_object__find_program_by_name(object.get(), ZC_XDP_PROGRAM));
    ASSERT_EQ(bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, nullptr), 0) << "cannot attach a foreign XDP program";
    const std::uint32_t foreign = xdp_state(interface).prog_id;
    expect_error(device_name(interface), -EBUSY,
                 "another XDP program (id " + std::to_string(foreign) + ") is attached");
    EXPECT_EQ(xdp_state(interface).prog_id, foreign) << "zc removed the foreign program";
    bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, nullptr);
    object.reset();
    expect_interface_clean(interface);
}

TEST_F(AfXdpTest, WithoutPrivilegesIsEPERM)
{
    const std::string& interface = net().four.b;
    Opened opened = open_as_nobody(device_name(interface), device_config(ZC_DEVICE_RX));
    EXPECT_EQ(opened.rc, -EPERM) << opened.message;
    EXPECT_EQ(opened.message, interface + ": AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_PERFMON (run as root)");
    expect_interface_clean(interface);
}

} // namespace
} // namespace zc::test

// SPDX-License-Identifier: BSD-3-Clause
//
// zc_device_forward_burst: received frames sent out of another interface of
// the same device from the buffers they arrived in. As root, between the two
// network namespaces of this run (netns.hpp), joined by two veth pairs:
//
//   namespace a                     namespace b (the tests run here)
//   sender   ──► a0 ══veth══ b0 ─┐
//                                zc:b0,b1 (AF_XDP, or zc:afpacket:b0,b1)
//   listener ◄── a1 ══veth══ b1 ◄┘         forwards port 0 → port 1
//
// (and the other way round: a1 → b1 → b0 → a0). b0 has 4 queues and b1 one,
// so the frames of b0's queues 1-3 go out of b1's queue 0 (the fallback)
// and b1's out of b0's queue 0 (the same queue).
//
// Checked: every forwarded frame arrives at the listener once, byte for
// byte, and nothing else does; forwarding half and releasing half; a TX
// ring too small for a burst (counted, nothing lost); the device closed with
// forwards in flight; a device that cannot forward (RX only, zc:synthetic):
// the capability says so and every packet is counted and comes back. Every
// AF_XDP and AF_PACKET case lends the device a pool of its own (config.pool)
// so that conservation is checked where it is strict: once the device is
// closed, every buffer is back on the pool's free list. And the stats
// struct of the first release (smaller struct_size) still works.

#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "netns.hpp"

namespace zc::test {
namespace {

// No test may hang: each gets 30 s, then the program fails (netns.hpp).
[[maybe_unused]] const bool bounded = bound_each_test(30);

constexpr std::uint32_t kFlows = 16;
constexpr std::uint64_t kFrames = 2000;             // per direction
constexpr std::uint64_t kMaxSequence = 4 * kFrames; // the listeners' tally
constexpr std::uint32_t kPoolFrames = 8192;
constexpr std::uint32_t kSmallPoolFrames = 2048; // fewer than the frames forwarded: they must be recycled

Bytes frame_of(std::uint64_t sequence) { return test_frame(sequence, kFlows); }

struct Network {
    Network() { mount_bpffs(); }
    NetnsPair pair;
    NetnsPair::Veth four = pair.add_veth(4);
    NetnsPair::Veth one = pair.add_veth(1);
    EnterNetns inside{pair.b()};
};

// ------------------------------------------------------------ a pool to lend

// A private cluster lent to the device (zc_device_config.pool), so that the
// test sees every buffer come home when the device closes.
class LentPool {
public:
    explicit LentPool(std::uint32_t frames = kPoolFrames)
    {
        zc_cluster_config config;
        zc_cluster_config_init(&config);
        config.frame_count = frames;
        config.queue_count = 0;
        config.flags = ZC_CLUSTER_PRIVATE;
        zc_error error{};
        if (zc_cluster_create(0, &config, &cluster_, &error) != 0)
            throw std::runtime_error(std::string("cannot create the pool to lend: ") + error.message);
    }
    ~LentPool() { zc_cluster_close(cluster_); }
    LentPool(const LentPool&) = delete;
    LentPool& operator=(const LentPool&) = delete;

    [[nodiscard]] zc_cluster* get() const noexcept { return cluster_; }
    zc_device_config config(std::uint32_t flags) const
    {
        zc_device_config config = device_config(flags);
        config.pool = cluster_;
        return config;
    }

private:
    zc_cluster* cluster_ = nullptr;
};

// The device is closed: every buffer is on the free list, none twice.
void expect_every_buffer_home(const LentPool& pool)
{
    zc_pool_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(zc_pool_check(pool.get(), &report), 0) << report.first_error;
    EXPECT_EQ(report.errors, 0u) << report.first_error;
    EXPECT_EQ(report.double_free, 0u);
    EXPECT_EQ(report.free_count, report.total)
        << "buffers not back after close: " << report.by_kind[ZC_OWNER_WORKER] << " worker, "
        << report.by_kind[ZC_OWNER_DEVICE] << " device, of " << report.total;
}

// While open: nothing in the caller's hands, every buffer with the device or free.
void expect_none_held(zc_device* device)
{
    zc_pool_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(zc_pool_check(zc_device_cluster(device), &report), 0) << report.first_error;
    EXPECT_EQ(report.by_kind[ZC_OWNER_WORKER], 0u) << "buffers still held (by the caller or the driver)";
    EXPECT_EQ(report.by_kind[ZC_OWNER_FREE] + report.by_kind[ZC_OWNER_DEVICE], report.total);
}

// ------------------------------------------------------------ the far side

// What a listener saw, in memory the test shares with the forked child.
struct Tally {
    std::atomic<std::uint64_t> want;    // stop after this many good frames (the parent may lower it)
    std::atomic<std::uint32_t> started; // the socket is bound
    std::atomic<std::uint64_t> good;    // read by the parent while the child counts
    std::uint64_t strangers, damaged, duplicates;
    std::uint8_t seen[kMaxSequence];
};

class SharedTally {
public:
    SharedTally()
    {
        void* memory = ::mmap(nullptr, sizeof(Tally), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED)
            throw std::runtime_error("cannot map the listener's tally");
        tally_ = new (memory) Tally{};
        tally_->want = ~0ull;
    }
    ~SharedTally() { ::munmap(tally_, sizeof(Tally)); }
    SharedTally(const SharedTally&) = delete;
    SharedTally& operator=(const SharedTally&) = delete;
    Tally* operator->() const noexcept { return tally_; }
    Tally& operator*() const noexcept { return *tally_; }

private:
    Tally* tally_;
};

// A child in namespace a that counts the frames arriving on `interface`
// (not the ones this namespace sends: PACKET_IGNORE_OUTGOING): stamped
// frames in [first, first + count) that are byte for byte what was sent,
// each once. It stops after tally.want good frames, or 1.5 s after the
// last frame, or 5 s without any.
Child start_listener(const std::string& interface, std::uint64_t first, std::uint64_t count, Tally& tally,
                     const std::string& netns)
{
    return Child(
        [&tally, interface, first, count] {
            UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
            struct sockaddr_ll address {};
            address.sll_family = AF_PACKET;
            address.sll_protocol = htons(ETH_P_ALL);
            address.sll_ifindex = static_cast<int>(::if_nametoindex(interface.c_str()));
            int ignore = 1, bytes = 64 << 20;
            if (!fd || ::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &ignore, sizeof ignore) != 0 ||
                ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
                return 2;
            ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
            tally.started = 1;
            Bytes frame(65536);
            int quiet_ms = 5000;
            while (tally.good < tally.want.load()) {
                struct pollfd entry = {fd.get(), POLLIN, 0};
                if (::poll(&entry, 1, quiet_ms) != 1)
                    break;
                quiet_ms = 1500;
                ssize_t n = ::recv(fd.get(), frame.data(), frame.size(), 0);
                if (n <= 0)
                    break;
                zc::frames::Flow flow{};
                std::uint64_t sequence = 0;
                if (!zc::frames::parse(reinterpret_cast<const std::byte*>(frame.data()), static_cast<std::uint32_t>(n),
                                       &flow, &sequence) ||
                    sequence < first || sequence >= first + count || sequence >= kMaxSequence) {
                    ++tally.strangers;
                    continue;
                }
                const Bytes expected = frame_of(sequence);
                if (static_cast<std::size_t>(n) != expected.size() ||
                    std::memcmp(frame.data(), expected.data(), expected.size()) != 0) {
                    ++tally.damaged;
                    continue;
                }
                if (tally.seen[sequence]++ != 0) {
                    ++tally.duplicates;
                    continue;
                }
                ++tally.good;
            }
            return 0;
        },
        netns);
}

bool wait_started(const Tally& tally)
{
    for (int i = 0; i < 500 && tally.started.load() == 0; ++i)
        ::usleep(10000);
    return tally.started.load() != 0;
}

// A child in namespace a that sends frames [first, first + count) from
// `interface` once told to go, paced so that no queue on the way
// overflows (the far listener's backlog holds 1000 frames per CPU).
//
// With `window_on`, a closed loop instead: it sends a frame only while fewer
// than kWindow of those it sent have not yet reached that listener, so no
// ring on the way ever holds more than kWindow of them, however the test's
// threads are scheduled (a test may then pass more frames through a device
// than its rings and pool hold, and still expect every one). It gives up,
// and fails, when the listener sees nothing for 2 s.
constexpr std::uint64_t kWindow = 128;

Child start_sender(const std::string& interface, std::uint64_t first, std::uint64_t count, const std::string& netns,
                   const Tally* window_on = nullptr)
{
    return Child(
        [=] {
            RawSocket out(interface, RawSocket::Direction::Send);
            for (std::uint64_t sequence = first; sequence < first + count; ++sequence) {
                if (window_on) {
                    for (int waited_us = 0; sequence - first >= window_on->good.load() + kWindow; waited_us += 100) {
                        if (waited_us > 2000000)
                            return 3;
                        ::usleep(100);
                    }
                } else if (sequence % 32 == 31) {
                    ::usleep(1000);
                }
                if (!out.send(frame_of(sequence)))
                    return 1;
            }
            return 0;
        },
        netns, Child::Start::OnGo);
}

// ------------------------------------------------------------ the bridge

// What to do with a received frame: forward it out of a port, or release it.
using Decide = std::function<bool(std::uint64_t sequence)>; // true: forward
inline bool forward_all(std::uint64_t) { return true; }

struct Bridged {
    std::uint64_t received = 0, forwarded = 0, queued = 0, released = 0, strangers = 0;
};

// Receives until `want` stamped frames came in or 2 s passed without one;
// forwards each frame `decide` picks out of the other port (0 ↔ 1) in one
// forward_burst per received burst, and releases the rest.
Bridged bridge(zc_device* device, std::uint64_t want, const Decide& decide)
{
    Bridged done;
    zc_packet packets[64], forward[64], release[64];
    std::uint16_t ports[64];
    auto last = Clock::now();
    while (done.received < want) {
        std::uint32_t n = zc_device_recv_burst(device, packets, 64);
        if (n == 0) {
            if (Clock::now() - last > std::chrono::seconds(2))
                break;
            zc_device_wait(device, 20);
            continue;
        }
        last = Clock::now();
        std::uint32_t forwards = 0, releases = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            zc::frames::Flow flow{};
            std::uint64_t sequence = 0;
            if (!zc::frames::parse(reinterpret_cast<const std::byte*>(packets[i].data), packets[i].caplen, &flow,
                                   &sequence)) {
                ++done.strangers;
                release[releases++] = packets[i];
                continue;
            }
            ++done.received;
            if (decide(sequence)) {
                ports[forwards] = packets[i].port == 0 ? 1 : 0;
                forward[forwards++] = packets[i];
            } else {
                release[releases++] = packets[i];
            }
        }
        done.queued += zc_device_forward_burst(device, forward, ports, forwards);
        done.forwarded += forwards;
        zc_device_release_burst(device, release, releases);
        done.released += releases;
    }
    return done;
}

// Gives the device time to take back what the kernel has sent (recv_burst
// reaps the completion rings of idle sockets), until `sent` frames arrived
// at the listener or a second passed.
void settle(zc_device* device, const Tally& tally, std::uint64_t sent)
{
    zc_packet stray[8];
    for (int i = 0; i < 110; ++i) {
        if (i < 100 && tally.good.load() >= sent)
            i = 100; // arrived: a few more rounds for the last completions
        std::uint32_t n = zc_device_recv_burst(device, stray, 8);
        EXPECT_EQ(n, 0u) << "a frame nobody sent";
        zc_device_release_burst(device, stray, n);
        ::usleep(i < 100 ? 10000 : 2000);
    }
}

struct Backend {
    const char* title;
    std::string prefix; // "zc:" or "zc:afpacket:"
    std::uint32_t flags;
};

void PrintTo(const Backend& backend, std::ostream* out) { *out << backend.title; }

class ForwardTest : public NetworkTest<Network>, public ::testing::WithParamInterface<Backend> {
protected:
    std::string name() const { return GetParam().prefix + net().four.b + "," + net().one.b; }
    std::uint32_t flags() const { return GetParam().flags; }
};

// Both directions at once: a0 → b0 → b1 → a1 and a1 → b1 → b0 → a0,
// twice as many frames as the pool has buffers, so that nothing arrives
// unless the buffers of sent frames come back to be received into again
// (the senders keep at most kWindow frames each on the way: no loss).
TEST_P(ForwardTest, EveryForwardedFrameArrivesOnceByteForByte)
{
    const Network& n = net();
    LentPool pool(kSmallPoolFrames);
    SharedTally to_one, to_four;
    to_one->want = kFrames;
    to_four->want = kFrames;
    Child listen_one = start_listener(n.one.a, 0, kFrames, *to_one, n.pair.a());
    Child listen_four = start_listener(n.four.a, kFrames, kFrames, *to_four, n.pair.a());
    ASSERT_TRUE(wait_started(*to_one) && wait_started(*to_four)) << "the listeners did not start";
    Child from_four = start_sender(n.four.a, 0, kFrames, n.pair.a(), &*to_one);
    Child from_one = start_sender(n.one.a, kFrames, kFrames, n.pair.a(), &*to_four);

    zc_device_config config = pool.config(flags());
    // Five sockets' fill rings (the buffers of sent frames go back to the
    // fill ring of the socket that sent them, up to its size) must not be
    // able to hold the whole pool: 5 x 256 of 2048.
    config.ring_size = 256;
    Opened opened = open_device(name(), config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    const std::uint32_t can = zc_device_capabilities(device);
    EXPECT_TRUE(can & ZC_DEVICE_CAN_FORWARD);
    EXPECT_TRUE(can & ZC_DEVICE_CAN_SEND);
    const bool zero_copy = std::strcmp(zc_device_mode(device), "afxdp-zerocopy") == 0;
    EXPECT_EQ((can & ZC_DEVICE_FORWARD_ZEROCOPY) != 0, zero_copy) << zc_device_mode(device);

    from_four.go();
    from_one.go();
    const Bridged done = bridge(device, 2 * kFrames, forward_all);
    EXPECT_EQ(from_four.join(), 0) << "a sender failed";
    EXPECT_EQ(from_one.join(), 0) << "a sender failed";
    settle(device, *to_one, kFrames);
    settle(device, *to_four, kFrames);
    EXPECT_EQ(listen_one.join(), 0);
    EXPECT_EQ(listen_four.join(), 0);
    const zc_device_stats stats = stats_of(device);
    std::printf("-- %s (%s): received %llu, forwarded %llu (queued %llu); arrived %llu + %llu; "
                "stats forwarded %llu, copied %llu, failed %llu\n",
                GetParam().title, zc_device_mode(device), static_cast<unsigned long long>(done.received),
                static_cast<unsigned long long>(done.forwarded), static_cast<unsigned long long>(done.queued),
                static_cast<unsigned long long>(to_one->good), static_cast<unsigned long long>(to_four->good),
                static_cast<unsigned long long>(stats.forwarded), static_cast<unsigned long long>(stats.forward_copied),
                static_cast<unsigned long long>(stats.forward_failed));

    EXPECT_EQ(done.received, 2 * kFrames) << "frames lost on the way in";
    EXPECT_EQ(done.strangers, 0u);
    EXPECT_EQ(done.queued, done.forwarded) << "forwards refused with rings that had room";
    EXPECT_EQ(to_one->good, kFrames) << "frames b0 forwarded that did not arrive behind b1";
    EXPECT_EQ(to_four->good, kFrames) << "frames b1 forwarded that did not arrive behind b0";
    for (const Tally* tally : {&*to_one, &*to_four}) {
        EXPECT_EQ(tally->duplicates, 0u);
        EXPECT_EQ(tally->damaged, 0u) << "forwarded frames that differ from what was sent";
        EXPECT_EQ(tally->strangers, 0u) << "frames out of the wrong interface, or nobody's";
    }
    EXPECT_EQ(stats.forwarded, done.queued);
    EXPECT_EQ(stats.forward_failed, 0u);
    EXPECT_EQ(stats.forward_copied, zero_copy ? 0u : stats.forwarded) << "a copy the counters do not show";
    EXPECT_EQ(stats.sent, 0u) << "forwards are not send_burst's";
    EXPECT_EQ(stats.dropped, 0u) << "frames lost for want of buffers";
    expect_none_held(device);
    opened.device.reset();
    expect_every_buffer_home(pool);
}

// Even sequences forwarded, odd ones released: exactly the even ones arrive.
TEST_P(ForwardTest, HalfForwardedHalfReleased)
{
    const Network& n = net();
    LentPool pool;
    SharedTally tally;
    tally->want = kFrames / 2;
    Child listener = start_listener(n.one.a, 0, kFrames, *tally, n.pair.a());
    ASSERT_TRUE(wait_started(*tally));
    Child sender = start_sender(n.four.a, 0, kFrames, n.pair.a());
    Opened opened = open_device(name(), pool.config(flags()));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    sender.go();
    const Bridged done = bridge(device, kFrames, [](std::uint64_t sequence) { return sequence % 2 == 0; });
    EXPECT_EQ(sender.join(), 0);
    settle(device, *tally, kFrames / 2);
    EXPECT_EQ(listener.join(), 0);
    EXPECT_EQ(done.received, kFrames);
    EXPECT_EQ(done.forwarded, kFrames / 2);
    EXPECT_EQ(done.queued, kFrames / 2);
    EXPECT_EQ(done.released, kFrames / 2);
    EXPECT_EQ(tally->good, kFrames / 2);
    std::uint64_t odd = 0;
    for (std::uint64_t s = 1; s < kFrames; s += 2)
        odd += tally->seen[s];
    EXPECT_EQ(odd, 0u) << "released frames went out";
    EXPECT_EQ(tally->duplicates + tally->damaged + tally->strangers, 0u);
    expect_none_held(device);
    opened.device.reset();
    expect_every_buffer_home(pool);
}

// A ring of 64 slots and one forward_burst of more frames than it holds:
// 64 are queued, the rest counted as failed and given back; only the 64
// arrive; nothing is lost.
TEST_P(ForwardTest, FullTxRingIsCountedAndLosesNoBuffer)
{
    constexpr std::uint32_t kRing = 64;
    constexpr std::uint64_t kSent = 200;
    const Network& n = net();
    LentPool pool;
    SharedTally tally;
    Child listener = start_listener(n.one.a, 0, kSent, *tally, n.pair.a());
    ASSERT_TRUE(wait_started(*tally));
    Child sender = start_sender(n.four.a, 0, kSent, n.pair.a());
    zc_device_config config = pool.config(flags());
    config.ring_size = kRing;
    Opened opened = open_device(name(), config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    sender.go();
    // Hold every frame, then forward them all at once.
    std::vector<zc_packet> held(kSent);
    std::uint32_t got = 0;
    for (auto quiet = Clock::now(); got < kSent && Clock::now() - quiet < std::chrono::seconds(2);) {
        std::uint32_t more = zc_device_recv_burst(device, held.data() + got, static_cast<std::uint32_t>(kSent) - got);
        if (more > 0)
            quiet = Clock::now();
        else
            zc_device_wait(device, 20);
        got += more;
    }
    EXPECT_EQ(sender.join(), 0);
    ASSERT_GT(got, kRing) << "too few frames arrived to overfill a ring";
    // The sequences, read before forwarding: the data is the device's after.
    std::vector<std::uint64_t> sequences(got, ~0ull);
    for (std::uint32_t i = 0; i < got; ++i) {
        zc::frames::Flow flow{};
        zc::frames::parse(reinterpret_cast<const std::byte*>(held[i].data), held[i].caplen, &flow, &sequences[i]);
    }
    std::vector<std::uint16_t> ports(got, 1);
    const std::uint32_t queued = zc_device_forward_burst(device, held.data(), ports.data(), got);
    const bool afxdp = GetParam().prefix == "zc:";
    if (afxdp) {
        EXPECT_EQ(queued, kRing) << "the TX ring holds " << kRing;
    } else {
        EXPECT_GT(queued, 0u);
    }
    const zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.forwarded, queued);
    EXPECT_EQ(stats.forward_failed, got - queued) << "refused forwards not counted";
    // Exactly the queued ones arrive: for AF_XDP the first kRing of the burst.
    tally->want = queued;
    settle(device, *tally, queued);
    EXPECT_EQ(listener.join(), 0);
    EXPECT_EQ(tally->good, queued);
    EXPECT_EQ(tally->duplicates + tally->damaged + tally->strangers, 0u);
    if (afxdp) {
        // One TX ring: the first kRing of the burst went out, no other.
        std::uint32_t wrong = 0;
        for (std::uint32_t i = 0; i < got; ++i)
            wrong += sequences[i] >= kSent || tally->seen[sequences[i]] != (i < kRing ? 1 : 0);
        EXPECT_EQ(wrong, 0u) << "not exactly the first " << kRing << " frames of the burst arrived";
    }
    expect_none_held(device);
    // And the device goes on: the buffers of the failed forwards came back.
    opened.device.reset();
    expect_every_buffer_home(pool);
    std::printf("-- %s: %u held, %u queued, %llu arrived\n", GetParam().title, got, queued,
                static_cast<unsigned long long>(tally->good));
}

// Forwards, then closes at once: frames may still be on the TX rings, in the
// kernel, or on the completion rings. No crash, and every buffer comes home.
TEST_P(ForwardTest, CloseWithForwardsInFlightLosesNoBuffer)
{
    const Network& n = net();
    LentPool pool;
    Child sender = start_sender(n.four.a, 0, kFrames, n.pair.a());
    Opened opened = open_device(name(), pool.config(flags()));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    sender.go();
    zc_packet packets[64];
    std::uint16_t ports[64];
    std::fill(std::begin(ports), std::end(ports), 1);
    std::uint64_t forwarded = 0;
    for (auto quiet = Clock::now(); forwarded < kFrames / 2 && Clock::now() - quiet < std::chrono::seconds(2);) {
        std::uint32_t got = zc_device_recv_burst(device, packets, 64);
        if (got == 0) {
            zc_device_wait(device, 20);
            continue;
        }
        quiet = Clock::now();
        zc_device_forward_burst(device, packets, ports, got);
        forwarded += got;
    }
    EXPECT_GT(forwarded, 0u);
    opened.device.reset(); // frames in flight, frames still arriving
    EXPECT_EQ(sender.join(), 0);
    expect_every_buffer_home(pool);
}

// Opened without ZC_DEVICE_TX: no capability, every forward fails, is
// counted, and its buffer goes back.
TEST_P(ForwardTest, ReceiveOnlyDeviceCannotForward)
{
    const Network& n = net();
    LentPool pool;
    Child sender = start_sender(n.four.a, 0, 64, n.pair.a());
    Opened opened = open_device(name(), pool.config(ZC_DEVICE_RX));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_EQ(zc_device_capabilities(device), 0u);
    sender.go();
    const Bridged done = bridge(device, 64, forward_all);
    EXPECT_EQ(sender.join(), 0);
    EXPECT_EQ(done.received, 64u);
    EXPECT_EQ(done.queued, 0u);
    const zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.forwarded, 0u);
    EXPECT_EQ(stats.forward_failed, 64u);
    expect_none_held(device);
    opened.device.reset();
    expect_every_buffer_home(pool);
}

INSTANTIATE_TEST_SUITE_P(Backends, ForwardTest,
                         ::testing::Values(Backend{"AfXdp", "zc:", ZC_DEVICE_RX | ZC_DEVICE_TX},
                                           Backend{"AfXdpCopyMode", "zc:",
                                                   ZC_DEVICE_RX | ZC_DEVICE_TX | ZC_DEVICE_COPY_MODE},
                                           Backend{"AfPacket", "zc:afpacket:", ZC_DEVICE_RX | ZC_DEVICE_TX}),
                         [](const ::testing::TestParamInfo<Backend>& test) { return test.param.title; });

// ------------------------------------------------------------ no root needed

// zc:synthetic cannot forward: the capability says so, forward_burst
// queues nothing, counts every packet, and releases its buffer (the
// stream, which stops at a held buffer, goes on).
TEST(ForwardSynthetic, CannotForwardCountsAndReleases)
{
    zc_device_config config = device_config();
    config.frame_count = 64;
    Opened opened = open_device("zc:synthetic", config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_EQ(zc_device_capabilities(device) & (ZC_DEVICE_CAN_FORWARD | ZC_DEVICE_CAN_SEND), 0u);
    std::vector<zc_packet> packets(64);
    std::uint32_t got = zc_device_recv_burst(device, packets.data(), 64);
    ASSERT_GT(got, 0u);
    EXPECT_EQ(zc_device_recv_burst(device, packets.data() + got, 1), 0u) << "the stream should stop at held buffers";
    std::vector<std::uint16_t> ports(got, 0);
    EXPECT_EQ(zc_device_forward_burst(device, packets.data(), ports.data(), got), 0u);
    const zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.forwarded, 0u);
    EXPECT_EQ(stats.forward_copied, 0u);
    EXPECT_EQ(stats.forward_failed, got);
    EXPECT_EQ(zc_device_recv_burst(device, packets.data(), got), got) << "the buffers did not come back";
    zc_device_release_burst(device, packets.data(), got);
}

// A caller built against the first release passes the smaller struct: it
// gets those fields, and nothing past them is written.
TEST(ForwardSynthetic, StatsOfTheFirstReleaseStillWork)
{
    Opened opened = open_device("zc:synthetic", device_config());
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    zc_packet packets[8];
    std::uint32_t got = zc_device_recv_burst(device, packets, 8);
    zc_device_release_burst(device, packets, got);

    constexpr std::uint32_t kFirst = offsetof(zc_device_stats, forwarded);
    zc_device_stats stats;
    std::memset(&stats, 0xab, sizeof stats);
    stats.struct_size = kFirst;
    ASSERT_EQ(zc_device_get_stats(device, &stats), 0);
    EXPECT_EQ(stats.struct_size, kFirst);
    EXPECT_EQ(stats.packets, got);
    EXPECT_EQ(stats.forwarded, 0xababababababababull) << "written past the caller's struct_size";

    stats.struct_size = sizeof stats + 16; // a newer caller: gets what this library knows
    ASSERT_EQ(zc_device_get_stats(device, &stats), 0);
    EXPECT_EQ(stats.struct_size, sizeof stats);
    EXPECT_EQ(stats.forwarded, 0u);

    stats.struct_size = kFirst - 8;
    EXPECT_EQ(zc_device_get_stats(device, &stats), -EINVAL);
}

} // namespace
} // namespace zc::test

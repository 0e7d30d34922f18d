// SPDX-License-Identifier: BSD-3-Clause
//
// zc:afpacket:IFACE, as root, with real frames through two veth pairs
// between the two network namespaces of this run (netns.hpp):
//
//   namespace a: a0, a1   ──veth──   namespace b: b0, b1 (the tests run here)
//
// IPv6 is off, so the only frames are the ones the tests send, built by
// zc::frames. Checked: frames arrive byte for byte, in order, with sane
// kernel timestamps; VLAN tags (802.1Q, 802.1ad) come back into the frame;
// a jumbo frame is cut to the pool buffer; snaplen; promiscuous mode on and
// off; an aggregate of two interfaces; frames sent through the device
// arrive at the far end and are not captured by the sender; both kinds of
// drops (pool empty, ring full) are counted; and the errors.

#include <gtest/gtest.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "netns.hpp"

namespace zc::test {
namespace {

// No test may hang: each gets 30 s, then the program fails (netns.hpp).
[[maybe_unused]] const bool bounded = bound_each_test(30);

struct Network {
    NetnsPair pair;
    NetnsPair::Veth zero = pair.add_veth(1, 4000); // room for the 3000-byte frame
    NetnsPair::Veth one = pair.add_veth(1, 4000);
    EnterNetns inside{pair.b()};
};

class AfPacketTest : public NetworkTest<Network> {
protected:
    static std::string device_name(const std::string& interfaces) { return "zc:afpacket:" + interfaces; }
    static Opened open(const std::string& interfaces, const zc_device_config& config = device_config())
    {
        return open_device(device_name(interfaces), config);
    }
    // A child in namespace a that sends `frames` from the a end of `veth`.
    static Child send_from_a(const NetnsPair::Veth& veth, std::vector<Bytes> frames)
    {
        return Child(
            [&veth, frames = std::move(frames)] {
                RawSocket out(veth.a, RawSocket::Direction::Send);
                for (std::size_t i = 0; i < frames.size(); ++i) {
                    if (!out.send(frames[i]))
                        return 1;
                    if (i % 64 == 63)
                        ::usleep(200); // stay well inside the veth backlog
                }
                return 0;
            },
            net().pair.a());
    }
};

std::vector<Bytes> test_frames(std::uint64_t first, std::uint64_t count)
{
    std::vector<Bytes> frames;
    for (std::uint64_t i = first; i < first + count; ++i)
        frames.push_back(test_frame(i));
    return frames;
}

struct Received {
    Bytes bytes;
    std::uint32_t len;
    std::uint64_t timestamp_ns;
    std::uint16_t port;
    std::uint16_t queue;
};

// Receives until `count` packets (then lingers `linger_ms` for extras) or
// `timeout_s`; copies each packet out and releases it.
std::vector<Received> receive(zc_device* device, std::size_t count, double timeout_s, int linger_ms = 100)
{
    std::vector<Received> out;
    zc_packet burst[32];
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    auto linger_until = Clock::time_point::max();
    while (Clock::now() < deadline && Clock::now() < linger_until) {
        std::uint32_t n = zc_device_recv_burst(device, burst, 32);
        for (std::uint32_t i = 0; i < n; ++i)
            out.push_back(Received{Bytes(burst[i].data, burst[i].data + burst[i].caplen), burst[i].len,
                                   burst[i].timestamp_ns, burst[i].port, burst[i].queue});
        zc_device_release_burst(device, burst, n);
        if (out.size() >= count && linger_until == Clock::time_point::max())
            linger_until = Clock::now() + std::chrono::milliseconds(linger_ms);
        if (n == 0)
            zc_device_wait(device, 10);
    }
    return out;
}

std::uint64_t realtime_now()
{
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
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

TEST_F(AfPacketTest, FramesArriveByteForByteInOrderWithKernelTimestamps)
{
    constexpr std::size_t kFrames = 2000;
    Opened opened = open(net().zero.b);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_STREQ(zc_device_mode(device), "afpacket");
    struct pollfd entry = {zc_device_selectable_fd(device), POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 50), 0) << "readable before anything was sent (the kernel is not quiet)";

    const std::uint64_t before = realtime_now();
    Child sender = send_from_a(net().zero, test_frames(0, kFrames));
    std::vector<Received> got = receive(device, kFrames, 10.0);
    const std::uint64_t after = realtime_now();
    EXPECT_EQ(sender.join(), 0) << "the sender failed";

    ASSERT_EQ(got.size(), kFrames);
    std::size_t wrong = 0, bad_time = 0;
    std::uint64_t previous = 0;
    for (std::size_t i = 0; i < kFrames; ++i) {
        Bytes expected = test_frame(i);
        if ((got[i].bytes != expected || got[i].len != expected.size() || got[i].port != 0 || got[i].queue != 0) &&
            ++wrong <= 3)
            ADD_FAILURE() << "frame " << i << ": " << got[i].bytes.size() << " bytes (len " << got[i].len
                          << "), expected " << expected.size();
        bad_time += got[i].timestamp_ns < previous || got[i].timestamp_ns < before || got[i].timestamp_ns > after;
        previous = got[i].timestamp_ns;
    }
    EXPECT_EQ(wrong, 0u) << "frames differ from what was sent, or came out of order";
    EXPECT_EQ(bad_time, 0u) << "kernel timestamps out of order or outside the test";
    zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.packets, kFrames);
    EXPECT_EQ(stats.copied, kFrames) << "AF_PACKET copies every frame into the pool, and says so";
    EXPECT_EQ(stats.dropped, 0u);
}

TEST_F(AfPacketTest, PromiscuousWhileOpenOnly)
{
    ASSERT_EQ(promiscuity(net().zero.b), 0u);
    Opened opened = open(net().zero.b);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    EXPECT_EQ(promiscuity(net().zero.b), 1u) << "not promiscuous while the device is open";
    opened.device.reset();
    EXPECT_EQ(promiscuity(net().zero.b), 0u) << "promiscuous mode did not end with the device";
}

// The kernel takes VLAN tags out of the frame; the driver puts them back.
TEST_F(AfPacketTest, VlanTagsComeBackIntoTheFrame)
{
    const Bytes q = with_tag(test_frame(5000), 0x8100, 0x2064);  // priority 1, VLAN 100
    const Bytes ad = with_tag(test_frame(5001), 0x88a8, 0x00c8); // 802.1ad, VLAN 200
    Opened opened = open(net().zero.b);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    Child sender = send_from_a(net().zero, {q, ad});
    std::vector<Received> got = receive(opened.device.get(), 2, 5.0);
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].bytes, q) << "the 802.1Q frame did not come back tagged";
    EXPECT_EQ(got[0].len, q.size());
    EXPECT_EQ(got[1].bytes, ad) << "the 802.1ad frame did not come back tagged";
    EXPECT_EQ(got[1].len, ad.size());
}

TEST_F(AfPacketTest, JumboFrameIsCutToThePoolBuffer)
{
    const Bytes jumbo = jumbo_frame(5002, 3000);
    Opened opened = open(net().zero.b);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    const std::uint32_t capacity = zc_buffer_capacity(zc_device_cluster(opened.device.get()));
    ASSERT_LT(capacity, jumbo.size());
    Child sender = send_from_a(net().zero, {jumbo});
    std::vector<Received> got = receive(opened.device.get(), 1, 5.0);
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, Bytes(jumbo.begin(), jumbo.begin() + capacity));
    EXPECT_EQ(got[0].len, 3000u);
    EXPECT_EQ(stats_of(opened.device.get()).truncated, 1u);
}

TEST_F(AfPacketTest, FramesAnotherLocalSocketSendsAreNotCaptured)
{
    Opened opened = open(net().zero.b);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    {
        RawSocket local(net().zero.b, RawSocket::Direction::Send); // this process is in namespace b
        for (std::uint64_t i = 0; i < 5; ++i)
            ASSERT_TRUE(local.send(test_frame(i)));
    }
    EXPECT_TRUE(receive(opened.device.get(), 1, 0.3).empty()) << "outgoing frames were captured";
}

TEST_F(AfPacketTest, SnaplenAndNoPromiscAreHonoured)
{
    zc_device_config config = device_config(ZC_DEVICE_NO_PROMISC);
    config.snaplen = 100;
    Opened opened = open(net().zero.b, config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    EXPECT_EQ(promiscuity(net().zero.b), 0u) << "ZC_DEVICE_NO_PROMISC did not leave the interface alone";
    Bytes big(zc::frames::frame_bytes(zc::frames::kMaxSize));
    zc::frames::build(reinterpret_cast<std::byte*>(big.data()), zc::frames::kMaxSize, zc::frames::nth(0, 1), 7);
    Child sender = send_from_a(net().zero, {big});
    std::vector<Received> got = receive(opened.device.get(), 1, 5.0);
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].bytes, Bytes(big.begin(), big.begin() + 100)) << "snaplen 100 keeps the first 100 bytes";
    EXPECT_EQ(got[0].len, 1514u);
}

TEST_F(AfPacketTest, AggregatePortIsTheInterfaceAndOrderIsKeptPerInterface)
{
    Opened opened = open(net().zero.b + "," + net().one.b);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    struct pollfd entry = {zc_device_selectable_fd(opened.device.get()), POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 20), 0) << "readable before any traffic";
    const auto& zero = net().zero;
    const auto& one = net().one;
    Child sender(
        [&] {
            RawSocket out_zero(zero.a, RawSocket::Direction::Send), out_one(one.a, RawSocket::Direction::Send);
            for (std::uint64_t i = 0; i < 100; ++i)
                if (!out_zero.send(test_frame(i)) || !out_one.send(test_frame(1000 + i)))
                    return 1;
            return 0;
        },
        net().pair.a());
    EXPECT_EQ(::poll(&entry, 1, 2000), 1) << "the selectable fd (epoll over both) did not become readable";
    std::vector<Received> got = receive(opened.device.get(), 200, 5.0);
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    EXPECT_EQ(got.size(), 200u);
    std::uint64_t next[2] = {0, 1000};
    std::size_t wrong = 0;
    for (const Received& r : got) {
        zc::frames::Flow flow{};
        std::uint64_t sequence = 0;
        zc::frames::parse(reinterpret_cast<const std::byte*>(r.bytes.data()),
                          static_cast<std::uint32_t>(r.bytes.size()), &flow, &sequence);
        const std::uint16_t port = sequence >= 1000 ? 1 : 0;
        if (r.port != port || r.queue != port || sequence != next[port] || r.bytes != test_frame(sequence))
            ++wrong;
        else
            ++next[port];
    }
    EXPECT_EQ(wrong, 0u) << "frames with the wrong port, order or bytes";
}

// ------------------------------------------------------------ transmit

class AfPacketTransmitTest : public AfPacketTest, public ::testing::WithParamInterface<std::uint32_t> {};

// Sends through the device; the far end captures with a zc device of its own.
TEST_P(AfPacketTransmitTest, SentFramesArriveAtTheFarEndAndAreNotCapturedBySender)
{
    constexpr std::uint32_t kFrames = 500;
    Opened opened = open(net().zero.b, device_config(GetParam()));
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    zc_cluster* pool = zc_device_cluster(device);
    const std::uint32_t free_at_open = zc_pool_free_count(pool);

    const std::string far_end = device_name(net().zero.a);
    Child receiver(
        [&] {
            Opened far = open_device(far_end, device_config());
            Child::report(far.device ? 'y' : 'n');
            if (!far.device)
                return 2;
            std::vector<Received> got = receive(far.device.get(), kFrames + 1, 10.0);
            std::size_t wrong = got.size() == kFrames + 1 ? 0 : 1;
            for (std::size_t i = 0; i < got.size() && i < kFrames + 1; ++i)
                wrong += got[i].bytes != test_frame(i);
            if (wrong)
                std::printf("far end: %zu frames, %zu wrong\n", got.size(), wrong);
            return wrong == 0 ? 0 : 1;
        },
        net().pair.a());
    ASSERT_EQ(receiver.wait_report(5000), 'y') << "the far end could not open " << far_end;

    std::uint32_t sent = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (sent < kFrames && Clock::now() < deadline) {
        std::uint32_t buffers[32], lengths[32];
        std::uint32_t got = zc_device_tx_alloc(device, buffers, std::min<std::uint32_t>(32, kFrames - sent));
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
    EXPECT_EQ(sent, kFrames) << "send_burst did not queue every frame";
    const Bytes last = test_frame(kFrames);
    EXPECT_EQ(zc_device_inject(device, last.data(), static_cast<std::uint32_t>(last.size())), 0);
    Bytes huge(4000);
    EXPECT_EQ(zc_device_inject(device, huge.data(), 4000), -EMSGSIZE) << "a frame larger than a buffer";
    EXPECT_EQ(receiver.join(), 0) << "the far end did not receive every frame byte for byte, in order";
    EXPECT_TRUE(receive(device, 1, 0.2).empty()) << "the sender captured its own frames";
    zc_device_stats stats = stats_of(device);
    EXPECT_EQ(stats.sent, kFrames + 1);
    EXPECT_EQ(stats.packets, 0u);
    EXPECT_EQ(zc_pool_free_count(pool), free_at_open) << "sent buffers did not come home";
}

INSTANTIATE_TEST_SUITE_P(Modes, AfPacketTransmitTest, ::testing::Values(ZC_DEVICE_RX | ZC_DEVICE_TX, ZC_DEVICE_TX),
                         [](const ::testing::TestParamInfo<std::uint32_t>& test) {
                             return test.param & ZC_DEVICE_RX ? "WithReceive" : "TransmitOnly";
                         });

// ------------------------------------------------------------ drops

// A pool of 64 buffers the test never releases: 64 delivered, the rest
// counted as dropped; capture goes on once buffers come back.
TEST_F(AfPacketTest, EmptyPoolDropsAreCountedAndCaptureResumes)
{
    zc_device_config config = device_config();
    config.frame_count = 64;
    Opened opened = open(net().zero.b, config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    zc_device* device = opened.device.get();
    EXPECT_EQ(send_from_a(net().zero, test_frames(0, 200)).join(), 0) << "the sender failed";
    std::vector<zc_packet> held;
    zc_packet burst[32];
    const auto deadline = Clock::now() + std::chrono::seconds(5);
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
    EXPECT_EQ(held.size(), 64u);
    EXPECT_EQ(stats.packets, 64u);
    EXPECT_EQ(stats.dropped, 136u);
    zc_device_release_burst(device, held.data(), static_cast<std::uint32_t>(held.size()));
    Child sender = send_from_a(net().zero, test_frames(0, 10));
    EXPECT_EQ(receive(device, 10, 5.0).size(), 10u) << "capture did not go on after the release";
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
}

// A 32 KiB ring nobody reads while 2000 frames arrive: what the kernel
// could not put in the ring is counted (tp_drops), nothing is lost unseen.
TEST_F(AfPacketTest, FullRingDropsAreCounted)
{
    constexpr std::uint64_t kFrames = 2000;
    zc_device_config config = device_config();
    config.ring_size = 8;
    Opened opened = open(net().zero.b, config);
    ASSERT_EQ(opened.rc, 0) << opened.message;
    Bytes frame(1000);
    zc::frames::build(reinterpret_cast<std::byte*>(frame.data()), 1004, zc::frames::nth(0, 1), 0);
    EXPECT_EQ(send_from_a(net().zero, std::vector<Bytes>(kFrames, frame)).join(), 0) << "the sender failed";
    std::vector<Received> got = receive(opened.device.get(), kFrames, 0.5, 0);
    zc_device_stats stats = stats_of(opened.device.get());
    EXPECT_GT(stats.dropped, 0u) << "a ring of 8 slots held 2000 frames?";
    EXPECT_EQ(stats.packets, got.size());
    EXPECT_EQ(stats.packets + stats.dropped, kFrames) << "received + dropped is not what was sent";
}

// ------------------------------------------------------------ errors

TEST_F(AfPacketTest, NoSuchInterfaceIsENODEV)
{
    Opened opened = open(net().pair.interface_name("none"));
    EXPECT_EQ(opened.device, nullptr);
    EXPECT_EQ(opened.rc, -ENODEV) << opened.message;
}

TEST_F(AfPacketTest, InterfaceDownIsENETDOWN)
{
    InterfaceDown down(net().zero.b);
    Opened opened = open(net().zero.b);
    EXPECT_EQ(opened.device, nullptr);
    EXPECT_EQ(opened.rc, -ENETDOWN) << opened.message;
}

TEST_F(AfPacketTest, InterfaceNamedTwiceIsEINVAL)
{
    Opened opened = open(net().zero.b + "," + net().zero.b);
    EXPECT_EQ(opened.device, nullptr);
    EXPECT_EQ(opened.rc, -EINVAL) << opened.message;
    EXPECT_NE(opened.message.find("named twice"), std::string::npos) << opened.message;
}

TEST_F(AfPacketTest, WithoutPrivilegesIsEPERM)
{
    Opened opened = open_as_nobody(device_name(net().zero.b), device_config());
    EXPECT_EQ(opened.rc, -EPERM) << opened.message;
    EXPECT_EQ(opened.message, net().zero.b + ": AF_PACKET needs CAP_NET_RAW (run as root)");
}

} // namespace
} // namespace zc::test

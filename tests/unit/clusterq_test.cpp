// SPDX-License-Identifier: BSD-3-Clause
//
// zc:CLUSTER@QUEUE devices (drivers/clusterq): a consumer reads a queue of a
// cluster this test owns, byte-exact and in order, and gives every buffer
// back; one consumer per queue (also after one was killed); the owner's end
// is reported; what a buggy owner puts on the ring is skipped and counted;
// a full return ring loses nothing.
//
// zc_device_open attaches clusters in the default place only, so the test
// creates its clusters in /dev/shm/zc under a random high id, and removes
// whatever is left there afterwards (a killed owner leaves its file).

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "internal/cluster.hpp" // QueueInfo and QueueSide counters, and the claim
#include "internal/wakeup.hpp"   // LookBudget
#include "zc/device.h"
#include "zc/zc.hpp"

namespace {

using zc::QueueInfo;

// An open's result; a device opened where a test expected a refusal is
// closed with it.
struct Opened {
    Opened() = default;
    Opened(Opened&& other) noexcept : rc(other.rc), error(other.error), device(std::exchange(other.device, nullptr)) {}
    Opened& operator=(Opened&&) = delete;
    ~Opened()
    {
        if (device)
            zc_device_close(device);
    }
    int rc = 0;
    zc_error error{};
    zc_device* device = nullptr;
};

Opened open_device(const std::string& name)
{
    Opened o;
    o.rc = zc_device_open(name.c_str(), nullptr, &o.device, &o.error);
    return o;
}

bool contains(const char* text, const std::string& part) { return std::strstr(text, part.c_str()) != nullptr; }

// Packet number `sequence`: its length and its bytes, so the far side can
// check every byte.
std::uint32_t length_of(std::uint64_t sequence) { return 60 + static_cast<std::uint32_t>(sequence % 1400); }

void stamp(std::byte* data, std::uint64_t sequence, std::uint32_t length)
{
    std::memcpy(data, &sequence, sizeof sequence);
    for (std::uint32_t i = sizeof sequence; i < length; ++i)
        data[i] = static_cast<std::byte>((sequence * 131 + i) & 0xff);
}

// -1 when the bytes are those of `sequence`, else the first wrong offset.
long check_stamp(const std::uint8_t* data, std::uint64_t sequence, std::uint32_t length)
{
    std::uint64_t seen = 0;
    std::memcpy(&seen, data, sizeof seen);
    if (seen != sequence)
        return 0;
    for (std::uint32_t i = sizeof sequence; i < length; ++i)
        if (data[i] != static_cast<std::uint8_t>((sequence * 131 + i) & 0xff))
            return i;
    return -1;
}

class ClusterQueueTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::random_device random;
        id = 3000000000u + static_cast<std::uint32_t>(random() % 1000000000u);
        remove_files();
    }

    void TearDown() override
    {
        for (zc_device* device : devices)
            zc_device_close(device);
        devices.clear();
        owner.reset();
        remove_files();
    }

    void remove_files() const
    {
        for (const char* directory : {"/dev/shm/zc", "/dev/hugepages/zc"})
            ::unlink((std::string(directory) + "/cluster-" + std::to_string(id)).c_str());
    }

    static zc_cluster_config config(std::uint32_t frames, std::uint32_t queues, std::uint32_t slots)
    {
        zc_cluster_config c;
        zc_cluster_config_init(&c);
        c.frame_count = frames;
        c.queue_count = queues;
        c.queue_slots = slots;
        c.flags = ZC_CLUSTER_NO_HUGEPAGES; // /dev/shm/zc, where attach looks second
        return c;
    }

    void create(std::uint32_t frames = 256, std::uint32_t queues = 3, std::uint32_t slots = 256)
    {
        owner = zc::Cluster::create(id, config(frames, queues, slots));
    }

    std::string name(std::uint32_t queue) const { return "zc:" + std::to_string(id) + "@" + std::to_string(queue); }

    // Opens and remembers (closed in TearDown unless closed before).
    zc_device* consumer(std::uint32_t queue)
    {
        Opened o = open_device(name(queue));
        EXPECT_EQ(o.rc, 0) << o.error.message;
        zc_device* device = std::exchange(o.device, nullptr);
        if (device)
            devices.push_back(device);
        return device;
    }

    void close(zc_device* device)
    {
        std::erase(devices, device);
        zc_device_close(device);
    }

    // Takes buffers from the pool, stamps packets first.. in them and puts
    // them on `queue`'s RX ring. Returns the descriptors sent.
    std::vector<zc_desc> send(zc::Queue& worker, std::uint32_t count, std::uint64_t first = 0)
    {
        std::vector<std::uint32_t> buffers(count);
        EXPECT_EQ(owner.alloc(buffers, ZC_OWNER(ZC_OWNER_WORKER, 0)), count);
        std::vector<zc_desc> descs;
        for (std::uint32_t i = 0; i < count; ++i) {
            std::uint64_t sequence = first + i;
            std::uint32_t length = length_of(sequence);
            stamp(owner.data(buffers[i]), sequence, length);
            owner.meta(buffers[i]) = zc_buffer_meta{1000000000000u + sequence, 0, length + 4, 2, 0, 0};
            descs.push_back(zc_desc{owner.addr(buffers[i]), length, 0});
        }
        EXPECT_EQ(worker.send(descs), count);
        return descs;
    }

    std::vector<zc_desc> reap(zc::Queue& worker)
    {
        std::vector<zc_desc> all;
        zc_desc descs[64];
        while (std::uint32_t got = worker.reap(descs))
            all.insert(all.end(), descs, descs + got);
        return all;
    }

    QueueInfo& info(std::uint32_t queue) { return owner.get()->queues[queue]; }
    // The consumer's own counters and claim (no control socket here: in the region).
    zc::QueueSide& side(std::uint32_t queue) { return *owner.get()->sides[queue]; }

    std::uint32_t id = 0;
    zc::Cluster owner;
    std::vector<zc_device*> devices;
};

std::uint64_t load(const std::uint64_t& counter)
{
    return std::atomic_ref<const std::uint64_t>(counter).load(std::memory_order_relaxed);
}

// Forks a child that runs `body` and then waits for SIGKILL; returns its pid
// once `body` has written its byte to the pipe (0 when it failed).
template <typename Body>
pid_t fork_and_wait_ready(Body body)
{
    int ready[2];
    if (::pipe(ready) != 0)
        return 0;
    pid_t child = ::fork();
    if (child == 0) {
        ::close(ready[0]);
        char ok = body() ? 1 : 0;
        (void)!::write(ready[1], &ok, 1);
        for (;;)
            ::pause();
    }
    ::close(ready[1]);
    char ok = 0;
    ssize_t got = ::read(ready[0], &ok, 1);
    ::close(ready[0]);
    if (got != 1 || !ok) {
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        return 0;
    }
    return child;
}

void kill_and_reap(pid_t child)
{
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
}

TEST_F(ClusterQueueTest, NoSuchCluster)
{
    Opened o = open_device(name(1));
    EXPECT_EQ(o.rc, -ENOENT);
    EXPECT_EQ(o.device, nullptr);
    EXPECT_TRUE(contains(o.error.message, "cluster " + std::to_string(id) + ": no such cluster (is zc-balance -c " +
                                              std::to_string(id) + " running?)"))
        << o.error.message;
}

TEST_F(ClusterQueueTest, MalformedClusterNames)
{
    Opened big = open_device("zc:99999999999@1");
    EXPECT_EQ(big.rc, -EINVAL);
    EXPECT_TRUE(contains(big.error.message, "is not a number from 0 to 4294967295")) << big.error.message;
    Opened queue = open_device("zc:" + std::to_string(id) + "@x");
    EXPECT_EQ(queue.rc, -EINVAL);
    EXPECT_TRUE(contains(queue.error.message, "queue 'x'")) << queue.error.message;
}

TEST_F(ClusterQueueTest, QueueOutOfRange)
{
    create(64, 5, 64);
    Opened o = open_device(name(5));
    EXPECT_EQ(o.rc, -EINVAL);
    EXPECT_TRUE(contains(o.error.message, "cluster " + std::to_string(id) + " has queues 0 to 4")) << o.error.message;
    // The claim of a refused open is not left behind.
    EXPECT_NE(consumer(4), nullptr);
}

TEST_F(ClusterQueueTest, DeliversEveryPacketInOrderAndGetsEveryBufferBack)
{
    constexpr std::uint32_t kFrames = 512;
    constexpr std::uint64_t kPackets = 100000;
    create(kFrames, 3, 128);
    zc_device* device = consumer(1);
    ASSERT_NE(device, nullptr);
    EXPECT_STREQ(zc_device_mode(device), "cluster");
    EXPECT_EQ(zc_device_cluster(device) != nullptr, true);

    // The owner's worker: stamps packets in pool buffers, sends them on queue
    // 1, reaps the return ring and recycles, checking each buffer comes back
    // once for each time it was sent.
    std::atomic<bool> stop{false};
    std::atomic<bool> worker_done{false};
    std::string worker_error;
    std::thread worker_thread;
    struct Joiner { // an ASSERT that leaves early must not leave the thread running
        std::atomic<bool>& stop;
        std::thread& thread;
        ~Joiner()
        {
            stop = true;
            if (thread.joinable())
                thread.join();
        }
    } joiner{stop, worker_thread};
    std::uint64_t worker_returned = 0;
    worker_thread = std::thread([&] {
        struct Done {
            std::atomic<bool>& done;
            ~Done() { done.store(true, std::memory_order_release); }
        } done{worker_done};
        zc::Queue worker(owner, 1, ZC_QUEUE_WORKER);
        std::vector<std::uint8_t> outstanding(kFrames, 0);
        std::vector<zc_desc> unsent;
        std::uint64_t next = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < deadline) {
            zc_desc returned[64];
            std::uint32_t got = worker.reap(returned);
            for (std::uint32_t i = 0; i < got; ++i) {
                std::uint32_t buffer = 0;
                if (zc_buffer_from_addr(owner.get(), returned[i].addr, &buffer) != 0 || !outstanding[buffer]) {
                    worker_error = "a returned descriptor names a buffer not outstanding";
                    return;
                }
                outstanding[buffer] = 0;
                owner.release({&buffer, 1});
            }
            worker_returned += got;
            if (next == kPackets && worker_returned == kPackets)
                break;
            if (unsent.empty() && next < kPackets) {
                std::uint32_t want = static_cast<std::uint32_t>(std::min<std::uint64_t>(64, kPackets - next));
                std::uint32_t buffers[64];
                std::uint32_t taken = owner.alloc({buffers, want}, ZC_OWNER(ZC_OWNER_QUEUE, 1));
                for (std::uint32_t i = 0; i < taken; ++i, ++next) {
                    std::uint32_t length = length_of(next);
                    stamp(owner.data(buffers[i]), next, length);
                    owner.meta(buffers[i]) =
                        zc_buffer_meta{1000000000000u + next, 0, length + 4, static_cast<std::uint16_t>(next % 3), 0, 0};
                    outstanding[buffers[i]] = 1;
                    unsent.push_back(zc_desc{owner.addr(buffers[i]), length, 0});
                }
            }
            if (!unsent.empty()) {
                std::uint32_t sent = worker.send(unsent);
                unsent.erase(unsent.begin(), unsent.begin() + sent);
            }
            if (got == 0 && unsent.empty())
                std::this_thread::yield();
        }
    });

    std::uint64_t expected = 0;
    std::uint64_t bytes = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    zc_packet packets[64];
    while (expected < kPackets && std::chrono::steady_clock::now() < deadline) {
        std::uint32_t got = zc_device_recv_burst(device, packets, 64);
        for (std::uint32_t i = 0; i < got; ++i, ++expected) {
            const zc_packet& p = packets[i];
            ASSERT_EQ(p.caplen, length_of(expected));
            ASSERT_EQ(p.len, length_of(expected) + 4);
            ASSERT_EQ(p.timestamp_ns, 1000000000000u + expected);
            ASSERT_EQ(p.port, expected % 3);
            ASSERT_EQ(check_stamp(p.data, expected, p.caplen), -1) << "packet " << expected;
            ASSERT_EQ(p.data, static_cast<const std::uint8_t*>(zc_buffer_data(zc_device_cluster(device), p.buffer)));
            bytes += p.len;
        }
        // Give back in two halves, to exercise partial releases.
        zc_device_release_burst(device, packets, got / 2);
        zc_device_release_burst(device, packets + got / 2, got - got / 2);
        if (got == 0) {
            ASSERT_GE(zc_device_wait(device, 100), 0);
        }
    }
    EXPECT_EQ(expected, kPackets);
    // The worker leaves once every buffer is back (or at its deadline). The
    // consumer keeps calling as a tool would: descriptors the return ring had
    // no room for wait in its stash until the next call.
    while (!worker_done.load(std::memory_order_acquire))
        ASSERT_EQ(zc_device_wait(device, 10), 0);
    worker_thread.join();
    EXPECT_EQ(worker_error, "");
    EXPECT_EQ(worker_returned, kPackets);
    EXPECT_EQ(owner.free_count(), kFrames);
    zc_pool_report report = owner.check();
    EXPECT_EQ(report.errors, 0u) << report.first_error;

    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    ASSERT_EQ(zc_device_get_stats(device, &stats), 0);
    EXPECT_EQ(stats.packets, kPackets);
    EXPECT_EQ(stats.bytes, bytes);
    EXPECT_EQ(load(side(1).received), kPackets);
    EXPECT_EQ(load(side(1).returned), kPackets);
    EXPECT_EQ(load(side(1).bad_descriptors), 0u);
}

TEST_F(ClusterQueueTest, NoTransmitAndDropsAreTheQueues)
{
    create(64, 2, 64);
    zc_device* device = consumer(0);
    ASSERT_NE(device, nullptr);
    std::uint32_t buffer = 0;
    EXPECT_EQ(zc_device_tx_alloc(device, &buffer, 1), 0u);
    EXPECT_EQ(zc_device_send_burst(device, &buffer, &buffer, 1), 0u);
    EXPECT_EQ(zc_device_inject(device, "x", 1), -EAGAIN);
    // What the balancer counts as not given to the queue is the device's
    // "dropped".
    std::atomic_ref<std::uint64_t>(info(0).dropped_full).store(17, std::memory_order_relaxed);
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    ASSERT_EQ(zc_device_get_stats(device, &stats), 0);
    EXPECT_EQ(stats.dropped, 17u);
    EXPECT_EQ(stats.packets, 0u);
}

TEST_F(ClusterQueueTest, SecondConsumerOfAQueueIsRefusedWhileTheFirstLives)
{
    create(64, 2, 64);
    zc_device* first = consumer(1);
    ASSERT_NE(first, nullptr);
    Opened second = open_device(name(1));
    EXPECT_EQ(second.rc, -EBUSY);
    EXPECT_TRUE(contains(second.error.message, "cluster " + std::to_string(id) + " queue 1 is in use by pid " +
                                                   std::to_string(::getpid())))
        << second.error.message;
    // Another queue is free.
    EXPECT_NE(consumer(0), nullptr);
    close(first);
    EXPECT_EQ(load(side(1).consumer_claim), 0u);
    EXPECT_NE(consumer(1), nullptr);
}

TEST_F(ClusterQueueTest, ClaimOfAKilledConsumerIsTakenOver)
{
    create(64, 2, 64);
    const std::string queue_name = name(1);
    pid_t child = fork_and_wait_ready([&] {
        zc_device* device = nullptr;
        return zc_device_open(queue_name.c_str(), nullptr, &device, nullptr) == 0;
    });
    ASSERT_NE(child, 0);
    Opened refused = open_device(queue_name);
    EXPECT_EQ(refused.rc, -EBUSY);
    EXPECT_TRUE(contains(refused.error.message, "in use by pid " + std::to_string(child))) << refused.error.message;
    kill_and_reap(child);
    // Its claim is still in the region, but its process is gone.
    EXPECT_EQ(static_cast<pid_t>(load(side(1).consumer_claim) >> 32), child);
    EXPECT_NE(consumer(1), nullptr);
    EXPECT_EQ(static_cast<pid_t>(load(side(1).consumer_claim) >> 32), ::getpid());
}

TEST_F(ClusterQueueTest, OwnerThatClosesEndsTheWaitAfterTheLastPacket)
{
    create(64, 2, 64);
    zc_device* device = consumer(1);
    ASSERT_NE(device, nullptr);
    EXPECT_EQ(zc_device_wait(device, 0), 0);
    {
        zc::Queue worker(owner, 1, ZC_QUEUE_WORKER);
        send(worker, 1);
    }
    owner.reset(); // marks the region dead and removes its file
    // What was queued is still delivered; then the end is reported.
    EXPECT_EQ(zc_device_wait(device, 1000), 1);
    zc_packet packet;
    ASSERT_EQ(zc_device_recv_burst(device, &packet, 1), 1u);
    EXPECT_EQ(check_stamp(packet.data, 0, packet.caplen), -1);
    zc_device_release_burst(device, &packet, 1);
    EXPECT_EQ(zc_device_wait(device, 5000), -EPIPE);
    EXPECT_EQ(zc_device_wait(device, 0), -EPIPE);
    EXPECT_EQ(zc_device_recv_burst(device, &packet, 1), 0u);
}

TEST_F(ClusterQueueTest, OwnerThatIsKilledEndsTheWait)
{
    const std::uint32_t cluster_id = id;
    pid_t child = fork_and_wait_ready([&] {
        zc_cluster* cluster = nullptr;
        zc_cluster_config c = config(64, 2, 64);
        return zc_cluster_create(cluster_id, &c, &cluster, nullptr) == 0;
    });
    ASSERT_NE(child, 0);
    zc_device* device = consumer(0);
    ASSERT_NE(device, nullptr);
    EXPECT_EQ(zc_device_wait(device, 10), 0);
    kill_and_reap(child);
    EXPECT_EQ(zc_device_wait(device, -1), -EPIPE);
    // A new consumer is told at open.
    Opened late = open_device(name(1));
    EXPECT_EQ(late.rc, -ESRCH);
    EXPECT_TRUE(contains(late.error.message, "its owner (pid " + std::to_string(child) + ") is gone"))
        << late.error.message;
}

TEST_F(ClusterQueueTest, CorruptDescriptorsAreSkippedCountedAndTheirBuffersReturned)
{
    create(64, 2, 64);
    zc_device* device = consumer(1);
    ASSERT_NE(device, nullptr);
    zc::Queue worker(owner, 1, ZC_QUEUE_WORKER);
    std::vector<zc_desc> good = send(worker, 4);
    const std::uint64_t pool_bytes = zc_cluster_pool_bytes(owner.get());
    const zc_desc corrupt[] = {
        {pool_bytes + 320, 60, 0},          // past the pool
        {~std::uint64_t{0} - 8, 60, 0},     // far past it (no overflow into range)
        {good[2].addr, 5000, 0},            // longer than a buffer: buffer 2 comes back unread
        {good[3].addr + 1700, 100, 0},      // runs past the end of its frame: buffer 3 comes back
    };
    ASSERT_EQ(worker.send(corrupt), 4u);
    // One good one after them still arrives.
    std::uint32_t buffer = 0;
    ASSERT_EQ(owner.alloc({&buffer, 1}, ZC_OWNER(ZC_OWNER_WORKER, 0)), 1u);
    stamp(owner.data(buffer), 7, length_of(7));
    owner.meta(buffer) = zc_buffer_meta{}; // no metadata: len from the descriptor, time of receipt
    const zc_desc last{owner.addr(buffer), length_of(7), 0};
    ASSERT_EQ(worker.send({&last, 1}), 1u);

    // The four good packets, then the one after the corrupt descriptors (the
    // bad-length ones name buffers 2 and 3 a second time).
    zc_packet packets[16];
    std::uint32_t got = zc_device_recv_burst(device, packets, 16);
    ASSERT_EQ(got, 5u);
    for (std::uint32_t i = 0; i < 4; ++i)
        EXPECT_EQ(check_stamp(packets[i].data, i, packets[i].caplen), -1);
    EXPECT_EQ(check_stamp(packets[4].data, 7, packets[4].caplen), -1);
    EXPECT_EQ(packets[4].len, length_of(7));
    EXPECT_GT(packets[4].timestamp_ns, 0u);
    EXPECT_EQ(load(side(1).bad_descriptors), 4u);
    EXPECT_EQ(load(side(1).received), 9u);

    // The two bad-length descriptors are back already, unread.
    std::vector<zc_desc> back = reap(worker);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].addr, good[2].addr);
    EXPECT_EQ(back[1].addr, good[3].addr + 1700);
    zc_device_release_burst(device, packets, got);
    back = reap(worker);
    ASSERT_EQ(back.size(), 5u);
    for (std::uint32_t i = 0; i < 4; ++i)
        EXPECT_EQ(back[i].addr, good[i].addr);
    EXPECT_EQ(back[4].addr, last.addr);
}

TEST_F(ClusterQueueTest, FullReturnRingLosesNoBuffer)
{
    constexpr std::uint32_t kSlots = 16;
    create(64, 2, kSlots);
    zc_device* device = consumer(1);
    ASSERT_NE(device, nullptr);
    zc::Queue worker(owner, 1, ZC_QUEUE_WORKER);
    std::vector<zc_desc> sent;
    zc_packet packets[kSlots];
    // Three rounds the worker does not reap: the first fills the return
    // ring, the next two wait in the consumer's stash.
    for (std::uint32_t round = 0; round < 3; ++round) {
        std::vector<zc_desc> descs = send(worker, kSlots, round * kSlots);
        sent.insert(sent.end(), descs.begin(), descs.end());
        ASSERT_EQ(zc_device_recv_burst(device, packets, kSlots), kSlots);
        zc_device_release_burst(device, packets, kSlots);
    }
    std::vector<zc_desc> back;
    for (int attempt = 0; attempt < 10 && back.size() < sent.size(); ++attempt) {
        std::vector<zc_desc> reaped = reap(worker);
        back.insert(back.end(), reaped.begin(), reaped.end());
        EXPECT_EQ(zc_device_wait(device, 0), 0); // retries the stash
    }
    ASSERT_EQ(back.size(), sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i)
        EXPECT_EQ(back[i].addr, sent[i].addr) << i; // each once, in order
    EXPECT_EQ(load(side(1).returned), sent.size());
}

// How long a wait looks before it sleeps follows the last sleep: a sleep
// that a look would have cut short (packets within kMaxNs), or one that
// woke late to a backlog, keeps the look; a long one that found a packet
// or two (a quiet queue), or the timeout, drops it until one of the first
// kind again.
TEST(LookBudget, FollowsWhatTheLastSleepShowed)
{
    using zc::wakeup::LookBudget;
    LookBudget budget;
    EXPECT_EQ(budget.ns(), LookBudget::kMaxNs); // a fresh consumer looks
    budget.slept(LookBudget::kMaxNs - 1, 1);
    EXPECT_EQ(budget.ns(), LookBudget::kMaxNs);
    budget.slept(LookBudget::kMaxNs, 1); // a look of kMaxNs would have missed it
    EXPECT_EQ(budget.ns(), 0u);
    budget.slept(100000000, 0); // a 100 ms timeout on a quiet queue
    EXPECT_EQ(budget.ns(), 0u);
    budget.slept(2000, 1); // traffic again: packets 2 us into the sleep
    EXPECT_EQ(budget.ns(), LookBudget::kMaxNs);
    budget.slept(400000, 1);
    EXPECT_EQ(budget.ns(), 0u);
    budget.slept(400000, LookBudget::kBacklog); // woken late (its CPU was busy) to a backlog
    EXPECT_EQ(budget.ns(), LookBudget::kMaxNs);
    budget.slept(400000, LookBudget::kBacklog - 1);
    EXPECT_EQ(budget.ns(), 0u);
}

TEST_F(ClusterQueueTest, ConsumerHoldingEveryBufferReceivesNoMoreUntilItReleases)
{
    // A buggy owner sends the same 32 buffers twice. The consumer never
    // holds more than the pool has: the second round waits on the ring.
    constexpr std::uint32_t kFrames = 32;
    create(kFrames, 2, 128);
    zc_device* device = consumer(1);
    ASSERT_NE(device, nullptr);
    zc::Queue worker(owner, 1, ZC_QUEUE_WORKER);
    std::vector<zc_desc> descs = send(worker, kFrames);
    ASSERT_EQ(worker.send(descs), kFrames);
    zc_packet packets[2 * kFrames];
    ASSERT_EQ(zc_device_recv_burst(device, packets, 2 * kFrames), kFrames);
    EXPECT_EQ(zc_device_recv_burst(device, packets + kFrames, kFrames), 0u);
    EXPECT_EQ(zc_device_wait(device, 0), 1); // they are there, held back
    zc_device_release_burst(device, packets, kFrames);
    EXPECT_EQ(zc_device_recv_burst(device, packets, 2 * kFrames), kFrames);
    zc_device_release_burst(device, packets, kFrames);
    EXPECT_EQ(reap(worker).size(), 2 * kFrames);
}

TEST_F(ClusterQueueTest, SelectableFdWakesAndWaitTimesOut)
{
    create(64, 2, 64);
    zc_device* device = consumer(1);
    ASSERT_NE(device, nullptr);
    int fd = zc_device_selectable_fd(device);
    ASSERT_GE(fd, 0);
    struct pollfd entry = {fd, POLLIN, 0};
    EXPECT_EQ(::poll(&entry, 1, 5000), 1); // the tick of an owner without a control socket
    EXPECT_EQ(zc_device_wait(device, 20), 0);
    zc::Queue worker(owner, 1, ZC_QUEUE_WORKER);
    send(worker, 1);
    EXPECT_EQ(zc_device_wait(device, -1), 1);
    zc_packet packet;
    ASSERT_EQ(zc_device_recv_burst(device, &packet, 1), 1u);
    zc_device_release_burst(device, &packet, 1);
}

} // namespace

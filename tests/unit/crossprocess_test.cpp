// SPDX-License-Identifier: BSD-3-Clause
//
// Two processes, one cluster file: descriptors and packet buffers cross the
// process boundary through the region's rings, and every one is checked.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "region_fixture.hpp"
#include "zc/zc.hpp"

namespace {

using CrossProcessTest = RegionTest;

std::uint32_t check_word(std::uint64_t sequence) { return static_cast<std::uint32_t>(sequence * 0x9e3779b97f4a7c15ull >> 32); }

// Waits for a child for at most `seconds`; kills it after that. Returns its
// exit code, or -1 if it had to be killed or died of a signal.
int wait_bounded(pid_t child, int seconds)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
        int status = 0;
        pid_t done = ::waitpid(child, &status, WNOHANG);
        if (done == child)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(child, SIGKILL);
            ::waitpid(child, &status, 0);
            return -1;
        }
        ::usleep(1000);
    }
}

// 10 million stamped descriptors, owner -> consumer on the RX ring and back
// on the return ring, through the inline rings; every one checked in order
// on both sides.
TEST_F(CrossProcessTest, TenMillionStampedDescriptorsThereAndBack)
{
    constexpr std::uint64_t kTotal = 10'000'000;
    zc_cluster_config c = config(64, 1, 1024);
    zc::Cluster owner = zc::Cluster::create(id, c);

    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::alarm(120); // never outlive a stuck parent by much
        int code = 0;
        try {
            zc::Cluster cluster = zc::Cluster::attach(id, directory.c_str());
            auto rx = cluster.rx_consumer(0);
            auto back = cluster.return_producer(0);
            std::uint64_t expected = 0;
            while (expected < kTotal) {
                std::uint32_t index = 0;
                std::uint32_t got = rx.peek(256, &index);
                if (got == 0)
                    continue;
                std::uint32_t out = 0;
                while (back.reserve(got, &out) == 0) {
                }
                for (std::uint32_t i = 0; i < got; ++i, ++expected) {
                    const zc_rx_desc& d = rx.slot(index + i);
                    if (d.addr != expected || d.len != check_word(expected) || d.wire_len != d.len + 4 ||
                        d.timestamp_ns != ~expected || d.hash != ~check_word(expected) ||
                        d.port != static_cast<std::uint16_t>(expected)) {
                        std::fprintf(stderr, "consumer: descriptor %llu arrived as %llu/%u/%u/%llu/%u/%u\n",
                                     static_cast<unsigned long long>(expected),
                                     static_cast<unsigned long long>(d.addr), d.len, d.wire_len,
                                     static_cast<unsigned long long>(d.timestamp_ns), d.hash, d.port);
                        ::_exit(1);
                    }
                    back.slot(out + i) = zc_desc{d.addr, ~d.len, 0};
                }
                rx.release(got);
                back.submit(got);
            }
        } catch (const zc::Error& e) {
            std::fprintf(stderr, "consumer: %s\n", e.what());
            code = 2;
        }
        ::_exit(code);
    }

    auto tx = owner.rx_producer(0);
    auto back = owner.return_consumer(0);
    std::mt19937 random(7);
    std::uint64_t sent = 0;
    std::uint64_t returned = 0;
    std::uint64_t errors = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(100);
    while (returned < kTotal && std::chrono::steady_clock::now() < deadline) {
        std::uint32_t index = 0;
        std::uint32_t want = static_cast<std::uint32_t>(std::min<std::uint64_t>(1 + random() % 64, kTotal - sent));
        std::uint32_t got = want ? tx.reserve_burst(want, &index) : 0;
        for (std::uint32_t i = 0; i < got; ++i, ++sent)
            tx.slot(index + i) = zc_rx_desc{sent,        check_word(sent), check_word(sent) + 4, ~sent,
                                            ~check_word(sent), static_cast<std::uint16_t>(sent), 0};
        if (got)
            tx.submit(got);
        std::uint32_t n = back.peek(256, &index);
        for (std::uint32_t i = 0; i < n; ++i, ++returned) {
            const zc_desc& d = back.slot(index + i);
            if (d.addr != returned || d.len != ~check_word(returned))
                ++errors;
        }
        back.release(n);
    }
    EXPECT_EQ(wait_bounded(child, 30), 0);
    EXPECT_EQ(sent, kTotal);
    EXPECT_EQ(returned, kTotal);
    EXPECT_EQ(errors, 0u);
}

// Real buffers: the owner fills packets in the pool and sends descriptors
// with the C API; the consumer (another process, its own mapping) checks
// the bytes in place and gives the buffers back; the owner validates and
// frees them. Every buffer comes home.
TEST_F(CrossProcessTest, PacketBuffersCrossAndComeHome)
{
    constexpr std::uint64_t kPackets = 200'000;
    constexpr std::uint32_t kFrames = 512;
    zc_cluster_config c = config(kFrames, 1, 256);
    zc::Cluster owner = zc::Cluster::create(id, c);

    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::alarm(120);
        try {
            zc::Cluster cluster = zc::Cluster::attach(id, directory.c_str());
            zc::Queue queue(cluster, 0, ZC_QUEUE_CONSUMER);
            auto* pool = static_cast<std::byte*>(zc_cluster_pool_base(cluster.get()));
            zc_desc descs[64];
            std::uint64_t expected = 0;
            while (expected < kPackets) {
                std::uint32_t got = queue.recv(descs);
                for (std::uint32_t i = 0; i < got; ++i, ++expected) {
                    std::uint64_t stamp = 0;
                    std::memcpy(&stamp, pool + descs[i].addr, sizeof stamp);
                    std::uint32_t buffer = 0;
                    if (stamp != expected || descs[i].len != 60 + expected % 1400 ||
                        zc_buffer_from_addr(cluster.get(), descs[i].addr, &buffer) != 0 ||
                        zc_buffer_meta_of(cluster.get(), buffer)->timestamp_ns != expected) {
                        std::fprintf(stderr, "consumer: packet %llu is wrong\n",
                                     static_cast<unsigned long long>(expected));
                        ::_exit(1);
                    }
                }
                std::uint32_t given = 0;
                while (given < got)
                    given += queue.give_back({descs + given, got - given});
            }
        } catch (const zc::Error& e) {
            std::fprintf(stderr, "consumer: %s\n", e.what());
            ::_exit(2);
        }
        ::_exit(0);
    }

    zc::Queue queue(owner, 0, ZC_QUEUE_WORKER);
    std::uint64_t sent = 0;
    std::uint64_t home = 0;
    std::uint32_t buffers[64];
    zc_desc descs[64];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(100);
    while (home < kPackets && std::chrono::steady_clock::now() < deadline) {
        std::uint32_t want = static_cast<std::uint32_t>(std::min<std::uint64_t>(64, kPackets - sent));
        std::uint32_t got = owner.alloc({buffers, want}, ZC_OWNER(ZC_OWNER_QUEUE, 0));
        for (std::uint32_t i = 0; i < got; ++i) {
            std::uint64_t stamp = sent + i;
            std::memcpy(owner.data(buffers[i]), &stamp, sizeof stamp);
            owner.meta(buffers[i]).timestamp_ns = stamp;
            descs[i] = zc_desc{owner.addr(buffers[i]), static_cast<std::uint32_t>(60 + stamp % 1400), 0};
        }
        std::uint32_t queued = queue.send({descs, got});
        if (queued < got) // ring full: give the rest back and try again
            owner.release({buffers + queued, got - queued});
        sent += queued;

        std::uint32_t n = queue.reap(descs);
        for (std::uint32_t i = 0; i < n; ++i)
            ASSERT_EQ(zc_buffer_from_addr(owner.get(), descs[i].addr, &buffers[i]), 0);
        home += owner.release({buffers, n});
    }
    EXPECT_EQ(wait_bounded(child, 30), 0);
    EXPECT_EQ(home, kPackets);
    EXPECT_EQ(owner.free_count(), kFrames);
    zc_pool_report report = owner.check();
    EXPECT_EQ(report.errors, 0u) << report.first_error;
    EXPECT_EQ(report.by_kind[ZC_OWNER_FREE], kFrames);
}

} // namespace

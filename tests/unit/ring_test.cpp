// SPDX-License-Identifier: BSD-3-Clause
//
// The SPSC ring on its own: sizes, empty and full, all-or-nothing reserve,
// wrap-around of the free-running indices, every batch size, cancel, and a
// two-thread stress run with stamped descriptors.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "zc/ring.hpp"

namespace {

// Ring memory for tests: cache-line aligned, freed on scope exit.
struct TestRing {
    explicit TestRing(std::uint32_t size) : size(size)
    {
        bytes = zc::ring_bytes(size, sizeof(zc_desc));
        memory = static_cast<std::byte*>(std::aligned_alloc(zc::kCacheLine, bytes));
        const char* why = nullptr;
        int rc = zc::ring_init(memory, size, sizeof(zc_desc), &why);
        EXPECT_EQ(rc, 0) << why;
    }
    ~TestRing() { std::free(memory); }
    zc::RingShared* shared() { return reinterpret_cast<zc::RingShared*>(memory); }
    std::uint32_t size;
    std::byte* memory;
    std::size_t bytes;
};

zc_desc stamp(std::uint64_t sequence)
{
    return zc_desc{sequence, static_cast<std::uint32_t>(sequence * 2654435761u), static_cast<std::uint32_t>(~sequence)};
}

void expect_stamp(const zc_desc& d, std::uint64_t sequence)
{
    ASSERT_EQ(d.addr, sequence);
    ASSERT_EQ(d.len, static_cast<std::uint32_t>(sequence * 2654435761u));
    ASSERT_EQ(d.options, static_cast<std::uint32_t>(~sequence));
}

TEST(Ring, RejectsSizesThatAreNotPowersOfTwo)
{
    alignas(zc::kCacheLine) std::byte memory[sizeof(zc::RingShared)];
    for (std::uint32_t size : {0u, 3u, 6u, 100u, 1000u, 4095u, 0x80000001u, 0xffffffffu}) {
        const char* why = nullptr;
        EXPECT_EQ(zc::ring_init(memory, size, sizeof(zc_desc), &why), -EINVAL) << size;
        ASSERT_NE(why, nullptr);
        EXPECT_NE(std::string(why).find("ring size"), std::string::npos) << why;
    }
    for (std::uint32_t shift = 0; shift <= 31; ++shift) {
        const char* why = nullptr;
        EXPECT_EQ(zc::ring_init(memory, 1u << shift, sizeof(zc_desc), &why), 0) << (1u << shift);
    }
}

TEST(Ring, RejectsMisalignedMemoryAndBadElementSize)
{
    alignas(zc::kCacheLine) std::byte memory[2 * sizeof(zc::RingShared)];
    const char* why = nullptr;
    EXPECT_EQ(zc::ring_init(memory + 8, 16, sizeof(zc_desc), &why), -EINVAL);
    EXPECT_EQ(zc::ring_init(memory, 16, 0, &why), -EINVAL);
    EXPECT_EQ(zc::ring_init(memory, 16, 6, &why), -EINVAL);
}

TEST(Ring, ValidateCatchesCorruptHeaders)
{
    TestRing ring(64);
    const char* why = nullptr;
    EXPECT_EQ(zc::ring_validate(ring.shared(), ring.bytes, sizeof(zc_desc), &why), 0);
    EXPECT_EQ(zc::ring_validate(ring.shared(), ring.bytes - 64, sizeof(zc_desc), &why), -EBADMSG);
    EXPECT_EQ(zc::ring_validate(ring.shared(), ring.bytes, 8, &why), -EBADMSG);
    ring.shared()->mask = 31;
    EXPECT_EQ(zc::ring_validate(ring.shared(), ring.bytes, sizeof(zc_desc), &why), -EBADMSG);
    ring.shared()->mask = 63;
    ring.shared()->size = 48;
    EXPECT_EQ(zc::ring_validate(ring.shared(), ring.bytes, sizeof(zc_desc), &why), -EBADMSG);
}

TEST(Ring, EmptyRingHasNothingToPeek)
{
    TestRing ring(8);
    zc::RingConsumer<> consumer(ring.shared(), ring.size);
    std::uint32_t index = 0;
    EXPECT_EQ(consumer.peek(1, &index), 0u);
    EXPECT_EQ(consumer.peek(8, &index), 0u);
    EXPECT_EQ(consumer.occupancy(), 0u);
}

TEST(Ring, FullRingReservesNothingUntilTheConsumerReleases)
{
    TestRing ring(8);
    zc::RingProducer<> producer(ring.shared(), ring.size);
    zc::RingConsumer<> consumer(ring.shared(), ring.size);
    std::uint32_t index = 0;
    ASSERT_EQ(producer.reserve(8, &index), 8u);
    for (std::uint32_t i = 0; i < 8; ++i)
        producer.slot(index + i) = stamp(i);
    producer.submit(8);
    EXPECT_EQ(producer.reserve(1, &index), 0u);
    EXPECT_EQ(producer.reserve_burst(4, &index), 0u);
    EXPECT_EQ(consumer.occupancy(), 8u);

    // Peeked but not released: still full for the producer.
    ASSERT_EQ(consumer.peek(3, &index), 3u);
    EXPECT_EQ(producer.reserve(1, &index), 0u);
    consumer.release(3);
    ASSERT_EQ(producer.reserve(3, &index), 3u);
    EXPECT_EQ(producer.reserve(1, &index), 0u);
}

TEST(Ring, ReserveIsAllOrNothingAndBurstTakesWhatFits)
{
    TestRing ring(8);
    zc::RingProducer<> producer(ring.shared(), ring.size);
    std::uint32_t index = 0;
    ASSERT_EQ(producer.reserve(6, &index), 6u);
    producer.submit(6);
    EXPECT_EQ(producer.reserve(3, &index), 0u);
    EXPECT_EQ(producer.reserve_burst(3, &index), 2u);
    EXPECT_EQ(index, 6u);
    producer.cancel(2);
    EXPECT_EQ(producer.reserve(2, &index), 2u);
}

TEST(Ring, PeekIsABurstAndCancelGivesEntriesBack)
{
    TestRing ring(16);
    zc::RingProducer<> producer(ring.shared(), ring.size);
    zc::RingConsumer<> consumer(ring.shared(), ring.size);
    std::uint32_t index = 0;
    ASSERT_EQ(producer.reserve(5, &index), 5u);
    for (std::uint32_t i = 0; i < 5; ++i)
        producer.slot(index + i) = stamp(i);
    producer.submit(5);

    ASSERT_EQ(consumer.peek(16, &index), 5u);
    consumer.cancel(2);
    consumer.release(3);
    ASSERT_EQ(consumer.peek(16, &index), 2u);
    expect_stamp(consumer.slot(index), 3);
    expect_stamp(consumer.slot(index + 1), 4);
    consumer.release(2);
    EXPECT_EQ(consumer.occupancy(), 0u);
}

// The indices run free and wrap at 2^32, not at the ring size.
TEST(Ring, IndicesWrapAroundTwoToTheThirtyTwo)
{
    TestRing ring(16);
    ring.shared()->producer = 0xfffffff0u;
    ring.shared()->consumer = 0xfffffff0u;
    zc::RingProducer<> producer(ring.shared(), ring.size);
    zc::RingConsumer<> consumer(ring.shared(), ring.size);
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    for (int round = 0; round < 10; ++round) {
        std::uint32_t index = 0;
        ASSERT_EQ(producer.reserve(11, &index), 11u);
        for (std::uint32_t i = 0; i < 11; ++i)
            producer.slot(index + i) = stamp(sent++);
        producer.submit(11);
        ASSERT_EQ(consumer.peek(16, &index), 11u);
        for (std::uint32_t i = 0; i < 11; ++i)
            expect_stamp(consumer.slot(index + i), received++);
        consumer.release(11);
    }
    EXPECT_LT(ring.shared()->producer, 0x100u); // it did wrap
}

// Every batch size from 1 to the ring size, producer and consumer alike.
TEST(Ring, EveryBatchSizeFromOneToTheRingSize)
{
    constexpr std::uint32_t kSize = 64;
    for (std::uint32_t batch = 1; batch <= kSize; ++batch) {
        TestRing ring(kSize);
        zc::RingProducer<> producer(ring.shared(), ring.size);
        zc::RingConsumer<> consumer(ring.shared(), ring.size);
        const std::uint64_t total = 5 * kSize + batch; // several wraps of the slots
        std::uint64_t sent = 0;
        std::uint64_t received = 0;
        while (received < total) {
            std::uint32_t index = 0;
            std::uint32_t want = static_cast<std::uint32_t>(std::min<std::uint64_t>(batch, total - sent));
            if (want && producer.reserve(want, &index) == want) {
                for (std::uint32_t i = 0; i < want; ++i)
                    producer.slot(index + i) = stamp(sent++);
                producer.submit(want);
            }
            std::uint32_t got = consumer.peek(batch, &index);
            ASSERT_LE(got, batch);
            for (std::uint32_t i = 0; i < got; ++i)
                expect_stamp(consumer.slot(index + i), received++);
            consumer.release(got);
            ASSERT_TRUE(got > 0 || want > 0) << "no progress at batch " << batch;
        }
        EXPECT_EQ(sent, total);
        EXPECT_EQ(consumer.occupancy(), 0u);
    }
}

// Two threads, random batch sizes on both sides, every descriptor checked.
TEST(Ring, TwoThreadsMoveStampedDescriptorsInOrder)
{
    constexpr std::uint64_t kTotal = 4'000'000;
    TestRing ring(1024);
    std::uint64_t errors = 0;
    std::thread consumer_thread([&] {
        zc::RingConsumer<> consumer(ring.shared(), ring.size);
        std::mt19937 random(2);
        std::uint64_t received = 0;
        while (received < kTotal) {
            std::uint32_t index = 0;
            std::uint32_t got = consumer.peek(1 + random() % 300, &index);
            for (std::uint32_t i = 0; i < got; ++i, ++received) {
                const zc_desc& d = consumer.slot(index + i);
                if (d.addr != received || d.options != static_cast<std::uint32_t>(~received))
                    ++errors;
            }
            consumer.release(got);
        }
    });
    zc::RingProducer<> producer(ring.shared(), ring.size);
    std::mt19937 random(1);
    std::uint64_t sent = 0;
    while (sent < kTotal) {
        std::uint32_t want = static_cast<std::uint32_t>(std::min<std::uint64_t>(1 + random() % 300, kTotal - sent));
        std::uint32_t index = 0;
        std::uint32_t got = producer.reserve_burst(want, &index);
        for (std::uint32_t i = 0; i < got; ++i)
            producer.slot(index + i) = stamp(sent++);
        producer.submit(got);
    }
    consumer_thread.join();
    EXPECT_EQ(errors, 0u);
}

// Trust: a consumer index that moves backwards or past what was published
// breaks the producer's handle, which then only looks full: nothing the
// other side writes makes it hand out a slot twice or loop.
TEST(RingTrust, ProducerRefusesAConsumerIndexItNeverMadePossible)
{
    for (std::uint32_t bad : {5u, 0x80000000u, 0xfffffff0u}) {
        TestRing ring(64);
        zc::RingProducer<> producer(ring.shared(), ring.size, 0);
        std::uint32_t index = 0;
        ASSERT_EQ(producer.reserve(64, &index), 64u);
        producer.submit(4); // 4 published, 60 reserved
        ring.shared()->consumer = bad; // past the 4 published (or backwards)
        EXPECT_EQ(producer.reserve(1, &index), 0u);
        EXPECT_TRUE(producer.broken()) << bad;
        EXPECT_EQ(producer.occupancy(), 4u) << "the last good view stays";
        ring.shared()->consumer = 4; // even an honest value later is not believed
        EXPECT_EQ(producer.reserve_burst(64, &index), 0u);
    }
    TestRing ring(64);
    zc::RingProducer<> producer(ring.shared(), ring.size, 0);
    std::uint32_t index = 0;
    ASSERT_EQ(producer.reserve(64, &index), 64u);
    producer.submit(64);
    ring.shared()->consumer = 64; // everything consumed: honest
    EXPECT_EQ(producer.reserve(64, &index), 64u);
    EXPECT_FALSE(producer.broken());
}

TEST(RingTrust, ConsumerRefusesAProducerIndexBeyondOneRing)
{
    for (std::uint32_t bad : {65u, 1000u, 0xffffffffu}) {
        TestRing ring(64);
        zc::RingConsumer<> consumer(ring.shared(), ring.size, 0);
        ring.shared()->producer = bad; // more entries than the ring has
        std::uint32_t index = 0;
        EXPECT_EQ(consumer.peek(1000, &index), 0u) << bad;
        EXPECT_TRUE(consumer.broken());
        EXPECT_EQ(consumer.occupancy(), 0u);
    }
    TestRing ring(64);
    zc::RingConsumer<> consumer(ring.shared(), ring.size, 0);
    ring.shared()->producer = 64; // a full ring: honest
    std::uint32_t index = 0;
    EXPECT_EQ(consumer.peek(1000, &index), 64u);
    consumer.release(64);
    ring.shared()->producer = 10; // backwards: 10 - 64 wraps far past one ring
    EXPECT_EQ(consumer.peek(1000, &index), 0u);
    EXPECT_TRUE(consumer.broken());
}

// A side publishes from its own record: a scribbled counter of its own is
// overwritten, not followed.
TEST(RingTrust, EachSidePublishesFromItsOwnRecord)
{
    TestRing ring(64);
    zc::RingProducer<> producer(ring.shared(), ring.size, 0);
    std::uint32_t index = 0;
    ASSERT_EQ(producer.reserve(8, &index), 8u);
    ring.shared()->producer = 12345; // someone else wrote it
    producer.submit(8);
    EXPECT_EQ(ring.shared()->producer, 8u);
    EXPECT_EQ(producer.published(), 8u);
}

} // namespace

// SPDX-License-Identifier: BSD-3-Clause
//
// The buffer pool: allocation, reference counts, owners, addresses, bad
// input counted, and conservation after random sequences of operations.

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <random>
#include <vector>

#include "region_fixture.hpp"
#include "zc/zc.hpp"

namespace {

using PoolTest = RegionTest;

void expect_consistent(const zc::Cluster& cluster)
{
    zc_pool_report report = cluster.check();
    ASSERT_EQ(report.errors, 0u) << report.first_error;
}

TEST_F(PoolTest, AllocatesEveryBufferOnceThenReportsExhaustion)
{
    zc_cluster_config c = config(100);
    zc::Cluster cluster = zc::Cluster::create(id, c);
    std::vector<std::uint32_t> buffers(150);
    EXPECT_EQ(cluster.alloc(buffers, ZC_OWNER(ZC_OWNER_WORKER, 0)), 100u);
    EXPECT_EQ(cluster.free_count(), 0u);
    std::vector<std::uint32_t> taken(buffers.begin(), buffers.begin() + 100);
    std::sort(taken.begin(), taken.end());
    EXPECT_EQ(std::adjacent_find(taken.begin(), taken.end()), taken.end()) << "a buffer was handed out twice";
    EXPECT_EQ(taken.back(), 99u);
    EXPECT_EQ(cluster.alloc(buffers, 0), 0u); // exhaustion is a count, not an error
    expect_consistent(cluster);
    EXPECT_EQ(cluster.release(taken), 100u);
    EXPECT_EQ(cluster.free_count(), 100u);
    expect_consistent(cluster);
}

TEST_F(PoolTest, FanOutReferencesRecycleOnTheLastRelease)
{
    zc_cluster_config c = config(16);
    zc::Cluster cluster = zc::Cluster::create(id, c);
    std::uint32_t buffer = 0;
    ASSERT_EQ(cluster.alloc({&buffer, 1}, ZC_OWNER(ZC_OWNER_QUEUE, 3)), 1u);
    ASSERT_EQ(zc_buffer_ref_add(cluster.get(), buffer, 2), 0); // three groups
    EXPECT_EQ(zc_buffer_refcount(cluster.get(), buffer), 3u);
    EXPECT_EQ(cluster.release({&buffer, 1}), 0u);
    EXPECT_EQ(cluster.release({&buffer, 1}), 0u);
    EXPECT_EQ(cluster.free_count(), 15u);
    expect_consistent(cluster);
    EXPECT_EQ(cluster.release({&buffer, 1}), 1u);
    EXPECT_EQ(cluster.free_count(), 16u);
    EXPECT_EQ(zc_buffer_owner(cluster.get(), buffer), ZC_OWNER(ZC_OWNER_FREE, 0));
    EXPECT_EQ(zc_buffer_ref_add(cluster.get(), buffer, 1), -EINVAL) << "a free buffer takes no reference";
    expect_consistent(cluster);
}

TEST_F(PoolTest, BadIndicesAndDoubleReleasesAreCountedAndIgnored)
{
    zc_cluster_config c = config(16);
    zc::Cluster cluster = zc::Cluster::create(id, c);
    std::uint32_t buffer = 0;
    ASSERT_EQ(cluster.alloc({&buffer, 1}, ZC_OWNER(ZC_OWNER_WORKER, 0)), 1u);
    std::uint32_t bad[] = {16, 0xffffffffu, 1000000};
    EXPECT_EQ(cluster.release(bad), 0u);
    EXPECT_EQ(cluster.release({&buffer, 1}), 1u);
    EXPECT_EQ(cluster.release({&buffer, 1}), 0u); // already free
    zc_pool_report report = cluster.check();
    EXPECT_EQ(report.errors, 0u) << report.first_error;
    EXPECT_EQ(report.bad_index, 3u);
    EXPECT_EQ(report.double_free, 1u);
    EXPECT_EQ(report.free_count, 16u);
    EXPECT_EQ(zc_buffer_ref_add(cluster.get(), 99, 1), -EINVAL);
}

TEST_F(PoolTest, AddressesMapBackToBuffersAndStayInsideThePool)
{
    zc_cluster_config c = config(64);
    zc::Cluster cluster = zc::Cluster::create(id, c);
    auto* base = static_cast<std::byte*>(zc_cluster_pool_base(cluster.get()));
    std::uint32_t capacity = zc_buffer_capacity(cluster.get());
    EXPECT_GE(capacity, 1514u + 4u) << "a full Ethernet frame must fit";
    for (std::uint32_t buffer = 0; buffer < 64; ++buffer) {
        std::uint64_t addr = cluster.addr(buffer);
        std::uint32_t back = 0;
        ASSERT_EQ(zc_buffer_from_addr(cluster.get(), addr, &back), 0);
        EXPECT_EQ(back, buffer);
        EXPECT_EQ(cluster.data(buffer), base + addr);
        auto* meta = reinterpret_cast<std::byte*>(&cluster.meta(buffer));
        EXPECT_EQ(meta, base + buffer * 2048u);
        EXPECT_LE(static_cast<std::uint64_t>(cluster.data(buffer) - base) + capacity, 64u * 2048u);
    }
    std::uint32_t back = 0;
    EXPECT_EQ(zc_buffer_from_addr(cluster.get(), 64u * 2048u, &back), -EINVAL);
    EXPECT_EQ(zc_buffer_from_addr(cluster.get(), ~0ull, &back), -EINVAL);
}

TEST_F(PoolTest, CheckFindsABrokenPool)
{
    zc_cluster_config c = config(8);
    zc::Cluster cluster = zc::Cluster::create(id, c);
    std::uint32_t buffer = 0;
    ASSERT_EQ(cluster.alloc({&buffer, 1}, ZC_OWNER(ZC_OWNER_WORKER, 0)), 1u);
    // A buffer in use that claims to be free: the check must say so.
    zc_buffer_set_owner(cluster.get(), buffer, ZC_OWNER(ZC_OWNER_FREE, 0));
    zc_pool_report report{};
    report.struct_size = sizeof report;
    EXPECT_EQ(zc_pool_check(cluster.get(), &report), -EBADMSG);
    EXPECT_GE(report.errors, 1u);
    EXPECT_NE(std::string(report.first_error), "");
}

// Random alloc / add-reference / move / release sequences against a model;
// after every step the pool accounts for every buffer.
TEST_F(PoolTest, ConservationHoldsAfterRandomSequences)
{
    constexpr std::uint32_t kFrames = 512;
    zc_cluster_config c = config(kFrames);
    zc::Cluster cluster = zc::Cluster::create(id, c);
    std::uint32_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    std::map<std::uint32_t, std::uint32_t> refs; // the model: buffer -> references
    std::vector<std::uint32_t> scratch(64);

    for (int step = 0; step < 20000; ++step) {
        switch (random() % 4) {
        case 0: { // allocate a burst
            std::uint32_t n = 1 + random() % 64;
            std::uint32_t got = cluster.alloc({scratch.data(), n}, ZC_OWNER(ZC_OWNER_WORKER, 0));
            ASSERT_EQ(got, std::min<std::uint32_t>(n, kFrames - static_cast<std::uint32_t>(refs.size())));
            for (std::uint32_t i = 0; i < got; ++i)
                ASSERT_TRUE(refs.emplace(scratch[i], 1).second) << "buffer " << scratch[i] << " handed out twice";
            break;
        }
        case 1: { // fan out one buffer to more groups
            if (refs.empty())
                break;
            auto it = std::next(refs.begin(), static_cast<long>(random() % refs.size()));
            std::uint32_t more = 1 + random() % 3;
            ASSERT_EQ(zc_buffer_ref_add(cluster.get(), it->first, more), 0);
            it->second += more;
            break;
        }
        case 2: { // move a buffer somewhere
            if (refs.empty())
                break;
            auto it = std::next(refs.begin(), static_cast<long>(random() % refs.size()));
            std::uint32_t kind = 1 + random() % (ZC_OWNER_KINDS - 1);
            zc_buffer_set_owner(cluster.get(), it->first, ZC_OWNER(kind, random() % 8));
            break;
        }
        case 3: { // release a burst, with some bad indices mixed in
            std::uint32_t n = 0;
            std::uint32_t expect_recycled = 0;
            for (std::uint32_t i = 0; i < 1 + random() % 32 && !refs.empty(); ++i) {
                if (random() % 16 == 0) {
                    scratch[n++] = kFrames + random() % 1000;
                    continue;
                }
                auto it = std::next(refs.begin(), static_cast<long>(random() % refs.size()));
                scratch[n++] = it->first;
                if (--it->second == 0) {
                    refs.erase(it);
                    ++expect_recycled;
                }
            }
            ASSERT_EQ(cluster.release({scratch.data(), n}), expect_recycled);
            break;
        }
        }
        ASSERT_EQ(cluster.free_count(), kFrames - refs.size());
        if (step % 100 == 0)
            expect_consistent(cluster);
    }
    for (auto& [buffer, count] : refs)
        for (std::uint32_t i = 0; i < count; ++i)
            cluster.release({&buffer, 1});
    EXPECT_EQ(cluster.free_count(), kFrames);
    zc_pool_report report = cluster.check();
    EXPECT_EQ(report.errors, 0u) << report.first_error;
    EXPECT_EQ(report.by_kind[ZC_OWNER_FREE], kFrames);
    EXPECT_EQ(report.double_free, 0u);
}

} // namespace

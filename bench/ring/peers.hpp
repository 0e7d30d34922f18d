// SPDX-License-Identifier: BSD-3-Clause
//
// bench/ring/peers.hpp — the three rings under test, behind one small shape,
// and the producer and consumer loops that drive any of them.
//
// Each ring type provides:
//   bytes()               memory it needs in the shared mapping
//   init(memory)          lays the ring out there (driver, before launch)
//   Producer(memory)      send(first_seq, n): stamps and enqueues n
//                         descriptors, spinning until all n are in
//   Consumer(memory)      receive(max, expect): dequeues up to max, checks
//                         each, returns how many (0 when empty)
//
// Each is used the way its own API intends: zc writes and reads the ring
// slots in place (reserve/submit, peek/release); rte_ring and boost copy
// from and into a local array, because that is their interface.

#pragma once

#include <array>
#include <cstdint>
#include <new>

#include <boost/lockfree/spsc_queue.hpp>

// DPDK 22.11's headers use ++ on volatile (deprecated in C++20) and shadow a
// struct with a function; the warnings are theirs, not ours.
#pragma GCC diagnostic push
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wdeprecated-volatile"
#else
#pragma GCC diagnostic ignored "-Wvolatile"
#endif
#pragma GCC diagnostic ignored "-Wshadow"
#include <rte_ring.h>
#include <rte_ring_elem.h>
#pragma GCC diagnostic pop

#include "harness.hpp"
#include "zc/desc.h"
#include "zc/ring.hpp"

namespace zc_bench {

// Every ring holds exactly this many descriptors.
inline constexpr std::uint32_t kSlots = 4096;
// The largest batch the copying rings stage in a local array.
inline constexpr std::uint32_t kMaxBatch = 1024;

struct ZcRing {
    static constexpr const char* name = "zc";

    static std::size_t bytes() noexcept { return zc::ring_bytes(kSlots, sizeof(zc_desc)); }
    static int init(void* memory, const char** why) noexcept
    {
        return zc::ring_init(memory, kSlots, sizeof(zc_desc), why);
    }

    class Producer {
    public:
        explicit Producer(void* memory) noexcept : ring_(static_cast<zc::RingShared*>(memory), kSlots, 0) {}

        void send(std::uint64_t seq, std::uint32_t n) noexcept
        {
            std::uint32_t index;
            while (ring_.reserve(n, &index) == 0) {
            }
            for (std::uint32_t i = 0; i < n; ++i)
                stamp(ring_.slot(index + i), seq + i);
            ring_.submit(n);
        }

    private:
        zc::RingProducer<zc_desc> ring_;
    };

    class Consumer {
    public:
        explicit Consumer(void* memory) noexcept : ring_(static_cast<zc::RingShared*>(memory), kSlots, 0) {}

        std::uint32_t receive(std::uint32_t max, Expect& expect) noexcept
        {
            std::uint32_t index;
            std::uint32_t n = ring_.peek(max, &index);
            if (n == 0)
                return 0;
            for (std::uint32_t i = 0; i < n; ++i)
                expect.check(ring_.slot(index + i));
            ring_.release(n);
            return n;
        }

    private:
        zc::RingConsumer<zc_desc> ring_;
    };
};

// DPDK rte_ring on caller memory, no EAL needed. It has the same 4096 slots
// and holds 4095 of them (RING_F_EXACT_SZ would double the slot array to
// hold 4096; one slot matters less than a different memory footprint).
struct RteRing {
    static constexpr const char* name = "rte_ring";
    static constexpr unsigned kFlags = RING_F_SP_ENQ | RING_F_SC_DEQ;

    static std::size_t bytes() noexcept
    {
        ssize_t bytes = rte_ring_get_memsize_elem(sizeof(zc_desc), kSlots);
        return bytes < 0 ? 0 : static_cast<std::size_t>(bytes);
    }
    static int init(void* memory, const char** why) noexcept
    {
        int rc = rte_ring_init(static_cast<rte_ring*>(memory), "zc-bench", kSlots, kFlags);
        if (rc != 0)
            *why = "rte_ring_init failed";
        return rc;
    }

    class Producer {
    public:
        explicit Producer(void* memory) noexcept : ring_(static_cast<rte_ring*>(memory)) {}

        void send(std::uint64_t seq, std::uint32_t n) noexcept
        {
            for (std::uint32_t i = 0; i < n; ++i)
                stamp(staged_[i], seq + i);
            while (rte_ring_sp_enqueue_bulk_elem(ring_, staged_.data(), sizeof(zc_desc), n, nullptr) == 0) {
            }
        }

    private:
        rte_ring* ring_;
        std::array<zc_desc, kMaxBatch> staged_;
    };

    class Consumer {
    public:
        explicit Consumer(void* memory) noexcept : ring_(static_cast<rte_ring*>(memory)) {}

        std::uint32_t receive(std::uint32_t max, Expect& expect) noexcept
        {
            std::uint32_t n =
                rte_ring_sc_dequeue_burst_elem(ring_, received_.data(), sizeof(zc_desc), max, nullptr);
            for (std::uint32_t i = 0; i < n; ++i)
                expect.check(received_[i]);
            return n;
        }

    private:
        rte_ring* ring_;
        std::array<zc_desc, kMaxBatch> received_;
    };
};

// boost::lockfree::spsc_queue with its storage inline (compile-time
// capacity), so the object itself can live in the shared mapping: it holds
// no pointers.
struct BoostRing {
    static constexpr const char* name = "boost";
    using Queue = boost::lockfree::spsc_queue<zc_desc, boost::lockfree::capacity<kSlots>>;

    static std::size_t bytes() noexcept { return sizeof(Queue); }
    static int init(void* memory, const char**) noexcept
    {
        new (memory) Queue();
        return 0;
    }

    class Producer {
    public:
        explicit Producer(void* memory) noexcept : queue_(static_cast<Queue*>(memory)) {}

        void send(std::uint64_t seq, std::uint32_t n) noexcept
        {
            for (std::uint32_t i = 0; i < n; ++i)
                stamp(staged_[i], seq + i);
            // push() is a burst: keep pushing the rest until the batch is in.
            std::uint32_t done = 0;
            while (done < n)
                done += static_cast<std::uint32_t>(queue_->push(staged_.data() + done, n - done));
        }

    private:
        Queue* queue_;
        std::array<zc_desc, kMaxBatch> staged_;
    };

    class Consumer {
    public:
        explicit Consumer(void* memory) noexcept : queue_(static_cast<Queue*>(memory)) {}

        std::uint32_t receive(std::uint32_t max, Expect& expect) noexcept
        {
            auto n = static_cast<std::uint32_t>(queue_->pop(received_.data(), max));
            for (std::uint32_t i = 0; i < n; ++i)
                expect.check(received_[i]);
            return n;
        }

    private:
        Queue* queue_;
        std::array<zc_desc, kMaxBatch> received_;
    };
};

// The producer side: send batches of stamped descriptors until told to stop.
template <typename Ring>
void produce(const Job& job)
{
    Control& control = *job.control;
    const std::uint32_t batch = job.batch;
    typename Ring::Producer ring(job.ring_memory);
    std::atomic_ref<std::uint32_t>(control.ready).fetch_add(1, std::memory_order_relaxed);
    while (load_relaxed(control.go) == 0) {
    }
    control.start_ns = now_ns();

    std::uint64_t seq = 0;
    while (load_relaxed(control.stop) == 0) {
        ring.send(seq, batch);
        seq += batch;
    }
    control.produced = seq;
    store_release(control.producer_done, 1); /* E, matches F */
}

// The consumer side: receive and check until every descriptor the producer
// sent has arrived.
template <typename Ring>
void consume(const Job& job)
{
    Control& control = *job.control;
    const std::uint32_t batch = job.batch;
    typename Ring::Consumer ring(job.ring_memory);
    std::atomic_ref<std::uint32_t>(control.ready).fetch_add(1, std::memory_order_relaxed);
    while (load_relaxed(control.go) == 0) {
    }

    Expect expect;
    std::uint64_t received = 0;
    for (;;) {
        std::uint32_t n = ring.receive(batch, expect);
        received += n;
        // Only an empty ring can be the end; look at the producer's flag
        // then and not on every batch.
        if (n == 0 && load_acquire(control.producer_done) != 0 /* F, matches E */ &&
            received >= control.produced)
            break;
    }
    control.end_ns = now_ns();
    control.consumed = received;
    control.mismatches = expect.mismatches;
    store_release(control.consumer_done, 1); /* G, matches H */
}

} // namespace zc_bench

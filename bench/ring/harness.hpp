// SPDX-License-Identifier: BSD-3-Clause
//
// bench/ring/harness.hpp — runs one producer and one consumer against a ring
// in shared memory, as two pinned threads or two pinned processes, and times
// them. The harness knows nothing about any ring implementation: it hands
// each side a Job and gets back counts and two timestamps.
//
// The run, written down once
// --------------------------
//
//   driver                  producer                  consumer
//   ------                  --------                  --------
//   map memory, init ring
//   launch both sides       pin, build handle,        pin, build handle,
//                           ready += 1                ready += 1
//   wait ready == 2
//   go = 1                  start_ns = now
//   sleep --seconds         send batches until stop   receive, check stamps
//   stop = 1                produced = n,
//                           producer_done = 1 (E)     ... until producer_done
//                                                     (F) and all received:
//                                                     end_ns = now,
//                                                     consumer_done = 1 (G)
//   wait consumer_done (H)
//   rate = consumed / (end_ns - start_ns)
//
//   (E) pairs with (F): the consumer reads `produced` only after the producer
//       has written it. (G) pairs with (H) in the same way for the results.
//   `ready`, `go` and `stop` are plain flags: nothing is published with them,
//   so they are relaxed.
//
// The Control block shares the mapping with the ring so that the same layout
// serves threads and forked processes.

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "zc/desc.h"

namespace zc_bench {

inline constexpr std::size_t kLine = 64;

// The driver's rendezvous with both sides; lives in the shared mapping.
struct Control {
    // Written by both sides at start.
    alignas(kLine) std::uint32_t ready;
    // Written by the driver only.
    alignas(kLine) std::uint32_t go;
    std::uint32_t stop;
    // Written by the producer only, once at start and once at the end.
    alignas(kLine) std::uint32_t producer_done;
    std::uint64_t produced;
    std::int64_t start_ns;
    // Written by the consumer only, once at the end.
    alignas(kLine) std::uint32_t consumer_done;
    std::uint64_t consumed;
    std::uint64_t mismatches;
    std::int64_t end_ns;
};

static_assert(sizeof(Control) == 4 * kLine);
static_assert(offsetof(Control, go) == kLine);
static_assert(offsetof(Control, producer_done) == 2 * kLine);
static_assert(offsetof(Control, consumer_done) == 3 * kLine);

inline std::uint32_t load_relaxed(std::uint32_t& flag) noexcept
{
    return std::atomic_ref<std::uint32_t>(flag).load(std::memory_order_relaxed);
}
inline std::uint32_t load_acquire(std::uint32_t& flag) noexcept
{
    return std::atomic_ref<std::uint32_t>(flag).load(std::memory_order_acquire);
}
inline void store_relaxed(std::uint32_t& flag, std::uint32_t value) noexcept
{
    std::atomic_ref<std::uint32_t>(flag).store(value, std::memory_order_relaxed);
}
inline void store_release(std::uint32_t& flag, std::uint32_t value) noexcept
{
    std::atomic_ref<std::uint32_t>(flag).store(value, std::memory_order_release);
}

std::int64_t now_ns() noexcept;

// What one side of a run gets: the ring's memory (laid out by the driver
// before launch), the rendezvous, and the batch size.
struct Job {
    void* ring_memory;
    Control* control;
    std::uint32_t batch;
};

using Side = void (*)(const Job& job);

// The stamp a producer writes into descriptor number `seq`, and the check a
// consumer applies: every descriptor must be exactly the next one. `len` and
// `options` carry the low half of `seq` and its complement so that a torn
// 16-byte copy shows up as well as a lost or repeated descriptor.
inline void stamp(zc_desc& desc, std::uint64_t seq) noexcept
{
    desc.addr = seq;
    desc.len = static_cast<std::uint32_t>(seq);
    desc.options = ~static_cast<std::uint32_t>(seq);
}

struct Expect {
    std::uint64_t next = 0;
    std::uint64_t mismatches = 0;

    void check(const zc_desc& desc) noexcept
    {
        bool good = desc.addr == next && desc.len == static_cast<std::uint32_t>(next) &&
                    desc.options == ~static_cast<std::uint32_t>(next);
        mismatches += good ? 0 : 1;
        // Resynchronise on a bad stamp so that one loss counts once.
        next = (good ? next : desc.addr) + 1;
    }
};

enum class Setting { Threads, Processes };

// The two CPUs the sides are pinned to; `pinned` is false when the process
// may run on fewer than two CPUs, and then both sides run unpinned.
struct Placement {
    bool pinned = false;
    int producer_cpu = -1;
    int consumer_cpu = -1;
};

// Picks the first two CPUs this process may run on (CPU 0 and 1 on most
// machines).
Placement choose_placement() noexcept;

// Shared, anonymous memory made before any fork: a Control block followed
// (at `ring_offset`) by `ring_bytes` for the ring. Unmapped on destruction.
class SharedMapping {
public:
    static constexpr std::size_t ring_offset = 4096;

    explicit SharedMapping(std::size_t ring_bytes);
    ~SharedMapping();
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;

    Control* control() const noexcept { return static_cast<Control*>(base_); }
    void* ring() const noexcept { return static_cast<std::byte*>(base_) + ring_offset; }

private:
    void* base_ = nullptr;
    std::size_t bytes_ = 0;
};

struct Outcome {
    double desc_per_second = 0;
    std::uint64_t produced = 0;
    std::uint64_t consumed = 0;
    std::uint64_t mismatches = 0;
};

// Runs one measurement. On a hang or a crashed side it prints why and exits
// the program with status 1: a benchmark that lost its ring has nothing
// sensible to report.
Outcome run_pair(Setting setting, const Placement& placement, const Job& job, Side producer,
                 Side consumer, double seconds);

} // namespace zc_bench

// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/clusterq/queue_claim.cpp — see queue_claim.hpp.

#include "queue_claim.hpp"

#include "internal/process.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal/error.hpp"
#include "internal/layout.hpp"

namespace zc::clusterq {

namespace {

constexpr std::uint64_t kLow32 = 0xffffffffu;

std::uint64_t make_claim(pid_t pid, std::uint64_t start_time) noexcept
{
    return std::uint64_t{static_cast<std::uint32_t>(pid)} << 32 | (start_time & kLow32);
}

// Whether the holder of `claim` runs, compared on the low 32 bits of its
// start time (all the claim keeps).
bool holder_alive(std::uint64_t claim) noexcept
{
    pid_t pid = claim_pid(claim);
    if (!process_alive(pid, 0))
        return false;
    std::uint64_t recorded = claim & kLow32;
    std::uint64_t now = process_start_time(pid) & kLow32;
    return recorded == 0 || now == 0 || recorded == now;
}

} // namespace

std::uint64_t own_claim() noexcept
{
    static const std::uint64_t claim = make_claim(::getpid(), process_start_time(::getpid()));
    // A forked child inherits the static: recompute when the pid changed.
    if (claim_pid(claim) == ::getpid())
        return claim;
    return make_claim(::getpid(), process_start_time(::getpid()));
}

int claim_queue(QueueSide& info, std::uint32_t cluster, std::uint32_t queue, std::uint64_t* claim,
                zc_error* err) noexcept
{
    std::atomic_ref<std::uint64_t> word(info.consumer_claim);
    const std::uint64_t mine = own_claim();
    std::uint64_t held = word.load(std::memory_order_acquire);
    // Bounded: each failed CAS means another process changed the word; a few
    // rounds settle it (one of them holds the queue, or it is free again).
    for (int round = 0; round < 64; ++round) {
        if (held != 0 && holder_alive(held))
            return fail(err, -EBUSY, "cluster %u queue %u is in use by pid %d (a queue has one consumer at a time)",
                        cluster, queue, static_cast<int>(claim_pid(held)));
        // Acquire on success: the ring indices the previous holder published
        // (released before it let go, or before it died) are visible before
        // this process reads them.
        if (word.compare_exchange_strong(held, mine, std::memory_order_acq_rel, std::memory_order_acquire)) {
            if (held != 0)
                log(ZC_LOG_WARNING, "cluster %u queue %u: took over from pid %d, which is gone", cluster, queue,
                    static_cast<int>(claim_pid(held)));
            *claim = mine;
            return 0;
        }
    }
    return fail(err, -EBUSY, "cluster %u queue %u: other consumers keep claiming it at the same time", cluster,
                queue);
}

void release_queue(QueueSide& info, std::uint64_t claim) noexcept
{
    std::uint64_t expected = claim;
    // Release: the ring indices this consumer published come before the
    // queue is free for the next one.
    std::atomic_ref<std::uint64_t>(info.consumer_claim)
        .compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed);
}

} // namespace zc::clusterq

// SPDX-License-Identifier: BSD-3-Clause
//
// core/src/wakeup — how a consumer sleeps on an empty queue and how the
// owner wakes it, without a system call per batch while packets flow.
//
// Each queue has an eventfd, made by the owner (zc_balancer_listen) and
// handed to the queue's consumer over the control socket, and a flag in
// the queue's consumer side, QueueSide::consumer_sleeping. The protocol is AF_XDP's
// need_wakeup turned around (the consumer asks to be woken, the producer
// looks):
//
//   consumer (about to sleep)              owner (after an RX submit)
//     STORE sleeping = 1                     (submit: STORE-RELEASE producer)
//     FENCE seq_cst                  (E)     FENCE seq_cst                 (E)
//     LOAD producer: not empty? don't sleep  LOAD sleeping: 1? clear it and
//     sleep on the eventfd                     write the eventfd
//
//   (E) pairs with (E): at least one side sees the other's store, so either
//       the consumer sees the new descriptors and does not sleep, or the
//       owner sees the flag and writes the eventfd. No lost wake-up.
//
// The owner's cost while packets flow: a fence and a load per submit (per
// batch, not per packet); the write only when the consumer is asleep. A
// consumer that stops waiting (timeout, or it found packets) leaves the
// flag set at worst: the owner then writes once for nothing, and the
// consumer reads that count away before it next sleeps.
//
// The flag is written by both sides, so it is read and changed with
// atomic_ref only. The owner trusts nothing about it: a consumer that sets
// it at will only earns itself eventfd writes. Nothing here blocks,
// allocates or logs.

#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "layout.hpp"

namespace zc::wakeup {

// Consumer: announces that it is about to sleep and returns whether it may:
// false when the RX ring (whose occupancy `has_packets` re-reads) is no longer
// empty, in which case the announcement is withdrawn.
template <class HasPackets>
bool prepare_to_sleep(QueueSide& side, HasPackets&& has_packets) noexcept
{
    std::atomic_ref<std::uint32_t> sleeping(side.consumer_sleeping);
    sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst); // (E), pairs with wake()'s
    if (!has_packets())
        return true;
    sleeping.store(0, std::memory_order_relaxed);
    return false;
}

// Consumer: empties the eventfd's count so that it is not readable until the
// owner writes it again.
inline void drain(int event_fd) noexcept
{
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t got = ::read(event_fd, &count, sizeof count); // EAGAIN when nothing was written
}

// Owner: after putting descriptors on the queue's RX ring (submit done).
inline void wake(QueueSide& side, int event_fd) noexcept
{
    std::atomic_thread_fence(std::memory_order_seq_cst); // (E), pairs with prepare_to_sleep()'s
    std::atomic_ref<std::uint32_t> sleeping(side.consumer_sleeping);
    if (sleeping.load(std::memory_order_relaxed) == 0 || sleeping.exchange(0, std::memory_order_relaxed) == 0)
        return;
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t put = ::write(event_fd, &one, sizeof one); // EAGAIN only at a count of 2^64-2
}

} // namespace zc::wakeup

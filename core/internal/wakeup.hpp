// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/wakeup — how a consumer sleeps on an empty queue and how the
// owner wakes it, without a system call per batch while packets flow.
//
// Each queue has a pipe, made by the owner for every grant, whose read end
// is handed to the queue's consumer over the control socket, and a flag in
// the queue's consumer side, QueueSide::consumer_sleeping. The protocol is AF_XDP's
// need_wakeup turned around (the consumer asks to be woken, the producer
// looks):
//
//   consumer (about to sleep)              owner (after an RX submit)
//     STORE sleeping = 1                     (submit: STORE-RELEASE producer)
//     FENCE seq_cst                  (E)     FENCE seq_cst                 (E)
//     LOAD producer: not empty? don't sleep  LOAD sleeping: 1? clear it and
//     sleep on the pipe                       write the pipe
//
//   (E) pairs with (E): at least one side sees the other's store, so either
//       the consumer sees the new descriptors and does not sleep, or the
//       owner sees the flag and writes the pipe. No lost wake-up.
//
// The owner's cost while packets flow: a fence and a load per submit (per
// batch, not per packet); the write only when the consumer is asleep. A
// consumer that stops waiting (timeout, or it found packets) leaves the
// flag set at worst: the owner then writes a byte for nothing, and the
// consumer reads it away before it next sleeps.
//
// The flag is written by both sides, so it is read and changed with
// atomic_ref only. The owner trusts nothing about it: a consumer that sets
// it at will only earns itself pipe writes. Why a pipe and not an eventfd:
// an eventfd is one file description, shared, so a consumer could clear its
// O_NONBLOCK and fill its count, and the owner's next write would block
// forever. The pipe's write end is the owner's alone (O_NONBLOCK); when the
// consumer never reads, the pipe fills and the write fails with EAGAIN,
// which costs the owner nothing. Nothing here blocks, allocates or logs.

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

// Consumer: how long a wait looks at its rings before it sleeps. Under load
// the next batch is microseconds away, and sleeping costs the owner a pipe
// write (a system call and, in a VM, an interrupt to another CPU) and the
// consumer a context switch; on a quiet queue, looking is CPU burnt for
// nothing (50 us per packet at 10,000 packets/s is half a CPU). So the
// look adapts to what the last sleep showed. The next wait looks (kMaxNs)
// when packets came within kMaxNs of the start of the wait (a look would
// have seen them), or when the consumer woke to find a backlog of at least
// kBacklog packets (the traffic is dense and the wake-up itself was late:
// consumers sharing a CPU wait for it after the owner's write); else (one
// packet after a long quiet, or the timeout) the next wait sleeps at once.
// A look that finds packets keeps the budget: only a sleep changes it.
class LookBudget {
public:
    static constexpr std::uint64_t kMaxNs = 50000;
    static constexpr std::uint32_t kBacklog = 16;

    // How long the next wait looks before it sleeps: kMaxNs or 0.
    [[nodiscard]] std::uint64_t ns() const noexcept { return ns_; }
    // A wait slept and ended `waited_ns` after it began, with `waiting`
    // packets on its rings (0 after the timeout).
    void slept(std::uint64_t waited_ns, std::uint32_t waiting) noexcept
    {
        ns_ = waited_ns < kMaxNs || waiting >= kBacklog ? kMaxNs : 0;
    }

private:
    std::uint64_t ns_ = kMaxNs;
};

// Consumer: empties the pipe (or an eventfd's count, or a timerfd's ticks:
// the reads stop at the first that returns less than asked) so that it is
// not readable until the owner writes it again. The fd is non-blocking.
inline void drain(int fd) noexcept
{
    alignas(std::uint64_t) unsigned char bytes[256];
    while (::read(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes)) {
    }
}

// Owner: after putting descriptors on the queue's RX ring (submit done).
inline void wake(QueueSide& side, int pipe_write_end) noexcept
{
    std::atomic_thread_fence(std::memory_order_seq_cst); // (E), pairs with prepare_to_sleep()'s
    std::atomic_ref<std::uint32_t> sleeping(side.consumer_sleeping);
    if (sleeping.load(std::memory_order_relaxed) == 0 || sleeping.exchange(0, std::memory_order_relaxed) == 0)
        return;
    const unsigned char byte = 1;
    [[maybe_unused]] ssize_t put = ::write(pipe_write_end, &byte, 1); // EAGAIN when the consumer let it fill
}

} // namespace zc::wakeup

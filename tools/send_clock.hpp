// SPDX-License-Identifier: BSD-3-Clause
//
// tools/send_clock.hpp — zc-send's sense of time: the monotonic clock,
// absolute sleeps, the rate pacer, and SIGINT/SIGTERM as a file descriptor
// (signalfd), so that stopping needs no global flag.

#pragma once

#include <cstdint>

namespace zc::send {

inline constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;

// For products of a rate and a time, which overflow 64 bits (GCC and Clang
// have 128-bit integers on every 64-bit Linux target).
__extension__ typedef unsigned __int128 Wide;

// CLOCK_MONOTONIC in nanoseconds.
std::uint64_t monotonic_ns() noexcept;

// Sleeps until CLOCK_MONOTONIC reads `deadline_ns` (clock_nanosleep with
// TIMER_ABSTIME, so lateness does not accumulate from one batch to the next).
void sleep_until(std::uint64_t deadline_ns) noexcept;

// Frames at a fixed rate: frame n is due at n / rate seconds after the start.
// Batches stay small so that the traffic is not bursty: at most the frames
// of one `tick_ns`, at least 1, never more than `max_batch`. A sender that
// fell behind catches up in such batches, back to back, so the average rate
// holds.
class RatePacer {
public:
    RatePacer(std::uint64_t rate_pps, std::uint64_t tick_ns, std::uint32_t max_batch) noexcept;

    // How many frames, from stream position `position`, are due `elapsed_ns`
    // after the start, at most `limit`. When none is, *wake_ns is when the
    // next one will be (nanoseconds after the start).
    [[nodiscard]] std::uint64_t due(std::uint64_t elapsed_ns, std::uint64_t position, std::uint64_t limit,
                                    std::uint64_t* wake_ns) const noexcept;
    // Time (after the start) at which frame `position` is due.
    [[nodiscard]] std::uint64_t due_time(std::uint64_t position) const noexcept;
    [[nodiscard]] std::uint32_t batch() const noexcept { return batch_; }

private:
    std::uint64_t rate_;
    std::uint32_t batch_;
};

// SIGINT and SIGTERM, blocked and read from a signalfd. Construct it before
// any other thread exists (libbpf and libzc start none) so the mask is the
// whole process's.
class StopSignals {
public:
    StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;
    ~StopSignals();

    // True once SIGINT or SIGTERM arrived (a non-blocking read of the
    // signalfd: a syscall, so the send loop calls it every 10 ms, not per batch).
    bool stopped() noexcept;
    // The signal that stopped us (0 if none): for the final report.
    [[nodiscard]] int signal() const noexcept { return signal_; }
    // Sleeps until `deadline_ns` (CLOCK_MONOTONIC) or a stop signal,
    // whichever comes first. Returns stopped().
    bool wait_until(std::uint64_t deadline_ns) noexcept;

private:
    int fd_ = -1;
    int signal_ = 0;
};

} // namespace zc::send

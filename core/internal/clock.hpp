// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/clock.hpp — the two clocks zc reads, in nanoseconds: the
// monotonic one for deadlines and pacing, the real-time one for packet
// timestamps. Both are vDSO calls (no system call); the fast path reads them
// once per batch at most.

#pragma once

#include <cstdint>
#include <ctime>

namespace zc {

inline std::uint64_t clock_ns(clockid_t clock) noexcept
{
    struct timespec now {};
    ::clock_gettime(clock, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
}

inline std::uint64_t monotonic_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }
inline std::uint64_t realtime_ns() noexcept { return clock_ns(CLOCK_REALTIME); }

} // namespace zc

// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/shared_counter.hpp — a statistics counter in shared memory (the
// region, a queue's side): one writer, readers in any process. Relaxed,
// because nothing is published through a counter; atomic_ref, because
// another process reads it while it changes. A counter another process
// writes is a report, never something the reader relies on.

#pragma once

#include <atomic>
#include <cstdint>

namespace zc {

// The writer's add: a load and a store, no read-modify-write (one writer).
inline void counter_add(std::uint64_t& counter, std::uint64_t n) noexcept
{
    std::atomic_ref<std::uint64_t> ref(counter);
    ref.store(ref.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// The writer publishes a total it keeps itself.
inline void counter_store(std::uint64_t& counter, std::uint64_t value) noexcept
{
    std::atomic_ref<std::uint64_t>(counter).store(value, std::memory_order_relaxed);
}

inline std::uint64_t counter_load(const std::uint64_t& counter) noexcept
{
    return std::atomic_ref<const std::uint64_t>(counter).load(std::memory_order_relaxed);
}

} // namespace zc

// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/counter.hpp — a statistics counter with one writer (the thread
// that receives or sends, once per burst) and readers anywhere (stats()):
// relaxed, because nothing is published through it.

#pragma once

#include <atomic>
#include <cstdint>

namespace zc {

class Counter {
public:
    void add(std::uint64_t amount) noexcept
    {
        value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

} // namespace zc

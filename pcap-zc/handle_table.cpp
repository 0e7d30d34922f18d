// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/handle_table.cpp — outer pcap_t* to Handle, see handle.hpp.

#include <mutex>

#include "handle.hpp"

namespace pcapzc {
namespace {

constexpr int kSlots = 256; // zc: handles open at once in one process

// A slot is published by storing its handle, then its key (release); a
// reader that sees the key sees the handle (acquire). Removal clears the key
// first. Both are constant-initialised: no constructor runs before main.
constinit std::atomic<const pcap_t*> g_keys[kSlots]{};
constinit std::atomic<Handle*> g_handles[kSlots]{};
constinit std::atomic<int> g_used{0}; // 0: every lookup is a single load
std::mutex g_table_mutex;

} // namespace

Handle* find_handle(const pcap_t* p) noexcept
{
    if (!p || g_used.load(std::memory_order_acquire) == 0)
        return nullptr;
    for (int i = 0; i < kSlots; ++i)
        if (g_keys[i].load(std::memory_order_acquire) == p) // pairs with the release in add_handle
            return g_handles[i].load(std::memory_order_relaxed);
    return nullptr;
}

bool add_handle(Handle* handle) noexcept
{
    std::lock_guard lock(g_table_mutex);
    for (int i = 0; i < kSlots; ++i) {
        if (g_keys[i].load(std::memory_order_relaxed) == nullptr) {
            g_handles[i].store(handle, std::memory_order_relaxed);
            g_keys[i].store(handle->outer, std::memory_order_release); // pairs with find_handle
            g_used.fetch_add(1, std::memory_order_release);
            return true;
        }
    }
    return false;
}

void remove_handle(const Handle* handle) noexcept
{
    std::lock_guard lock(g_table_mutex);
    for (int i = 0; i < kSlots; ++i) {
        if (g_keys[i].load(std::memory_order_relaxed) == handle->outer &&
            g_handles[i].load(std::memory_order_relaxed) == handle) {
            g_keys[i].store(nullptr, std::memory_order_release);
            g_handles[i].store(nullptr, std::memory_order_relaxed);
            g_used.fetch_sub(1, std::memory_order_release);
            return;
        }
    }
}

} // namespace pcapzc

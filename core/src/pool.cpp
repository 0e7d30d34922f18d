// SPDX-License-Identifier: BSD-3-Clause
//
// The buffer pool: a free list (a stack of indices), a reference count and
// an owner per buffer, and the conservation check that accounts for every
// buffer. All of it is the owner's private memory (layout.hpp); the region
// carries a published copy of the free count and the error counters.
// Allocation and release take the pool's lock (zc_cluster::pool_lock): the
// devices of several balancer lanes, each on a thread of its own, take and
// give back buffers at once (one uncontended lock per burst otherwise). In
// an attached cluster, the records do not exist: allocation gives nothing,
// and the check says so.

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <vector>

#include "internal/cluster.hpp"
#include "internal/shared_counter.hpp"

using namespace zc;

namespace {

std::atomic_ref<std::uint32_t> refcount_of(zc_cluster* c, std::uint32_t buffer)
{
    return std::atomic_ref<std::uint32_t>(c->states[buffer].refcount);
}

void set_free_count(zc_cluster* c, std::uint32_t value)
{
    std::atomic_ref<std::uint32_t>(c->free_count).store(value, std::memory_order_relaxed);
    std::atomic_ref<std::uint32_t>(c->header->free_count).store(value, std::memory_order_relaxed);
}

// The owner's own count; anyone else's view is the published copy, which
// is never trusted past the pool's size.
std::uint32_t read_free_count(const zc_cluster* c)
{
    if (c->owner) // read without the lock: a count of a moment
        return std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(c->free_count)).load(std::memory_order_relaxed);
    std::uint32_t published = std::atomic_ref<std::uint32_t>(c->header->free_count).load(std::memory_order_relaxed);
    return published > c->frame_count ? c->frame_count : published;
}

} // namespace

extern "C" std::uint32_t zc_pool_alloc_burst(zc_cluster* c, std::uint32_t* buffers, std::uint32_t n,
                                             std::uint32_t owner)
{
    if (!c->owner)
        return 0;
    std::lock_guard<std::mutex> lock(c->pool_lock);
    std::uint32_t free = c->free_count;
    std::uint32_t taken = n < free ? n : free;
    for (std::uint32_t i = 0; i < taken; ++i) {
        std::uint32_t buffer = c->free_list[free - 1 - i];
        buffers[i] = buffer;
        refcount_of(c, buffer).store(1, std::memory_order_relaxed);
        c->states[buffer].owner = owner;
    }
    set_free_count(c, free - taken);
    return taken;
}

extern "C" std::uint32_t zc_pool_release_burst(zc_cluster* c, const std::uint32_t* buffers, std::uint32_t n)
{
    if (!c->owner)
        return 0;
    std::lock_guard<std::mutex> lock(c->pool_lock);
    std::uint32_t free = c->free_count;
    std::uint32_t recycled = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        std::uint32_t buffer = buffers[i];
        if (buffer >= c->frame_count) {
            counter_add(c->header->bad_index, 1);
            continue;
        }
        auto refs = refcount_of(c, buffer);
        std::uint32_t old = refs.load(std::memory_order_relaxed);
        do {
            if (old == 0)
                break;
        } while (!refs.compare_exchange_weak(old, old - 1, std::memory_order_acq_rel, std::memory_order_relaxed));
        if (old == 0 || free >= c->frame_count) {
            counter_add(c->header->double_free, 1);
            continue;
        }
        if (old == 1) {
            c->states[buffer].owner = ZC_OWNER(ZC_OWNER_FREE, 0);
            c->free_list[free++] = buffer;
            ++recycled;
        }
    }
    set_free_count(c, free);
    return recycled;
}

extern "C" int zc_buffer_ref_add(zc_cluster* c, std::uint32_t buffer, std::uint32_t refs)
{
    if (!c->owner || buffer >= c->frame_count)
        return -EINVAL;
    auto count = refcount_of(c, buffer);
    std::uint32_t old = count.load(std::memory_order_relaxed);
    do {
        if (old == 0 || old + refs < old)
            return -EINVAL;
    } while (!count.compare_exchange_weak(old, old + refs, std::memory_order_relaxed));
    return 0;
}

extern "C" std::uint32_t zc_buffer_refcount(const zc_cluster* c, std::uint32_t buffer)
{
    if (!c->owner || buffer >= c->frame_count)
        return 0;
    return std::atomic_ref<const std::uint32_t>(c->states[buffer].refcount).load(std::memory_order_relaxed);
}

extern "C" void zc_buffer_set_owner(zc_cluster* c, std::uint32_t buffer, std::uint32_t owner)
{
    if (c->owner && buffer < c->frame_count)
        zc::set_owner(*c, buffer, owner);
}

extern "C" std::uint32_t zc_buffer_owner(const zc_cluster* c, std::uint32_t buffer)
{
    if (!c->owner || buffer >= c->frame_count)
        return ZC_OWNER(ZC_OWNER_FREE, 0);
    return zc::owner_of(*c, buffer);
}

extern "C" std::uint64_t zc_buffer_addr(const zc_cluster* c, std::uint32_t buffer)
{
    return (std::uint64_t{buffer} << c->frame_shift) + c->data_offset;
}

extern "C" int zc_buffer_from_addr(const zc_cluster* c, std::uint64_t addr, std::uint32_t* buffer)
{
    std::uint64_t index = buffer_of(*c, addr);
    if (index >= c->frame_count)
        return -EINVAL;
    *buffer = static_cast<std::uint32_t>(index);
    return 0;
}

extern "C" void* zc_buffer_data(zc_cluster* c, std::uint32_t buffer)
{
    return c->pool + (std::size_t{buffer} << c->frame_shift) + c->data_offset;
}

extern "C" zc_buffer_meta* zc_buffer_meta_of(zc_cluster* c, std::uint32_t buffer)
{
    return reinterpret_cast<zc_buffer_meta*>(c->pool + (std::size_t{buffer} << c->frame_shift));
}

extern "C" std::uint32_t zc_buffer_capacity(const zc_cluster* c) { return c->frame_size - c->data_offset; }

extern "C" std::uint32_t zc_pool_free_count(const zc_cluster* c) { return read_free_count(c); }

extern "C" int zc_pool_check(const zc_cluster* c, zc_pool_report* report)
{
    if (report->struct_size != sizeof *report)
        return -EINVAL;
    *report = zc_pool_report{};
    report->struct_size = sizeof *report;
    report->total = c->frame_count;
    report->free_count = read_free_count(c);
    report->bad_index = counter_load(c->header->bad_index);
    report->double_free = counter_load(c->header->double_free);
    if (!c->owner) {
        std::snprintf(report->first_error, sizeof report->first_error,
                      "cluster %u: only its owner keeps the records of where each buffer is", c->id);
        return -EPERM;
    }
    std::lock_guard<std::mutex> lock(c->pool_lock); // the free list holds still while it is walked
    report->free_count = c->free_count;

    auto error = [&](const char* format, std::uint32_t a, std::uint32_t b) {
        if (report->errors++ == 0)
            std::snprintf(report->first_error, sizeof report->first_error, format, a, b);
    };

    std::vector<bool> on_free_list(c->frame_count, false);
    std::uint32_t listed = report->free_count;
    for (std::uint32_t i = 0; i < listed; ++i) {
        std::uint32_t buffer = c->free_list[i];
        if (buffer >= c->frame_count) {
            error("free list slot %u names buffer %u, outside the pool", i, buffer);
            continue;
        }
        if (on_free_list[buffer])
            error("buffer %u is on the free list twice (slot %u)", buffer, i);
        on_free_list[buffer] = true;
    }
    for (std::uint32_t buffer = 0; buffer < c->frame_count; ++buffer) {
        const BufferState& state = c->states[buffer];
        std::uint32_t owner = std::atomic_ref<const std::uint32_t>(state.owner).load(std::memory_order_relaxed);
        std::uint32_t refs = std::atomic_ref<const std::uint32_t>(state.refcount).load(std::memory_order_relaxed);
        std::uint32_t kind = ZC_OWNER_KIND(owner);
        if (kind >= ZC_OWNER_KINDS) {
            error("buffer %u has an unknown owner kind %u", buffer, kind);
            continue;
        }
        ++report->by_kind[kind];
        bool free = kind == ZC_OWNER_FREE;
        if (free && refs != 0)
            error("buffer %u is free but holds %u references", buffer, refs);
        if (!free && refs == 0)
            error("buffer %u is in use (owner kind %u) but holds no reference", buffer, kind);
        if (free != on_free_list[buffer])
            error(free ? "buffer %u is marked free (kind %u) but is not on the free list"
                       : "buffer %u is on the free list but owned (kind %u)",
                  buffer, kind);
    }
    return report->errors == 0 ? 0 : -EBADMSG;
}

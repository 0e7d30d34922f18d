// SPDX-License-Identifier: BSD-3-Clause
//
// zc/ring.hpp — the single-producer single-consumer descriptor ring.
//
// One ring lives in shared memory (RingShared followed by its slots) and is
// driven by two process-local handles: a RingProducer on one side and a
// RingConsumer on the other. The two handle types are distinct so that a
// consumer cannot reserve and a producer cannot peek: misuse does not compile.
//
// The protocol, written down once
// -------------------------------
//
// The ring has `size` slots, a power of two. `producer` and `consumer` are
// free-running uint32_t counters (they wrap at 2^32, never at `size`); a slot
// is addressed as `slots[counter & mask]`. The ring holds
// `producer - consumer` entries, and the producer may write
// `size - (producer - consumer)` more.
//
// Each side keeps a private copy of its own counter (`cached_prod` /
// `cached_cons`, the position it has reserved or peeked up to) and a cached
// copy of the other side's published counter. It re-reads the other side's
// counter only when the cached copy says the ring is full (producer) or empty
// (consumer), so an uncontended batch costs one shared read at most and one
// shared write exactly.
//
//   producer                              consumer
//   --------                              --------
//   reserve(n):                           peek(n):
//     if cached view is full:               if cached view is empty:
//       LOAD-ACQUIRE ->consumer   (A)         LOAD-ACQUIRE ->producer   (C)
//   write slots                           read slots
//   submit(n):                            release(n):
//     STORE-RELEASE ->producer    (B)       STORE-RELEASE ->consumer    (D)
//
//   (A) pairs with (D): the producer overwrites a slot only after the
//       consumer has finished reading it.
//   (B) pairs with (C): the consumer reads a slot only after the producer
//       has finished writing it.
//
// These are the same four barriers as Linux net/xdp/xsk_queue.h, expressed
// as C++ acquire/release on std::atomic_ref, which also orders the slot
// accesses against the index accesses (a plain smp_rmb/wmb is not needed).
//
// The API is two-phase and counts, like AF_XDP's:
//   reserve(n, &idx) / slot(idx + i) = ... / submit(n)      — bulk: n or 0
//   peek(n, &idx)    / ... = slot(idx + i) / release(n)      — burst: 1..n or 0
//   cancel(n) gives back entries peeked but not yet released.
//
// Nothing here allocates, locks, logs, throws or makes a system call.
// Creating a ring (validating its size) is the control path and lives in
// ring.cpp / Ring::init.

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "zc/desc.h"

namespace zc {

inline constexpr std::size_t kCacheLine = 64;

// The part of a ring that lives in shared memory. Offsets only: the slots
// follow this header at `slots_offset` bytes from its start, so the ring can
// be mapped at any address in any process.
struct RingShared {
    // Line 0: written by the producer only.
    alignas(kCacheLine) std::uint32_t producer;
    // Line 1: guard, keeps the adjacent-line prefetcher from pairing 0 and 2.
    alignas(kCacheLine) std::uint8_t guard0[kCacheLine];
    // Line 2: written by the consumer only.
    alignas(kCacheLine) std::uint32_t consumer;
    // Line 3: guard.
    alignas(kCacheLine) std::uint8_t guard1[kCacheLine];
    // Line 4: read-only after init.
    alignas(kCacheLine) std::uint32_t size;
    std::uint32_t mask;
    std::uint32_t element_size;
    std::uint32_t slots_offset;
};

static_assert(std::is_standard_layout_v<RingShared>);
static_assert(std::is_trivially_copyable_v<RingShared>);
static_assert(offsetof(RingShared, producer) == 0);
static_assert(offsetof(RingShared, consumer) == 2 * kCacheLine);
static_assert(offsetof(RingShared, size) == 4 * kCacheLine);
static_assert(sizeof(RingShared) == 5 * kCacheLine);
static_assert(alignof(RingShared) == kCacheLine);

// Largest ring: 2^31 slots keeps `producer - consumer` unambiguous.
inline constexpr std::uint32_t kRingMaxSize = 1u << 31;

// Bytes a ring of `size` elements of `element_size` bytes needs in shared
// memory (header plus slots), rounded up to a cache line.
constexpr std::size_t ring_bytes(std::uint32_t size, std::size_t element_size) noexcept
{
    std::size_t bytes = sizeof(RingShared) + std::size_t{size} * element_size;
    return (bytes + kCacheLine - 1) & ~(kCacheLine - 1);
}

// Control path: lays out a ring in `memory` (at least ring_bytes() bytes,
// cache-line aligned). Returns 0, or -EINVAL with `why` set when the size is
// zero, not a power of two, or above kRingMaxSize.
int ring_init(void* memory, std::uint32_t size, std::uint32_t element_size,
              const char** why) noexcept;

// Control path: checks a ring header written by another process before it is
// trusted (size a power of two, mask and offset consistent, fits in `bytes`).
int ring_validate(const RingShared* ring, std::size_t bytes, std::uint32_t element_size,
                  const char** why) noexcept;

namespace detail {

template <typename T>
class RingSide {
protected:
    RingSide() noexcept = default;
    explicit RingSide(RingShared* shared) noexcept
        : shared_(shared),
          slots_(reinterpret_cast<T*>(reinterpret_cast<std::byte*>(shared) + shared->slots_offset)),
          mask_(shared->mask),
          size_(shared->size)
    {
    }

    std::uint32_t load_acquire(std::uint32_t& index) const noexcept
    {
        return std::atomic_ref<std::uint32_t>(index).load(std::memory_order_acquire);
    }
    void store_release(std::uint32_t& index, std::uint32_t value) const noexcept
    {
        std::atomic_ref<std::uint32_t>(index).store(value, std::memory_order_release);
    }

    RingShared* shared_ = nullptr;
    T* slots_ = nullptr;
    std::uint32_t mask_ = 0;
    std::uint32_t size_ = 0;

public:
    [[nodiscard]] T& slot(std::uint32_t index) noexcept { return slots_[index & mask_]; }
    [[nodiscard]] const T& slot(std::uint32_t index) const noexcept { return slots_[index & mask_]; }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] bool valid() const noexcept { return shared_ != nullptr; }
};

} // namespace detail

template <typename T = zc_desc>
class RingProducer : public detail::RingSide<T> {
    static_assert(std::is_trivially_copyable_v<T>);
    using Base = detail::RingSide<T>;

public:
    RingProducer() noexcept = default;
    // `shared` must have been set up by ring_init (or checked by
    // ring_validate) for elements of sizeof(T).
    explicit RingProducer(RingShared* shared) noexcept
        : Base(shared),
          cached_prod_(std::atomic_ref<std::uint32_t>(shared->producer).load(std::memory_order_relaxed)),
          // The producer starts from the consumer's published position; the
          // first reserve that looks full re-reads it with (A).
          cached_cons_(std::atomic_ref<std::uint32_t>(shared->consumer).load(std::memory_order_acquire) +
                       shared->size)
    {
    }

    // Slots the producer may reserve without looking at the consumer again.
    [[nodiscard]] std::uint32_t free_cached() const noexcept { return cached_cons_ - cached_prod_; }

    // Bulk: reserves exactly n slots starting at *index, or none (returns 0).
    [[nodiscard]] std::uint32_t reserve(std::uint32_t n, std::uint32_t* index) noexcept
    {
        if (free_entries(n) < n)
            return 0;
        *index = cached_prod_;
        cached_prod_ += n;
        return n;
    }

    // Burst: reserves up to n slots starting at *index; returns how many.
    [[nodiscard]] std::uint32_t reserve_burst(std::uint32_t n, std::uint32_t* index) noexcept
    {
        std::uint32_t avail = free_entries(n);
        if (avail > n)
            avail = n;
        *index = cached_prod_;
        cached_prod_ += avail;
        return avail;
    }

    // Gives back the last n reserved slots, not yet submitted.
    void cancel(std::uint32_t n) noexcept { cached_prod_ -= n; }

    // Publishes the n oldest reserved slots to the consumer.
    void submit(std::uint32_t n) noexcept
    {
        std::uint32_t& producer = this->shared_->producer;
        // Only this side writes ->producer, so a relaxed read of it is exact.
        std::uint32_t next = std::atomic_ref<std::uint32_t>(producer).load(std::memory_order_relaxed) + n;
        this->store_release(producer, next); /* B, matches C */
    }

private:
    std::uint32_t free_entries(std::uint32_t wanted) noexcept
    {
        std::uint32_t free = cached_cons_ - cached_prod_;
        if (free >= wanted)
            return free;
        // The cached view is too full: refresh it.
        cached_cons_ = this->load_acquire(this->shared_->consumer) /* A, matches D */ + this->size_;
        return cached_cons_ - cached_prod_;
    }

    std::uint32_t cached_prod_ = 0; // next slot this side will reserve
    std::uint32_t cached_cons_ = 0; // consumer's published index + size
};

template <typename T = zc_desc>
class RingConsumer : public detail::RingSide<T> {
    static_assert(std::is_trivially_copyable_v<T>);
    using Base = detail::RingSide<T>;

public:
    RingConsumer() noexcept = default;
    explicit RingConsumer(RingShared* shared) noexcept
        : Base(shared),
          cached_cons_(std::atomic_ref<std::uint32_t>(shared->consumer).load(std::memory_order_relaxed)),
          cached_prod_(std::atomic_ref<std::uint32_t>(shared->producer).load(std::memory_order_acquire))
    /* C, matches B */
    {
    }

    // Burst: makes up to n entries readable starting at *index; returns how
    // many (0 when the ring is empty).
    [[nodiscard]] std::uint32_t peek(std::uint32_t n, std::uint32_t* index) noexcept
    {
        std::uint32_t entries = cached_prod_ - cached_cons_;
        if (entries == 0) {
            cached_prod_ = this->load_acquire(this->shared_->producer); /* C, matches B */
            entries = cached_prod_ - cached_cons_;
        }
        if (entries > n)
            entries = n;
        *index = cached_cons_;
        cached_cons_ += entries;
        // Ask for every cache line of the peeked slots before the caller
        // reads any. They were just written on the producer's core; read in
        // place one by one, each line transfer waits for the one before.
        // Slots start on a cache line (slots_offset is a multiple of it), so
        // `first` is a line start. (Inline on purpose: in a helper of its own,
        // GCC 12 finds no side effect and deletes the call.)
        std::uint32_t first = *index & ~(kSlotsPerLine - 1);
        std::uint32_t span = entries + (*index - first);
        for (std::uint32_t i = 0; i < span; i += kSlotsPerLine)
            __builtin_prefetch(&this->slot(first + i), 0 /* read */, 3 /* all cache levels */);
        return entries;
    }

    // Gives back the last n peeked entries, so the next peek sees them again.
    void cancel(std::uint32_t n) noexcept { cached_cons_ -= n; }

    // Frees the n oldest peeked entries for the producer.
    void release(std::uint32_t n) noexcept
    {
        std::uint32_t& consumer = this->shared_->consumer;
        // Only this side writes ->consumer, so a relaxed read of it is exact.
        std::uint32_t next = std::atomic_ref<std::uint32_t>(consumer).load(std::memory_order_relaxed) + n;
        this->store_release(consumer, next); /* D, matches A */
    }

    // Entries published and not yet released, as seen now. Control path and
    // statistics only: it reads both indices.
    [[nodiscard]] std::uint32_t occupancy() const noexcept
    {
        return this->load_acquire(this->shared_->producer) -
               std::atomic_ref<std::uint32_t>(this->shared_->consumer).load(std::memory_order_relaxed);
    }

private:
    // Slots per cache line, for peek's prefetch; 1 when T does not tile a line.
    static constexpr std::uint32_t kSlotsPerLine =
        sizeof(T) < kCacheLine && kCacheLine % sizeof(T) == 0 ? kCacheLine / sizeof(T) : 1;

    std::uint32_t cached_cons_ = 0; // next entry this side will peek
    std::uint32_t cached_prod_ = 0; // producer's published index
};

} // namespace zc

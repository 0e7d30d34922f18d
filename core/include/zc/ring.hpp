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
// Each side keeps private copies of its own counter (the position it has
// reserved or peeked up to, and the position it last published) and of the
// other side's last published counter. It re-reads the other side's counter
// only when its cached copy says the ring is full (producer) or empty
// (consumer), so an uncontended batch costs one shared read at most and one
// shared write exactly. A side never reads its own counter back from shared
// memory: what it publishes comes from its private copy.
//
// These are the same four barriers as Linux net/xdp/xsk_queue.h, expressed
// as C++ acquire/release on std::atomic_ref, which also orders the slot
// accesses against the index accesses (a plain smp_rmb/wmb is not needed).
//
// Trust: the other side is another process, possibly a hostile one (a
// cluster's consumer is; core/src/balancer.hpp). Each handle is built from a
// ring size its owner trusts (its own configuration, or a header checked
// once by ring_validate), never from the shared header, and every read of
// the other side's counter is checked: it may only move forward, and never
// past what this side made possible (a producer's view of the consumer stays
// within what was published; a consumer's view of the producer within one
// ring's size of what it released). A counter that breaks the rule is not
// followed: the handle reports broken() from then on and behaves as a full
// (producer) or empty (consumer) ring, so no loop on either side can be made
// to run longer than one ring's worth. The slots are only data: what a
// consumer reads from them is checked where it is used.
//
// Several producers, one consumer: a ring stays single-producer. A queue
// fed by N producers (zc-balance --threads N: lanes) has N ring pairs, an
// RX ring and a return ring per producer (core/internal/layout.hpp,
// QueueSide), and its consumer drains the RX rings in turn, starting one
// further each time, handing every buffer back on the return ring of the
// ring it came by. Why not one ring with a shared producer index (a CAS
// per reservation, as DPDK's MP rte_ring): the producers would contend on
// one line per batch, a slow one would hold back the slots the others
// already published (ordered commit), and a producer's own records (its
// buffers' references, what it delivered) would need atomics; with a pair
// each, nothing on the fast path is shared between producers, and the
// consumer's cost is one more empty-ring check per producer and round.
// Order is kept per producer: the symmetric hash sends both directions of
// a flow to one queue, and a flow's packets arrive on one producer (the
// device, or RX queue, that received them), so per-flow order holds.
//
// The API is two-phase and counts, like AF_XDP's:
//   reserve(n, &idx) / slot(idx + i) = ... / submit(n)      — bulk: n or 0
//   peek(n, &idx)    / ... = slot(idx + i) / release(n)      — burst: 1..n or 0
//   cancel(n) gives back entries peeked but not yet released.
//
// Nothing here allocates, locks, logs, throws or makes a system call.
// Creating a ring (validating its size) and checking one another process
// laid out are the control path: ring_init and ring_validate, in ring.cpp.

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
    // `size` is the trusted one (see "Trust" above); the slots follow the
    // header, where ring_init puts them.
    RingSide(RingShared* shared, std::uint32_t size) noexcept
        : shared_(shared),
          slots_(reinterpret_cast<T*>(reinterpret_cast<std::byte*>(shared) + sizeof(RingShared))),
          mask_(size - 1),
          size_(size)
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
    bool broken_ = false;

public:
    [[nodiscard]] T& slot(std::uint32_t index) noexcept { return slots_[index & mask_]; }
    [[nodiscard]] const T& slot(std::uint32_t index) const noexcept { return slots_[index & mask_]; }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] bool valid() const noexcept { return shared_ != nullptr; }
    // The other side wrote a counter that breaks the protocol: this handle
    // no longer moves (see "Trust" above).
    [[nodiscard]] bool broken() const noexcept { return broken_; }
};

} // namespace detail

template <typename T = zc_desc>
class RingProducer : public detail::RingSide<T> {
    static_assert(std::is_trivially_copyable_v<T>);
    using Base = detail::RingSide<T>;

public:
    RingProducer() noexcept = default;
    // `shared` was set up by ring_init (or checked by ring_validate) for
    // `size` elements of sizeof(T). The producer adopts the counters it
    // finds (a fresh ring's are 0); a consumer counter already impossible
    // then makes the handle broken at once.
    RingProducer(RingShared* shared, std::uint32_t size) noexcept
        : Base(shared, size),
          cached_prod_(std::atomic_ref<std::uint32_t>(shared->producer).load(std::memory_order_relaxed)),
          published_(cached_prod_),
          consumer_(published_ - size)
    {
        refresh_consumer(); /* A, matches D */
    }
    // The same, starting from `start`, which this side decides: its own
    // counter is never taken from shared memory (the owner of a ring it
    // just laid out or reset).
    RingProducer(RingShared* shared, std::uint32_t size, std::uint32_t start) noexcept
        : Base(shared, size), cached_prod_(start), published_(start), consumer_(start - size)
    {
        refresh_consumer(); /* A, matches D */
    }

    // Slots the producer may reserve without looking at the consumer again.
    [[nodiscard]] std::uint32_t free_cached() const noexcept { return consumer_ + this->size_ - cached_prod_; }

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
        published_ += n;
        this->store_release(this->shared_->producer, published_); /* B, matches C */
    }

    // Entries published and not yet consumed, as the consumer says now
    // (re-read, checked): statistics and the control path.
    [[nodiscard]] std::uint32_t occupancy() noexcept
    {
        refresh_consumer(); /* A, matches D */
        return published_ - consumer_;
    }

    // What this side published: its own record, never read back.
    [[nodiscard]] std::uint32_t published() const noexcept { return published_; }

private:
    std::uint32_t free_entries(std::uint32_t wanted) noexcept
    {
        std::uint32_t free = consumer_ + this->size_ - cached_prod_;
        if (free >= wanted)
            return free;
        // The cached view is too full: refresh it.
        refresh_consumer(); /* A, matches D */
        return consumer_ + this->size_ - cached_prod_;
    }

    // Reads the consumer's counter; takes it only when it moved forward and
    // not past what was published.
    void refresh_consumer() noexcept
    {
        if (this->broken_)
            return;
        const std::uint32_t seen = this->load_acquire(this->shared_->consumer); /* A, matches D */
        if (seen - consumer_ > published_ - consumer_) {
            this->broken_ = true; // impossible: keep the last good view, which only looks full
            return;
        }
        consumer_ = seen;
    }

    std::uint32_t cached_prod_ = 0; // next slot this side will reserve
    std::uint32_t published_ = 0;   // what this side last stored in ->producer
    std::uint32_t consumer_ = 0;    // the consumer's last good published index
};

template <typename T = zc_desc>
class RingConsumer : public detail::RingSide<T> {
    static_assert(std::is_trivially_copyable_v<T>);
    using Base = detail::RingSide<T>;

public:
    RingConsumer() noexcept = default;
    // As RingProducer's: a trusted size, the counters found adopted (and the
    // producer's checked).
    RingConsumer(RingShared* shared, std::uint32_t size) noexcept
        : Base(shared, size),
          cached_cons_(std::atomic_ref<std::uint32_t>(shared->consumer).load(std::memory_order_relaxed)),
          released_(cached_cons_),
          producer_(cached_cons_)
    {
        refresh_producer(); /* C, matches B */
    }
    // The same, starting from `start`, which this side decides.
    RingConsumer(RingShared* shared, std::uint32_t size, std::uint32_t start) noexcept
        : Base(shared, size), cached_cons_(start), released_(start), producer_(start)
    {
        refresh_producer(); /* C, matches B */
    }

    // Burst: makes up to n entries readable starting at *index; returns how
    // many (0 when the ring is empty).
    [[nodiscard]] std::uint32_t peek(std::uint32_t n, std::uint32_t* index) noexcept
    {
        std::uint32_t entries = producer_ - cached_cons_;
        if (entries == 0) {
            refresh_producer(); /* C, matches B */
            entries = producer_ - cached_cons_;
        }
        if (entries > n)
            entries = n;
        *index = cached_cons_;
        cached_cons_ += entries;
        // Ask for every cache line of the peeked slots before the caller
        // reads any. They were just written on the producer's core; read in
        // place one by one, each line transfer waits for the one before.
        // Slots start on a cache line (the header is whole lines), so
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
        released_ += n;
        this->store_release(this->shared_->consumer, released_); /* D, matches A */
    }

    // Entries published and not yet released, as the producer says now
    // (re-read, checked): statistics, the control path, and a consumer
    // deciding whether it may sleep.
    [[nodiscard]] std::uint32_t occupancy() noexcept
    {
        refresh_producer(); /* C, matches B */
        return producer_ - released_;
    }

    // What this side released: its own record, never read back.
    [[nodiscard]] std::uint32_t released() const noexcept { return released_; }

private:
    // Reads the producer's counter; takes it only when it moved forward and
    // stays within one ring of what was released.
    void refresh_producer() noexcept
    {
        if (this->broken_)
            return;
        const std::uint32_t seen = this->load_acquire(this->shared_->producer); /* C, matches B */
        if (seen - producer_ > released_ + this->size_ - producer_) {
            this->broken_ = true; // impossible: keep the last good view, which only runs empty
            return;
        }
        producer_ = seen;
    }

    // Slots per cache line, for peek's prefetch; 1 when T does not tile a line.
    static constexpr std::uint32_t kSlotsPerLine =
        sizeof(T) < kCacheLine && kCacheLine % sizeof(T) == 0 ? kCacheLine / sizeof(T) : 1;

    std::uint32_t cached_cons_ = 0; // next entry this side will peek
    std::uint32_t released_ = 0;    // what this side last stored in ->consumer
    std::uint32_t producer_ = 0;    // the producer's last good published index
};

// Entries on a ring seen from a third party (statistics: zc-stat), from two
// counters it trusts no more than it must: clamped to the ring's size.
inline std::uint32_t ring_occupancy(const RingShared* ring, std::uint32_t size) noexcept
{
    // Consumer first, with acquire: the producer read after it is at least
    // as new, so an honest pair never looks negative.
    const std::uint32_t consumer =
        std::atomic_ref<const std::uint32_t>(ring->consumer).load(std::memory_order_acquire);
    const std::uint32_t producer =
        std::atomic_ref<const std::uint32_t>(ring->producer).load(std::memory_order_relaxed);
    const std::uint32_t used = producer - consumer;
    return used > size ? size : used;
}

} // namespace zc

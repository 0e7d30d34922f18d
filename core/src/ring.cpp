// SPDX-License-Identifier: BSD-3-Clause
//
// Ring control path: laying a ring out in memory and checking one that
// another process laid out. The fast path is inline in zc/ring.hpp.

#include "zc/ring.hpp"

#include <cerrno>
#include <new>

namespace zc {

namespace {

bool is_power_of_two(std::uint32_t n) noexcept { return n != 0 && (n & (n - 1)) == 0; }

} // namespace

int ring_init(void* memory, std::uint32_t size, std::uint32_t element_size, const char** why) noexcept
{
    const char* unused = nullptr;
    const char** reason = why ? why : &unused;
    if (size == 0) {
        *reason = "ring size is 0; use a power of two such as 1024";
        return -EINVAL;
    }
    if (!is_power_of_two(size)) {
        *reason = "ring size must be a power of two (1, 2, 4, ... 2^31)";
        return -EINVAL;
    }
    if (size > kRingMaxSize) {
        *reason = "ring size is above 2^31 slots";
        return -EINVAL;
    }
    if (element_size == 0 || element_size % alignof(std::uint32_t) != 0) {
        *reason = "ring element size must be a non-zero multiple of 4 bytes";
        return -EINVAL;
    }
    if (reinterpret_cast<std::uintptr_t>(memory) % kCacheLine != 0) {
        *reason = "ring memory must be aligned to a cache line (64 bytes)";
        return -EINVAL;
    }
    auto* ring = new (memory) RingShared{};
    ring->size = size;
    ring->mask = size - 1;
    ring->element_size = element_size;
    ring->slots_offset = sizeof(RingShared);
    return 0;
}

int ring_validate(const RingShared* ring, std::size_t bytes, std::uint32_t element_size,
                  const char** why) noexcept
{
    const char* unused = nullptr;
    const char** reason = why ? why : &unused;
    if (bytes < sizeof(RingShared)) {
        *reason = "ring header does not fit in its space";
        return -EBADMSG;
    }
    // Another process wrote this header: read each field once.
    std::uint32_t size = ring->size;
    std::uint32_t mask = ring->mask;
    if (!is_power_of_two(size) || size > kRingMaxSize || mask != size - 1) {
        *reason = "ring header is corrupt (size is not a power of two or mask disagrees)";
        return -EBADMSG;
    }
    if (ring->element_size != element_size) {
        *reason = "ring element size differs from what this library expects";
        return -EBADMSG;
    }
    if (ring->slots_offset != sizeof(RingShared) || ring_bytes(size, element_size) > bytes) {
        *reason = "ring slots do not fit in the space the region gives the ring";
        return -EBADMSG;
    }
    return 0;
}

} // namespace zc

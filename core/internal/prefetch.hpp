// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/prefetch.hpp — asking for a cache line before it is written.
//
// A frame's metadata line is written by the owner's core for every packet
// and read by a consumer on another core in between: when the owner writes
// it again the line has to leave the consumer's cache first. Asked for
// ahead with PREFETCHW, the line arrives owned, and the stores that follow
// do not wait. GCC's __builtin_prefetch(p, 1) emits PREFETCHW only when
// the target has it enabled (-mprfchw); otherwise a plain read prefetch,
// which brings the line shared, so every store still stalls on taking it
// over (seen: the store after it took 60% of zc:synthetic's recv_burst
// under perf). PREFETCHW is safe everywhere on x86-64: CPUs without it
// decode its opcode (0F 0D /1) as a no-op.

#pragma once

namespace zc {

inline void prefetch_for_write(const void* address) noexcept
{
#if defined(__x86_64__)
    asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(address)));
#else
    __builtin_prefetch(address, 1, 3);
#endif
}

} // namespace zc

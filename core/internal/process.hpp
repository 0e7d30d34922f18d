// SPDX-License-Identifier: BSD-3-Clause
//
// Telling whether another process still runs: a pid alone can be reused, so
// zc records a pid with its start time (field 22 of /proc/<pid>/stat) and
// compares both. Used for cluster owners and queue consumers.

#pragma once

#include <cstdint>
#include <sys/types.h>

namespace zc {

// Field 22 of /proc/<pid>/stat (clock ticks since boot), 0 if unreadable.
std::uint64_t process_start_time(pid_t pid) noexcept;

// Whether the process `pid` that started at `start_time` (0: unknown) runs;
// a zombie does not.
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;

} // namespace zc

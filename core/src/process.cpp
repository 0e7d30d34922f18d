// SPDX-License-Identifier: BSD-3-Clause

#include "internal/process.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <signal.h>

namespace zc {

namespace {

// Fields 3 (state) and 22 (start time in clock ticks since boot) of
// /proc/<pid>/stat. False when the file cannot be read.
bool read_stat(pid_t pid, char* state, std::uint64_t* start_time) noexcept
{
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    FILE* file = std::fopen(path, "re");
    if (!file)
        return false;
    char line[1024];
    std::size_t got = std::fread(line, 1, sizeof line - 1, file);
    std::fclose(file);
    line[got] = '\0';
    // The command name (field 2) may hold spaces and parentheses: start after
    // the last ')'. Fields 3.. follow, one space before each.
    const char* field = std::strrchr(line, ')');
    if (!field || field[1] != ' ')
        return false;
    *state = field[2];
    for (int n = 2; n < 22 && field; ++n)
        field = std::strchr(field + 1, ' ');
    *start_time = field ? std::strtoull(field + 1, nullptr, 10) : 0;
    return true;
}

} // namespace

std::uint64_t process_start_time(pid_t pid) noexcept
{
    char state = 0;
    std::uint64_t start = 0;
    return read_stat(pid, &state, &start) ? start : 0;
}

bool process_alive(pid_t pid, std::uint64_t start_time) noexcept
{
    if (pid <= 0)
        return false;
    if (::kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    char state = 0;
    std::uint64_t now = 0;
    if (!read_stat(pid, &state, &now))
        return true; // no /proc to ask: kill(2) said it exists
    // A zombie (killed, not yet reaped by its parent) runs no more.
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    return start_time == 0 || now == 0 || now == start_time;
}

} // namespace zc

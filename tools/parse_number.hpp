// SPDX-License-Identifier: BSD-3-Clause
//
// tools/parse_number.hpp — the one number parser of the tools' options.

#pragma once

#include <cerrno>
#include <cstdlib>

namespace zc::tools {

// True, with *out set, when `text` is a whole number or decimal in
// [min, max] and nothing else (NaN is refused).
inline bool parse_number(const char* text, double min, double max, double* out)
{
    char* end = nullptr;
    errno = 0;
    double value = std::strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= min && value <= max))
        return false;
    *out = value;
    return true;
}

} // namespace zc::tools

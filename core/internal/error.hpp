// SPDX-License-Identifier: BSD-3-Clause
//
// Control-path error and log helpers: every failure carries a negative errno
// and a sentence a person can act on.

#pragma once

#include "zc/zc.h"

namespace zc {

// Fills *err (if not null) with `code`, a negative errno, and a printf-style
// message; returns `code`.
int fail(zc_error* err, int code, const char* format, ...) __attribute__((format(printf, 3, 4)));

void log(zc_log_level level, const char* format, ...) __attribute__((format(printf, 2, 3)));

} // namespace zc

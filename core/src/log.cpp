// SPDX-License-Identifier: BSD-3-Clause

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "internal/error.hpp"

namespace zc {

namespace {

void log_to_stderr(zc_log_level level, const char* message, void*)
{
    if (level <= ZC_LOG_WARNING)
        std::fprintf(stderr, "zc: %s\n", message);
}

// The one process-wide setting of the library: who hears its log lines.
zc_log_fn g_log_handler = log_to_stderr;
void* g_log_user = nullptr;

} // namespace

int fail(zc_error* err, int code, const char* format, ...)
{
    if (err) {
        err->code = code;
        va_list args;
        va_start(args, format);
        std::vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
    }
    return code;
}

void log(zc_log_level level, const char* format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(message, sizeof message, format, args);
    va_end(args);
    g_log_handler(level, message, g_log_user);
}

} // namespace zc

extern "C" void zc_set_log_handler(zc_log_fn handler, void* user)
{
    zc::g_log_handler = handler ? handler : zc::log_to_stderr;
    zc::g_log_user = handler ? user : nullptr;
}

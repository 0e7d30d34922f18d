// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/real_pcap.cpp — finding the real libpcap's entry points.

#include "real_pcap.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace pcapzc {

void* resolve_real(const char* name) noexcept
{
    if (void* found = ::dlsym(RTLD_NEXT, name))
        return found;
    // A program that dlopen()ed libpcap with RTLD_LOCAL: its symbols are not
    // in the global scope, but the library is loaded.
    if (void* library = ::dlopen("libpcap.so.0.8", RTLD_LAZY | RTLD_NOLOAD)) {
        void* found = ::dlsym(library, name);
        ::dlclose(library); // RTLD_NOLOAD took a reference; the program holds its own
        if (found)
            return found;
    }
    std::fprintf(stderr, "libpcap-zc: the real libpcap's %s was not found: libpcap-zc.so only works in "
                         "programs that use libpcap.so.0.8\n", name);
    std::abort();
}

} // namespace pcapzc

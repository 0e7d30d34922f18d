// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/real_pcap.hpp — the real libpcap behind the interposer.
//
// libpcap-zc.so defines the pcap_* entry points it must change, so the
// dynamic linker binds every call to them — from the program and from
// libpcap's own internal calls through its PLT — to us. PCAPZC_REAL(fn)
// is the next definition in lookup order: the real libpcap's. Each use
// site caches its pointer in a constant-initialised atomic, so a cached
// lookup is async-signal-safe (pcap_breakloop runs in signal handlers).
#ifndef PCAPZC_REAL_PCAP_HPP
#define PCAPZC_REAL_PCAP_HPP

#include <pcap/pcap.h>

#include <atomic>

namespace pcapzc {

// The real libpcap's `name`: dlsym(RTLD_NEXT), else libpcap.so.0.8 when a
// program loaded it RTLD_LOCAL. Never returns null: without a real libpcap
// there is nothing to forward to, and it says so and aborts.
void* resolve_real(const char* name) noexcept;

} // namespace pcapzc

#define PCAPZC_REAL(fn)                                                                              \
    ([]() noexcept {                                                                                 \
        static constinit std::atomic<void*> cached{nullptr};                                         \
        void* found = cached.load(std::memory_order_acquire); /* pairs with the release below */    \
        if (!found) {                                                                                \
            found = ::pcapzc::resolve_real(#fn);                                                     \
            cached.store(found, std::memory_order_release);                                          \
        }                                                                                            \
        return reinterpret_cast<decltype(&::fn)>(found);                                             \
    }())

#endif // PCAPZC_REAL_PCAP_HPP

// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/libzc_loader.hpp — libzc, loaded on the first zc: activation.
//
// libpcap-zc.so has no DT_NEEDED on libzc: under /etc/ld.so.preload it is
// mapped into every process, and most of them never open a zc: name, so
// they should not map libzc, libxdp, libbpf and their dependencies. The
// first pcap_activate of a zc: handle dlopen()s libzc (as root, before a
// program such as tcpdump drops its privileges) from, in order:
//   $ZC_LIBZC (ignored in set-user-ID and file-capability programs),
//   ../libzc.so.0 beside libpcap-zc.so itself (installed, it lives in
//     LIBDIR/zc/: this keeps an install under DESTDIR or a moved prefix
//     whole),
//   ../../core/.libs/libzc.so.0 beside it (the build tree, where it lives
//     in pcap-zc/.libs/),
//   ZC_LIBDIR/libzc.so.0 (the install directory, fixed at build time),
//   libzc.so.0 (the dynamic linker's usual search).
#ifndef PCAPZC_LIBZC_LOADER_HPP
#define PCAPZC_LIBZC_LOADER_HPP

#include <cstddef>

#include "zc/device.h"

namespace pcapzc {

struct LibZc {
    unsigned (*api_version)(void);
    void (*device_config_init)(zc_device_config*);
    int (*device_open)(const char*, const zc_device_config*, zc_device**, zc_error*);
    void (*device_close)(zc_device*);
    const char* (*device_mode)(const zc_device*);
    uint32_t (*device_recv_burst)(zc_device*, zc_packet*, uint32_t);
    void (*device_release_burst)(zc_device*, const zc_packet*, uint32_t);
    int (*device_inject)(zc_device*, const void*, uint32_t);
    int (*device_wait)(zc_device*, int);
    int (*device_selectable_fd)(const zc_device*);
    int (*device_get_stats)(zc_device*, zc_device_stats*);
    int (*device_set_filter)(zc_device*, const zc_filter_insn*, uint32_t, uint32_t, zc_error*);
    int (*device_filter_mode)(const zc_device*);
    const char* (*device_filter_mode_name)(int);
    int (*device_host_traffic)(const zc_device*, char*, uint32_t);
    // libbpf's libbpf_set_print (libzc's dependency), or null. libbpf
    // writes its diagnostics to stderr by default; in dumpcap stderr is the
    // pipe to tshark, and a stray line there hides the real error.
    void* (*libbpf_set_print)(void*);
};

// libzc's entry points, or null with a sentence in message (size bytes).
// Thread-safe; the library stays loaded for the life of the process.
const LibZc* load_libzc(char* message, std::size_t size) noexcept;

} // namespace pcapzc

#endif // PCAPZC_LIBZC_LOADER_HPP

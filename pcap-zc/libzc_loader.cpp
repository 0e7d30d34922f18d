// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/libzc_loader.cpp — see libzc_loader.hpp.

#include "libzc_loader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#ifndef ZC_LIBDIR
#define ZC_LIBDIR "/usr/local/lib"
#endif

namespace pcapzc {
namespace {

std::mutex g_load_mutex;  // control path only: pcap_activate
LibZc g_libzc{};          // filled once, under g_load_mutex
bool g_loaded = false;

template <typename Fn>
bool bind(void* library, const char* name, Fn& out, std::string& missing)
{
    out = reinterpret_cast<Fn>(::dlsym(library, name));
    if (!out)
        missing = name;
    return out != nullptr;
}

// The folder libpcap-zc.so was loaded from ("" if the loader cannot say).
std::string own_folder()
{
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&load_libzc), &info) == 0 || !info.dli_fname)
        return {};
    std::string path = info.dli_fname;
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string{} : path.substr(0, slash);
}

} // namespace

const LibZc* load_libzc(char* message, std::size_t size) noexcept
{
    std::lock_guard lock(g_load_mutex);
    if (g_loaded)
        return &g_libzc;

    std::string tried;
    void* library = nullptr;
    std::vector<std::string> candidates;
    const char* named = ::secure_getenv("ZC_LIBZC");
    if (named && *named)
        candidates.emplace_back(named);
    if (std::string folder = own_folder(); !folder.empty()) {
        candidates.push_back(folder + "/../libzc.so.0");
        candidates.push_back(folder + "/../../core/.libs/libzc.so.0");
    }
    candidates.emplace_back(ZC_LIBDIR "/libzc.so.0");
    candidates.emplace_back("libzc.so.0");
    for (const std::string& path : candidates) {
        // A place probed that holds nothing is no news: only the reasons of
        // what was named, what exists but fails, and the last resort are
        // worth a message.
        bool probe = path.front() == '/' && !(named && path == named);
        if (probe && ::access(path.c_str(), F_OK) != 0)
            continue;
        library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (library)
            break;
        const char* why = ::dlerror();
        tried += tried.empty() ? "" : "; ";
        tried += why ? why : path.c_str();
    }
    if (!library) {
        std::snprintf(message, size, "cannot load libzc (%s); is zc installed? ZC_LIBZC=/path/libzc.so.0 names it",
                      tried.c_str());
        return nullptr;
    }
    LibZc zc{};
    std::string missing;
    bool ok = bind(library, "zc_api_version", zc.api_version, missing) &&
              bind(library, "zc_device_config_init", zc.device_config_init, missing) &&
              bind(library, "zc_device_open", zc.device_open, missing) &&
              bind(library, "zc_device_close", zc.device_close, missing) &&
              bind(library, "zc_device_mode", zc.device_mode, missing) &&
              bind(library, "zc_device_recv_burst", zc.device_recv_burst, missing) &&
              bind(library, "zc_device_release_burst", zc.device_release_burst, missing) &&
              bind(library, "zc_device_inject", zc.device_inject, missing) &&
              bind(library, "zc_device_wait", zc.device_wait, missing) &&
              bind(library, "zc_device_selectable_fd", zc.device_selectable_fd, missing) &&
              bind(library, "zc_device_get_stats", zc.device_get_stats, missing) &&
              bind(library, "zc_device_set_filter", zc.device_set_filter, missing) &&
              bind(library, "zc_device_filter_mode", zc.device_filter_mode, missing) &&
              bind(library, "zc_device_filter_mode_name", zc.device_filter_mode_name, missing) &&
              bind(library, "zc_device_host_traffic", zc.device_host_traffic, missing);
    zc.libbpf_set_print = reinterpret_cast<void* (*)(void*)>(::dlsym(library, "libbpf_set_print"));
    if (!ok) {
        std::snprintf(message, size, "the libzc found lacks %s: libpcap-zc and libzc come from different zc versions",
                      missing.c_str());
        ::dlclose(library);
        return nullptr;
    }
    if (zc.api_version() != ZC_API_VERSION) {
        std::snprintf(message, size, "libzc has API version %u, libpcap-zc was built for %u: install matching versions",
                      zc.api_version(), static_cast<unsigned>(ZC_API_VERSION));
        ::dlclose(library);
        return nullptr;
    }
    g_libzc = zc;
    g_loaded = true;
    return &g_libzc;
}

} // namespace pcapzc

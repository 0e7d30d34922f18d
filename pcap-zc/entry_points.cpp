// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/entry_points.cpp — the pcap_* functions libpcap-zc.so exports.
//
// Each one looks its pcap_t up in the handle table (handle.hpp). Not a zc:
// handle: the real libpcap's function, unchanged. A zc: handle: before
// activation the outer libpcap object answers (and pcap_set_* values are
// recorded); after it, either the zc device (capture.cpp) or the dead
// libpcap object that describes the handle (answering()). libpcap calls its
// own exported functions through its PLT, so they land here too: with a
// pcap_t we did not create (the dead one, savefiles) they forward, and the
// real functions are only ever called on those, so nothing recurses.
//
// pcap_open_live is not defined here: the real one calls pcap_create,
// pcap_set_* and pcap_activate, which are.

#include <pcap/pcap.h>

#include <cstdio>
#include <cstring>
#include <new>

#include "capture.hpp"
#include "devices.hpp"
#include "handle.hpp"
#include "real_pcap.hpp"

#define PCAPZC_EXPORT extern "C" __attribute__((visibility("default")))

using pcapzc::answering;
using pcapzc::find_handle;
using pcapzc::Handle;

namespace {

// The handle when it is a zc: handle that has been activated.
Handle* active(pcap_t* p) noexcept
{
    Handle* handle = find_handle(p);
    return handle && handle->activated.load(std::memory_order_acquire) ? handle : nullptr;
}

// A zc: handle not yet activated (its settings are still being recorded).
Handle* inactive(pcap_t* p) noexcept
{
    Handle* handle = find_handle(p);
    return handle && !handle->activated.load(std::memory_order_acquire) ? handle : nullptr;
}

} // namespace

// ---------------------------------------------------------------- creation

PCAPZC_EXPORT pcap_t* pcap_create(const char* source, char* errbuf)
{
    if (!source || std::strncmp(source, "zc:", 3) != 0)
        return PCAPZC_REAL(pcap_create)(source, errbuf);
    pcap_t* outer = PCAPZC_REAL(pcap_create)(source, errbuf);
    if (!outer)
        return nullptr;
    auto* handle = new (std::nothrow) Handle;
    if (handle) {
        handle->outer = outer;
        handle->name = source;
    }
    if (!handle || !pcapzc::add_handle(handle)) {
        std::snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s: %s", source,
                      handle ? "too many zc: handles open in this process" : "out of memory");
        delete handle;
        PCAPZC_REAL(pcap_close)(outer);
        return nullptr;
    }
    return outer;
}

PCAPZC_EXPORT int pcap_activate(pcap_t* p)
{
    if (Handle* handle = find_handle(p))
        return pcapzc::activate(*handle);
    return PCAPZC_REAL(pcap_activate)(p);
}

PCAPZC_EXPORT void pcap_close(pcap_t* p)
{
    if (Handle* handle = find_handle(p))
        return pcapzc::close_handle(handle);
    PCAPZC_REAL(pcap_close)(p);
}

// Settings: libpcap checks them (and refuses them after activation, which
// the dead object does for us); a zc: handle records what was accepted.
#define PCAPZC_SETTING(function, field)                                    \
    PCAPZC_EXPORT int function(pcap_t* p, int value)                       \
    {                                                                      \
        Handle* handle = inactive(p);                                      \
        int rc = PCAPZC_REAL(function)(answering(p), value);               \
        if (handle && rc == 0)                                             \
            handle->field = value;                                         \
        return rc;                                                         \
    }
PCAPZC_SETTING(pcap_set_snaplen, snaplen)
PCAPZC_SETTING(pcap_set_promisc, promisc)
PCAPZC_SETTING(pcap_set_rfmon, rfmon)
PCAPZC_SETTING(pcap_set_timeout, timeout_ms)
PCAPZC_SETTING(pcap_set_immediate_mode, immediate)
PCAPZC_SETTING(pcap_set_tstamp_precision, precision)
#undef PCAPZC_SETTING

// Accepted and checked by libpcap; zc has no use for them (the device sizes
// its own rings; time stamps are the host's).
PCAPZC_EXPORT int pcap_set_buffer_size(pcap_t* p, int size)
{
    return PCAPZC_REAL(pcap_set_buffer_size)(answering(p), size);
}
PCAPZC_EXPORT int pcap_set_tstamp_type(pcap_t* p, int type)
{
    return PCAPZC_REAL(pcap_set_tstamp_type)(answering(p), type);
}
PCAPZC_EXPORT int pcap_set_protocol_linux(pcap_t* p, int protocol)
{
    return PCAPZC_REAL(pcap_set_protocol_linux)(answering(p), protocol);
}

PCAPZC_EXPORT int pcap_can_set_rfmon(pcap_t* p)
{
    if (find_handle(p))
        return 0; // no monitor mode on zc devices
    return PCAPZC_REAL(pcap_can_set_rfmon)(answering(p));
}

// ---------------------------------------------------------------- reading

PCAPZC_EXPORT int pcap_dispatch(pcap_t* p, int cnt, pcap_handler callback, u_char* user)
{
    if (Handle* handle = active(p))
        return pcapzc::dispatch(*handle, cnt, callback, user);
    return PCAPZC_REAL(pcap_dispatch)(p, cnt, callback, user);
}

PCAPZC_EXPORT int pcap_loop(pcap_t* p, int cnt, pcap_handler callback, u_char* user)
{
    if (Handle* handle = active(p))
        return pcapzc::loop(*handle, cnt, callback, user);
    return PCAPZC_REAL(pcap_loop)(p, cnt, callback, user);
}

PCAPZC_EXPORT int pcap_next_ex(pcap_t* p, struct pcap_pkthdr** header, const u_char** data)
{
    if (Handle* handle = active(p))
        return pcapzc::next_ex(*handle, header, data);
    return PCAPZC_REAL(pcap_next_ex)(p, header, data);
}

PCAPZC_EXPORT const u_char* pcap_next(pcap_t* p, struct pcap_pkthdr* header)
{
    if (Handle* handle = active(p)) {
        struct pcap_pkthdr* got = nullptr;
        const u_char* data = nullptr;
        if (pcapzc::next_ex(*handle, &got, &data) != 1)
            return nullptr;
        *header = *got;
        return data;
    }
    return PCAPZC_REAL(pcap_next)(p, header);
}

PCAPZC_EXPORT void pcap_breakloop(pcap_t* p)
{
    if (Handle* handle = active(p))
        return pcapzc::breakloop(*handle);
    PCAPZC_REAL(pcap_breakloop)(p);
}

PCAPZC_EXPORT int pcap_setnonblock(pcap_t* p, int nonblock, char* errbuf)
{
    if (Handle* handle = active(p)) {
        handle->nonblock = nonblock != 0;
        return 0;
    }
    Handle* handle = inactive(p);
    int rc = PCAPZC_REAL(pcap_setnonblock)(p, nonblock, errbuf);
    if (handle && rc == 0)
        handle->nonblock = nonblock != 0;
    return rc;
}

PCAPZC_EXPORT int pcap_getnonblock(pcap_t* p, char* errbuf)
{
    if (Handle* handle = active(p))
        return handle->nonblock;
    return PCAPZC_REAL(pcap_getnonblock)(p, errbuf);
}

PCAPZC_EXPORT int pcap_get_selectable_fd(pcap_t* p)
{
    if (Handle* handle = active(p))
        return pcapzc::selectable_fd(*handle);
    return PCAPZC_REAL(pcap_get_selectable_fd)(p);
}

PCAPZC_EXPORT int pcap_fileno(pcap_t* p)
{
    if (Handle* handle = active(p))
        return pcapzc::selectable_fd(*handle);
    return PCAPZC_REAL(pcap_fileno)(p);
}

PCAPZC_EXPORT int pcap_stats(pcap_t* p, struct pcap_stat* stats)
{
    if (Handle* handle = active(p))
        return pcapzc::stats(*handle, stats);
    return PCAPZC_REAL(pcap_stats)(p, stats);
}

PCAPZC_EXPORT int pcap_setfilter(pcap_t* p, struct bpf_program* program)
{
    if (Handle* handle = active(p))
        return pcapzc::set_filter(*handle, program);
    return PCAPZC_REAL(pcap_setfilter)(p, program);
}

PCAPZC_EXPORT int pcap_setdirection(pcap_t* p, pcap_direction_t direction)
{
    if (Handle* handle = active(p))
        return pcapzc::set_direction(*handle, direction);
    return PCAPZC_REAL(pcap_setdirection)(p, direction);
}

// ---------------------------------------------------------------- sending

PCAPZC_EXPORT int pcap_inject(pcap_t* p, const void* frame, size_t size)
{
    if (Handle* handle = active(p))
        return pcapzc::inject(*handle, frame, size);
    return PCAPZC_REAL(pcap_inject)(p, frame, size);
}

PCAPZC_EXPORT int pcap_sendpacket(pcap_t* p, const u_char* frame, int size)
{
    if (Handle* handle = active(p)) {
        if (size < 0) {
            std::snprintf(pcapzc::error_buffer(*handle), PCAP_ERRBUF_SIZE, "The number of bytes to send is negative");
            return PCAP_ERROR;
        }
        return pcapzc::inject(*handle, frame, static_cast<size_t>(size)) < 0 ? PCAP_ERROR : 0;
    }
    return PCAPZC_REAL(pcap_sendpacket)(p, frame, size);
}

// ------------------------------------------- what the handle looks like
// After activation the dead object (DLT_EN10MB, the snapshot length and
// time stamp precision asked for) answers: compile, dump_open and the rest
// behave exactly as libpcap's.

PCAPZC_EXPORT char* pcap_geterr(pcap_t* p) { return PCAPZC_REAL(pcap_geterr)(answering(p)); }
PCAPZC_EXPORT void pcap_perror(pcap_t* p, const char* prefix) { PCAPZC_REAL(pcap_perror)(answering(p), prefix); }
PCAPZC_EXPORT int pcap_datalink(pcap_t* p) { return PCAPZC_REAL(pcap_datalink)(answering(p)); }
PCAPZC_EXPORT int pcap_datalink_ext(pcap_t* p) { return PCAPZC_REAL(pcap_datalink_ext)(answering(p)); }
PCAPZC_EXPORT int pcap_list_datalinks(pcap_t* p, int** list)
{
    return PCAPZC_REAL(pcap_list_datalinks)(answering(p), list);
}
PCAPZC_EXPORT int pcap_set_datalink(pcap_t* p, int dlt) { return PCAPZC_REAL(pcap_set_datalink)(answering(p), dlt); }
PCAPZC_EXPORT int pcap_snapshot(pcap_t* p) { return PCAPZC_REAL(pcap_snapshot)(answering(p)); }
PCAPZC_EXPORT int pcap_is_swapped(pcap_t* p) { return PCAPZC_REAL(pcap_is_swapped)(answering(p)); }
PCAPZC_EXPORT int pcap_major_version(pcap_t* p) { return PCAPZC_REAL(pcap_major_version)(answering(p)); }
PCAPZC_EXPORT int pcap_minor_version(pcap_t* p) { return PCAPZC_REAL(pcap_minor_version)(answering(p)); }
PCAPZC_EXPORT int pcap_bufsize(pcap_t* p) { return PCAPZC_REAL(pcap_bufsize)(answering(p)); }
PCAPZC_EXPORT FILE* pcap_file(pcap_t* p) { return PCAPZC_REAL(pcap_file)(answering(p)); }
PCAPZC_EXPORT int pcap_get_tstamp_precision(pcap_t* p)
{
    return PCAPZC_REAL(pcap_get_tstamp_precision)(answering(p));
}
PCAPZC_EXPORT int pcap_list_tstamp_types(pcap_t* p, int** types)
{
    return PCAPZC_REAL(pcap_list_tstamp_types)(answering(p), types);
}
PCAPZC_EXPORT const struct timeval* pcap_get_required_select_timeout(pcap_t* p)
{
    return PCAPZC_REAL(pcap_get_required_select_timeout)(answering(p));
}
PCAPZC_EXPORT int pcap_compile(pcap_t* p, struct bpf_program* program, const char* text, int optimize,
                               bpf_u_int32 netmask)
{
    return PCAPZC_REAL(pcap_compile)(answering(p), program, text, optimize, netmask);
}
PCAPZC_EXPORT pcap_dumper_t* pcap_dump_open(pcap_t* p, const char* path)
{
    return PCAPZC_REAL(pcap_dump_open)(answering(p), path);
}
PCAPZC_EXPORT pcap_dumper_t* pcap_dump_open_append(pcap_t* p, const char* path)
{
    return PCAPZC_REAL(pcap_dump_open_append)(answering(p), path);
}
PCAPZC_EXPORT pcap_dumper_t* pcap_dump_fopen(pcap_t* p, FILE* file)
{
    return PCAPZC_REAL(pcap_dump_fopen)(answering(p), file);
}

// ---------------------------------------------------------------- names

PCAPZC_EXPORT int pcap_findalldevs(pcap_if_t** devices, char* errbuf)
{
    int rc = PCAPZC_REAL(pcap_findalldevs)(devices, errbuf);
    if (rc == 0)
        pcapzc::append_zc_devices(devices);
    return rc;
}

PCAPZC_EXPORT int pcap_lookupnet(const char* device, bpf_u_int32* net, bpf_u_int32* mask, char* errbuf)
{
    if (device && std::strncmp(device, "zc:", 3) == 0) {
        char interface[256];
        if (!pcapzc::first_interface(device, interface, sizeof interface)) {
            *net = *mask = 0; // a replay, a synthetic source, a cluster: like "any"
            return 0;
        }
        return PCAPZC_REAL(pcap_lookupnet)(interface, net, mask, errbuf);
    }
    return PCAPZC_REAL(pcap_lookupnet)(device, net, mask, errbuf);
}

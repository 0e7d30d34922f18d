// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/handle.hpp — what a zc: pcap_t is, and the table that finds it.
//
// A zc: handle is two real libpcap objects and a zc device:
//
//   outer  from the real pcap_create(name): the pointer the program holds.
//          Before activation every pcap_set_* goes to it, so it answers
//          exactly as libpcap does (and we record what was set).
//   dead   from pcap_open_dead_with_tstamp_precision(DLT_EN10MB, snaplen,
//          precision) at activation: after activation every function whose
//          answer is the handle's description (datalink, snapshot, compile,
//          dump_open, tstamp precision, geterr...) goes to it. The outer
//          handle is never activated in libpcap's eyes.
//   device the zc_device (zc_device_open), which receives and sends.
//
// The table maps outer pcap_t* to its Handle. Lookups are lock-free (atomic
// loads only), so entry points called from signal handlers (pcap_breakloop,
// pcap_file) may use it; insertion and removal (pcap_create, pcap_close)
// take a mutex.
#ifndef PCAPZC_HANDLE_HPP
#define PCAPZC_HANDLE_HPP

#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "libzc_loader.hpp"

namespace pcapzc {

inline constexpr std::uint32_t kBurst = 64; // packets taken from the device at once

struct Handle {
    pcap_t* outer = nullptr;
    pcap_t* dead = nullptr;
    std::string name; // as given, with "zc:"

    // Set before activation (recorded after libpcap accepted them on outer).
    int snaplen = 0;
    int promisc = 0;
    int rfmon = 0;
    int timeout_ms = 0;
    int immediate = 0;
    int precision = PCAP_TSTAMP_PRECISION_MICRO;
    int nonblock = 0;

    // After activation.
    std::atomic<bool> activated{false};
    const LibZc* zc = nullptr;
    zc_device* device = nullptr;
    bool can_send = false;
    int epoll_fd = -1;   // what pcap_get_selectable_fd returns: device fd + the two below
    int pending_fd = -1; // eventfd, readable while packets wait in `pending`
    int break_fd = -1;   // eventfd, written by pcap_breakloop
    std::atomic<bool> break_requested{false};
    bool pending_signalled = false;
    bool selected = false; // the program asked for the selectable fd: it may poll it between calls
    bool ended = false; // a finite source (zc:pcap:) has no more packets

    // Packets taken from the device: [0, head) delivered (their buffers are
    // held until the next burst, so pcap_next's data stays valid until the
    // next call), [head, count) not yet looked at.
    zc_packet pending[kBurst]{};
    std::uint32_t head = 0;
    std::uint32_t count = 0;

    // The filter is the device's (zc_device_set_filter: in the kernel where
    // it can be, else in user space); what it hands out has passed it.
    std::uint64_t passed = 0;     // packets that passed the filter (ps_recv)
    bool host_traffic_said = false; // the host-traffic sentence, once, at the first read

    struct pcap_pkthdr next_header {}; // for pcap_next / pcap_next_ex
    const u_char* next_data = nullptr;
};

// The Handle of a zc: pcap_t, or null for any other pcap_t. Async-signal-safe.
Handle* find_handle(const pcap_t* p) noexcept;
// Registers a new handle; false when the table is full.
bool add_handle(Handle* handle) noexcept;
void remove_handle(const Handle* handle) noexcept;

// The libpcap object that answers for p: dead after activation, else p.
inline pcap_t* answering(pcap_t* p) noexcept
{
    Handle* handle = find_handle(p);
    // acquire: pairs with the release store of `activated` in activate().
    return handle && handle->activated.load(std::memory_order_acquire) ? handle->dead : p;
}

} // namespace pcapzc

#endif // PCAPZC_HANDLE_HPP

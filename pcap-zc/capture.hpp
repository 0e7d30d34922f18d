// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/capture.hpp — libpcap's operations on a zc: handle, carried out
// with the zc device. The entry points (entry_points.cpp) call these once
// a handle is activated; they return what the libpcap function would, and
// put libpcap-style sentences in the handle's error buffer.
#ifndef PCAPZC_CAPTURE_HPP
#define PCAPZC_CAPTURE_HPP

#include <pcap/pcap.h>

#include <cstddef>

#include "handle.hpp"

namespace pcapzc {

// Opens the device with what was set on the handle. Everything that needs
// privileges happens here (tcpdump drops root right after). 0 or a
// PCAP_ERROR_* code with the error buffer filled.
int activate(Handle& handle) noexcept;

// pcap_dispatch: up to cnt packets (cnt <= 0: one batch). Returns how many
// passed the filter and were handed to callback, 0 on timeout (or nothing
// waiting in non-blocking mode), PCAP_ERROR_BREAK, PCAP_ERROR.
int dispatch(Handle& handle, int cnt, pcap_handler callback, u_char* user) noexcept;
// pcap_loop: until cnt packets (cnt <= 0: forever), the end of a replay
// (0), PCAP_ERROR_BREAK or PCAP_ERROR.
int loop(Handle& handle, int cnt, pcap_handler callback, u_char* user) noexcept;
// pcap_next_ex: 1 and the packet, 0 on timeout, PCAP_ERROR_BREAK at the end
// of a replay (like the end of a savefile) or after pcap_breakloop.
int next_ex(Handle& handle, struct pcap_pkthdr** header, const u_char** data) noexcept;

// pcap_breakloop: async-signal-safe (a flag and an eventfd write).
void breakloop(Handle& handle) noexcept;

// pcap_get_selectable_fd, pcap_fileno: the program will poll the fd between
// calls, so from now on it is left readable whenever there is something to
// read (and armed to become so when there is not).
int selectable_fd(Handle& handle) noexcept;

int stats(Handle& handle, struct pcap_stat* stats) noexcept;
int set_filter(Handle& handle, const struct bpf_program* program) noexcept;
int set_direction(Handle& handle, pcap_direction_t direction) noexcept;
// pcap_inject: bytes sent or PCAP_ERROR.
int inject(Handle& handle, const void* frame, std::size_t size) noexcept;

// pcap_close: gives every buffer back, closes the device (the XDP program
// goes with it), both libpcap objects, and frees the handle.
void close_handle(Handle* handle) noexcept;

// The error buffer the program reads with pcap_geterr.
char* error_buffer(Handle& handle) noexcept;

} // namespace pcapzc

#endif // PCAPZC_CAPTURE_HPP

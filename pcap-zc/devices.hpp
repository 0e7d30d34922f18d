// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/devices.hpp — zc: names in libpcap's device list and lookups.
#ifndef PCAPZC_DEVICES_HPP
#define PCAPZC_DEVICES_HPP

#include <pcap/pcap.h>

#include <cstddef>

namespace pcapzc {

// Appends "zc:IFACE" for every network interface in the list that is up.
// Appended, never inserted: the first entry stays libpcap's default device
// (tcpdump without -i, pcap_lookupdev). Allocated with malloc, as libpcap
// does, so pcap_freealldevs frees them.
void append_zc_devices(pcap_if_t** devices) noexcept;

// The first network interface a zc: name captures on ("zc:eth0@3" and
// "zc:afpacket:eth0" give eth0, "zc:eth0,eth1" gives eth0); false for names
// with no interface (zc:pcap:FILE, zc:synthetic, zc:CLUSTER@QUEUE).
bool first_interface(const char* name, char* out, std::size_t size) noexcept;

} // namespace pcapzc

#endif // PCAPZC_DEVICES_HPP

// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/interfaces.hpp — from what Snort was given (-i NAME, DAQ's
// config->name) to the zc device to open, and back from an open device to
// the interfaces its packets come from (for DAQ's ingress_index and
// get_device_index).
//
// Snort users may write the name with or without the "zc:" prefix:
// `-i zc:eth0` and `-i eth0` open the same device, and so do `-i zc:99@0`
// and `-i 99@0` (a cluster queue). Every zc(7) name works, zc:pcap:FILE and
// zc:synthetic included. The name itself is parsed by libzc, as in every
// other front end; this file only adds the prefix, and reads the interface
// list back from an opened device.
#ifndef DAQZC_INTERFACES_HPP
#define DAQZC_INTERFACES_HPP

#include <string>
#include <vector>

#include "zc/device.h"

namespace daqzc {

// The zc(7) name for what Snort was given: the name itself when it starts
// with "zc:", else "zc:" + name.
std::string device_name(const char* snort_name);

// Inline mode (Snort -Q): interfaces in pairs, as libdaq's afpacket module
// takes them: "eth0:eth1", several pairs as "eth0:eth1::eth2:eth3", each
// with or without the "zc:" prefix in front of the whole, and with
// "afpacket:" after it for AF_PACKET instead of AF_XDP
// ("zc:afpacket:eth0:eth1"). What one interface of a pair receives goes
// out of the other.
struct InlinePairs {
    std::vector<std::string> interfaces; // in order: the aggregate's ports
    std::vector<std::size_t> peer;       // peer[port]: the port it forwards to
    bool afpacket = false;               // zc:afpacket:A,B rather than zc:A,B
};
// false with a sentence in `error` when the name is not whole pairs.
bool parse_inline_pairs(const char* snort_name, InlinePairs& out, std::string& error);
// The aggregate that receives from every interface of the pairs:
// "zc:A,B,..." (or "zc:afpacket:A,B,...").
std::string aggregate_name(const InlinePairs& pairs);

struct Interface {
    std::string name;
    int index = -1; // the kernel's ifindex
};

// The interfaces an open device receives from, in port order (a packet's
// zc_packet.port indexes this list): zc:A,B and zc:afpacket:A,B give A and
// B; cluster queues, replays and synthetic sources give none (their packets
// come from no interface of this process). Interfaces that vanished since
// the open have index -1.
std::vector<Interface> device_interfaces(const zc_device* device);

} // namespace daqzc

#endif // DAQZC_INTERFACES_HPP

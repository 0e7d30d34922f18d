// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afxdp/netdev.hpp — what the AF_XDP driver asks of a network
// interface besides XDP: how many RX queues it has, its counters, and
// promiscuous mode. Control path only.
//
// Everything here goes through sockets (ethtool ioctl, rtnetlink, packet
// sockets), never /sys/class/net alone: sysfs shows the network namespace
// it was mounted in, which is not the caller's after setns(2).

#pragma once

#include <cstdint>
#include <string>

#include "../unique_fd.hpp"
#include "zc/zc.h"

namespace zc::afxdp {

// RX queues an AF_XDP socket may bind to (the device's real_num_rx_queues):
// ethtool channels (combined + rx), else the rx-* entries of sysfs when
// sysfs shows this very interface, else the queues rtnetlink reports.
int rx_queue_count(const std::string& interface, unsigned ifindex, std::uint32_t* count, zc_error* err);

struct LinkInfo {
    std::uint32_t promiscuity = 0;   // how many holders keep it promiscuous
    std::uint32_t num_rx_queues = 0; // allocated RX queues (may exceed the ones in use)
    std::uint32_t mtu = 0;
    std::uint64_t rx_dropped = 0;    // the driver's rx_dropped (IFLA_STATS64)
};

// One RTM_GETLINK for ifindex. 0, or a negative errno.
int query_link(unsigned ifindex, LinkInfo& out);

// Holds the interface in promiscuous mode for as long as it lives, through
// a packet socket's PACKET_MR_PROMISC membership. The kernel counts these
// (promiscuity), so closing gives back exactly the state found at open —
// also when the process dies, since the kernel drops the membership with
// the socket. The socket is bound to no protocol: it receives nothing.
class PromiscuousMode {
public:
    PromiscuousMode() noexcept = default;
    int enable(const std::string& interface, unsigned ifindex, zc_error* err);

private:
    UniqueFd socket_;
};

} // namespace zc::afxdp

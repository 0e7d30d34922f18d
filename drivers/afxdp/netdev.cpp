// SPDX-License-Identifier: BSD-3-Clause
//
// Interface queries for the AF_XDP driver (see netdev.hpp).

#include "netdev.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <vector>

#include "internal/error.hpp"

namespace zc::afxdp {

namespace {

// ETHTOOL_GCHANNELS: 0 and *count, or a negative errno (-EOPNOTSUPP for
// drivers without channels).
int ethtool_rx_channels(const std::string& interface, std::uint32_t* count)
{
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return -errno;
    struct ethtool_channels channels {};
    channels.cmd = ETHTOOL_GCHANNELS;
    struct ifreq request {};
    std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
    request.ifr_data = reinterpret_cast<char*>(&channels);
    if (::ioctl(fd.get(), SIOCETHTOOL, &request) != 0)
        return -errno;
    *count = channels.combined_count + channels.rx_count;
    return *count > 0 ? 0 : -ENODATA;
}

// The rx-* entries of /sys/class/net/IF/queues, when that directory is the
// interface we mean (same ifindex: sysfs may show another namespace).
int sysfs_rx_queues(const std::string& interface, unsigned ifindex, std::uint32_t* count)
{
    std::string base = "/sys/class/net/" + interface;
    FILE* file = std::fopen((base + "/ifindex").c_str(), "re");
    if (!file)
        return -ENOENT;
    unsigned listed = 0;
    int fields = std::fscanf(file, "%u", &listed);
    std::fclose(file);
    if (fields != 1 || listed != ifindex)
        return -ENOENT;
    DIR* dir = ::opendir((base + "/queues").c_str());
    if (!dir)
        return -errno;
    std::uint32_t found = 0;
    while (const struct dirent* entry = ::readdir(dir))
        if (std::strncmp(entry->d_name, "rx-", 3) == 0)
            ++found;
    ::closedir(dir);
    *count = found;
    return found > 0 ? 0 : -ENOENT;
}

} // namespace

int rx_queue_count(const std::string& interface, unsigned ifindex, std::uint32_t* count, zc_error* err)
{
    if (ethtool_rx_channels(interface, count) == 0)
        return 0;
    if (sysfs_rx_queues(interface, ifindex, count) == 0)
        return 0;
    LinkInfo link;
    if (int rc = query_link(ifindex, link); rc != 0)
        return fail(err, rc, "%s: cannot count the RX queues: %s", interface.c_str(), std::strerror(-rc));
    *count = link.num_rx_queues > 0 ? link.num_rx_queues : 1;
    return 0;
}

int query_link(unsigned ifindex, LinkInfo& out)
{
    UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd)
        return -errno;
    struct {
        struct nlmsghdr header;
        struct ifinfomsg link;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_GETLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST;
    request.header.nlmsg_seq = 1;
    request.link.ifi_family = AF_UNSPEC;
    request.link.ifi_index = static_cast<int>(ifindex);
    if (::send(fd.get(), &request, sizeof request, 0) < 0)
        return -errno;

    std::vector<char> buffer(64 * 1024);
    ssize_t got = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (got < 0)
        return -errno;
    auto* header = reinterpret_cast<struct nlmsghdr*>(buffer.data());
    int remaining = static_cast<int>(got);
    for (; NLMSG_OK(header, remaining); header = NLMSG_NEXT(header, remaining)) {
        if (header->nlmsg_type == NLMSG_ERROR) {
            auto* error = static_cast<struct nlmsgerr*>(NLMSG_DATA(header));
            return error->error != 0 ? error->error : -EPROTO;
        }
        if (header->nlmsg_type != RTM_NEWLINK)
            continue;
        auto* link = static_cast<struct ifinfomsg*>(NLMSG_DATA(header));
        int length = static_cast<int>(IFLA_PAYLOAD(header));
        for (auto* attribute = IFLA_RTA(link); RTA_OK(attribute, length); attribute = RTA_NEXT(attribute, length)) {
            std::size_t bytes = RTA_PAYLOAD(attribute);
            switch (attribute->rta_type) {
            case IFLA_PROMISCUITY:
                if (bytes >= sizeof(std::uint32_t))
                    std::memcpy(&out.promiscuity, RTA_DATA(attribute), sizeof(std::uint32_t));
                break;
            case IFLA_MTU:
                if (bytes >= sizeof(std::uint32_t))
                    std::memcpy(&out.mtu, RTA_DATA(attribute), sizeof(std::uint32_t));
                break;
            case IFLA_NUM_RX_QUEUES:
                if (bytes >= sizeof(std::uint32_t))
                    std::memcpy(&out.num_rx_queues, RTA_DATA(attribute), sizeof(std::uint32_t));
                break;
            case IFLA_STATS64:
                if (bytes >= sizeof(struct rtnl_link_stats64)) {
                    struct rtnl_link_stats64 stats {};
                    std::memcpy(&stats, RTA_DATA(attribute), sizeof stats);
                    out.rx_dropped = stats.rx_dropped;
                }
                break;
            default: break;
            }
        }
        return 0;
    }
    return -EPROTO;
}

int PromiscuousMode::enable(const std::string& interface, unsigned ifindex, zc_error* err)
{
    UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (!fd)
        return fail(err, errno == EPERM || errno == EACCES ? -EPERM : -errno,
                    "%s: cannot open a packet socket for promiscuous mode: %s", interface.c_str(),
                    std::strerror(errno));
    struct packet_mreq membership {};
    membership.mr_ifindex = static_cast<int>(ifindex);
    membership.mr_type = PACKET_MR_PROMISC;
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) != 0)
        return fail(err, -errno, "%s: cannot turn promiscuous mode on: %s", interface.c_str(), std::strerror(errno));
    socket_ = std::move(fd);
    return 0;
}

} // namespace zc::afxdp

// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afxdp/afxdp_filter.cpp — the AF_XDP driver's filters (see
// zc/device.h for what a caller gets, xdp_program.hpp for the two forms
// in the kernel) and its host-traffic check.
//
// set_kernel_filter tries, in order: the translated program (native eBPF,
// the fastest; needs CAP_BPF and CAP_PERFMON), zc_redirect's interpreter
// (needs nothing: the filter map was mapped at open), then no kernel
// filter at all (the core filters in user space). Every interface of the
// device ends up with the same form. Then one grace period: from its end
// on, every packet the kernel queues has met the new filter, and what the
// RX rings held at that moment is what the core must still check
// (settle_at_, kernel_filter_settled).

#include <cstdio>
#include <cstring>
#include <ifaddrs.h>
#include <net/if.h>

#include "../../kmod/filter_translate.hpp"
#include "afxdp_driver.hpp"

namespace zc::afxdp {

int AfXdpDriver::set_kernel_filter(const zc_filter_insn* insns, std::uint32_t count, std::uint32_t flags,
                                   std::string* why)
{
    if (!rx_) {
        if (count == 0)
            return ZC_FILTER_NONE;
        *why = "the device does not receive";
        return ZC_FILTER_USER;
    }
    const auto* program = reinterpret_cast<const sock_filter*>(insns);
    const std::uint32_t verdict = (flags & ZC_FILTER_DROP) ? XDP_DROP : XDP_PASS;
    int mode = count == 0 ? ZC_FILTER_NONE : ZC_FILTER_KERNEL_TRANSLATED;
    std::string reason;
    if (mode != ZC_FILTER_NONE && !zc::filter::validate(program, count, &reason))
        mode = ZC_FILTER_USER; // libpcap runs it, the kernel forms cannot (protochain loops)
    if (mode == ZC_FILTER_KERNEL_TRANSLATED && (flags & ZC_FILTER_INTERPRETED)) {
        mode = ZC_FILTER_KERNEL_INTERPRETED;
        reason = "asked for (ZC_FILTER_INTERPRETED)";
    }
    if (mode == ZC_FILTER_KERNEL_TRANSLATED)
        for (Interface& interface : interfaces_)
            if (interface.program->set_translated(program, count, verdict, &reason) != 0) {
                mode = ZC_FILTER_KERNEL_INTERPRETED;
                break;
            }
    if (mode == ZC_FILTER_KERNEL_INTERPRETED)
        for (Interface& interface : interfaces_) {
            std::string refused;
            if (interface.program->set_interpreted(program, count, verdict, &refused) != 0) {
                reason = refused;
                mode = ZC_FILTER_USER;
                break;
            }
        }
    if (mode == ZC_FILTER_USER || mode == ZC_FILTER_NONE)
        for (Interface& interface : interfaces_)
            if (int rc = interface.program->clear_filter(why); rc != 0)
                return rc;
    *why = reason;

    XdpProgram::grace_period();
    settle_at_.resize(socket_count_);
    for (std::uint32_t i = 0; i < socket_count_; ++i)
        settle_at_[i] = __atomic_load_n(sockets_[i].rx.producer, __ATOMIC_ACQUIRE); // pairs with the kernel's submit
    return mode;
}

bool AfXdpDriver::kernel_filter_settled() const noexcept
{
    for (std::uint32_t i = 0; i < settle_at_.size(); ++i)
        if (static_cast<std::int32_t>(sockets_[i].rx.cached_cons - settle_at_[i]) < 0)
            return false; // free-running indices: this socket has not read up to there yet
    return true;
}

namespace {

// Whether /proc/net/route or /proc/net/ipv6_route (this network namespace)
// has a route through `interface`.
bool carries_routes(const std::string& interface)
{
    for (const char* path : {"/proc/net/route", "/proc/net/ipv6_route"}) {
        std::FILE* file = std::fopen(path, "re");
        if (!file)
            continue;
        char line[512];
        bool found = false;
        bool ipv6 = std::strstr(path, "ipv6") != nullptr;
        while (!found && std::fgets(line, sizeof line, file)) {
            char name[IF_NAMESIZE + 1] = {};
            if (ipv6) { // the device is the last field
                const char* last = std::strrchr(line, ' ');
                if (last && std::sscanf(last, " %16s", name) == 1 && interface == name && interface != "lo")
                    found = true;
            } else if (std::sscanf(line, "%16s", name) == 1 && interface == name) {
                found = true;
            }
        }
        std::fclose(file);
        if (found)
            return true;
    }
    return false;
}

bool has_address(const std::string& interface)
{
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return false;
    bool found = false;
    for (ifaddrs* a = list; a && !found; a = a->ifa_next)
        found = a->ifa_addr && (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6) &&
                a->ifa_name && interface == a->ifa_name;
    ::freeifaddrs(list);
    return found;
}

} // namespace

int AfXdpDriver::host_traffic(char* sentence, std::uint32_t size) const noexcept
{
    if (!rx_)
        return 0;
    for (const Interface& interface : interfaces_) {
        const bool address = has_address(interface.name);
        if (!address && !carries_routes(interface.name))
            continue;
        if (sentence && size > 0)
            std::snprintf(sentence, size,
                          "%s has %s: while zc captures %s without a filter in the kernel, the host's own traffic "
                          "on %s goes to zc and not to the host (see HOST TRAFFIC in zc(7): a filter, or a "
                          "dedicated queue zc:%s@Q with an ethtool flow rule)",
                          interface.name.c_str(), address ? "an address" : "routes",
                          socket_count_ > 1 ? "its queues" : "the queue", interface.name.c_str(),
                          interface.name.c_str());
        return 1;
    }
    return 0;
}

} // namespace zc::afxdp

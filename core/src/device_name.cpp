// SPDX-License-Identifier: BSD-3-Clause
//
// The one parser of zc device names (man zc(7)). Every front end — the
// tools, pcap-zc, daq-zc — goes through it.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <net/if.h>

#include "internal/driver.hpp"
#include "internal/error.hpp"

namespace zc {

namespace {

bool all_digits(const std::string& text)
{
    return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

bool valid_interface(const std::string& name)
{
    if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..")
        return false;
    for (char c : name)
        if (c == '/' || c == ':' || c == ',' || c == '@' || c <= ' ' || c == 0x7f)
            return false;
    return true;
}

int parse_interfaces(const std::string& list, const char* name, DeviceName& out, zc_error* err)
{
    std::size_t start = 0;
    for (;;) {
        std::size_t comma = list.find(',', start);
        std::string interface = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!valid_interface(interface))
            return fail(err, -EINVAL, "%s: '%s' is not a valid interface name", name, interface.c_str());
        out.interfaces.push_back(interface);
        if (comma == std::string::npos)
            return 0;
        start = comma + 1;
    }
}

} // namespace

int parse_device_name(const char* name, DeviceName& out, zc_error* err)
{
    out = DeviceName{};
    if (!name || !*name)
        return fail(err, -EINVAL, "empty device name (expected zc:IFACE, zc:IFACE@QUEUE, ... see man zc)");
    std::string rest = std::strncmp(name, "zc:", 3) == 0 ? name + 3 : name;

    if (rest.rfind("afpacket:", 0) == 0) {
        out.kind = DeviceName::Kind::AfPacket;
        return parse_interfaces(rest.substr(9), name, out, err);
    }
    if (rest.rfind("pcap:", 0) == 0) {
        out.kind = DeviceName::Kind::PcapFile;
        out.path = rest.substr(5);
        if (out.path.empty())
            return fail(err, -EINVAL, "%s: no file after 'pcap:' (expected zc:pcap:/path/to/file.pcap)", name);
        return 0;
    }
    if (rest == "synthetic") {
        out.kind = DeviceName::Kind::Synthetic;
        return 0;
    }

    out.kind = DeviceName::Kind::AfXdp;
    std::size_t at = rest.rfind('@');
    std::string interfaces = rest.substr(0, at);
    if (at != std::string::npos) {
        std::string queue = rest.substr(at + 1);
        if (!all_digits(queue) || queue.size() > 5 || std::atoi(queue.c_str()) > 65535)
            return fail(err, -EINVAL, "%s: queue '%s' is not a number from 0 to 65535", name, queue.c_str());
        out.queue = std::atoi(queue.c_str());
        if (all_digits(interfaces)) {
            // CLUSTER@QUEUE: a queue of a cluster published by zc-balance.
            if (interfaces.size() > 10 || std::strtoull(interfaces.c_str(), nullptr, 10) > 0xffffffffull)
                return fail(err, -EINVAL, "%s: cluster '%s' is not a number from 0 to 4294967295", name,
                            interfaces.c_str());
            out.kind = DeviceName::Kind::ClusterQueue;
            out.cluster = static_cast<std::uint32_t>(std::strtoull(interfaces.c_str(), nullptr, 10));
            return 0;
        }
        if (interfaces.find(',') != std::string::npos)
            return fail(err, -EINVAL, "%s: a queue number applies to one interface, not to a list", name);
    }
    return parse_interfaces(interfaces, name, out, err);
}

} // namespace zc

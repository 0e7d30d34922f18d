// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/interfaces.cpp — see interfaces.hpp.

#include "interfaces.hpp"

#include <net/if.h>

#include <cstring>

namespace daqzc {

std::string device_name(const char* snort_name)
{
    std::string name = snort_name ? snort_name : "";
    if (name.rfind("zc:", 0) == 0)
        return name;
    return "zc:" + name;
}

bool parse_inline_pairs(const char* snort_name, InlinePairs& out, std::string& error)
{
    out = InlinePairs{};
    const std::string given = snort_name ? snort_name : "";
    std::string rest = given.rfind("zc:", 0) == 0 ? given.substr(3) : given;
    if (rest.rfind("afpacket:", 0) == 0) {
        out.afpacket = true;
        rest.erase(0, 9);
    }
    const std::string usage = " (inline mode takes interfaces in pairs: -i eth0:eth1, or eth0:eth1::eth2:eth3)";
    // Pairs are separated by "::"; within a pair the two names by ':'.
    std::size_t start = 0;
    for (;;) {
        std::size_t end = rest.find("::", start);
        std::string pair = rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
        std::size_t colon = pair.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == pair.size() ||
            pair.find(':', colon + 1) != std::string::npos) {
            error = "'" + given + "': '" + pair + "' is not a pair of interfaces" + usage;
            return false;
        }
        std::size_t first = out.interfaces.size();
        out.interfaces.push_back(pair.substr(0, colon));
        out.interfaces.push_back(pair.substr(colon + 1));
        out.peer.push_back(first + 1);
        out.peer.push_back(first);
        if (end == std::string::npos)
            return true;
        start = end + 2;
    }
}

std::string aggregate_name(const InlinePairs& pairs)
{
    std::string name = pairs.afpacket ? "zc:afpacket:" : "zc:";
    for (std::size_t i = 0; i < pairs.interfaces.size(); ++i)
        name += (i == 0 ? "" : ",") + pairs.interfaces[i];
    return name;
}

std::vector<Interface> device_interfaces(const zc_device* device)
{
    std::vector<Interface> interfaces;
    const char* mode = zc_device_mode(device);
    const bool afxdp = std::strncmp(mode, "afxdp", 5) == 0;
    if (!afxdp && std::strcmp(mode, "afpacket") != 0)
        return interfaces;
    // The name libzc opened (already valid, without "zc:"): [afpacket:]A[,B...][@QUEUE].
    std::string list = zc_device_name(device);
    if (list.rfind("afpacket:", 0) == 0)
        list.erase(0, 9);
    if (std::size_t at = list.rfind('@'); afxdp && at != std::string::npos)
        list.erase(at);
    std::size_t start = 0;
    for (;;) {
        std::size_t comma = list.find(',', start);
        Interface interface;
        interface.name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        unsigned index = ::if_nametoindex(interface.name.c_str());
        interface.index = index == 0 ? -1 : static_cast<int>(index);
        interfaces.push_back(std::move(interface));
        if (comma == std::string::npos)
            return interfaces;
        start = comma + 1;
    }
}

} // namespace daqzc

// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/devices.cpp — see devices.hpp.

#include "devices.hpp"

#include <net/if.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pcapzc {

void append_zc_devices(pcap_if_t** devices) noexcept
{
    pcap_if_t** tail = devices;
    while (*tail)
        tail = &(*tail)->next;
    // Walk only the entries libpcap listed (the new ones go after them).
    pcap_if_t* last_original = nullptr;
    for (pcap_if_t* device = *devices; device; device = device->next)
        last_original = device;
    for (pcap_if_t* device = *devices; device; device = device->next) {
        // Network interfaces only (not "any", nflog, usbmon, dbus...), and up.
        if ((device->flags & PCAP_IF_UP) && if_nametoindex(device->name) != 0) {
            auto* entry = static_cast<pcap_if_t*>(std::calloc(1, sizeof(pcap_if_t)));
            std::size_t length = std::strlen(device->name) + 4;
            char* name = static_cast<char*>(std::malloc(length));
            char* description = static_cast<char*>(std::malloc(length + 64));
            if (!entry || !name || !description) {
                std::free(entry);
                std::free(name);
                std::free(description);
                return; // no memory: the list stays libpcap's, which is still right
            }
            std::snprintf(name, length, "zc:%s", device->name);
            std::snprintf(description, length + 64, "zc: AF_XDP capture on %s, see pcap-zc(7)", device->name);
            entry->name = name;
            entry->description = description;
            entry->flags = device->flags;
            *tail = entry;
            tail = &entry->next;
        }
        if (device == last_original)
            break;
    }
}

bool first_interface(const char* name, char* out, std::size_t size) noexcept
{
    const char* rest = std::strncmp(name, "zc:", 3) == 0 ? name + 3 : name;
    if (std::strncmp(rest, "pcap:", 5) == 0 || std::strcmp(rest, "synthetic") == 0)
        return false;
    if (std::strncmp(rest, "afpacket:", 9) == 0)
        rest += 9;
    std::size_t length = std::strcspn(rest, ",@");
    bool digits = length > 0;
    for (std::size_t i = 0; i < length; ++i)
        digits = digits && std::isdigit(static_cast<unsigned char>(rest[i]));
    if (digits && rest[length] == '@')
        return false; // a cluster queue
    if (length == 0 || length >= size)
        return false;
    std::memcpy(out, rest, length);
    out[length] = '\0';
    return true;
}

} // namespace pcapzc

// SPDX-License-Identifier: BSD-3-Clause
//
// tools/send_interface.hpp — what live mode needs to know about a plain
// network interface: that it exists and is up, its index, MTU and driver,
// and its counters (to see what became of the frames handed to it).

#pragma once

#include <cstdint>
#include <string>

namespace zc::send {

struct InterfaceCounters {
    std::uint64_t tx_packets = 0;
    std::uint64_t tx_dropped = 0;
};

class Interface {
public:
    // Looks the interface up. Throws std::runtime_error with a sentence:
    // "eth9: no such interface (ip link lists the interfaces)",
    // "eth0: interface is down (ip link set eth0 up)".
    explicit Interface(std::string name);

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] unsigned index() const noexcept { return index_; }
    [[nodiscard]] std::uint32_t mtu() const noexcept { return mtu_; }
    // The driver's name as ethtool -i shows it ("veth", "ice", ...), or
    // empty when the interface does not say.
    [[nodiscard]] const std::string& driver() const noexcept { return driver_; }
    [[nodiscard]] bool is_veth() const noexcept { return driver_ == "veth"; }

    // The kernel's counters for the interface (/sys/class/net/NAME/statistics).
    [[nodiscard]] InterfaceCounters counters() const;

private:
    std::string name_;
    unsigned index_ = 0;
    std::uint32_t mtu_ = 0;
    std::string driver_;
};

} // namespace zc::send

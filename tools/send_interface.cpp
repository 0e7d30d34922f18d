// SPDX-License-Identifier: BSD-3-Clause

#include "send_interface.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace zc::send {

namespace {

class Socket {
public:
    Socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    int fd_;
};

std::uint64_t read_counter(const std::string& interface, const char* counter)
{
    std::ifstream file("/sys/class/net/" + interface + "/statistics/" + counter);
    std::uint64_t value = 0;
    if (!(file >> value))
        throw std::runtime_error(interface + ": cannot read its " + counter +
                                 " counter (was the interface removed?)");
    return value;
}

} // namespace

Interface::Interface(std::string name) : name_(std::move(name))
{
    if (name_.empty() || name_.size() >= IFNAMSIZ)
        throw std::runtime_error("'" + name_ + "' is not a valid interface name (1 to " +
                                 std::to_string(IFNAMSIZ - 1) + " characters)");
    index_ = ::if_nametoindex(name_.c_str());
    if (index_ == 0)
        throw std::runtime_error(name_ + ": no such interface (ip link lists the interfaces)");

    Socket socket;
    if (socket.fd() < 0)
        throw std::runtime_error(name_ + ": cannot open a socket to query the interface: " + std::strerror(errno));
    ifreq request{};
    std::strncpy(request.ifr_name, name_.c_str(), IFNAMSIZ - 1);
    if (::ioctl(socket.fd(), SIOCGIFFLAGS, &request) != 0)
        throw std::runtime_error(name_ + ": cannot read the interface flags: " + std::strerror(errno));
    if (!(request.ifr_flags & IFF_UP))
        throw std::runtime_error(name_ + ": interface is down (ip link set " + name_ + " up)");
    if (::ioctl(socket.fd(), SIOCGIFMTU, &request) == 0)
        mtu_ = static_cast<std::uint32_t>(request.ifr_mtu);

    ethtool_drvinfo info{};
    info.cmd = ETHTOOL_GDRVINFO;
    request.ifr_data = reinterpret_cast<char*>(&info);
    if (::ioctl(socket.fd(), SIOCETHTOOL, &request) == 0)
        driver_.assign(info.driver, strnlen(info.driver, sizeof info.driver));
}

InterfaceCounters Interface::counters() const
{
    return InterfaceCounters{read_counter(name_, "tx_packets"), read_counter(name_, "tx_dropped")};
}

} // namespace zc::send

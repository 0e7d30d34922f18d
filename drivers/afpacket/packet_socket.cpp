// SPDX-License-Identifier: BSD-3-Clause
//
// Opening one AF_PACKET socket with its TPACKET_V3 ring (control path).

#include "packet_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "internal/error.hpp"

namespace zc::afpacket {

namespace {

constexpr std::uint64_t kSlotBytes = 2048;
constexpr std::uint32_t kMaxBlockBytes = 256 * 1024;
// Large enough for one packet of the largest pool buffer (4 KiB) and its
// headers, which is all the kernel will ever copy (see the snap filter).
constexpr std::uint32_t kMinBlockBytes = 16 * 1024;
// At low rates a block is handed over when this timer fires, so it bounds
// how late a lone packet is seen. 4 ms: a few hundred wake-ups a second at
// most when the link is quiet, well under a frame of video when it is not.
constexpr std::uint32_t kRetireMs = 4;

std::uint64_t read_counter(const std::string& interface, const char* counter) noexcept
{
    char path[128];
    std::snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", interface.c_str(), counter);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; // not every driver has every counter
    char text[32] = {};
    ssize_t got = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    return got > 0 ? std::strtoull(text, nullptr, 10) : 0;
}

} // namespace

RingGeometry RingGeometry::for_slots(std::uint32_t ring_size) noexcept
{
    RingGeometry g;
    std::uint64_t ring_bytes = std::uint64_t{ring_size} * kSlotBytes;
    std::uint64_t block = std::min<std::uint64_t>(kMaxBlockBytes, ring_bytes / 4);
    std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    block = std::max<std::uint64_t>({block, kMinBlockBytes, page});
    g.block_bytes = static_cast<std::uint32_t>(block);
    g.block_count = static_cast<std::uint32_t>(std::max<std::uint64_t>(2, ring_bytes / block));
    g.frame_bytes = static_cast<std::uint32_t>(kSlotBytes);
    g.retire_ms = kRetireMs;
    return g;
}

PacketSocket::PacketSocket(PacketSocket&& other) noexcept { *this = std::move(other); }

PacketSocket& PacketSocket::operator=(PacketSocket&& other) noexcept
{
    if (this != &other) {
        reset();
        fd_ = std::exchange(other.fd_, -1);
        ring_ = std::exchange(other.ring_, nullptr);
        geometry_ = other.geometry_;
        current_ = other.current_;
        packets_left = std::exchange(other.packets_left, 0);
        next_packet = std::exchange(other.next_packet, nullptr);
        interface_ = std::move(other.interface_);
        interface_drops_at_open_ = other.interface_drops_at_open_;
    }
    return *this;
}

PacketSocket::~PacketSocket() { reset(); }

void PacketSocket::reset() noexcept
{
    if (ring_)
        ::munmap(ring_, geometry_.bytes());
    ring_ = nullptr;
    // Closing the socket also ends its promiscuous membership: the kernel
    // counts memberships, so another capture's promiscuous mode survives.
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

int PacketSocket::open(const std::string& interface, unsigned ifindex, const SocketOptions& options, zc_error* err)
{
    reset();
    interface_ = interface;
    const char* name = interface.c_str();

    // Protocol 0: the socket receives nothing until bind() names ETH_P_ALL,
    // so no frame of another interface slips into the ring before that.
    fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        int e = errno;
        if (e == EPERM || e == EACCES)
            return fail(err, -EPERM, "%s: AF_PACKET needs CAP_NET_RAW (run as root)", name);
        if (e == EAFNOSUPPORT)
            return fail(err, -e, "%s: this kernel has no AF_PACKET sockets (CONFIG_PACKET)", name);
        return fail(err, -e, "%s: cannot open an AF_PACKET socket: %s", name, std::strerror(e));
    }

    if (options.receive) {
        int version = TPACKET_V3;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
            return fail(err, -errno, "%s: this kernel does not offer TPACKET_V3 rings: %s", name,
                        std::strerror(errno));

        // zc captures what arrives on an interface, like AF_XDP does: frames
        // this host sends are not ours. The kernel leaves them out of the ring
        // (4.20 and later); the driver also skips PACKET_OUTGOING frames, so an
        // older kernel that refuses this option still gives the same stream.
        int ignore = 1;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &ignore, sizeof ignore) != 0 &&
            errno != ENOPROTOOPT && errno != EINVAL)
            return fail(err, -errno, "%s: cannot leave outgoing frames out: %s", name, std::strerror(errno));

        // A one-instruction filter "accept, snap_bytes of it": the kernel then
        // copies into the ring no more of a frame than the driver keeps, and
        // tp_len still says how long the frame was.
        struct sock_filter snap = BPF_STMT(BPF_RET | BPF_K, options.snap_bytes);
        struct sock_fprog program = {1, &snap};
        if (::setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0)
            return fail(err, -errno, "%s: cannot attach the snap-length filter: %s", name, std::strerror(errno));

        geometry_ = options.geometry;
        tpacket_req3 request{};
        request.tp_block_size = geometry_.block_bytes;
        request.tp_block_nr = geometry_.block_count;
        request.tp_frame_size = geometry_.frame_bytes;
        request.tp_frame_nr = geometry_.block_bytes / geometry_.frame_bytes * geometry_.block_count;
        request.tp_retire_blk_tov = geometry_.retire_ms;
        request.tp_sizeof_priv = 0;
        request.tp_feature_req_word = 0;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &request, sizeof request) != 0)
            return fail(err, -errno, "%s: cannot set up a TPACKET_V3 ring of %u blocks of %u KiB: %s%s", name,
                        geometry_.block_count, geometry_.block_bytes / 1024, std::strerror(errno),
                        errno == ENOMEM ? " (try a smaller ring size)" : "");
        void* ring = ::mmap(nullptr, geometry_.bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, 0);
        if (ring == MAP_FAILED)
            return fail(err, -errno, "%s: cannot map the TPACKET_V3 ring (%llu KiB): %s", name,
                        static_cast<unsigned long long>(geometry_.bytes() / 1024), std::strerror(errno));
        ring_ = static_cast<std::byte*>(ring);
        current_ = 0;
        packets_left = 0;
        next_packet = nullptr;
    }

    if (options.transmit) {
        // Frames go straight to the driver's queue: zc-send and inject want
        // rate, and a capture tool has no use for the host's traffic shaping.
        int bypass = 1;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof bypass) != 0)
            return fail(err, -errno, "%s: cannot bypass the qdisc for sending: %s", name, std::strerror(errno));
    }

    struct sockaddr_ll address {};
    address.sll_family = AF_PACKET;
    address.sll_protocol = options.receive ? htons(ETH_P_ALL) : 0;
    address.sll_ifindex = static_cast<int>(ifindex);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        int e = errno;
        if (e == ENODEV)
            return fail(err, -ENODEV, "%s: no such interface (it went away while zc opened it)", name);
        if (e == ENETDOWN)
            return fail(err, -ENETDOWN, "%s: interface is down (ip link set %s up)", name, name);
        return fail(err, -e, "%s: cannot bind the AF_PACKET socket: %s", name, std::strerror(e));
    }

    if (options.receive && options.promiscuous) {
        struct packet_mreq membership {};
        membership.mr_ifindex = static_cast<int>(ifindex);
        membership.mr_type = PACKET_MR_PROMISC;
        if (::setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &membership, sizeof membership) != 0)
            return fail(err, -errno, "%s: cannot enter promiscuous mode: %s", name, std::strerror(errno));
    }

    interface_drops_at_open_ = read_interface_counters();
    return 0;
}

std::uint64_t PacketSocket::take_kernel_drops() noexcept
{
    if (!ring_)
        return 0;
    tpacket_stats_v3 counters{};
    socklen_t length = sizeof counters;
    if (::getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &counters, &length) != 0)
        return 0;
    // tp_drops: frames the kernel had no room for (ring full, or frozen
    // while user space held every block).
    return counters.tp_drops;
}

std::uint64_t PacketSocket::read_interface_counters() const noexcept
{
    return read_counter(interface_, "rx_missed_errors") + read_counter(interface_, "rx_fifo_errors");
}

std::uint64_t PacketSocket::interface_drops() const noexcept
{
    std::uint64_t now = read_interface_counters();
    return now >= interface_drops_at_open_ ? now - interface_drops_at_open_ : 0;
}

} // namespace zc::afpacket

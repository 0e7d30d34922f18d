// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afxdp/afxdp.cpp — the AF_XDP driver's control path: open (checks,
// pool, XDP program, UMEM, sockets), stats, and the open_afxdp factory.
// The design and the buffer life cycle are in afxdp_driver.hpp.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <linux/bpf.h>
#include <linux/if_xdp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/error.hpp"
#include "afxdp_driver.hpp"

namespace zc {

namespace afxdp {

namespace {

// Fewest buffers per socket an explicit frame_count must leave.
constexpr std::uint32_t kMinFramesPerSocket = 64;
constexpr std::uint32_t kMaxFrames = 1u << 24; // the cluster's limit
constexpr std::uint32_t kFrameSize = 2048;
constexpr int kBusyPollBudget = 64;
constexpr std::uint32_t kEthernetHeader = 14 + 4; // with one VLAN tag
// How long an open waits, in all, for queues a closed socket still holds.
constexpr useconds_t kBusyRetryMicroseconds = 10000;
constexpr std::uint32_t kBusyRetries = 100; // one second
// linux/if_xdp.h since 6.17 (Debian 12's headers lack it): frames one
// copy-mode wake-up may send, from TX_BATCH_SIZE (32) to the TX ring's size.
constexpr int kXdpMaxTxSkbBudget = 9; // XDP_MAX_TX_SKB_BUDGET
constexpr std::uint32_t kKernelTxBatch = 32;

// Frames come in whole 1024s: 2 MiB at 2 KiB a frame, a huge page's worth.
constexpr std::uint64_t kFrameGranule = 1024;

std::uint64_t round_up_to_granule(std::uint64_t frames)
{
    return (frames + kFrameGranule - 1) / kFrameGranule * kFrameGranule;
}

// The XDP programs this process holds, by interface index. Several devices
// of one process on one interface (zc:eth0@0 and zc:eth0@1, one per
// zc-balance thread) share its one program, each putting its own queues'
// sockets in the program's map; the program goes when the last of them
// closes. Any other XDP program on the interface is still refused.
std::mutex g_programs_mutex;
std::map<unsigned, std::weak_ptr<XdpProgram>> g_programs;

std::shared_ptr<XdpProgram> shared_program(unsigned ifindex)
{
    std::lock_guard<std::mutex> lock(g_programs_mutex);
    auto found = g_programs.find(ifindex);
    return found == g_programs.end() ? nullptr : found->second.lock();
}

} // namespace

AfXdpDriver::~AfXdpDriver()
{
    if (bad_release_ > 0)
        log(ZC_LOG_WARNING, "%s: %llu released buffers were not the caller's to release (ignored)",
            interfaces_.empty() ? "afxdp" : interfaces_[0].name.c_str(),
            static_cast<unsigned long long>(bad_release_));
}

int AfXdpDriver::open(const DeviceName& name, zc_error* err)
{
    rx_ = (config_.flags & ZC_DEVICE_RX) != 0;
    tx_ = (config_.flags & ZC_DEVICE_TX) != 0;
    busy_poll_ = (config_.flags & ZC_DEVICE_BUSY_POLL) != 0;
    ring_size_ = config_.ring_size;
    tx_kicks_ = ring_size_ / 16 + 2;
    refill_batch_ = std::max(1u, std::min(kRefillBatch, ring_size_ / 4));
    busy_retries_left_ = kBusyRetries;

    if (int rc = find_interfaces(name, err); rc != 0)
        return rc;

    // AF_XDP sockets need CAP_NET_RAW: the cheapest way to learn early, and
    // with one sentence, that the caller lacks the privileges.
    {
        UniqueFd probe(::socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0));
        const char* first = interfaces_[0].name.c_str();
        if (!probe) {
            if (errno == EPERM || errno == EACCES)
                return fail_privileges(interfaces_[0].name, err);
            if (errno == EAFNOSUPPORT)
                return fail(err, -EAFNOSUPPORT, "%s: this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)", first);
            return fail(err, -errno, "%s: cannot open an AF_XDP socket: %s", first, std::strerror(errno));
        }
    }
    if (rx_)
        for (const Interface& interface : interfaces_)
            if (!shared_program(interface.ifindex)) // the one there may be ours (another device of this process)
                if (int rc = XdpProgram::check_exclusive(interface.name, interface.ifindex, err); rc != 0)
                    return rc;

    if (int rc = create_pool(err); rc != 0)
        return rc;
    if (rx_ && !(config_.flags & ZC_DEVICE_NO_PROMISC))
        for (Interface& interface : interfaces_)
            if (int rc = interface.promiscuous.enable(interface.name, interface.ifindex, err); rc != 0)
                return rc;
    // The program goes on before the sockets exist: until a queue's socket is
    // in the map, its packets pass to the stack as before.
    if (rx_)
        if (int rc = attach_programs(err); rc != 0)
            return rc;
    if (int rc = create_umem(err); rc != 0)
        return rc;
    if (int rc = create_sockets(err); rc != 0)
        return rc;
    if (int rc = create_wait_fds(err); rc != 0)
        return rc;

    for (Interface& interface : interfaces_) {
        LinkInfo link;
        if (query_link(interface.ifindex, link) != 0)
            continue;
        interface.rx_dropped_at_open = link.rx_dropped;
        if (rx_ && link.mtu + kEthernetHeader > capacity_)
            log(ZC_LOG_WARNING, "%s: MTU %u is more than a %u-byte zc buffer holds: larger frames are dropped "
                "(and counted)", interface.name.c_str(), link.mtu, capacity_);
    }
    log(ZC_LOG_INFO, "%s%s: AF_XDP on %u socket(s), %s XDP, %s, %u buffers", interfaces_[0].name.c_str(),
        interfaces_.size() > 1 ? " (and more)" : "", socket_count_, !rx_ ? "no" : generic_xdp_ ? "generic" : "native",
        mode(), frame_count_);
    return 0;
}

int AfXdpDriver::find_interfaces(const DeviceName& name, zc_error* err)
{
    if (name.interfaces.empty())
        return fail(err, -EINVAL, "no interface named (expected zc:IFACE, zc:IFACE@QUEUE or zc:IFACE1,IFACE2)");
    for (const std::string& interface : name.interfaces) {
        for (const Interface& earlier : interfaces_)
            if (earlier.name == interface)
                return fail(err, -EINVAL, "%s is named twice in one device (each interface once)", interface.c_str());
        Interface entry;
        entry.name = interface;
        if (int rc = interface_index(interface, &entry.ifindex, err); rc != 0)
            return rc;
        if (int rc = rx_queue_count(interface, entry.ifindex, &entry.rx_queues, err); rc != 0)
            return rc;
        if (name.queue >= 0 && static_cast<std::uint32_t>(name.queue) >= entry.rx_queues)
            return fail(err, -EINVAL, "%s: RX queue %d is out of range: %s has %u RX queue%s (0 to %u)",
                        interface.c_str(), name.queue, interface.c_str(), entry.rx_queues,
                        entry.rx_queues == 1 ? "" : "s", entry.rx_queues - 1);
        interfaces_.push_back(std::move(entry));
    }

    // Receive: every RX queue, or the one named. Transmit only: one socket
    // per interface is enough.
    bool all_queues = rx_ && name.queue < 0;
    std::uint64_t count = 0;
    for (const Interface& interface : interfaces_)
        count += all_queues ? interface.rx_queues : 1;
    if (count > 0xffff) // zc_packet.queue is 16 bits
        return fail(err, -EINVAL, "%s: %llu RX queues are more than one device can hold (65535)",
                    interfaces_[0].name.c_str(), static_cast<unsigned long long>(count));
    socket_count_ = static_cast<std::uint32_t>(count);
    sockets_ = std::make_unique<Socket[]>(socket_count_);
    stage_ = std::make_unique<std::uint32_t[]>(std::size_t{socket_count_} * kStage);
    staged_sockets_ = std::make_unique<std::uint32_t[]>(socket_count_);
    std::uint32_t index = 0;
    for (std::size_t port = 0; port < interfaces_.size(); ++port) {
        std::uint32_t first = name.queue >= 0 ? static_cast<std::uint32_t>(name.queue) : 0;
        std::uint32_t queues = all_queues ? interfaces_[port].rx_queues : 1;
        for (std::uint32_t q = 0; q < queues; ++q, ++index) {
            sockets_[index].port = static_cast<std::uint16_t>(port);
            sockets_[index].queue_id = first + q;
        }
    }

    // Forwarding: out of port p on the queue the packet came in on, where
    // that port has a socket on it; else out of port p's first socket. So
    // zc:eth0,eth1 with 4 and 1 queues sends what came in on any of eth0's
    // queues out of eth1's queue 0, and what came in on eth1 out of eth0's
    // queue 0.
    port_count_ = static_cast<std::uint32_t>(interfaces_.size());
    forward_socket_ = std::make_unique<std::uint32_t[]>(std::size_t{socket_count_} * port_count_);
    tx_sockets_ = std::make_unique<std::uint32_t[]>(socket_count_);
    for (std::uint32_t from = 0; from < socket_count_; ++from)
        for (std::uint32_t port = 0; port < port_count_; ++port) {
            std::uint32_t chosen = socket_count_;
            for (std::uint32_t s = 0; s < socket_count_; ++s) {
                if (sockets_[s].port != port)
                    continue;
                if (chosen == socket_count_)
                    chosen = s; // the port's first socket
                if (sockets_[s].queue_id == sockets_[from].queue_id) {
                    chosen = s;
                    break;
                }
            }
            forward_socket_[std::size_t{from} * port_count_ + port] = chosen;
        }
    return 0;
}

int AfXdpDriver::create_pool(zc_error* err)
{
    const char* first = interfaces_[0].name.c_str();
    // Default: per socket a full fill ring and a full RX ring (all the
    // kernel can hold) plus a quarter ring of slack for what the caller
    // holds, so the fill rings stay topped up while it does; for transmit a
    // TX ring and a completion ring. Rounded up to whole 1024s.
    std::uint64_t wanted = config_.frame_count;
    if (wanted == 0) {
        std::uint64_t receive = rx_ ? std::uint64_t{socket_count_} * (2 * ring_size_ + ring_size_ / 4) : 0;
        std::uint64_t transmit = tx_ ? 2ull * ring_size_ : 0;
        wanted = std::min<std::uint64_t>(kMaxFrames, round_up_to_granule(receive + transmit));
    }
    std::uint64_t least = std::uint64_t{socket_count_} * kMinFramesPerSocket;
    if (wanted < least || wanted > kMaxFrames)
        return fail(err, -EINVAL, "%s: %llu buffers do not suit %u AF_XDP socket(s): use %llu to %u", first,
                    static_cast<unsigned long long>(wanted), socket_count_, static_cast<unsigned long long>(least),
                    kMaxFrames);
    if (int rc = open_device_pool(config_, static_cast<std::uint32_t>(wanted), pool_, err); rc != 0)
        return rc;

    // The layout AF_XDP and zc agree on: 2 KiB frames, zc_buffer_meta in the
    // first 64 bytes (the UMEM's frame_headroom, which the kernel never
    // writes), then XDP_PACKET_HEADROOM, then the packet. So an RX
    // descriptor's addr is zc_buffer_addr(buffer), addr >> frame_shift is the
    // buffer, and the frame starts at zc_buffer_meta_of(buffer).
    zc_cluster_info info = pool_.info();
    if (info.frame_size != kFrameSize || info.data_offset < XDP_PACKET_HEADROOM + sizeof(zc_buffer_meta))
        return fail(err, -EPROTO, "%s: the pool's frames (%u bytes, data at %u) do not suit AF_XDP", first,
                    info.frame_size, info.data_offset);
    zc_cluster* pool = pool_.get();
    umem_base_ = static_cast<std::byte*>(zc_cluster_pool_base(pool));
    frame_shift_ = static_cast<std::uint32_t>(__builtin_ctz(info.frame_size));
    frame_count_ = info.frame_count;
    if (pool_.borrowed())
        taken_.start(pool, frame_count_);
    data_offset_ = info.data_offset;
    capacity_ = zc_buffer_capacity(pool);
    std::uint32_t last = frame_count_ - 1;
    std::uint32_t back = 0;
    if (zc_buffer_addr(pool, last) != frame_addr(last) + data_offset_ ||
        zc_buffer_from_addr(pool, frame_addr(last) + data_offset_, &back) != 0 || back != last ||
        reinterpret_cast<std::byte*>(zc_buffer_meta_of(pool, last)) != umem_base_ + frame_addr(last))
        return fail(err, -EPROTO, "%s: the pool's buffer addresses do not follow its frames", first);
    return 0;
}

int AfXdpDriver::attach_programs(zc_error* err)
{
    bool generic_only = (config_.flags & ZC_DEVICE_SKB_MODE) != 0;
    for (Interface& interface : interfaces_) {
        // Another device of this process on the interface: its program.
        std::lock_guard<std::mutex> lock(g_programs_mutex);
        std::weak_ptr<XdpProgram>& entry = g_programs[interface.ifindex];
        interface.program = entry.lock();
        if (!interface.program) {
            try {
                interface.program = std::make_shared<XdpProgram>();
            } catch (const std::bad_alloc&) {
                return fail(err, -ENOMEM, "%s: no memory for its XDP program", interface.name.c_str());
            }
            if (int rc = interface.program->load(interface.name, interface.rx_queues, err); rc != 0)
                return rc;
            if (int rc = interface.program->attach(interface.ifindex, generic_only, err); rc != 0)
                return rc;
            entry = interface.program;
        }
        if (interface.program->mode() == XdpMode::Generic)
            generic_xdp_ = true;
    }
    return 0;
}

int AfXdpDriver::create_umem(zc_error* err)
{
    // Socket 0 gets the UMEM's own fill and completion rings.
    xsk_umem_config config{};
    config.fill_size = ring_size_;
    config.comp_size = ring_size_;
    config.frame_size = kFrameSize;
    config.frame_headroom = data_offset_ - XDP_PACKET_HEADROOM; // the zc_buffer_meta space
    config.flags = 0;
    std::uint64_t bytes = zc_cluster_pool_bytes(pool_.get());
    int rc = xsk_umem__create(&umem_.umem, umem_base_, bytes, &sockets_[0].fill, &sockets_[0].comp, &config);
    if (rc == 0)
        return 0;
    umem_.umem = nullptr;
    if (rc == -EPERM || rc == -EACCES)
        return fail_privileges(interfaces_[0].name, err);
    return fail(err, rc, "%s: cannot register the %llu MiB pool as AF_XDP UMEM: %s%s", interfaces_[0].name.c_str(),
                static_cast<unsigned long long>(bytes >> 20), std::strerror(-rc),
                rc == -ENOMEM ? " (RLIMIT_MEMLOCK too low?)" : "");
}

int AfXdpDriver::create_socket(std::uint32_t index, std::uint16_t bind_flags)
{
    Socket& socket = sockets_[index];
    // Every socket transmits when asked to: send_burst uses the first one,
    // forward_burst any of them.
    bool transmits = tx_;
    xsk_socket_config config{};
    config.rx_size = rx_ ? ring_size_ : 0;
    config.tx_size = transmits ? ring_size_ : 0;
    config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD; // our program, not libxdp's dispatcher
    config.xdp_flags = 0;
    config.bind_flags = bind_flags; // sockets 1..n share socket 0's UMEM and so its mode
    int rc = 0;
    for (;;) {
        rc = xsk_socket__create_shared(&socket.xsk, interfaces_[socket.port].name.c_str(), socket.queue_id,
                                       umem_.umem, rx_ ? &socket.rx : nullptr, transmits ? &socket.tx : nullptr,
                                       &socket.fill, &socket.comp, &config);
        // A queue a socket just closed is given back a moment later: the
        // kernel releases the socket's buffer pool, and with it the queue,
        // from a workqueue (under rtnl). So a device reopened at once, or
        // right after another one closed, may find the queue still taken.
        // Wait for it, a bounded while per open, before saying it is busy.
        if (rc != -EBUSY || busy_retries_left_ == 0)
            break;
        --busy_retries_left_;
        ::usleep(kBusyRetryMicroseconds);
    }
    if (rc != 0) {
        socket.xsk = nullptr;
        return rc;
    }
    socket.fd = xsk_socket__fd(socket.xsk);
    sockets_created_ = index + 1;
    return 0;
}

int AfXdpDriver::socket_error(std::uint32_t index, int rc, zc_error* err)
{
    const Socket& socket = sockets_[index];
    const char* interface = interfaces_[socket.port].name.c_str();
    if (rc == -EPERM || rc == -EACCES)
        return fail_privileges(interface, err);
    if (rc == -EBUSY)
        return fail(err, -EBUSY, "%s: queue %u is already bound to another AF_XDP socket (another zc device?)",
                    interface, socket.queue_id);
    return fail(err, rc, "%s: cannot bind an AF_XDP socket to queue %u%s: %s", interface, socket.queue_id,
                zero_copy_ ? " in zero-copy mode (ZC_DEVICE_COPY_MODE avoids it)" : "", std::strerror(-rc));
}

int AfXdpDriver::create_sockets(zc_error* err)
{
    // Zero-copy first, unless told not to or XDP runs in generic mode
    // (where every packet is copied anyway: no zero-copy to claim).
    bool try_zero_copy = !(config_.flags & ZC_DEVICE_COPY_MODE) && !generic_xdp_;
    int rc = -EOPNOTSUPP;
    if (try_zero_copy) {
        rc = create_socket(0, XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY);
        if (rc != 0)
            log(ZC_LOG_INFO, "%s: no zero-copy AF_XDP (%s); using copy mode", interfaces_[0].name.c_str(),
                std::strerror(-rc));
    }
    // A failed bind leaves socket 0 unbound, with its rings: binding again works.
    if (rc != 0)
        rc = create_socket(0, XDP_USE_NEED_WAKEUP | XDP_COPY);
    if (rc != 0)
        return socket_error(0, rc, err);
    struct xdp_options options {};
    socklen_t length = sizeof options;
    if (::getsockopt(sockets_[0].fd, SOL_XDP, XDP_OPTIONS, &options, &length) != 0)
        return fail(err, -errno, "%s: cannot read the AF_XDP socket's options: %s", interfaces_[0].name.c_str(),
                    std::strerror(errno));
    zero_copy_ = (options.flags & XDP_OPTIONS_ZEROCOPY) != 0;

    for (std::uint32_t i = 1; i < socket_count_; ++i)
        if (int failed = create_socket(i, 0); failed != 0)
            return socket_error(i, failed, err);

    // A fair share of the pool for each fill ring; transmit keeps one share.
    std::uint32_t share = std::min(ring_size_, frame_count_ / (socket_count_ + (tx_ ? 1 : 0)));
    for (std::uint32_t i = 0; i < socket_count_; ++i) {
        Socket& socket = sockets_[i];
        if (busy_poll_)
            if (int failed = set_busy_poll(socket, err); failed != 0)
                return failed;
        if (tx_ && !zero_copy_)
            raise_tx_budget(socket);
        if (!rx_)
            continue;
        top_up(socket, i, share);
        if (int failed = interfaces_[socket.port].program->add_socket(socket.queue_id, socket.fd, err); failed != 0)
            return failed;
    }
    return 0;
}

void AfXdpDriver::raise_tx_budget(const Socket& socket) noexcept
{
    // In copy mode a wake-up sends at most 32 frames (the kernel builds an
    // skb for each) and says EAGAIN while more wait: a syscall per 32
    // frames. Linux 6.17 lets a socket take up to its whole TX ring per
    // wake-up; older kernels refuse the option (ENOPROTOOPT) and keep 32,
    // which kick_tx's loop still empties.
    unsigned budget = ring_size_;
    if (budget >= kKernelTxBatch)
        ::setsockopt(socket.fd, SOL_XDP, kXdpMaxTxSkbBudget, &budget, sizeof budget);
}

int AfXdpDriver::set_busy_poll(const Socket& socket, zc_error* err)
{
    int prefer = 1;
    int usec = static_cast<int>(config_.busy_poll_usec);
    int budget = kBusyPollBudget;
    if (::setsockopt(socket.fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &prefer, sizeof prefer) == 0 &&
        ::setsockopt(socket.fd, SOL_SOCKET, SO_BUSY_POLL, &usec, sizeof usec) == 0 &&
        ::setsockopt(socket.fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof budget) == 0)
        return 0;
    const std::string& interface = interfaces_[socket.port].name;
    if (errno == EPERM)
        return fail_privileges(interface, err);
    return fail(err, -errno, "%s: cannot set up busy polling on RX queue %u: %s", interface.c_str(), socket.queue_id,
                std::strerror(errno));
}

int AfXdpDriver::create_wait_fds(zc_error* err)
{
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_)
        return fail(err, -errno, "%s: cannot create an epoll fd: %s", interfaces_[0].name.c_str(),
                    std::strerror(errno));
    poll_fds_.resize(socket_count_);
    for (std::uint32_t i = 0; i < socket_count_; ++i) {
        struct epoll_event event {};
        event.events = EPOLLIN;
        event.data.u32 = i;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, sockets_[i].fd, &event) != 0)
            return fail(err, -errno, "%s: cannot watch an AF_XDP socket: %s", interfaces_[0].name.c_str(),
                        std::strerror(errno));
        poll_fds_[i] = pollfd{sockets_[i].fd, POLLIN, 0};
    }
    return 0;
}

void AfXdpDriver::stats(zc_device_stats& stats) noexcept
{
    stats.packets = load_counter(packets_);
    stats.bytes = load_counter(bytes_);
    // In copy mode the kernel copied every packet into the pool: say so.
    stats.copied = zero_copy_ ? 0 : stats.packets;
    // sent: descriptors the kernel took on its TX ring; send_failed: frames
    // refused because the ring was full (or the length was impossible).
    stats.sent = load_counter(sent_);
    stats.send_failed = load_counter(send_failed_);
    // forwarded, forward_copied, forward_failed: the Driver's counters.

    // Kernel-side loss, per socket: rx_dropped (no fill ring buffer in copy
    // mode, or a frame larger than a buffer) plus rx_ring_full (the RX ring
    // was full: we did not read fast enough). Not rx_fill_ring_empty_descs:
    // in copy mode those packets are already in rx_dropped, and in zero-copy
    // mode it counts the driver's failed buffer allocations, not packets —
    // packets a NIC loses for want of buffers show in its own counters, that
    // is in if_dropped. Not the *_invalid_descs: bad descriptors, not packets.
    for (std::uint32_t i = 0; i < sockets_created_; ++i) {
        struct xdp_statistics counters {};
        socklen_t length = sizeof counters;
        if (::getsockopt(sockets_[i].fd, SOL_XDP, XDP_STATISTICS, &counters, &length) == 0)
            stats.dropped += counters.rx_dropped + counters.rx_ring_full;
        // What the kernel filter refused on this socket's queue (zc_xdp.h).
        if (rx_)
            stats.filtered += interfaces_[sockets_[i].port].program->filtered(sockets_[i].queue_id);
    }
    for (const Interface& interface : interfaces_) {
        LinkInfo link;
        if (query_link(interface.ifindex, link) == 0 && link.rx_dropped >= interface.rx_dropped_at_open)
            stats.if_dropped += link.rx_dropped - interface.rx_dropped_at_open;
    }
}

} // namespace afxdp

int open_afxdp(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out, zc_error* err)
{
    auto driver = std::make_unique<afxdp::AfXdpDriver>(config);
    // On failure the half-opened driver's destructor closes what was opened.
    if (int rc = driver->open(name, err); rc != 0)
        return rc;
    out = std::move(driver);
    return 0;
}

} // namespace zc

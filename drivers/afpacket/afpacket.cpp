// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afpacket — `zc:afpacket:eth0[,eth1...]`: capture through AF_PACKET
// with a TPACKET_V3 ring, for interfaces where XDP cannot attach.
//
// One socket per named interface (zc_packet.port and .queue = its place in
// the list). The kernel writes frames into the mmapped ring; this driver
// copies each one ONCE into a buffer of its private pool — the one copy of
// this mode, explicit below and counted in zc_device_stats.copied — and
// gives the ring block back as soon as it has copied the block out. From
// then on the packet is a pool buffer like any other: views, release_burst,
// and the same metadata as AF_XDP gives.
//
// Opened with ZC_DEVICE_TX, every socket can send: send_burst on the first
// interface's, forward_burst on the out interface's. Both hand frames to
// sendmmsg(), where the kernel copies them into skbs (forward counts that
// copy in forward_copied); a pool buffer is free again when it returns.
//
// Threading: recv_burst, release_burst, tx_alloc and send_burst allocate
// from and release to the pool, whose free list has one writer: call them
// from one thread. stats() may run on another (the counters it reads are
// single-writer atomics); wait() on the receiving thread.

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

#include "internal/error.hpp"
#include "internal/counter.hpp"
#include "internal/driver.hpp"
#include "../spare_buffers.hpp"
#include "../unique_fd.hpp"
#include "packet_socket.hpp"

namespace zc {

namespace {

using afpacket::PacketSocket;

constexpr std::uint32_t kDefaultFramesPerInterface = 4096;
// Buffers taken from the pool at a time, and frames per sendmmsg().
constexpr std::uint32_t kChunk = 64;
constexpr std::uint32_t kVlanTagBytes = 4;
constexpr std::uint32_t kMacAddressesBytes = 12;

// What one recv_burst has done so far, added to the counters once at its end.
struct Burst {
    std::uint32_t delivered = 0; // packets written to the caller's array
    std::uint32_t handled = 0;   // frames taken off the rings (delivered or not)
    std::uint32_t pool_dropped = 0;
    std::uint32_t truncated = 0;
    std::uint64_t bytes = 0;
    bool pool_empty = false;
};

class AfPacketDriver final : public Driver {
public:
    AfPacketDriver(DevicePool pool, std::vector<PacketSocket> sockets, UniqueFd epoll, std::uint32_t snap_limit,
                   bool receive, bool transmit)
        : pool_(std::move(pool)), sockets_(std::move(sockets)), epoll_(std::move(epoll)),
          capacity_(zc_buffer_capacity(pool_.get())), snap_limit_(snap_limit),
          count_truncation_(snap_limit == capacity_), receive_(receive), transmit_(transmit)
    {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        zc_cluster_get_info(pool_.get(), &info);
        frame_count_ = info.frame_count;
        for (const PacketSocket& socket : sockets_)
            poll_fds_.push_back(pollfd{socket.fd(), POLLIN, 0});
    }

    const char* mode() const noexcept override { return "afpacket"; }
    zc_cluster* pool() noexcept override { return pool_.get(); }

    std::uint32_t recv_burst(zc_packet* packets, std::uint32_t n) noexcept override
    {
        if (!receive_ || n == 0)
            return 0;
        Burst burst;
        const auto sockets = static_cast<std::uint32_t>(sockets_.size());
        // Start at a different socket each burst, so that one busy interface
        // cannot starve the others of the burst.
        for (std::uint32_t i = 0; i < sockets && burst.handled < n; ++i) {
            std::uint32_t index = next_socket_ + i < sockets ? next_socket_ + i : next_socket_ + i - sockets;
            receive_from(sockets_[index], static_cast<std::uint16_t>(index), packets, n, burst);
        }
        next_socket_ = next_socket_ + 1 < sockets ? next_socket_ + 1 : 0;
        if (burst.handled != 0) {
            packets_.add(burst.delivered);
            copied_.add(burst.delivered);
            bytes_.add(burst.bytes);
            pool_dropped_.add(burst.pool_dropped);
            truncated_.add(burst.truncated);
        }
        return burst.delivered;
    }

    void release_burst(const zc_packet* packets, std::uint32_t n) noexcept override
    {
        release_packets(pool_.get(), packets, n);
    }

    std::uint32_t tx_alloc(std::uint32_t* buffers, std::uint32_t n) noexcept override
    {
        if (!transmit_)
            return 0;
        return zc_pool_alloc_burst(pool_.get(), buffers, n, ZC_OWNER(ZC_OWNER_WORKER, 0));
    }

    // One sendmmsg() per kChunk frames on the first interface's socket. The
    // kernel copies each frame into an skb before sendmmsg returns, so the
    // buffers of the frames it took go straight back to the pool; the others
    // stay with the caller (device.h: the caller keeps what was not queued).
    std::uint32_t send_burst(const std::uint32_t* buffers, const std::uint32_t* lengths,
                             std::uint32_t n) noexcept override
    {
        if (!transmit_)
            return 0;
        std::uint32_t sent = 0;
        while (sent < n) {
            std::uint32_t count = std::min(n - sent, kChunk);
            std::uint32_t valid = 0;
            for (; valid < count; ++valid) {
                std::uint32_t buffer = buffers[sent + valid];
                std::uint32_t length = lengths[sent + valid];
                if (buffer >= frame_count_ || length == 0 || length > capacity_)
                    break; // not a frame this pool can hold: it and the rest stay unsent
                iovecs_[valid] = iovec{zc_buffer_data(pool_.get(), buffer), length};
                messages_[valid] = mmsghdr{};
                messages_[valid].msg_hdr.msg_iov = &iovecs_[valid];
                messages_[valid].msg_hdr.msg_iovlen = 1;
            }
            int taken = valid == 0 ? 0 : ::sendmmsg(sockets_[0].fd(), messages_.data(), valid, MSG_DONTWAIT);
            if (taken < 0)
                taken = 0; // EAGAIN, ENOBUFS (queue full), ENETDOWN: a status, counted below
            zc_pool_release_burst(pool_.get(), buffers + sent, static_cast<std::uint32_t>(taken));
            sent += static_cast<std::uint32_t>(taken);
            if (static_cast<std::uint32_t>(taken) < count)
                break;
        }
        sent_.add(sent);
        if (sent < n)
            send_failed_.add(n - sent);
        return sent;
    }

    [[nodiscard]] std::uint32_t capabilities() const noexcept override
    {
        return (transmit_ ? ZC_DEVICE_CAN_SEND : 0u) | (receive_ && transmit_ ? ZC_DEVICE_CAN_FORWARD : 0u);
    }

    // Forward: the frames of each window of kChunk packets, grouped by out
    // interface, one sendmmsg() per interface on its socket. The kernel
    // copies each frame into an skb before sendmmsg returns (this mode's
    // copy on the way out, counted in forward_copied), so afterwards every
    // buffer of the window goes back to the pool, sent or not (device.h:
    // forwarded buffers pass to the device either way).
    std::uint32_t forward_burst(const zc_packet* packets, const std::uint16_t* ports,
                                std::uint32_t n) noexcept override
    {
        if (!receive_ || !transmit_)
            return Driver::forward_burst(packets, ports, n); // cannot: released and counted
        std::uint32_t queued = 0;
        for (std::uint32_t done = 0; done < n;) {
            const std::uint32_t window = std::min(n - done, kChunk);
            const zc_packet* batch = packets + done;
            const std::uint16_t* batch_ports = ports + done;
            // Which packets of the window still wait for their interface's
            // sendmmsg; a frame cut to its buffer (caplen < len) cannot go
            // out whole, and one out of range cannot go out at all.
            std::array<bool, kChunk> waiting{};
            for (std::uint32_t i = 0; i < window; ++i)
                waiting[i] = batch[i].buffer < frame_count_ && batch_ports[i] < sockets_.size() &&
                             batch[i].caplen == batch[i].len && batch[i].len > 0 && batch[i].len <= capacity_;
            for (std::uint32_t first = 0; first < window; ++first) {
                if (!waiting[first])
                    continue;
                const std::uint16_t port = batch_ports[first];
                std::uint32_t count = 0;
                for (std::uint32_t i = first; i < window; ++i) {
                    if (!waiting[i] || batch_ports[i] != port)
                        continue;
                    waiting[i] = false;
                    iovecs_[count] = iovec{zc_buffer_data(pool_.get(), batch[i].buffer), batch[i].len};
                    messages_[count] = mmsghdr{};
                    messages_[count].msg_hdr.msg_iov = &iovecs_[count];
                    messages_[count].msg_hdr.msg_iovlen = 1;
                    ++count;
                }
                int taken = ::sendmmsg(sockets_[port].fd(), messages_.data(), count, MSG_DONTWAIT);
                if (taken > 0)
                    queued += static_cast<std::uint32_t>(taken); // EAGAIN, ENOBUFS, ENETDOWN: counted as failed
            }
            release_packets(pool_.get(), batch, window);
            done += window;
        }
        forward_counters_.forwarded.add(queued);
        forward_counters_.copied.add(queued);
        if (queued < n)
            forward_counters_.failed.add(n - queued);
        return queued;
    }

    int wait(int timeout_ms) noexcept override
    {
        if (receive_)
            for (const PacketSocket& socket : sockets_)
                if (socket.packets_left != 0 || socket.ready_block())
                    return 1;
        int ready = ::poll(poll_fds_.data(), poll_fds_.size(), timeout_ms);
        if (ready < 0)
            return -errno;
        if (ready == 0)
            return 0;
        for (const pollfd& entry : poll_fds_) {
            if (entry.revents & POLLERR) {
                // The interface went down (or away): report it once; reading
                // SO_ERROR clears it, and capture resumes if it comes back up.
                int error = 0;
                socklen_t length = sizeof error;
                if (::getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error != 0)
                    return -error;
            }
        }
        return 1;
    }

    int selectable_fd() const noexcept override
    {
        return sockets_.size() == 1 ? sockets_[0].fd() : epoll_.get();
    }

    void stats(zc_device_stats& stats) noexcept override
    {
        std::uint64_t interface_dropped = 0;
        for (PacketSocket& socket : sockets_) {
            kernel_dropped_ += socket.take_kernel_drops();
            interface_dropped += socket.interface_drops();
        }
        stats.packets = packets_.get();
        stats.bytes = bytes_.get();
        // Two kinds of loss, both "dropped": frames the kernel had no ring
        // room for (PACKET_STATISTICS tp_drops), and frames this driver took
        // off the ring but had no pool buffer for, because the consumer held
        // them all (the AF_PACKET twin of AF_XDP's empty fill ring).
        stats.dropped = kernel_dropped_ + pool_dropped_.get();
        stats.if_dropped = interface_dropped;
        stats.truncated = truncated_.get();
        stats.copied = copied_.get();
        stats.sent = sent_.get();
        stats.send_failed = send_failed_.get();
    }

private:
    // A free buffer, from the spares taken ahead. The pool is asked once per
    // SpareBuffers::kBatch buffers at most; `wanted` (the frames the burst may still take
    // from this block) keeps it from taking more than a burst will use.
    bool take_buffer(std::uint32_t wanted, Burst& burst, std::uint32_t* buffer) noexcept
    {
        if (spares_.empty() && burst.pool_empty)
            return false;
        if (spares_.take(wanted, buffer))
            return true;
        burst.pool_empty = true;
        return false;
    }

    void receive_from(PacketSocket& socket, std::uint16_t port, zc_packet* packets, std::uint32_t n,
                      Burst& burst) noexcept
    {
        while (burst.handled < n) {
            if (socket.packets_left == 0) {
                tpacket_block_desc* block = socket.ready_block();
                if (!block)
                    return;
                socket.packets_left = block->hdr.bh1.num_pkts;
                socket.next_packet = reinterpret_cast<const std::byte*>(block) + block->hdr.bh1.offset_to_first_pkt;
                if (socket.packets_left == 0) {
                    socket.release_block();
                    continue;
                }
            }
            const auto* header = reinterpret_cast<const tpacket3_hdr*>(socket.next_packet);
            ++burst.handled;
            // Frames this burst may still take from this block, this one included.
            std::uint32_t wanted = std::min(n - burst.handled + 1, socket.packets_left);
            receive_one(header, port, wanted, packets, burst);
            socket.next_packet += header->tp_next_offset;
            if (--socket.packets_left == 0)
                socket.release_block(); // everything in it is copied out: the kernel may refill it
        }
    }

    void receive_one(const tpacket3_hdr* header, std::uint16_t port, std::uint32_t wanted, zc_packet* packets,
                     Burst& burst) noexcept
    {
        const auto* start = reinterpret_cast<const std::byte*>(header);
        const auto* address = reinterpret_cast<const sockaddr_ll*>(start + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
        // What this host sends is not captured (see PACKET_IGNORE_OUTGOING in
        // packet_socket.cpp): zc, like AF_XDP, sees what arrives.
        if (address->sll_pkttype == PACKET_OUTGOING)
            return;

        std::uint32_t buffer = 0;
        if (!take_buffer(wanted, burst, &buffer)) {
            ++burst.pool_dropped;
            return;
        }

        const std::byte* frame = start + header->tp_mac;
        std::uint32_t captured = header->tp_snaplen;
        std::uint32_t wire = header->tp_len;
        auto* out = static_cast<std::byte*>(zc_buffer_data(pool_.get(), buffer));
        std::uint32_t caplen = 0;
        if ((header->tp_status & TP_STATUS_VLAN_VALID) && captured >= kMacAddressesBytes) {
            // The kernel took the VLAN tag out of the frame (VLAN offload, or
            // its own untagging before taps run) and left it in the header.
            // Put it back, as libpcap does: consumers see the wire's frame.
            std::uint16_t tpid =
                (header->tp_status & TP_STATUS_VLAN_TPID_VALID) ? header->hv1.tp_vlan_tpid : ETH_P_8021Q;
            auto tci = static_cast<std::uint16_t>(header->hv1.tp_vlan_tci);
            const std::byte tag[kVlanTagBytes] = {std::byte(tpid >> 8), std::byte(tpid & 0xff), std::byte(tci >> 8),
                                                  std::byte(tci & 0xff)};
            wire += kVlanTagBytes;
            caplen = std::min(captured + kVlanTagBytes, snap_limit_);
            // The copy of this mode (in three pieces around the tag).
            std::memcpy(out, frame, std::min(caplen, kMacAddressesBytes));
            if (caplen > kMacAddressesBytes)
                std::memcpy(out + kMacAddressesBytes, tag, std::min(caplen - kMacAddressesBytes, kVlanTagBytes));
            if (caplen > kMacAddressesBytes + kVlanTagBytes)
                std::memcpy(out + kMacAddressesBytes + kVlanTagBytes, frame + kMacAddressesBytes,
                            caplen - kMacAddressesBytes - kVlanTagBytes);
        } else {
            caplen = std::min(captured, snap_limit_);
            std::memcpy(out, frame, caplen); // the copy of this mode: ring to pool buffer, counted in copied
        }
        if (caplen < wire && count_truncation_)
            ++burst.truncated; // larger than a pool buffer: kept up to zc_buffer_capacity

        std::uint64_t timestamp =
            std::uint64_t{header->tp_sec} * 1000000000u + header->tp_nsec; // the kernel's receive time
        fill_meta(*zc_buffer_meta_of(pool_.get(), buffer), timestamp, wire, port);

        zc_packet& packet = packets[burst.delivered++];
        packet.data = reinterpret_cast<const std::uint8_t*>(out);
        packet.caplen = caplen;
        packet.len = wire;
        packet.timestamp_ns = timestamp;
        packet.buffer = buffer;
        packet.queue = port; // one socket per interface: the socket's place is the interface's
        packet.port = port;
        burst.bytes += wire;
    }

    DevicePool pool_;
    std::vector<PacketSocket> sockets_;
    UniqueFd epoll_; // over all sockets, when there are several
    std::vector<pollfd> poll_fds_;
    std::uint32_t capacity_;
    std::uint32_t snap_limit_;     // bytes kept per frame: the buffer, or a smaller snaplen
    bool count_truncation_;        // false when the user's snaplen, not the buffer, is the limit
    bool receive_;
    bool transmit_;
    std::uint32_t frame_count_ = 0;
    std::uint32_t next_socket_ = 0;

    SpareBuffers spares_{pool_.get()}; // after pool_: destroyed before it
    std::array<mmsghdr, kChunk> messages_{};
    std::array<iovec, kChunk> iovecs_{};

    Counter packets_, bytes_, copied_, pool_dropped_, truncated_, sent_, send_failed_;
    std::uint64_t kernel_dropped_ = 0; // stats() only
};

} // namespace

int open_afpacket(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                  zc_error* err)
{
    const std::vector<std::string>& interfaces = name.interfaces;
    if (interfaces.empty())
        return fail(err, -EINVAL, "afpacket: no interface named (expected zc:afpacket:eth0 or zc:afpacket:eth0,eth1)");
    if (interfaces.size() > 0xffff)
        return fail(err, -EINVAL, "afpacket: %zu interfaces is more than a packet's port number can tell apart",
                    interfaces.size());
    std::set<std::string> seen;
    for (const std::string& interface : interfaces)
        if (!seen.insert(interface).second)
            return fail(err, -EINVAL,
                        "afpacket:%s: %s is named twice (every frame of it would be captured twice)",
                        interface.c_str(), interface.c_str());

    std::vector<unsigned> indices(interfaces.size());
    for (std::size_t i = 0; i < interfaces.size(); ++i)
        if (int rc = interface_index(interfaces[i], &indices[i], err); rc != 0)
            return rc;

    const bool transmit = (config.flags & ZC_DEVICE_TX) != 0;
    const bool receive = (config.flags & ZC_DEVICE_RX) != 0 || !transmit;
    std::uint64_t frames = config.frame_count != 0 ? config.frame_count
                                                   : std::uint64_t{kDefaultFramesPerInterface} * interfaces.size();
    if (frames > 0xffffffffu)
        frames = 0xffffffffu; // the pool refuses it with its own sentence
    DevicePool pool;
    if (int rc = open_device_pool(config, static_cast<std::uint32_t>(frames), pool, err); rc != 0)
        return rc;
    const std::uint32_t capacity = zc_buffer_capacity(pool.get());
    const std::uint32_t snap_limit = config.snaplen != 0 && config.snaplen < capacity ? config.snaplen : capacity;

    afpacket::SocketOptions options;
    options.receive = receive;
    options.promiscuous = (config.flags & ZC_DEVICE_NO_PROMISC) == 0;
    options.snap_bytes = snap_limit;
    options.geometry = afpacket::RingGeometry::for_slots(config.ring_size);

    std::vector<PacketSocket> sockets(interfaces.size());
    for (std::size_t i = 0; i < interfaces.size(); ++i) {
        // send_burst sends on the first interface, forward_burst on any.
        options.transmit = transmit;
        if (int rc = sockets[i].open(interfaces[i], indices[i], options, err); rc != 0)
            return rc;
    }

    UniqueFd epoll;
    if (sockets.size() > 1) {
        epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
        if (epoll.get() < 0)
            return fail(err, -errno, "afpacket: cannot create the epoll fd over %zu sockets: %s", sockets.size(),
                        std::strerror(errno));
        for (const PacketSocket& socket : sockets) {
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.fd = socket.fd();
            if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, socket.fd(), &event) != 0)
                return fail(err, -errno, "%s: cannot add the socket to the epoll fd: %s", socket.interface().c_str(),
                            std::strerror(errno));
        }
    }

    out = std::make_unique<AfPacketDriver>(std::move(pool), std::move(sockets), std::move(epoll), snap_limit, receive,
                                           transmit);
    return 0;
}

} // namespace zc

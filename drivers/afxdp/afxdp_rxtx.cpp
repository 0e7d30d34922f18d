// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afxdp/afxdp_rxtx.cpp — the AF_XDP driver's fast path: receive,
// give back, transmit, wait. The rings are libxdp's inline producer and
// consumer (xdp/xsk.h); the barriers are theirs (release on submit and
// release, acquire on reading the other side's index), as documented in
// the kernel's net/xdp/xsk_queue.h. The buffer life cycle is drawn in
// afxdp_driver.hpp.

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sys/socket.h>

#include "internal/cluster.hpp"
#include "afxdp_driver.hpp"

namespace zc::afxdp {

void AfXdpDriver::kick_rx(const Socket& socket) noexcept
{
    // Lets a zero-copy driver take new fill ring entries, or runs the busy
    // poll. Failures (ENETDOWN, ENOBUFS) mean "not now": nothing to do.
    ::recvfrom(socket.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
}

void AfXdpDriver::kick_tx(const Socket& socket) noexcept
{
    // In copy mode one sendto sends a bounded batch and says EAGAIN while
    // more wait (EBUSY: the device dropped one); bounded by the ring's size.
    for (std::uint32_t i = 0; i < tx_kicks_; ++i) {
        if (::sendto(socket.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0)
            return;
        if (errno != EAGAIN && errno != EBUSY)
            return;
    }
}

std::uint32_t AfXdpDriver::top_up(Socket& socket, std::uint32_t index, std::uint32_t limit) noexcept
{
    // Only once a whole batch of slots is free: one pool call and one
    // producer publish per batch, never per packet.
    std::uint32_t free = xsk_prod_nb_free(&socket.fill, refill_batch_);
    if (free < refill_batch_)
        return 0;
    std::uint32_t want = std::min(free, limit);
    std::uint32_t added = 0;
    while (added < want) {
        std::uint32_t chunk = std::min(want - added, kScratch);
        std::uint32_t taken = zc_pool_alloc_burst(pool_.get(), scratch_, chunk, ZC_OWNER(ZC_OWNER_DEVICE, index));
        if (taken == 0)
            break; // the caller holds the rest of the pool: a status, not an error
        taken_.mark(scratch_, taken);
        std::uint32_t slot = 0;
        xsk_ring_prod__reserve(&socket.fill, taken, &slot); // cannot fail: taken <= free
        for (std::uint32_t i = 0; i < taken; ++i)
            *xsk_ring_prod__fill_addr(&socket.fill, slot + i) = frame_addr(scratch_[i]);
        xsk_ring_prod__submit(&socket.fill, taken);
        added += taken;
        if (taken < chunk)
            break;
    }
    return added;
}

std::uint32_t AfXdpDriver::recv_burst(zc_packet* packets, std::uint32_t n) noexcept
{
    if (!rx_)
        return 0;
    zc_cluster* pool = pool_.get();
    std::uint32_t got = 0;
    std::uint64_t bytes = 0;
    std::uint64_t now = 0;
    // Round robin: each call starts at the socket after the last one visited.
    for (std::uint32_t visited = 0; visited < socket_count_ && got < n; ++visited) {
        std::uint32_t index = next_rx_;
        next_rx_ = index + 1 == socket_count_ ? 0 : index + 1;
        Socket& socket = sockets_[index];

        std::uint32_t slot = 0;
        std::uint32_t ready = xsk_ring_cons__peek(&socket.rx, n - got, &slot);
        if (ready == 0) {
            // Forwarded frames the kernel is done with: their buffers go back
            // to this fill ring before top_up takes any from the free list.
            if (socket.tx_outstanding > 0)
                reap_completions(index);
            top_up(socket, index, ring_size_);
            // need_wakeup on the fill ring: a zero-copy driver waits for a kick
            // to take fill entries (never set in copy mode). Useless while the
            // fill ring is empty.
            bool filled = xsk_prod_nb_free(&socket.fill, ring_size_) < ring_size_;
            if (busy_poll_ || (xsk_ring_prod__needs_wakeup(&socket.fill) && filled))
                kick_rx(socket);
            continue;
        }
        if (now == 0)
            now = realtime_ns(); // once per batch
        for (std::uint32_t i = 0; i < ready; ++i) {
            const xdp_desc* desc = xsk_ring_cons__rx_desc(&socket.rx, slot + i);
            std::uint32_t buffer = static_cast<std::uint32_t>(desc->addr >> frame_shift_);
            if (buffer >= frame_count_) [[unlikely]]
                continue; // the kernel only hands back addresses we gave it
            fill_meta(*reinterpret_cast<zc_buffer_meta*>(umem_base_ + frame_addr(buffer)), now, desc->len,
                      socket.port);
            set_owner(*pool, buffer, ZC_OWNER(ZC_OWNER_WORKER, index));

            zc_packet& packet = packets[got++];
            packet.data = reinterpret_cast<const std::uint8_t*>(umem_base_ + desc->addr);
            packet.len = desc->len;
            packet.caplen = config_.snaplen != 0 && desc->len > config_.snaplen ? config_.snaplen : desc->len;
            packet.timestamp_ns = now;
            packet.buffer = buffer;
            packet.queue = static_cast<std::uint16_t>(index);
            packet.port = socket.port;
            bytes += desc->len;
        }
        xsk_ring_cons__release(&socket.rx, ready);
        // Keep the kernel supplied while the caller holds these buffers.
        if (top_up(socket, index, ring_size_) > 0 && xsk_ring_prod__needs_wakeup(&socket.fill))
            kick_rx(socket);
    }
    if (got > 0) {
        add_to_counter(packets_, got);
        add_to_counter(bytes_, bytes);
    }
    return got;
}

void AfXdpDriver::flush_stage(std::uint32_t index) noexcept
{
    Socket& socket = sockets_[index];
    std::uint32_t n = socket.staged;
    socket.staged = 0;
    const std::uint32_t* buffers = &stage_[std::size_t{index} * kStage];
    std::uint32_t room = rx_ ? std::min(n, xsk_prod_nb_free(&socket.fill, n)) : 0;
    if (room > 0) {
        std::uint32_t slot = 0;
        xsk_ring_prod__reserve(&socket.fill, room, &slot);
        for (std::uint32_t i = 0; i < room; ++i)
            *xsk_ring_prod__fill_addr(&socket.fill, slot + i) = frame_addr(buffers[i]);
        xsk_ring_prod__submit(&socket.fill, room);
        if (xsk_ring_prod__needs_wakeup(&socket.fill))
            kick_rx(socket);
    }
    if (room < n) { // the fill ring is full: the rest waits on the free list
        taken_.unmark(buffers + room, n - room);
        zc_pool_release_burst(pool_.get(), buffers + room, n - room);
    }
}

bool AfXdpDriver::caller_holds(std::uint32_t index, std::uint32_t buffer) const noexcept
{
    // Only what the caller holds: not twice, not another pool's buffer.
    if (index >= socket_count_ || buffer >= frame_count_) [[unlikely]]
        return false;
    std::uint32_t kind = ZC_OWNER_KIND(owner_of(*pool_.get(), buffer));
    return kind != ZC_OWNER_DEVICE && kind != ZC_OWNER_FREE;
}

// A buffer the caller held, on its way back to the fill ring of the socket
// it came from: gathered per socket, so that each fill ring is published
// once per call (flush_stages), not once per buffer.
void AfXdpDriver::stage_release(std::uint32_t index, std::uint32_t buffer, std::uint32_t& listed) noexcept
{
    set_owner(*pool_.get(), buffer, ZC_OWNER(ZC_OWNER_DEVICE, index));
    Socket& socket = sockets_[index];
    if (!socket.listed) {
        socket.listed = true;
        staged_sockets_[listed++] = index;
    }
    stage_[std::size_t{index} * kStage + socket.staged++] = buffer;
    if (socket.staged == kStage)
        flush_stage(index);
}

void AfXdpDriver::flush_stages(std::uint32_t listed) noexcept
{
    for (std::uint32_t i = 0; i < listed; ++i) {
        std::uint32_t index = staged_sockets_[i];
        if (sockets_[index].staged > 0)
            flush_stage(index);
        sockets_[index].listed = false;
    }
}

void AfXdpDriver::release_burst(const zc_packet* packets, std::uint32_t n) noexcept
{
    std::uint32_t bad = 0;
    std::uint32_t listed = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        if (!caller_holds(packets[i].queue, packets[i].buffer)) [[unlikely]] {
            ++bad;
            continue;
        }
        stage_release(packets[i].queue, packets[i].buffer, listed);
    }
    flush_stages(listed);
    if (bad > 0)
        add_to_counter(bad_release_, bad);
}

void AfXdpDriver::reap_completions(std::uint32_t index, bool kick) noexcept
{
    // What the kernel has sent, from this socket's TX ring (send_burst's
    // and forward_burst's frames alike): back on this socket's fill ring
    // while it has room and the device receives, the rest on the free list
    // (where tx_alloc and the other sockets' top_up find them).
    Socket& socket = sockets_[index];
    for (;;) {
        std::uint32_t slot = 0;
        std::uint32_t done = xsk_ring_cons__peek(&socket.comp, kScratch, &slot);
        if (done == 0)
            break;
        for (std::uint32_t i = 0; i < done; ++i)
            scratch_[i] = static_cast<std::uint32_t>(*xsk_ring_cons__comp_addr(&socket.comp, slot + i) >> frame_shift_);
        xsk_ring_cons__release(&socket.comp, done);
        socket.tx_outstanding -= std::min(done, socket.tx_outstanding);
        std::uint32_t room = rx_ ? std::min(done, xsk_prod_nb_free(&socket.fill, done)) : 0;
        if (room > 0) {
            std::uint32_t fill_slot = 0;
            xsk_ring_prod__reserve(&socket.fill, room, &fill_slot); // cannot fail: room is free
            for (std::uint32_t i = 0; i < room; ++i)
                *xsk_ring_prod__fill_addr(&socket.fill, fill_slot + i) = frame_addr(scratch_[i]);
            xsk_ring_prod__submit(&socket.fill, room);
            // Their owner stays DEVICE(index): the TX ring's, now the fill ring's.
            if (xsk_ring_prod__needs_wakeup(&socket.fill))
                kick_rx(socket);
        }
        if (room < done) {
            taken_.unmark(scratch_ + room, done - room);
            zc_pool_release_burst(pool_.get(), scratch_ + room, done - room);
        }
    }
    if (kick)
        kick_waiting_tx(socket);
}

void AfXdpDriver::kick_waiting_tx(Socket& socket) noexcept
{
    // Frames still on the TX ring (copy mode sends a batch per kick).
    std::uint32_t waiting = ring_size_ - xsk_prod_nb_free(&socket.tx, ring_size_);
    if (waiting > 0 && xsk_ring_prod__needs_wakeup(&socket.tx))
        kick_tx(socket);
}

std::uint32_t AfXdpDriver::forward_burst(const zc_packet* packets, const std::uint16_t* ports,
                                         std::uint32_t n) noexcept
{
    const bool forwards = rx_ && tx_;
    const std::uint64_t frame_size = std::uint64_t{1} << frame_shift_;
    std::uint32_t bad = 0, failed = 0, queued = 0;
    std::uint32_t listed = 0;  // sockets with failed forwards staged for their fill ring
    std::uint32_t touched = 0; // sockets with descriptors reserved on their TX ring
    for (std::uint32_t i = 0; i < n; ++i) {
        const zc_packet& packet = packets[i];
        const std::uint32_t index = packet.queue;
        const std::uint32_t buffer = packet.buffer;
        if (!caller_holds(index, buffer)) [[unlikely]] {
            ++bad; // not the caller's to hand over: left where it is
            continue;
        }
        // The frame as the kernel delivered it: data and len within the
        // buffer's frame (a descriptor the kernel finds invalid is dropped
        // without a completion, and its buffer would be lost).
        const auto start = reinterpret_cast<std::uintptr_t>(umem_base_ + frame_addr(buffer));
        const auto data = reinterpret_cast<std::uintptr_t>(packet.data);
        const bool fits = packet.len > 0 && packet.len <= frame_size && data >= start &&
                          data - start <= frame_size - packet.len;
        if (forwards && fits && ports[i] < port_count_) [[likely]] {
            const std::uint32_t out = forward_socket_[std::size_t{index} * port_count_ + ports[i]];
            Socket& socket = sockets_[out];
            if (!socket.tx_listed) {
                socket.tx_listed = true;
                tx_sockets_[touched++] = out;
                // Room on the TX ring, and on the completion ring for the
                // kick below (the kernel sends nothing while it is full).
                reap_completions(out, false);
            }
            std::uint32_t slot = 0;
            if (xsk_ring_prod__reserve(&socket.tx, 1, &slot) == 1) {
                // One reservation per frame (a cached-index check; the slots of
                // one socket are consecutive), one submit per socket below.
                xdp_desc* desc = xsk_ring_prod__tx_desc(&socket.tx, slot);
                desc->addr = frame_addr(buffer) + (data - start);
                desc->len = packet.len;
                desc->options = 0;
                set_owner(*pool_.get(), buffer, ZC_OWNER(ZC_OWNER_DEVICE, out));
                ++socket.tx_pending;
                ++queued;
                continue;
            }
        }
        // Cannot forward it (cannot forward at all, port out of range, frame
        // not within its buffer, TX ring full): it goes where release_burst
        // would put it.
        ++failed;
        stage_release(index, buffer, listed);
    }
    for (std::uint32_t i = 0; i < touched; ++i) {
        Socket& socket = sockets_[tx_sockets_[i]];
        socket.tx_listed = false;
        if (socket.tx_pending > 0) {
            xsk_ring_prod__submit(&socket.tx, socket.tx_pending);
            socket.tx_outstanding += socket.tx_pending;
            socket.tx_pending = 0;
        }
        // The one wake-up of this socket for this burst (in copy mode a short
        // loop of sendto, a batch of frames each, until the ring is empty).
        kick_waiting_tx(socket);
    }
    flush_stages(listed);
    if (queued > 0) {
        forward_counters_.forwarded.add(queued);
        if (!zero_copy_)
            forward_counters_.copied.add(queued); // copy mode: the kernel copies each frame into an skb
    }
    if (failed + bad > 0)
        forward_counters_.failed.add(failed + bad);
    if (bad > 0)
        add_to_counter(bad_release_, bad);
    return queued;
}

std::uint32_t AfXdpDriver::tx_alloc(std::uint32_t* buffers, std::uint32_t n) noexcept
{
    if (!tx_)
        return 0;
    reap_completions(0); // so that transmit never starves on buffers the kernel is done with
    std::uint32_t taken = zc_pool_alloc_burst(pool_.get(), buffers, n, ZC_OWNER(ZC_OWNER_WORKER, 0));
    taken_.mark(buffers, taken);
    return taken;
}

std::uint32_t AfXdpDriver::send_burst(const std::uint32_t* buffers, const std::uint32_t* lengths,
                                      std::uint32_t n) noexcept
{
    if (!tx_)
        return 0;
    Socket& socket = sockets_[0];
    if (n == 0) {
        // A caller's flush (zc-send's at the end): frames a kick left on the
        // TX ring, the device being busy then, go now.
        reap_completions(0);
        return 0;
    }
    std::uint32_t count = 0;
    while (count < n && buffers[count] < frame_count_ && lengths[count] > 0 && lengths[count] <= capacity_)
        ++count;
    std::uint32_t room = xsk_prod_nb_free(&socket.tx, count);
    if (room < count) {
        reap_completions(0); // and kicks the kernel if frames still wait
        room = xsk_prod_nb_free(&socket.tx, count);
    }
    count = std::min(count, room);
    if (count > 0) {
        std::uint32_t slot = 0;
        xsk_ring_prod__reserve(&socket.tx, count, &slot);
        for (std::uint32_t i = 0; i < count; ++i) {
            xdp_desc* desc = xsk_ring_prod__tx_desc(&socket.tx, slot + i);
            desc->addr = frame_addr(buffers[i]) + data_offset_;
            desc->len = lengths[i];
            desc->options = 0;
            set_owner(*pool_.get(), buffers[i], ZC_OWNER(ZC_OWNER_DEVICE, 0));
        }
        xsk_ring_prod__submit(&socket.tx, count);
        socket.tx_outstanding += count;
        if (xsk_ring_prod__needs_wakeup(&socket.tx))
            kick_tx(socket);
        add_to_counter(sent_, count);
    }
    if (count < n)
        add_to_counter(send_failed_, n - count);
    return count;
}

int AfXdpDriver::wait(int timeout_ms) noexcept
{
    if (rx_)
        for (std::uint32_t i = 0; i < socket_count_; ++i)
            if (xsk_cons_nb_avail(&sockets_[i].rx, 1) > 0)
                return 1;
    // poll(), not the epoll fd: poll on an AF_XDP socket also kicks a
    // zero-copy driver that waits for fill ring entries.
    int ready = ::poll(poll_fds_.data(), poll_fds_.size(), timeout_ms);
    if (ready < 0)
        return -errno;
    return ready > 0 ? 1 : 0;
}

} // namespace zc::afxdp

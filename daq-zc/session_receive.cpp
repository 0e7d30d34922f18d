// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/session_receive.cpp — the fast path of a session (session.hpp):
// receive, filter, settle (forward or release, batched). No allocation, no
// logging, no copy: a forwarded packet leaves from the buffer it arrived in
// (zc_device_forward_burst), one call per batch, not per packet.

#include "session.hpp"

namespace daqzc {

std::uint32_t Session::receive(zc_packet* packets, std::uint32_t n) noexcept
{
    if (ended_ || !device_)
        return ended_ ? ZC_DEVICE_END : 0;
    std::uint32_t got = zc_device_recv_burst(device_, packets, n);
    if (got == ZC_DEVICE_END)
        ended_ = true;
    return got;
}

bool Session::admit(const zc_packet& packet) noexcept
{
    // The filter sees the whole frame, as a kernel socket filter would; the
    // snapshot length applies after it.
    if (filter_.passes(packet.data, packet.len, packet.caplen))
        return true;
    ++counters_.filtered;
    return false;
}

int Session::ingress_index(const zc_packet& packet) const noexcept
{
    return packet.port < interfaces_.size() ? interfaces_[packet.port].index : -1;
}

int Session::egress_index(const zc_packet& packet) const noexcept
{
    return inline_ && packet.port < peer_.size() ? interfaces_[peer_[packet.port]].index : -1;
}

void Session::settle(const zc_packet& packet, bool let_through) noexcept
{
    if (inline_ && let_through)
        forward_later(packet);
    else
        release_later(packet);
}

void Session::flush() noexcept
{
    flush_forwards();
    flush_releases();
}

void Session::release(const zc_packet* packets, std::uint32_t n) noexcept
{
    if (device_ && n > 0)
        zc_device_release_burst(device_, packets, n);
}

void Session::release_later(const zc_packet& packet) noexcept
{
    releases_[release_count_++] = packet;
    if (release_count_ == kBurst)
        flush_releases();
}

void Session::flush_releases() noexcept
{
    if (release_count_ == 0)
        return;
    release(releases_, release_count_);
    release_count_ = 0;
}

void Session::forward_later(const zc_packet& packet) noexcept
{
    // A port outside the pairs cannot happen (the aggregate has no other);
    // were it to, the device would refuse the packet and count it.
    forward_ports_[forward_count_] = packet.port < peer_.size() ? peer_[packet.port] : UINT16_MAX;
    forwards_[forward_count_++] = packet;
    if (forward_count_ == kBurst)
        flush_forwards();
}

void Session::flush_forwards() noexcept
{
    if (forward_count_ == 0 || !device_)
        return;
    // The buffers pass to the device, sent or not: none is released here.
    const std::uint32_t queued = zc_device_forward_burst(device_, forwards_, forward_ports_, forward_count_);
    counters_.forwarded += queued;
    counters_.forward_failed += forward_count_ - queued;
    if (!forward_zero_copy_)
        counters_.forward_copied += queued; // by the kernel, into an skb (AF_XDP copy mode, AF_PACKET)
    forward_count_ = 0;
}

} // namespace daqzc

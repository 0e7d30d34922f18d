// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/session_receive.cpp — the fast path of a session (session.hpp):
// receive, filter, forward, release. No allocation, no logging, no copy
// except the forward's explicit one into the peer's TX buffer (counted by
// the TX device).

#include <cstring>

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
    if (inline_)
        forward(packet);
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

void Session::forward(const zc_packet& packet) noexcept
{
    // A frame cut to a pool buffer (longer than the buffer) cannot go out whole.
    if (packet.port >= peer_.size() || packet.caplen < packet.len) {
        ++counters_.not_forwarded;
        return;
    }
    // The explicit copy of this mode: into a buffer of the peer's TX device.
    if (zc_device_inject(tx_[peer_[packet.port]], packet.data, packet.caplen) != 0) {
        ++counters_.not_forwarded;
        return;
    }
    ++counters_.forwarded;
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

} // namespace daqzc

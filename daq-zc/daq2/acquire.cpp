// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq2/acquire.cpp — the receive loop of the DAQ 2 module (fast
// path: no allocation, no logging, no copy).
//
// Packets come from the session in bursts of up to kBurst into pending_.
// Each one runs through the BPF filter (Session::admit), then the callback
// gets a DAQ_PktHdr_t and a pointer straight into the pool buffer; its
// verdict is counted, and the packet settled (Session::settle): inline and
// let through (PASS, REPLACE, WHITELIST, IGNORE — and every packet the
// filter kept from Snort), into the forward batch; otherwise (passive
// mode, BLOCK, BLACKLIST, RETRY) into the release batch. Both batches go to
// the device once the burst has been looked at, and whenever acquire
// returns: one zc_device_forward_burst (out of each packet's peer, from the
// buffer it arrived in) and one zc_device_release_burst. A burst cut short
// (count reached, or breakloop) keeps the packets not yet looked at for
// the next acquire; those looked at are settled before it returns.
//
// acquire(count): count <= 0 runs until breakloop; otherwise until `count`
// packets reached the callback. It returns 0 (DAQ_SUCCESS) after that, after
// breakloop, and — as libdaq's afpacket module — after the DAQ timeout
// (config->timeout ms) passed without a packet; DAQ_READFILE_EOF once a
// replay (zc:pcap:) has played to its end; DAQ_ERROR with the error buffer
// filled when waiting fails (a cluster's owner gone, for one).
//
// Waiting is the session's: interruptible at once by breakloop (an
// eventfd polled with the device's fd); a signal starts a new round.

#include <algorithm>

#include "instance.hpp"
// after instance.hpp: it needs the DAQ header first
#include "../daq_session.hpp"

namespace daqzc {

void Instance::fill_header(const zc_packet& packet, DAQ_PktHdr_t& header) const noexcept
{
    header.ts.tv_sec = static_cast<time_t>(packet.timestamp_ns / 1000000000u);
    header.ts.tv_usec = static_cast<suseconds_t>(packet.timestamp_ns % 1000000000u / 1000u);
    header.caplen = std::min(packet.caplen, static_cast<std::uint32_t>(snaplen_));
    header.pktlen = packet.len;
    header.ingress_index = session_.ingress_index(packet); // -1 is DAQ_PKTHDR_UNKNOWN
    header.egress_index = session_.egress_index(packet);
    header.ingress_group = DAQ_PKTHDR_UNKNOWN;
    header.egress_group = DAQ_PKTHDR_UNKNOWN;
    // Passive: no verdict forwards or blocks anything.
    header.flags = session_.inline_mode() ? 0u : static_cast<std::uint32_t>(DAQ_PKT_FLAG_NOT_FORWARDING);
    header.opaque = 0;
    header.priv_ptr = nullptr;
    header.flow_id = 0;
    header.address_space_id = 0;
}

// Hands pending packets to the callback until none is left, `count` is
// reached, or breakloop was called (break_seen_ then tells acquire).
void Instance::deliver_pending(int count, int& delivered, DAQ_Analysis_Func_t callback, void* user) noexcept
{
    DAQ_PktHdr_t header{};
    while (head_ < count_) {
        if (count > 0 && delivered >= count)
            return;
        if (session_.take_interrupt()) {
            break_seen_ = true;
            return;
        }
        const zc_packet& packet = pending_[head_++];
        if (!session_.admit(packet)) {
            session_.settle(packet, true); // inline: it crosses unseen
            continue;
        }
        fill_header(packet, header);
        DAQ_Verdict verdict = DAQ_VERDICT_PASS;
        if (callback) {
            verdict = callback(user, &header, packet.data);
            if (verdict < DAQ_VERDICT_PASS || verdict >= MAX_DAQ_VERDICT)
                verdict = DAQ_VERDICT_PASS;
            ++stats_.verdicts[verdict];
        }
        ++stats_.packets_received;
        ++delivered;
        session_.settle(packet, lets_through(verdict));
    }
}

int Instance::acquire(int count, DAQ_Analysis_Func_t callback, void* user) noexcept
{
    if (!session_.is_open()) {
        set_error("%s: cannot acquire: the device is closed", session_.name().c_str());
        return DAQ_ERROR;
    }
    int delivered = 0;
    std::uint64_t idle_deadline_ms = 0; // 0: not idle
    for (;;) {
        deliver_pending(count, delivered, callback, user);
        // Every packet looked at goes to the device now: forwarded or given
        // back, one call each for the burst.
        session_.flush();
        if (break_seen_ || session_.take_interrupt()) {
            break_seen_ = false;
            return DAQ_SUCCESS;
        }
        if (count > 0 && delivered >= count)
            return DAQ_SUCCESS;
        head_ = count_ = 0;
        std::uint32_t got = session_.receive(pending_, kBurst);
        if (got == ZC_DEVICE_END)
            return DAQ_READFILE_EOF;
        if (got > 0) {
            count_ = got;
            idle_deadline_ms = 0;
            continue;
        }
        if (timeout_ms_ > 0 && idle_deadline_ms == 0)
            idle_deadline_ms = Session::now_ms() + static_cast<std::uint64_t>(timeout_ms_);
        switch (session_.wait_until(idle_deadline_ms)) {
        case Session::Wait::Ready: break;
        case Session::Wait::Timeout: return DAQ_SUCCESS; // as afpacket returns
        case Session::Wait::Interrupted: return DAQ_SUCCESS;
        case Session::Wait::Failed: set_error("%s", session_.error()); return DAQ_ERROR;
        }
    }
}

} // namespace daqzc

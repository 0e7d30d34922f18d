// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/receive.cpp — msg_receive and msg_finalize of the DAQ 3
// module (fast path: no allocation, no logging, no copy).
//
// msg_receive(max_recv) first forwards and gives back what the messages
// finalized since the last call settled (Session::flush), then takes
// packets with zc_device_recv_burst, at most min(max_recv, free messages,
// kBurst) at a time. Each packet runs through the BPF filter (a refused
// one is counted and settled at once: inline it crosses unseen, passive
// its buffer goes back); each admitted one takes a message whose data is
// the pool buffer itself. The status, as libdaq 3 documents it and its
// afpacket and pcap modules return it:
//   DAQ_RSTAT_OK           max_recv messages
//   DAQ_RSTAT_WOULD_BLOCK  fewer, and nothing more is waiting now
//   DAQ_RSTAT_TIMEOUT      none, and the DAQ timeout passed without a
//                          packet (timeout 0: wait for ever)
//   DAQ_RSTAT_INTERRUPTED  interrupt() was called (before or during the call)
//   DAQ_RSTAT_NOBUF        every message is out: finalize some
//   DAQ_RSTAT_EOF          a replay (zc:pcap:) has played to its end
//                          (with the last messages, as libdaq's pcap module)
//   DAQ_RSTAT_ERROR        the device cannot deliver any more (a cluster's
//                          owner gone), with the sentence in the error buffer
// Only a call that has received nothing yet waits.
//
// msg_finalize(verdict) counts the verdict as given and settles the packet
// (Session::settle): inline, PASS, REPLACE, WHITELIST and IGNORE put it in
// the forward batch (out of its peer from the buffer it arrived in, one
// zc_device_forward_burst per kBurst or at the next msg_receive; the
// buffer passes to the device); BLOCK and BLACKLIST, and every verdict in
// passive mode, in the release batch. Then the message joins the free list.

#include <algorithm>

#include "instance.hpp"
// after instance.hpp: it needs the DAQ header first
#include "../daq_session.hpp"

namespace daqzc::daq3 {

void Instance::fill(Message& message, const zc_packet& packet) noexcept
{
    message.packet = packet;
    const std::uint32_t caplen = std::min(packet.caplen, static_cast<std::uint32_t>(snaplen_));
    // Snort may change the bytes in place (REPLACE) inline, where the pool
    // is the aggregate's own writable UMEM; passive, it does not write.
    message.msg.data = const_cast<std::uint8_t*>(packet.data);
    message.msg.data_len = caplen;
    DAQ_PktHdr_t& header = message.header;
    header.ts.tv_sec = static_cast<time_t>(packet.timestamp_ns / 1000000000u);
    header.ts.tv_usec = static_cast<suseconds_t>(packet.timestamp_ns % 1000000000u / 1000u);
    header.pktlen = packet.len;
    header.ingress_index = session_.ingress_index(packet); // -1 is DAQ_PKTHDR_UNKNOWN
    header.egress_index = session_.egress_index(packet);
    // Passive: no verdict forwards or blocks anything.
    header.flags = session_.inline_mode() ? 0u : static_cast<std::uint32_t>(DAQ_PKT_FLAG_NOT_FORWARDING);
    // opaque, flow_id, address_space_id, tenant_id stay 0 and the groups
    // DAQ_PKTHDR_UNKNOWN (message_pool.cpp).
}

DAQ_RecvStatus Instance::wait(std::uint64_t& deadline_ms) noexcept
{
    if (timeout_ms_ > 0 && deadline_ms == 0)
        deadline_ms = Session::now_ms() + timeout_ms_;
    switch (session_.wait_until(deadline_ms)) {
    case Session::Wait::Ready: return DAQ_RSTAT_OK;
    case Session::Wait::Timeout: return DAQ_RSTAT_TIMEOUT;
    case Session::Wait::Interrupted: return DAQ_RSTAT_INTERRUPTED;
    case Session::Wait::Failed: break;
    }
    base_api().set_errbuf(owner_, "%s", session_.error());
    return DAQ_RSTAT_ERROR;
}

unsigned Instance::receive(unsigned max_recv, const DAQ_Msg_t* msgs[], DAQ_RecvStatus* status) noexcept
{
    session_.flush();
    if (!session_.is_open()) {
        base_api().set_errbuf(owner_, "%s: cannot receive: the device is closed", session_.name().c_str());
        *status = DAQ_RSTAT_ERROR;
        return 0;
    }
    unsigned count = 0;
    std::uint64_t deadline_ms = 0; // set when this call first waits
    DAQ_RecvStatus result = DAQ_RSTAT_OK;
    while (count < max_recv) {
        if (session_.take_interrupt()) {
            result = DAQ_RSTAT_INTERRUPTED;
            break;
        }
        if (pool_.available() == 0) {
            result = DAQ_RSTAT_NOBUF;
            break;
        }
        const std::uint32_t want = std::min({max_recv - count, pool_.available(), kBurst});
        const std::uint32_t got = session_.receive(burst_, want);
        if (got == ZC_DEVICE_END) {
            result = DAQ_RSTAT_EOF;
            break;
        }
        if (got == 0) {
            if (count != 0) {
                result = DAQ_RSTAT_WOULD_BLOCK;
                break;
            }
            result = wait(deadline_ms);
            if (result != DAQ_RSTAT_OK)
                break;
            continue;
        }
        // got <= want: each admitted packet finds a free message.
        for (std::uint32_t i = 0; i < got; ++i) {
            const zc_packet& packet = burst_[i];
            if (!session_.admit(packet)) {
                session_.settle(packet, true); // inline: it crosses unseen
                continue;
            }
            Message* message = pool_.take();
            fill(*message, packet);
            msgs[count++] = &message->msg;
        }
    }
    received_ += count;
    *status = result;
    return count;
}

int Instance::finalize(const DAQ_Msg_t* msg, DAQ_Verdict verdict) noexcept
{
    auto* message = static_cast<Message*>(msg->priv);
    if (!message || !message->held) {
        base_api().set_errbuf(owner_, "%s: finalize: this message is not one the instance handed out",
                              session_.name().c_str());
        return DAQ_ERROR_INVAL;
    }
    if (verdict < DAQ_VERDICT_PASS || verdict >= MAX_DAQ_VERDICT)
        verdict = DAQ_VERDICT_PASS;
    ++verdicts_[verdict];
    if (message->packet.data) // null once stop() gave the buffer back
        session_.settle(message->packet, lets_through(verdict));
    pool_.give_back(message);
    return DAQ_SUCCESS;
}

} // namespace daqzc::daq3

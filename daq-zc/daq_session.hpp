// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq_session.hpp — what both modules answer alike about a Session,
// in libdaq's own terms: which verdicts let a packet through, which
// capabilities the session offers, the counters both DAQ_Stats_t have, and
// the debug line at stop. libdaq 2 and libdaq 3 spell these the same
// (DAQ_VERDICT_*, DAQ_CAPA_*, the DAQ_Stats_t fields used here), so each
// module includes this after its own DAQ header (daq_api.h or
// daq_module_api.h), as daq_codes.hpp; the session itself never sees either.
#ifndef DAQZC_DAQ_SESSION_HPP
#define DAQZC_DAQ_SESSION_HPP

#ifndef DAQ_CAPA_BLOCK
#error "include the header of libdaq (daq_api.h or daq_module_api.h) before daq_session.hpp"
#endif

#include <cstdint>
#include <cstdio>

#include "session.hpp"

namespace daqzc {

// As libdaq's afpacket module: which verdicts let a packet through inline.
inline bool lets_through(DAQ_Verdict verdict) noexcept
{
    switch (verdict) {
    case DAQ_VERDICT_PASS:
    case DAQ_VERDICT_REPLACE:
    case DAQ_VERDICT_WHITELIST:
    case DAQ_VERDICT_IGNORE: return true;
    default: return false; // BLOCK, BLACKLIST (DAQ 2: RETRY)
    }
}

// `base` (what the module itself offers) and what the session adds.
inline std::uint32_t session_capabilities(const Session& session, std::uint32_t base) noexcept
{
    std::uint32_t capabilities = base;
    if (session.inline_mode())
        capabilities |= DAQ_CAPA_BLOCK | DAQ_CAPA_REPLACE; // REPLACE: Snort's in-place changes are what goes out
    if (session.can_send())
        capabilities |= DAQ_CAPA_INJECT;
    if (!session.interfaces().empty())
        capabilities |= DAQ_CAPA_DEVICE_INDEX;
    return capabilities;
}

// The counters the session and its device keep, into a DAQ_Stats_t. What
// the device received (filtered or not, analyzed or still held), and what
// was lost: the device's RX ring was full or its fill ring empty (a cluster
// queue: what the owner could not give it because it was full), and,
// inline, packets let through that could not be sent (TX ring full, frame
// cut to a pool buffer) — both are packets that never reached the far side.
template <typename DaqStats> void fill_session_stats(Session& session, DaqStats& stats) noexcept
{
    const zc_device_stats device = session.device_counters();
    const SessionCounters& counters = session.counters();
    // A passive session's filter runs in its device (Session::set_filter):
    // what the device refused counts as received and filtered, as if the
    // filter had run here.
    stats.hw_packets_received = device.packets + device.filtered;
    stats.hw_packets_dropped = device.dropped + counters.forward_failed;
    stats.packets_filtered = counters.filtered + device.filtered;
    stats.packets_injected = counters.injected;
}

// The debug line at stop: `module` ("daq_zc", "daq_zc (DAQ 3)"), then the
// counters; `extra` ends the line (", N outstanding", or "").
template <typename DaqStats>
void print_stopped(const char* module, Session& session, const DaqStats& stats, const char* extra) noexcept
{
    const SessionCounters& counters = session.counters();
    const zc_device_stats device = session.device_counters();
    std::fprintf(stderr,
                 "%s: %s stopped: %llu received by the device, %llu dropped by it, %llu analyzed, %llu filtered, "
                 "%llu injected, %llu forwarded from their own buffers (%llu of them copied by the kernel), %llu "
                 "forwards failed%s\n",
                 module, session.name().c_str(), static_cast<unsigned long long>(stats.hw_packets_received),
                 static_cast<unsigned long long>(device.dropped),
                 static_cast<unsigned long long>(stats.packets_received),
                 static_cast<unsigned long long>(stats.packets_filtered),
                 static_cast<unsigned long long>(stats.packets_injected),
                 static_cast<unsigned long long>(counters.forwarded),
                 static_cast<unsigned long long>(counters.forward_copied),
                 static_cast<unsigned long long>(counters.forward_failed), extra);
}

} // namespace daqzc

#endif // DAQZC_DAQ_SESSION_HPP

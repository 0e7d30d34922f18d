// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq2/instance.hpp — one instance of the DAQ 2 module: what
// daq_initialize returns as the handle, and what every other entry point
// (module.cpp) works on. The device, filter, forwarding, releases and
// the interruptible wait are the shared Session's (../session.hpp); this
// class adds what is DAQ 2's own: the states, the callback loop, the
// DAQ_Stats_t.
//
// Life cycle, as libdaq 2 drives it (it checks the states itself):
//   initialize  parses the variables and opens the zc device: everything
//               that needs privileges happens here, so start() may run
//               after Snort dropped root (DAQ_CAPA_UNPRIV_START). An
//               AF_XDP device receives from this moment; what it queued
//               before start() is delivered, and its counters count from
//               start() on.
//   start       counters from zero                     -> STARTED
//   acquire     the receive loop (acquire.cpp)
//   stop        forwards what was let through, gives back every other
//               buffer, keeps the final counters, closes the device
//                                                       -> STOPPED
//   shutdown    frees the instance (stopping it first if needed)
// breakloop may come from another thread or a signal handler: it raises
// the session's interrupt, which ends a wait at once and which acquire
// looks at between packets.
#ifndef DAQZC_DAQ2_INSTANCE_HPP
#define DAQZC_DAQ2_INSTANCE_HPP

extern "C" {
#include <daq_api.h>
}

#include <cstddef>
#include <cstdint>

#include "../session.hpp"

namespace daqzc {

class Instance {
public:
    // daq_initialize. DAQ_SUCCESS and the instance, or a DAQ_ERROR* code
    // with a sentence in errbuf.
    static int create(const DAQ_Config_t* config, Instance** out, char* errbuf, std::size_t errbuf_size) noexcept;
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    int set_filter(const char* expression) noexcept;
    int start() noexcept;
    int acquire(int count, DAQ_Analysis_Func_t callback, void* user) noexcept;
    int inject(const DAQ_PktHdr_t* header, const std::uint8_t* data, std::uint32_t length, int reverse) noexcept;
    int breakloop() noexcept;
    int stop() noexcept;

    [[nodiscard]] DAQ_State state() const noexcept { return state_; }
    int get_stats(DAQ_Stats_t* stats) noexcept;
    void reset_stats() noexcept;
    [[nodiscard]] int snaplen() const noexcept { return snaplen_; }
    [[nodiscard]] std::uint32_t capabilities() const noexcept;
    [[nodiscard]] const char* errbuf() const noexcept { return errbuf_; }
    void set_errbuf(const char* text) noexcept;
    [[nodiscard]] int device_index(const char* name) const noexcept;

private:
    Instance() = default;
    [[gnu::format(printf, 2, 3)]] void set_error(const char* format, ...) noexcept;
    int session_error(int rc) noexcept; // copies the session's sentence, returns the DAQ code
    void deliver_pending(int count, int& delivered, DAQ_Analysis_Func_t callback, void* user) noexcept;
    void fill_header(const zc_packet& packet, DAQ_PktHdr_t& header) const noexcept;

    Session session_;
    int snaplen_ = 0;
    int timeout_ms_ = 0; // 0: wait forever
    DAQ_State state_ = DAQ_STATE_UNINITIALIZED;
    bool break_seen_ = false; // deliver_pending took a breakloop: acquire returns

    // Packets taken from the device: [0, head_) looked at (settled with the
    // session: forwarded or given back when acquire flushes), [head_,
    // count_) not yet.
    zc_packet pending_[kBurst]{};
    std::uint32_t head_ = 0;
    std::uint32_t count_ = 0;

    DAQ_Stats_t stats_{}; // the module's own counters (the device's filled in at get_stats)

    char errbuf_[DAQ_ERRBUF_SIZE] = {};
};

} // namespace daqzc

#endif // DAQZC_DAQ2_INSTANCE_HPP

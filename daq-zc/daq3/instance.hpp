// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/instance.hpp — one instance of the DAQ 3 module, one per
// Snort 3 packet thread: what instantiate returns as the context, and what
// every other entry point (module.cpp) works on. The device, filter,
// forwarding, releases and the interruptible wait are the shared Session's
// (../session.hpp); this class adds libdaq 3's message pool, its states
// and its DAQ_Stats_t.
//
// Life cycle, as libdaq 3 drives it (it checks the states itself):
//   instantiate  parses the variables, opens the zc device (everything that
//                needs privileges: DAQ_CAPA_UNPRIV_START), makes the
//                message pool
//   start        counters from zero
//   msg_receive  up to max_recv messages (receive.cpp)
//   msg_finalize a verdict for one message: counted, and its buffer
//                forwarded (inline, let through) or given back (receive.cpp)
//   stop         forwards what was let through, gives back every other
//                buffer (those of messages not yet finalized too, not
//                forwarded: their data is gone once the device closes),
//                keeps the final counters, closes the device
//   destroy      frees the instance
// interrupt may come from any thread: it ends a waiting msg_receive at once
// (DAQ_RSTAT_INTERRUPTED), or the next one.
//
// Forwards and releases are batched (Session::settle): a finalized
// message's buffer goes out (or back) with up to kBurst - 1 others, and at
// the latest when the next msg_receive starts (or at stop) — a buffer is
// never held past the next receive after its message was finalized.
#ifndef DAQZC_DAQ3_INSTANCE_HPP
#define DAQZC_DAQ3_INSTANCE_HPP

#include <cstdint>

#include "../session.hpp"
#include "daq3.hpp"
#include "message_pool.hpp"

namespace daqzc::daq3 {

class Instance {
public:
    // instantiate. DAQ_SUCCESS and the instance, or a DAQ_ERROR* code with
    // a sentence given to libdaq (set_errbuf).
    static int create(DAQ_ModuleConfig_h config, DAQ_ModuleInstance_h owner, Instance** out) noexcept;
    ~Instance();
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    int set_filter(const char* expression) noexcept;
    int start() noexcept;
    int stop() noexcept;
    int interrupt() noexcept;
    int inject(DAQ_MsgType type, const void* header, const std::uint8_t* data, std::uint32_t length) noexcept;
    int inject_relative(const DAQ_Msg_t* msg, const std::uint8_t* data, std::uint32_t length, int reverse) noexcept;
    int ioctl(DAQ_IoctlCmd command, void* argument, std::size_t length) noexcept;
    int get_stats(DAQ_Stats_t* stats) noexcept;
    void reset_stats() noexcept;
    [[nodiscard]] int snaplen() const noexcept { return snaplen_; }
    [[nodiscard]] std::uint32_t capabilities() const noexcept;
    int get_msg_pool_info(DAQ_MsgPoolInfo_t* info) const noexcept;

    // Fast path (receive.cpp).
    unsigned receive(unsigned max_recv, const DAQ_Msg_t* msgs[], DAQ_RecvStatus* status) noexcept;
    int finalize(const DAQ_Msg_t* msg, DAQ_Verdict verdict) noexcept;

private:
    explicit Instance(DAQ_ModuleInstance_h owner) noexcept : owner_(owner) {}
    int fail(int code) noexcept; // the session's sentence to libdaq, and `code`
    void fill(Message& message, const zc_packet& packet) noexcept;
    DAQ_RecvStatus wait(std::uint64_t& deadline_ms) noexcept;

    DAQ_ModuleInstance_h owner_;
    Session session_;
    MessagePool pool_;
    int snaplen_ = 0;
    unsigned timeout_ms_ = 0; // 0: wait forever

    zc_packet burst_[kBurst]{}; // what one zc_device_recv_burst gave

    std::uint64_t received_ = 0;              // handed to Snort
    std::uint64_t verdicts_[MAX_DAQ_VERDICT]{}; // Snort's verdicts, as given
};

} // namespace daqzc::daq3

#endif // DAQZC_DAQ3_INSTANCE_HPP

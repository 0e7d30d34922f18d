// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/message_pool.hpp — the DAQ 3 module's messages, all made at
// instantiate (libdaq 3's msg_pool_size of them) and never allocated on
// the receive path, as libdaq's own modules do.
//
// A Message is the DAQ_Msg_t Snort sees, its DAQ_PktHdr_t, and the
// zc_packet it stands for: msg.data points straight into the pool buffer
// the device received into (nothing is copied), msg.priv points back at
// the Message, so msg_finalize finds the zc_packet (its buffer index) to
// give back. Free messages form a list; take() and give_back() are O(1).
// An empty list is DAQ_RSTAT_NOBUF, a status and not an error.
#ifndef DAQZC_DAQ3_MESSAGE_POOL_HPP
#define DAQZC_DAQ3_MESSAGE_POOL_HPP

#include <cstddef>
#include <cstdint>
#include <memory>

#include "daq3.hpp"
#include "zc/device.h"

namespace daqzc::daq3 {

struct Message {
    DAQ_Msg_t msg;
    DAQ_PktHdr_t header;
    zc_packet packet;
    Message* next; // on the free list
    bool held;     // handed to Snort, not yet finalized
};

class MessagePool {
public:
    // Control path: `size` messages owned by `owner` (may throw bad_alloc).
    void create(std::uint32_t size, DAQ_ModuleInstance_h owner);

    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] std::uint32_t available() const noexcept { return available_; }
    [[nodiscard]] std::size_t memory_bytes() const noexcept { return sizeof(Message) * size_; }

    // Fast path. take() only when available() > 0.
    Message* take() noexcept
    {
        Message* message = free_;
        free_ = message->next;
        message->next = nullptr;
        message->held = true;
        --available_;
        return message;
    }
    void give_back(Message* message) noexcept
    {
        message->held = false;
        message->next = free_;
        free_ = message;
        ++available_;
    }

    // Every message Snort still holds (for stop()).
    template <typename Visit> void for_each_held(Visit visit) noexcept
    {
        for (std::uint32_t i = 0; i < size_; ++i)
            if (messages_[i].held)
                visit(messages_[i]);
    }

private:
    std::unique_ptr<Message[]> messages_;
    Message* free_ = nullptr;
    std::uint32_t size_ = 0;
    std::uint32_t available_ = 0;
};

} // namespace daqzc::daq3

#endif // DAQZC_DAQ3_MESSAGE_POOL_HPP

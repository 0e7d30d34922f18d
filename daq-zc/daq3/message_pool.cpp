// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/message_pool.cpp — see message_pool.hpp.

#include "message_pool.hpp"

namespace daqzc::daq3 {

void MessagePool::create(std::uint32_t size, DAQ_ModuleInstance_h owner)
{
    messages_ = std::make_unique<Message[]>(size);
    size_ = available_ = size;
    free_ = nullptr;
    for (std::uint32_t i = size; i-- > 0;) {
        Message& message = messages_[i];
        message = Message{};
        // What never changes: the message is a packet, with this header,
        // from this instance.
        message.msg.type = DAQ_MSG_TYPE_PACKET;
        message.msg.hdr_len = sizeof(DAQ_PktHdr_t);
        message.msg.hdr = &message.header;
        message.msg.owner = owner;
        message.msg.priv = &message;
        message.header.ingress_group = DAQ_PKTHDR_UNKNOWN;
        message.header.egress_group = DAQ_PKTHDR_UNKNOWN;
        message.next = free_;
        free_ = &message;
    }
}

} // namespace daqzc::daq3

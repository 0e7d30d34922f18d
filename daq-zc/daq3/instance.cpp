// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/instance.cpp — the control path of a DAQ 3 instance:
// instantiate, filter, start, stop, inject, ioctl, counters (see
// instance.hpp). The receive path is in receive.cpp.

#include "instance.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "../daq_codes.hpp"
#include "../daq_session.hpp"

namespace daqzc::daq3 {
namespace {

constexpr std::uint32_t kMinimumPool = kBurst;

const char* mode_string(DAQ_Mode mode) noexcept
{
    switch (mode) {
    case DAQ_MODE_PASSIVE: return "passive";
    case DAQ_MODE_INLINE: return "inline";
    case DAQ_MODE_READ_FILE: return "read-file";
    case DAQ_MODE_NONE: return "none";
    default: return "unknown";
    }
}

// As libdaq's afpacket module: 10% of the buffers the device receives into
// (it keeps the other 90% for its fill ring), and at least one burst.
std::uint32_t default_pool_size(const Session& session) noexcept
{
    return std::max(kMinimumPool, session.pool_buffers() / 10);
}

} // namespace

int Instance::create(DAQ_ModuleConfig_h config, DAQ_ModuleInstance_h owner, Instance** out) noexcept
{
    const DAQ_BaseAPI_t& api = base_api();
    *out = nullptr;
    const char* input = api.config_get_input(config);
    const DAQ_Mode mode = api.config_get_mode(config);
    try {
        if (!input || !*input) {
            api.set_errbuf(owner, "no interface given: name one with Snort's -i (zc:eth0, zc:eth0@3, zc:99@0; see "
                                  "daq_zc(7))");
            return DAQ_ERROR_INVAL;
        }
        if (mode != DAQ_MODE_PASSIVE && mode != DAQ_MODE_INLINE) {
            api.set_errbuf(owner, "%s: the zc DAQ module does not run in %s mode (passive or inline; replay a file "
                                  "with -i zc:pcap:FILE)",
                           input, mode_string(mode));
            return DAQ_ERROR_NOTSUP;
        }
        std::unique_ptr<Instance> instance(new Instance(owner));
        Options options = default_options();
        const char* key = nullptr;
        const char* value = nullptr;
        // DAQ_SUCCESS with key set while there is a variable, key null after the last.
        for (int rc = api.config_first_variable(config, &key, &value); rc == DAQ_SUCCESS && key;
             rc = api.config_next_variable(config, &key, &value)) {
            std::string error;
            if (!apply_option(options, key, value, error)) {
                api.set_errbuf(owner, "%s", error.c_str());
                return DAQ_ERROR_INVAL;
            }
        }
        const int snaplen = api.config_get_snaplen(config);
        instance->snaplen_ = snaplen > 0 ? snaplen : 65535;
        instance->timeout_ms_ = api.config_get_timeout(config);
        Session& session = instance->session_;
        // libdaq 3 has no promiscuous flag: the no_promisc variable says it.
        if (int rc = session.open(input, mode == DAQ_MODE_INLINE, options, true); rc != 0) {
            const unsigned instances = api.config_get_total_instances(config);
            if (rc == -EBUSY && instances > 1)
                api.set_errbuf(owner,
                               "%s (Snort runs %u packet threads: give each its own queue, one -i per "
                               "thread: -i zc:eth0@0 -i zc:eth0@1 ..., or zc-balance's -i zc:99@0 -i zc:99@1 ...; "
                               "see daq_zc(7))",
                               session.error(), instances);
            else
                api.set_errbuf(owner, "%s", session.error());
            return daq_code_of(rc);
        }
        std::uint32_t pool_size = api.config_get_msg_pool_size(config);
        if (pool_size == 0)
            pool_size = default_pool_size(session);
        instance->pool_.create(pool_size, owner);
        if (options.debug)
            std::fprintf(stderr, "daq_zc (DAQ 3): instance %u of %u, %s mode, snaplen %d, timeout %u ms, %u messages: %s\n",
                         api.config_get_instance_id(config), api.config_get_total_instances(config),
                         mode_string(mode), instance->snaplen_, instance->timeout_ms_, pool_size,
                         session.description().c_str());
        *out = instance.release();
        return DAQ_SUCCESS;
    } catch (const std::bad_alloc&) {
        api.set_errbuf(owner, "%s: out of memory while instantiating the zc DAQ module", input ? input : "zc");
        return DAQ_ERROR_NOMEM;
    }
}

Instance::~Instance() { stop(); }

int Instance::fail(int code) noexcept
{
    base_api().set_errbuf(owner_, "%s", session_.error());
    return code;
}

int Instance::set_filter(const char* expression) noexcept
{
    int rc = session_.set_filter(expression, snaplen_);
    return rc == 0 ? DAQ_SUCCESS : fail(daq_code_of(rc));
}

int Instance::start() noexcept
{
    if (!session_.is_open()) {
        base_api().set_errbuf(owner_, "%s: the device is closed (stopped instances cannot start again)",
                              session_.name().c_str());
        return DAQ_ERROR;
    }
    reset_stats();
    return DAQ_SUCCESS;
}

int Instance::stop() noexcept
{
    if (!session_.is_open())
        return DAQ_SUCCESS;
    // The buffers of messages Snort has not finalized go back too: once
    // the device is closed their data is gone. A later finalize only
    // returns the message to the pool.
    pool_.for_each_held([this](Message& message) {
        session_.settle(message.packet, false); // no verdict: not forwarded
        message.packet.data = nullptr;
    });
    session_.flush();
    if (session_.debug()) {
        DAQ_Stats_t stats{};
        get_stats(&stats);
        char outstanding[64];
        std::snprintf(outstanding, sizeof outstanding, ", %llu outstanding",
                      static_cast<unsigned long long>(stats.packets_outstanding));
        print_stopped("daq_zc (DAQ 3)", session_, stats, outstanding);
    }
    session_.close();
    return DAQ_SUCCESS;
}

int Instance::interrupt() noexcept
{
    session_.interrupt();
    return DAQ_SUCCESS;
}

int Instance::inject(DAQ_MsgType type, const void* header, const std::uint8_t* data, std::uint32_t length) noexcept
{
    if (type != DAQ_MSG_TYPE_PACKET) {
        base_api().set_errbuf(owner_, "%s: the zc DAQ module injects packets only (message type %d)",
                              session_.name().c_str(), static_cast<int>(type));
        return DAQ_ERROR_NOTSUP;
    }
    // As libdaq's afpacket module: out of the interface the header names as
    // ingress (passive, one interface: that one).
    const auto* packet_header = static_cast<const DAQ_PktHdr_t*>(header);
    int port = session_.port_of(packet_header->ingress_index);
    if (!session_.inline_mode() && session_.interfaces().size() <= 1)
        port = 0;
    int rc = session_.inject(port, true, data, length);
    if (rc == 0)
        return DAQ_SUCCESS;
    return fail(rc == -ENOTSUP ? DAQ_ERROR_NOTSUP : DAQ_ERROR);
}

int Instance::inject_relative(const DAQ_Msg_t* msg, const std::uint8_t* data, std::uint32_t length,
                              int reverse) noexcept
{
    const auto* message = static_cast<const Message*>(msg->priv);
    int port = message->packet.port;
    if (!session_.inline_mode() && session_.interfaces().size() <= 1)
        port = 0;
    int rc = session_.inject(port, reverse != 0, data, length);
    if (rc == 0)
        return DAQ_SUCCESS;
    return fail(rc == -ENOTSUP ? DAQ_ERROR_NOTSUP : DAQ_ERROR);
}

int Instance::ioctl(DAQ_IoctlCmd command, void* argument, std::size_t length) noexcept
{
    // As libdaq's afpacket module: the device index only; the flow
    // commands need a flow table this module does not keep.
    if (command != DIOCTL_GET_DEVICE_INDEX || length != sizeof(DIOCTL_QueryDeviceIndex) || !argument)
        return DAQ_ERROR_NOTSUP;
    auto* query = static_cast<DIOCTL_QueryDeviceIndex*>(argument);
    if (!query->device) {
        base_api().set_errbuf(owner_, "DIOCTL_GET_DEVICE_INDEX: no device name to find the index of");
        return DAQ_ERROR_INVAL;
    }
    int index = session_.device_index(query->device);
    if (index < 0)
        return DAQ_ERROR_NODEV;
    query->index = index;
    return DAQ_SUCCESS;
}

int Instance::get_stats(DAQ_Stats_t* stats) noexcept
{
    *stats = DAQ_Stats_t{};
    fill_session_stats(session_, *stats);
    stats->packets_received = received_;
    stats->packets_outstanding = pool_.size() - pool_.available();
    for (int verdict = 0; verdict < MAX_DAQ_VERDICT; ++verdict)
        stats->verdicts[verdict] = verdicts_[verdict];
    return DAQ_SUCCESS;
}

void Instance::reset_stats() noexcept
{
    received_ = 0;
    std::fill(std::begin(verdicts_), std::end(verdicts_), 0);
    session_.reset_counters();
}

std::uint32_t Instance::capabilities() const noexcept
{
    return session_capabilities(session_, DAQ_CAPA_BPF | DAQ_CAPA_INTERRUPT | DAQ_CAPA_UNPRIV_START);
}

int Instance::get_msg_pool_info(DAQ_MsgPoolInfo_t* info) const noexcept
{
    info->size = pool_.size();
    info->available = pool_.available();
    info->mem_size = pool_.memory_bytes();
    return DAQ_SUCCESS;
}

} // namespace daqzc::daq3

// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq2/instance.cpp — the control path of a DAQ 2 instance:
// initialize, filter, start, stop, counters, inject, and the small
// questions libdaq asks (see instance.hpp). The receive loop is in
// acquire.cpp; the device work is the Session's (../session.hpp).

#include "instance.hpp"

#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "../daq_codes.hpp"
#include "../daq_session.hpp"

namespace daqzc {
namespace {

[[gnu::format(printf, 3, 4)]] void format_into(char* buffer, std::size_t size, const char* format, ...) noexcept
{
    if (!buffer || size == 0)
        return;
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, size, format, args);
    va_end(args);
}

const char* mode_string(DAQ_Mode mode) noexcept
{
    switch (mode) {
    case DAQ_MODE_PASSIVE: return "passive";
    case DAQ_MODE_INLINE: return "inline";
    case DAQ_MODE_READ_FILE: return "read-file";
    default: return "unknown";
    }
}

} // namespace

int Instance::create(const DAQ_Config_t* config, Instance** out, char* errbuf, std::size_t errbuf_size) noexcept
{
    *out = nullptr;
    try {
        if (!config->name || !*config->name) {
            format_into(errbuf, errbuf_size,
                        "no interface given: name one with Snort's -i (zc:eth0, zc:eth0@3, zc:99@0; see daq_zc(7))");
            return DAQ_ERROR_INVAL;
        }
        if (config->mode != DAQ_MODE_PASSIVE && config->mode != DAQ_MODE_INLINE) {
            format_into(errbuf, errbuf_size, "%s: the zc DAQ module does not run in %s mode (passive or inline)",
                        config->name, mode_string(config->mode));
            return DAQ_ERROR_NOTSUP;
        }
        std::unique_ptr<Instance> instance(new Instance);
        Options options = default_options();
        for (const DAQ_Dict* entry = config->values; entry; entry = entry->next) {
            std::string error;
            if (!apply_option(options, entry->key ? entry->key : "", entry->value, error)) {
                format_into(errbuf, errbuf_size, "%s", error.c_str());
                return DAQ_ERROR_INVAL;
            }
        }
        instance->snaplen_ = config->snaplen > 0 ? config->snaplen : 65535;
        instance->timeout_ms_ = config->timeout > INT_MAX ? INT_MAX : static_cast<int>(config->timeout);
        Session& session = instance->session_;
        int rc = session.open(config->name, config->mode == DAQ_MODE_INLINE, options,
                              (config->flags & DAQ_CFG_PROMISC) != 0);
        if (rc != 0) {
            format_into(errbuf, errbuf_size, "%s", session.error());
            return daq_code_of(rc);
        }
        instance->state_ = DAQ_STATE_INITIALIZED;
        if (options.debug)
            std::fprintf(stderr, "daq_zc: %s mode, snaplen %d, timeout %d ms: %s\n", mode_string(config->mode),
                         instance->snaplen_, instance->timeout_ms_, session.description().c_str());
        *out = instance.release();
        return DAQ_SUCCESS;
    } catch (const std::bad_alloc&) {
        format_into(errbuf, errbuf_size, "%s: out of memory while initializing the zc DAQ module",
                    config->name ? config->name : "zc");
        return DAQ_ERROR_NOMEM;
    }
}

Instance::~Instance()
{
    if (session_.is_open())
        stop();
}

void Instance::set_error(const char* format, ...) noexcept
{
    va_list args;
    va_start(args, format);
    std::vsnprintf(errbuf_, sizeof errbuf_, format, args);
    va_end(args);
}

void Instance::set_errbuf(const char* text) noexcept
{
    if (text)
        format_into(errbuf_, sizeof errbuf_, "%s", text);
}

int Instance::session_error(int rc) noexcept
{
    set_error("%s", session_.error());
    return daq_code_of(rc);
}

int Instance::set_filter(const char* expression) noexcept
{
    int rc = session_.set_filter(expression, snaplen_);
    return rc == 0 ? DAQ_SUCCESS : session_error(rc);
}

int Instance::start() noexcept
{
    if (!session_.is_open()) {
        set_error("%s: the device is closed (stopped instances cannot start again)", session_.name().c_str());
        return DAQ_ERROR;
    }
    reset_stats();
    state_ = DAQ_STATE_STARTED;
    return DAQ_SUCCESS;
}

int Instance::breakloop() noexcept
{
    session_.interrupt();
    return DAQ_SUCCESS;
}

int Instance::stop() noexcept
{
    if (session_.is_open()) {
        // The packets of a cut burst not yet looked at have no verdict: back.
        session_.release(pending_ + head_, count_ - head_);
        head_ = count_ = 0;
        session_.close(); // forwards and gives back what is settled
    }
    const bool was_open = state_ != DAQ_STATE_UNINITIALIZED;
    state_ = DAQ_STATE_STOPPED;
    if (session_.debug() && was_open) {
        DAQ_Stats_t stats{};
        get_stats(&stats);
        print_stopped("daq_zc", session_, stats, "");
    }
    return DAQ_SUCCESS;
}

int Instance::get_stats(DAQ_Stats_t* out) noexcept
{
    *out = stats_;
    fill_session_stats(session_, *out);
    return DAQ_SUCCESS;
}

void Instance::reset_stats() noexcept
{
    stats_ = DAQ_Stats_t{};
    session_.reset_counters();
}

std::uint32_t Instance::capabilities() const noexcept
{
    return session_capabilities(session_, DAQ_CAPA_BPF | DAQ_CAPA_BREAKLOOP | DAQ_CAPA_UNPRIV_START);
}

int Instance::device_index(const char* name) const noexcept
{
    int index = session_.device_index(name);
    return index >= 0 ? index : DAQ_ERROR_NODEV;
}

int Instance::inject(const DAQ_PktHdr_t* header, const std::uint8_t* data, std::uint32_t length, int reverse) noexcept
{
    // Inline: reverse goes back out of the interface the packet came in
    // on, forward out of its peer. Passive: out of the capture interface.
    int port = session_.port_of(header->ingress_index);
    if (!session_.inline_mode() && session_.interfaces().size() <= 1)
        port = 0;
    int rc = session_.inject(port, reverse != 0, data, length);
    if (rc == 0)
        return DAQ_SUCCESS;
    set_error("%s", session_.error());
    return rc == -ENOTSUP ? DAQ_ERROR_NOTSUP : DAQ_ERROR;
}

} // namespace daqzc

// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq2/module.cpp — the C boundary of the DAQ 2 module: libdaq 2.0.x
// dlopen()s daq_zc.so, checks DAQ_MODULE_DATA.api_version against its
// DAQ_API_VERSION, and calls these entry points with the handle
// initialize returned (an Instance). The only exported symbol is
// DAQ_MODULE_DATA (daq_zc.map); everything else is hidden.
//
// As libdaq's own afpacket module: no modify_flow, no reload hooks
// (hup_prep/hup_apply/hup_post: libdaq then reports that a reload needs no
// work from the module), no dp_add_dc.

extern "C" {
#include <daq_api.h>
#include <pcap/dlt.h>
}

#include "instance.hpp"

namespace {

using daqzc::Instance;

constexpr std::uint32_t kModuleVersion = 1;

Instance& instance_of(void* handle) noexcept { return *static_cast<Instance*>(handle); }

int zc_daq_initialize(const DAQ_Config_t* config, void** handle, char* errbuf, size_t errbuf_size)
{
    Instance* instance = nullptr;
    int rc = Instance::create(config, &instance, errbuf, errbuf_size);
    *handle = instance;
    return rc;
}

int zc_daq_set_filter(void* handle, const char* filter) { return instance_of(handle).set_filter(filter); }

int zc_daq_start(void* handle) { return instance_of(handle).start(); }

int zc_daq_acquire(void* handle, int count, DAQ_Analysis_Func_t callback, DAQ_Meta_Func_t, void* user)
{
    // No metadata events (flow start/end) come from a zc device.
    return instance_of(handle).acquire(count, callback, user);
}

int zc_daq_inject(void* handle, const DAQ_PktHdr_t* header, const uint8_t* data, uint32_t length, int reverse)
{
    return instance_of(handle).inject(header, data, length, reverse);
}

int zc_daq_breakloop(void* handle) { return instance_of(handle).breakloop(); }

int zc_daq_stop(void* handle) { return instance_of(handle).stop(); }

void zc_daq_shutdown(void* handle) { delete static_cast<Instance*>(handle); }

DAQ_State zc_daq_check_status(void* handle) { return instance_of(handle).state(); }

int zc_daq_get_stats(void* handle, DAQ_Stats_t* stats) { return instance_of(handle).get_stats(stats); }

void zc_daq_reset_stats(void* handle) { instance_of(handle).reset_stats(); }

int zc_daq_get_snaplen(void* handle) { return instance_of(handle).snaplen(); }

uint32_t zc_daq_get_capabilities(void* handle) { return instance_of(handle).capabilities(); }

int zc_daq_get_datalink_type(void*) { return DLT_EN10MB; }

const char* zc_daq_get_errbuf(void* handle) { return instance_of(handle).errbuf(); }

void zc_daq_set_errbuf(void* handle, const char* text) { instance_of(handle).set_errbuf(text); }

int zc_daq_get_device_index(void* handle, const char* device) { return instance_of(handle).device_index(device); }

} // namespace

extern "C" [[gnu::visibility("default")]] const DAQ_Module_t DAQ_MODULE_DATA = {
    .api_version = DAQ_API_VERSION,
    .module_version = kModuleVersion,
    .name = "zc",
    .type = DAQ_TYPE_INTF_CAPABLE | DAQ_TYPE_INLINE_CAPABLE | DAQ_TYPE_MULTI_INSTANCE,
    .initialize = zc_daq_initialize,
    .set_filter = zc_daq_set_filter,
    .start = zc_daq_start,
    .acquire = zc_daq_acquire,
    .inject = zc_daq_inject,
    .breakloop = zc_daq_breakloop,
    .stop = zc_daq_stop,
    .shutdown = zc_daq_shutdown,
    .check_status = zc_daq_check_status,
    .get_stats = zc_daq_get_stats,
    .reset_stats = zc_daq_reset_stats,
    .get_snaplen = zc_daq_get_snaplen,
    .get_capabilities = zc_daq_get_capabilities,
    .get_datalink_type = zc_daq_get_datalink_type,
    .get_errbuf = zc_daq_get_errbuf,
    .set_errbuf = zc_daq_set_errbuf,
    .get_device_index = zc_daq_get_device_index,
    .modify_flow = nullptr,
    .hup_prep = nullptr,
    .hup_apply = nullptr,
    .hup_post = nullptr,
    .dp_add_dc = nullptr,
};

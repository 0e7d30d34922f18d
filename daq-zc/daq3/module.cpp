// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/module.cpp — the C boundary of the DAQ 3 module: libdaq 3
// dlopen()s daq_zc.so, checks DAQ_MODULE_DATA's api_version and api_size
// against its own, calls load() with its base API, and then the entry
// points below with the context instantiate returned (an Instance). The
// only exported symbol is DAQ_MODULE_DATA (daq_zc.map).
//
// Not offered, as in libdaq's afpacket module: config_load / config_swap /
// config_free (NULL: libdaq's defaults report that a reload needs no work
// from the module), flow ioctls (DAQ_ERROR_NOTSUP).

#include <array>
#include <cstddef>

#include "instance.hpp"

namespace daqzc::daq3 {
namespace {

constexpr std::uint32_t kModuleVersion = 1;

DAQ_BaseAPI_t loaded_base_api{};

// The variables of ../options.hpp in libdaq 3's form, filled at load.
constexpr std::size_t kMaxVariables = 16;
std::array<DAQ_VariableDesc_t, kMaxVariables> variables{};
int variable_count = 0;

Instance& instance_of(void* handle) noexcept { return *static_cast<Instance*>(handle); }

int zc_load(const DAQ_BaseAPI_t* api)
{
    if (!api || api->api_version != DAQ_BASE_API_VERSION || api->api_size != sizeof(DAQ_BaseAPI_t))
        return DAQ_ERROR; // another libdaq than the one this module was built against
    loaded_base_api = *api;
    std::size_t count = 0;
    const OptionDescription* options = option_descriptions(count);
    variable_count = 0;
    for (std::size_t i = 0; i < count && i < kMaxVariables; ++i)
        variables[variable_count++] = DAQ_VariableDesc_t{
            options[i].name, options[i].description, options[i].needs_value ? DAQ_VAR_DESC_REQUIRES_ARGUMENT : 0u};
    return DAQ_SUCCESS;
}

int zc_unload()
{
    loaded_base_api = DAQ_BaseAPI_t{};
    return DAQ_SUCCESS;
}

int zc_get_variable_descs(const DAQ_VariableDesc_t** table)
{
    *table = variables.data();
    return variable_count;
}

int zc_instantiate(const DAQ_ModuleConfig_h config, DAQ_ModuleInstance_h owner, void** context)
{
    Instance* instance = nullptr;
    int rc = Instance::create(config, owner, &instance);
    *context = instance; // null on failure: libdaq then destroys nothing of ours
    return rc;
}

void zc_destroy(void* handle) { delete static_cast<Instance*>(handle); }

int zc_set_filter(void* handle, const char* filter) { return instance_of(handle).set_filter(filter); }

int zc_start(void* handle) { return instance_of(handle).start(); }

int zc_inject(void* handle, DAQ_MsgType type, const void* header, const uint8_t* data, uint32_t length)
{
    return instance_of(handle).inject(type, header, data, length);
}

int zc_inject_relative(void* handle, DAQ_Msg_h msg, const uint8_t* data, uint32_t length, int reverse)
{
    return instance_of(handle).inject_relative(msg, data, length, reverse);
}

int zc_interrupt(void* handle) { return instance_of(handle).interrupt(); }

int zc_stop(void* handle) { return instance_of(handle).stop(); }

int zc_ioctl(void* handle, DAQ_IoctlCmd command, void* argument, size_t length)
{
    return instance_of(handle).ioctl(command, argument, length);
}

int zc_get_stats(void* handle, DAQ_Stats_t* stats) { return instance_of(handle).get_stats(stats); }

void zc_reset_stats(void* handle) { instance_of(handle).reset_stats(); }

int zc_get_snaplen(void* handle) { return instance_of(handle).snaplen(); }

uint32_t zc_get_capabilities(void* handle) { return instance_of(handle).capabilities(); }

int zc_get_datalink_type(void*) { return DLT_EN10MB; }

unsigned zc_msg_receive(void* handle, const unsigned max_recv, const DAQ_Msg_t* msgs[], DAQ_RecvStatus* status)
{
    return instance_of(handle).receive(max_recv, msgs, status);
}

int zc_msg_finalize(void* handle, const DAQ_Msg_t* msg, DAQ_Verdict verdict)
{
    return instance_of(handle).finalize(msg, verdict);
}

int zc_get_msg_pool_info(void* handle, DAQ_MsgPoolInfo_t* info) { return instance_of(handle).get_msg_pool_info(info); }

} // namespace

const DAQ_BaseAPI_t& base_api() noexcept { return loaded_base_api; }

} // namespace daqzc::daq3

extern "C" [[gnu::visibility("default")]] const DAQ_ModuleAPI_t DAQ_MODULE_DATA = {
    .api_version = DAQ_MODULE_API_VERSION,
    .api_size = sizeof(DAQ_ModuleAPI_t),
    .module_version = daqzc::daq3::kModuleVersion,
    .name = "zc",
    .type = DAQ_TYPE_INTF_CAPABLE | DAQ_TYPE_INLINE_CAPABLE | DAQ_TYPE_MULTI_INSTANCE,
    .load = daqzc::daq3::zc_load,
    .unload = daqzc::daq3::zc_unload,
    .get_variable_descs = daqzc::daq3::zc_get_variable_descs,
    .instantiate = daqzc::daq3::zc_instantiate,
    .destroy = daqzc::daq3::zc_destroy,
    .set_filter = daqzc::daq3::zc_set_filter,
    .start = daqzc::daq3::zc_start,
    .inject = daqzc::daq3::zc_inject,
    .inject_relative = daqzc::daq3::zc_inject_relative,
    .interrupt = daqzc::daq3::zc_interrupt,
    .stop = daqzc::daq3::zc_stop,
    .ioctl = daqzc::daq3::zc_ioctl,
    .get_stats = daqzc::daq3::zc_get_stats,
    .reset_stats = daqzc::daq3::zc_reset_stats,
    .get_snaplen = daqzc::daq3::zc_get_snaplen,
    .get_capabilities = daqzc::daq3::zc_get_capabilities,
    .get_datalink_type = daqzc::daq3::zc_get_datalink_type,
    .config_load = nullptr,
    .config_swap = nullptr,
    .config_free = nullptr,
    .msg_receive = daqzc::daq3::zc_msg_receive,
    .msg_finalize = daqzc::daq3::zc_msg_finalize,
    .get_msg_pool_info = daqzc::daq3::zc_get_msg_pool_info,
};

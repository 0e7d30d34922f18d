// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq3/daq3.hpp — libdaq 3's module API, and a check that it is
// libdaq 3's: Debian's libdaq 2 has headers of the same names (daq.h,
// daq_common.h) in /usr/include, so the DAQ 3 module is built with
// -I/opt/libdaq3/include (LIBDAQ3_CFLAGS) first, and this file refuses to
// compile against anything else. Every file of daq3/ includes this one
// instead of libdaq's headers.
#ifndef DAQZC_DAQ3_DAQ3_HPP
#define DAQZC_DAQ3_DAQ3_HPP

extern "C" {
#include <daq_dlt.h>
#include <daq_module_api.h> // exists only in libdaq 3
}

#if !defined(DAQ_MODULE_API_VERSION) || DAQ_MODULE_API_VERSION < 0x00030000
#error daq_module_api.h is not libdaq 3's: build with LIBDAQ3_CFLAGS (pkg-config libdaq >= 3) first
#endif
#if !defined(DAQ_BASE_API_VERSION) || !defined(DAQ_COMMON_API_VERSION)
#error libdaq 3's daq_module_api.h and daq_common.h are expected
#endif

namespace daqzc::daq3 {

// The loader's services (set_errbuf, configuration accessors), given to
// load() and kept until unload(): module.cpp owns it.
const DAQ_BaseAPI_t& base_api() noexcept;

} // namespace daqzc::daq3

#endif // DAQZC_DAQ3_DAQ3_HPP

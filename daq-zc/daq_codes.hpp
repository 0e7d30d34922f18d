// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/daq_codes.hpp — libdaq's return codes for the negative errnos a
// Session (and libzc) returns. Both libdaq 2 and libdaq 3 define the
// DAQ_ERROR* codes with the same names and values, so each module includes
// this after its own DAQ header (daq_api.h or daq_module_api.h); the
// session itself never sees either.
#ifndef DAQZC_DAQ_CODES_HPP
#define DAQZC_DAQ_CODES_HPP

#ifndef DAQ_ERROR_EXISTS
#error "include the header of libdaq (daq_api.h or daq_module_api.h) before daq_codes.hpp"
#endif

#include <cerrno>

namespace daqzc {

inline int daq_code_of(int rc) noexcept
{
    switch (-rc) {
    case 0: return DAQ_SUCCESS;
    case ENODEV:
    case ENOENT: return DAQ_ERROR_NODEV;
    case EINVAL: return DAQ_ERROR_INVAL;
    case ENOMEM: return DAQ_ERROR_NOMEM;
    case ENOTSUP: return DAQ_ERROR_NOTSUP;
    case EBUSY:
    case EEXIST: return DAQ_ERROR_EXISTS;
    default: return DAQ_ERROR;
    }
}

} // namespace daqzc

#endif // DAQZC_DAQ_CODES_HPP

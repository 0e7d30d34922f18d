// SPDX-License-Identifier: BSD-3-Clause
//
// The device factories region_fuzz does not use, for its libFuzzer build,
// which compiles the core and zc:synthetic from source (instrumented) rather
// than link libzc: every other device is "not in this build".

#include <cerrno>

#include "internal/driver.hpp"
#include "internal/error.hpp"

namespace zc {

namespace {

int absent(const char* what, zc_error* err)
{
    return fail(err, -ENOTSUP, "%s devices are not in the region_fuzz build (only zc:synthetic)", what);
}

} // namespace

int open_afxdp(const DeviceName&, const zc_device_config&, std::unique_ptr<Driver>&, zc_error* err)
{
    return absent("AF_XDP", err);
}
int open_afpacket(const DeviceName&, const zc_device_config&, std::unique_ptr<Driver>&, zc_error* err)
{
    return absent("AF_PACKET", err);
}
int open_pcapfile(const DeviceName&, const zc_device_config&, std::unique_ptr<Driver>&, zc_error* err)
{
    return absent("pcap replay", err);
}
int open_cluster_queue(const DeviceName&, const zc_device_config&, std::unique_ptr<Driver>&, zc_error* err)
{
    return absent("cluster queue", err);
}

} // namespace zc

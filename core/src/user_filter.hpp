// SPDX-License-Identifier: BSD-3-Clause
//
// core/src/user_filter.hpp — a device's filter run in user space, with
// libpcap's own interpreter (bpf_filter, what pcap_offline_filter runs):
// for back-ends with no kernel filter, programs the kernel forms cannot
// take, ZC_FILTER_USER_SPACE, and the packets queued before a kernel
// filter changed (zc/device.h). libpcap's types stay in user_filter.cpp:
// its struct bpf_insn and the kernel's cannot meet in one file.

#pragma once

#include <cstdint>
#include <vector>

#include "zc/device.h"

namespace zc {

class UserFilter {
public:
    // libpcap's bpf_validate on the program.
    static bool valid(const zc_filter_insn* insns, std::uint32_t count) noexcept;

    // Control path: replaces the program (count 0: none).
    void set(const zc_filter_insn* insns, std::uint32_t count) { program_.assign(insns, insns + count); }
    [[nodiscard]] bool empty() const noexcept { return program_.empty(); }

    // Fast path: true when the packet matches (or there is no program).
    [[nodiscard]] bool matches(const zc_packet& packet) const noexcept;

private:
    std::vector<zc_filter_insn> program_;
};

} // namespace zc

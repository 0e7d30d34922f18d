// SPDX-License-Identifier: BSD-3-Clause
//
// core/src/user_filter.cpp — see user_filter.hpp.

#include "user_filter.hpp"

#include <pcap/pcap.h>

#include <climits>
#include <cstddef>

namespace zc {

static_assert(sizeof(zc_filter_insn) == sizeof(struct bpf_insn) &&
                  offsetof(zc_filter_insn, jt) == offsetof(struct bpf_insn, jt) &&
                  offsetof(zc_filter_insn, k) == offsetof(struct bpf_insn, k),
              "zc_filter_insn is libpcap's struct bpf_insn");

bool UserFilter::valid(const zc_filter_insn* insns, std::uint32_t count) noexcept
{
    return insns != nullptr && count > 0 && count <= INT_MAX &&
           ::bpf_validate(reinterpret_cast<const struct bpf_insn*>(insns), static_cast<int>(count)) != 0;
}

bool UserFilter::matches(const zc_packet& packet) const noexcept
{
    // The whole frame, as the kernel's filters see it: wire length len,
    // captured length caplen (what the snapshot length left).
    return program_.empty() || ::bpf_filter(reinterpret_cast<const struct bpf_insn*>(program_.data()), packet.data,
                                            packet.len, packet.caplen) != 0;
}

} // namespace zc

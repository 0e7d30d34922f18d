// SPDX-License-Identifier: BSD-3-Clause
//
// kmod/objects.hpp — the BPF objects libzc embeds (.incbin in the assembler
// files next to them), each a complete ELF object for bpf_object__open_mem:
// [name, name_end). (zc-send's own object, kmod/send_object.S, is declared
// where it is used, in tools/send_live.cpp.)

#pragma once

#include <cstddef>

extern "C" {
// kmod/zc_xdp.bpf.c, embedded by kmod/xdp_object.S.
extern const unsigned char zc_xdp_object[] __attribute__((visibility("hidden")));
extern const unsigned char zc_xdp_object_end[] __attribute__((visibility("hidden")));
}

namespace zc::kmod {

inline std::size_t xdp_object_size() noexcept
{
    return static_cast<std::size_t>(zc_xdp_object_end - zc_xdp_object);
}

} // namespace zc::kmod

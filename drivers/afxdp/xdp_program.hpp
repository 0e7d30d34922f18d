// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afxdp/xdp_program.hpp — zc's XDP program (kmod/zc_xdp.bpf.c) on
// one interface: loaded from the copy embedded in libzc, attached through a
// bpf_link, and told which AF_XDP socket serves which RX queue. Control
// path only.
//
// The link is the program's only anchor: nothing is pinned, so when the
// process closes the device — or dies — the kernel detaches the program.

#pragma once

#include <cstdint>
#include <string>

#include "../unique_fd.hpp"
#include "zc/zc.h"

struct bpf_object;

namespace zc::afxdp {

enum class XdpMode { Native, Generic };

class XdpProgram {
public:
    XdpProgram() noexcept = default;
    XdpProgram(const XdpProgram&) = delete;
    XdpProgram& operator=(const XdpProgram&) = delete;
    // Detaches (closes the link), then frees program and maps.
    ~XdpProgram();

    // -EBUSY and a sentence when any XDP program (native, generic or
    // offloaded) is attached to the interface.
    static int check_exclusive(const std::string& interface, unsigned ifindex, zc_error* err);

    // Opens and loads the embedded object with maps for `queues` RX queues.
    int load(const std::string& interface, std::uint32_t queues, zc_error* err);

    // Attaches in native (driver) mode, falling back to generic (skb) mode
    // when the driver will not take it; generic only when `generic_only`.
    int attach(unsigned ifindex, bool generic_only, zc_error* err);
    [[nodiscard]] XdpMode mode() const noexcept { return mode_; }

    // Points RX queue `queue` at the AF_XDP socket `socket_fd`.
    int add_socket(std::uint32_t queue, int socket_fd, zc_error* err);

private:
    std::string interface_;
    bpf_object* object_ = nullptr;
    int program_fd_ = -1; // owned by object_
    int socket_map_fd_ = -1; // owned by object_
    UniqueFd link_;
    XdpMode mode_ = XdpMode::Native;
};

// The sentence every privilege failure of the driver gives.
int fail_privileges(const std::string& interface, zc_error* err);

} // namespace zc::afxdp

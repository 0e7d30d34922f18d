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

#include <cstddef>
#include <cstdint>
#include <string>

#include <linux/filter.h>

#include "../unique_fd.hpp"
#include "zc/zc.h"

struct bpf_object;
struct zc_filter_area;

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

    // ------------------------------------------------------------ filters
    // The filter in front of the sockets, in one of two forms (zc_xdp.h,
    // zc/device.h): the cBPF program in filter_map, which zc_redirect
    // interprets (needs no privilege: the map is mapped at load()), or a
    // native XDP program translated from it (kmod/filter_translate) that
    // replaces zc_redirect on the link (needs CAP_BPF and CAP_PERFMON).
    // Each returns 0, or a negative errno with the reason in *why, and the
    // previous filter still in place. The caller validated the program
    // (zc::filter::validate) and calls grace_period() before it counts on
    // every packet seeing the new filter.
    int set_translated(const sock_filter* insns, std::uint32_t count, std::uint32_t no_match_verdict,
                       std::string* why);
    int set_interpreted(const sock_filter* insns, std::uint32_t count, std::uint32_t no_match_verdict,
                        std::string* why);
    // No filter: zc_redirect, with filter_map's active word 0.
    int clear_filter(std::string* why);
    // Packets the filter refused on `queue` (the counter map, summed over CPUs).
    [[nodiscard]] std::uint64_t filtered(std::uint32_t queue) const noexcept;

    // Waits until every XDP run that started before the call has ended, on
    // every CPU (see xdp_program.cpp). Control path; needs no privilege.
    static void grace_period() noexcept;

private:
    // The program on the link: zc_redirect (fd -1) or a translated one.
    int link_to(int program_fd, std::string* why);

    std::string interface_;
    bpf_object* object_ = nullptr;
    int program_fd_ = -1; // owned by object_
    int socket_map_fd_ = -1; // owned by object_
    int counter_map_fd_ = -1; // owned by object_
    UniqueFd translated_; // the translated filter on the link, if any
    zc_filter_area* filter_area_ = nullptr; // filter_map, mapped read-write
    std::size_t filter_area_bytes_ = 0;
    // grace_period()'s count when a slot last stopped being active: that
    // slot is written again only after the count has moved on.
    std::uint64_t flipped_at_grace_ = 0;
    bool flipped_ = false;
    UniqueFd link_;
    XdpMode mode_ = XdpMode::Native;
};

// The sentence every privilege failure of the driver gives.
int fail_privileges(const std::string& interface, zc_error* err);

} // namespace zc::afxdp

// SPDX-License-Identifier: BSD-3-Clause
//
// zc's XDP program on one interface (see xdp_program.hpp).

#include "xdp_program.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <linux/if_link.h>

#include "internal/error.hpp"
#include "../../kmod/objects.hpp"
#include "../../kmod/zc_xdp.h"

namespace zc::afxdp {

int fail_privileges(const std::string& interface, zc_error* err)
{
    return fail(err, -EPERM, "%s: AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_PERFMON (run as root)",
                interface.c_str());
}

XdpProgram::~XdpProgram()
{
    link_.reset(); // detaches: the link is the only reference that keeps it attached
    if (object_)
        bpf_object__close(object_);
}

int XdpProgram::check_exclusive(const std::string& interface, unsigned ifindex, zc_error* err)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, query);
    if (int rc = bpf_xdp_query(static_cast<int>(ifindex), 0, &query); rc != 0)
        return fail(err, rc, "%s: cannot ask which XDP program is attached: %s", interface.c_str(),
                    std::strerror(-rc));
    std::uint32_t id = query.prog_id;
    if (id == 0)
        id = query.drv_prog_id ? query.drv_prog_id : query.skb_prog_id ? query.skb_prog_id : query.hw_prog_id;
    if (id != 0)
        return fail(err, -EBUSY,
                    "%s: XDP attach failed: another XDP program (id %u) is attached; zc needs exclusive XDP on %s",
                    interface.c_str(), id, interface.c_str());
    return 0;
}

int XdpProgram::load(const std::string& interface, std::uint32_t queues, zc_error* err)
{
    interface_ = interface;
    LIBBPF_OPTS(bpf_object_open_opts, options, .object_name = "zc_xdp");
    object_ = bpf_object__open_mem(zc_xdp_object, kmod::xdp_object_size(), &options);
    if (!object_) {
        int rc = -errno;
        return fail(err, rc, "%s: cannot open zc's XDP program: %s", interface.c_str(), std::strerror(-rc));
    }
    bpf_map* sockets = bpf_object__find_map_by_name(object_, ZC_XDP_SOCKET_MAP);
    bpf_map* counters = bpf_object__find_map_by_name(object_, ZC_XDP_COUNTER_MAP);
    bpf_program* program = bpf_object__find_program_by_name(object_, ZC_XDP_PROGRAM);
    if (!sockets || !counters || !program)
        return fail(err, -ENOENT, "%s: zc's embedded XDP object lacks %s, %s or %s (a broken build?)",
                    interface.c_str(), ZC_XDP_PROGRAM, ZC_XDP_SOCKET_MAP, ZC_XDP_COUNTER_MAP);
    if (queues > ZC_XDP_QUEUES) {
        bpf_map__set_max_entries(sockets, queues);
        bpf_map__set_max_entries(counters, queues);
    }
    if (int rc = bpf_object__load(object_); rc != 0) {
        if (rc == -EPERM || rc == -EACCES)
            return fail_privileges(interface, err);
        return fail(err, rc, "%s: cannot load zc's XDP program: %s", interface.c_str(), std::strerror(-rc));
    }
    program_fd_ = bpf_program__fd(program);
    socket_map_fd_ = bpf_map__fd(sockets);
    return 0;
}

int XdpProgram::attach(unsigned ifindex, bool generic_only, zc_error* err)
{
    auto link = [&](std::uint32_t flags) {
        LIBBPF_OPTS(bpf_link_create_opts, options, .flags = flags);
        // libbpf 1.x: the link's fd, or a negative errno.
        return bpf_link_create(program_fd_, static_cast<int>(ifindex), BPF_XDP, &options);
    };
    auto refuse = [&](int rc) {
        if (rc == -EPERM || rc == -EACCES)
            return fail_privileges(interface_, err);
        if (rc == -EBUSY || rc == -EEXIST)
            return fail(err, -EBUSY,
                        "%s: XDP attach failed: another XDP program is attached; zc needs exclusive XDP on %s",
                        interface_.c_str(), interface_.c_str());
        return 0;
    };

    if (!generic_only) {
        int fd = link(XDP_FLAGS_DRV_MODE);
        if (fd >= 0) {
            link_.reset(fd);
            mode_ = XdpMode::Native;
            return 0;
        }
        if (int rc = refuse(fd); rc != 0)
            return rc;
        log(ZC_LOG_WARNING, "%s: native XDP is not available (%s); using generic XDP, which is slower",
            interface_.c_str(), std::strerror(-fd));
    }
    int fd = link(XDP_FLAGS_SKB_MODE);
    if (fd < 0) {
        if (int rc = refuse(fd); rc != 0)
            return rc;
        return fail(err, fd, "%s: XDP attach failed in generic mode: %s", interface_.c_str(), std::strerror(-fd));
    }
    link_.reset(fd);
    mode_ = XdpMode::Generic;
    return 0;
}

int XdpProgram::add_socket(std::uint32_t queue, int socket_fd, zc_error* err)
{
    if (bpf_map_update_elem(socket_map_fd_, &queue, &socket_fd, BPF_ANY) != 0)
        return fail(err, -errno, "%s: cannot put the AF_XDP socket of queue %u into %s: %s", interface_.c_str(),
                    queue, ZC_XDP_SOCKET_MAP, std::strerror(errno));
    return 0;
}

} // namespace zc::afxdp

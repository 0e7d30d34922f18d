// SPDX-License-Identifier: BSD-3-Clause
//
// zc's XDP program on one interface (see xdp_program.hpp).

#include "xdp_program.hpp"

#include <atomic>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <linux/if_link.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

#include "internal/error.hpp"
#include "../../kmod/filter_translate.hpp"
#include "../../kmod/objects.hpp"
#include "../../kmod/zc_xdp.h"

namespace zc::afxdp {

int fail_privileges(const std::string& interface, zc_error* err)
{
    return fail(err, -EPERM, "%s: AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_PERFMON (run as root)",
                interface.c_str());
}

namespace {

// Times grace_period() has returned, in this process.
std::atomic<std::uint64_t> g_grace_periods{0};

static_assert(sizeof(zc_xdp_filter_insn) == sizeof(sock_filter) && offsetof(zc_xdp_filter_insn, k) == offsetof(sock_filter, k),
              "filter_map's instructions are the kernel's struct sock_filter");
static_assert((ZC_FILTER_MAX_INSNS & (ZC_FILTER_MAX_INSNS - 1)) == 0, "the interpreter masks pc");

} // namespace

XdpProgram::~XdpProgram()
{
    link_.reset(); // detaches: the link is the only reference that keeps it attached
    if (filter_area_)
        ::munmap(filter_area_, filter_area_bytes_);
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
    counter_map_fd_ = bpf_map__fd(counters);

    // The filter area, mapped now while the process is privileged: a later
    // filter change (from a process that has given up root since) only writes memory.
    bpf_map* filter = bpf_object__find_map_by_name(object_, ZC_XDP_FILTER_MAP);
    if (!filter)
        return fail(err, -ENOENT, "%s: zc's embedded XDP object lacks %s (a broken build?)", interface.c_str(),
                    ZC_XDP_FILTER_MAP);
    const long page = ::sysconf(_SC_PAGESIZE);
    filter_area_bytes_ = (sizeof(zc_filter_area) + static_cast<std::size_t>(page) - 1) / static_cast<std::size_t>(page) *
                         static_cast<std::size_t>(page);
    void* area = ::mmap(nullptr, filter_area_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(filter), 0);
    if (area == MAP_FAILED) {
        int rc = -errno;
        filter_area_bytes_ = 0;
        return fail(err, rc, "%s: cannot map zc's filter map: %s", interface.c_str(), std::strerror(-rc));
    }
    filter_area_ = static_cast<zc_filter_area*>(area);
    return 0;
}

// The grace period. Every XDP program runs inside an RCU read-side
// critical section (the driver's NAPI poll, or generic XDP's receive path,
// with bottom halves off, and the redirect's flush to the socket happens
// before that section ends). membarrier(MEMBARRIER_CMD_GLOBAL) is
// synchronize_rcu() in the kernel (kernel/sched/membarrier.c) and needs no
// privilege: when it returns, every XDP run that could have read the old
// `active` word, or run the old program, has ended, and whatever it
// redirected is on a socket's RX ring. Where it is refused (nohz_full
// kernels say EINVAL; a seccomp filter may say EPERM), a bounded wait
// instead: one XDP run interprets at most ZC_FILTER_MAX_INSNS (4096)
// instructions, well under a millisecond, and a NAPI poll runs at most its
// budget (64) of them before it lets go; 100 ms is far beyond that.
void XdpProgram::grace_period() noexcept
{
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
        ::usleep(100000);
    g_grace_periods.fetch_add(1, std::memory_order_acq_rel);
}

int XdpProgram::link_to(int program_fd, std::string* why)
{
    int fd = program_fd >= 0 ? program_fd : program_fd_;
    LIBBPF_OPTS(bpf_link_update_opts, options);
    if (bpf_link_update(link_.get(), fd, &options) != 0) {
        int rc = -errno;
        if (why)
            *why = std::string("cannot swap the XDP program on the link: ") + std::strerror(-rc);
        return rc;
    }
    return 0;
}

int XdpProgram::set_translated(const sock_filter* insns, std::uint32_t count, std::uint32_t no_match_verdict,
                               std::string* why)
{
    zc::filter::TranslateOptions options;
    options.on_match = zc::filter::MatchAction::RedirectToSocket;
    options.no_match_verdict = no_match_verdict;
    options.socket_map_fd = socket_map_fd_;
    options.counter_map_fd = counter_map_fd_;
    int fd = zc::filter::load_filter(insns, count, options, why);
    if (fd < 0)
        return fd;
    UniqueFd program(fd);
    if (int rc = link_to(program.get(), why); rc != 0)
        return rc;
    translated_ = std::move(program); // the old one (if any) closes: the link no longer holds it
    // The interpreter's filter is off: were zc_redirect back on the link
    // (clear_filter, set_interpreted), it must not filter with a stale one.
    if (std::atomic_ref<std::uint32_t>(filter_area_->active).exchange(0, std::memory_order_acq_rel) != 0) {
        flipped_ = true;
        flipped_at_grace_ = g_grace_periods.load(std::memory_order_acquire);
    }
    return 0;
}

int XdpProgram::set_interpreted(const sock_filter* insns, std::uint32_t count, std::uint32_t no_match_verdict,
                                std::string* why)
{
    if (count == 0 || count > ZC_FILTER_MAX_INSNS) {
        if (why)
            *why = "the filter has " + std::to_string(count) + " instructions; the in-kernel interpreter takes 1 to " +
                   std::to_string(ZC_FILTER_MAX_INSNS);
        return -E2BIG;
    }
    // The slot not in use may still be read by an XDP run that began
    // before it stopped being active: wait that out first (zc_xdp.h, 3).
    if (flipped_ && g_grace_periods.load(std::memory_order_acquire) == flipped_at_grace_)
        grace_period();
    flipped_ = false;
    std::atomic_ref<std::uint32_t> active(filter_area_->active);
    const std::uint32_t now = active.load(std::memory_order_relaxed); // we are its only writer
    const std::uint32_t slot = now == 1 ? 1 : 0;
    zc_filter_slot& target = filter_area_->slots[slot];
    filter_area_->start = 0;
    target.length = count;
    target.no_match_verdict = no_match_verdict;
    std::memcpy(target.insns, insns, count * sizeof(sock_filter));
    // release: the slot's contents before the word that makes it active
    // (the XDP program's reads of the slot depend on the word it read).
    active.store(slot + 1, std::memory_order_release);
    if (now != 0) {
        flipped_ = true;
        flipped_at_grace_ = g_grace_periods.load(std::memory_order_acquire);
    }
    if (translated_) {
        if (int rc = link_to(-1, why); rc != 0) {
            // The translated filter stays; the interpreter's is off again.
            active.store(0, std::memory_order_release);
            flipped_ = true;
            flipped_at_grace_ = g_grace_periods.load(std::memory_order_acquire);
            return rc;
        }
        translated_.reset();
    }
    return 0;
}

int XdpProgram::clear_filter(std::string* why)
{
    if (translated_) {
        if (int rc = link_to(-1, why); rc != 0)
            return rc;
        translated_.reset();
    }
    if (std::atomic_ref<std::uint32_t>(filter_area_->active).exchange(0, std::memory_order_acq_rel) != 0) {
        flipped_ = true;
        flipped_at_grace_ = g_grace_periods.load(std::memory_order_acquire);
    }
    return 0;
}

std::uint64_t XdpProgram::filtered(std::uint32_t queue) const noexcept
{
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0 || counter_map_fd_ < 0)
        return 0;
    std::vector<zc_xdp_counters> values(static_cast<std::size_t>(cpus));
    if (bpf_map_lookup_elem(counter_map_fd_, &queue, values.data()) != 0)
        return 0;
    std::uint64_t sum = 0;
    for (int cpu = 0; cpu < cpus; ++cpu)
        sum += values[cpu].filtered;
    return sum;
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

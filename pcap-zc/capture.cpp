// SPDX-License-Identifier: BSD-3-Clause
//
// pcap-zc/capture.cpp — see capture.hpp.
//
// Waiting. handle.epoll_fd holds the device's selectable fd, an eventfd that
// is readable while packets wait in handle.pending (so a program that
// select()s before each pcap_dispatch(p, 1, ...) never sleeps on packets we
// already hold), and an eventfd that pcap_breakloop writes (so a break from
// a signal handler or another thread wakes a blocked pcap_loop at once).
// Before sleeping on it we call zc_device_wait(device, 0): it says whether
// packets are there now, kicks an AF_XDP zero-copy driver, arms the replay
// timer of zc:pcap: devices and the owner's wake-up of a cluster queue. For
// a program that polls the fd itself between calls, publish_pending does
// the same before each call returns.

#include "capture.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "real_pcap.hpp"

namespace pcapzc {
namespace {

constexpr int kMaximumSnaplen = 262144; // libpcap's MAXIMUM_SNAPLEN

[[gnu::format(printf, 2, 3)]] void set_error(Handle& handle, const char* format, ...) noexcept
{
    va_list args;
    va_start(args, format);
    std::vsnprintf(error_buffer(handle), PCAP_ERRBUF_SIZE, format, args);
    va_end(args);
}

int status_of(int rc) noexcept
{
    switch (-rc) {
    case ENODEV:
    case ENOENT: return PCAP_ERROR_NO_SUCH_DEVICE;
    case EPERM:
    case EACCES: return PCAP_ERROR_PERM_DENIED;
    case ENETDOWN: return PCAP_ERROR_IFACE_NOT_UP;
    default: return PCAP_ERROR;
    }
}

// Errors that do not depend on asking for a TX ring.
// True when the process runs as root but without CAP_BPF: it gave up its
// capabilities before opening the device, as dumpcap (tshark's capture
// child) does, keeping only CAP_NET_RAW and CAP_NET_ADMIN.
bool root_without_bpf() noexcept
{
    if (::geteuid() != 0)
        return false;
    std::FILE* status = std::fopen("/proc/self/status", "re");
    if (!status)
        return false;
    char line[256];
    unsigned long long effective = ~0ull;
    while (std::fgets(line, sizeof line, status))
        if (std::sscanf(line, "CapEff: %llx", &effective) == 1)
            break;
    std::fclose(status);
    constexpr int kCapBpf = 39;
    return (effective & (1ull << kCapBpf)) == 0;
}

bool clear_refusal(int rc) noexcept
{
    return rc == -ENODEV || rc == -ENOENT || rc == -EPERM || rc == -EACCES || rc == -ENETDOWN || rc == -EPROTO ||
           rc == -EBUSY;
}

// libbpf's diagnostics while a device opens: only with ZC_PCAP_DEBUG set
// (zc's own sentence says what went wrong; see LibZc::libbpf_set_print).
int libbpf_print(int /*level*/, const char* format, va_list args)
{
    return ::secure_getenv("ZC_PCAP_DEBUG") ? std::vfprintf(stderr, format, args) : 0;
}

// zc_device_open with libbpf's output routed through libbpf_print, and the
// program's own libbpf print function (if any) restored afterwards.
int open_device(const LibZc& zc, const char* name, const zc_device_config& config, zc_device** device,
                zc_error* error) noexcept
{
    void* previous = nullptr;
    if (zc.libbpf_set_print)
        previous = zc.libbpf_set_print(reinterpret_cast<void*>(&libbpf_print));
    int rc = zc.device_open(name, &config, device, error);
    if (zc.libbpf_set_print)
        zc.libbpf_set_print(previous);
    return rc;
}

void eventfd_set(int fd) noexcept
{
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t written = ::write(fd, &one, sizeof one); // EAGAIN only at 2^64-2: still readable
}

void eventfd_clear(int fd) noexcept
{
    std::uint64_t value = 0;
    [[maybe_unused]] ssize_t got = ::read(fd, &value, sizeof value); // EAGAIN when already clear
}

bool take_break(Handle& handle) noexcept
{
    // acq_rel: pairs with the release in breakloop().
    if (!handle.break_requested.exchange(false, std::memory_order_acq_rel))
        return false;
    eventfd_clear(handle.break_fd);
    return true;
}

// Keeps pending_fd readable exactly while unread packets wait in pending.
void publish_pending(Handle& handle) noexcept
{
    bool waiting = handle.head < handle.count;
    // A program that polls the selectable fd between calls (dumpcap) must
    // find it readable whenever there is something to read. With nothing
    // held, ask the device: zc_device_wait(device, 0) says whether packets
    // are there (then the pending eventfd stands for them) and otherwise
    // arms the device's own wake-up (a cluster queue tells its owner to
    // write its eventfd; a replay arms its timer).
    if (!waiting && handle.selected && !handle.ended)
        waiting = handle.zc->device_wait(handle.device, 0) == 1;
    if (waiting == handle.pending_signalled)
        return;
    if (waiting)
        eventfd_set(handle.pending_fd);
    else
        eventfd_clear(handle.pending_fd);
    handle.pending_signalled = waiting;
}

std::uint64_t monotonic_ms() noexcept
{
    struct timespec now {};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000000u;
}

// Filters one packet and hands it to the callback; false when filtered out.
bool deliver(Handle& handle, const zc_packet& packet, pcap_handler callback, u_char* user) noexcept
{
    struct pcap_pkthdr header {};
    header.ts.tv_sec = static_cast<time_t>(packet.timestamp_ns / 1000000000u);
    std::uint64_t fraction = packet.timestamp_ns % 1000000000u;
    header.ts.tv_usec = static_cast<suseconds_t>(handle.precision == PCAP_TSTAMP_PRECISION_NANO ? fraction
                                                                                                : fraction / 1000u);
    header.caplen = packet.caplen;
    header.len = packet.len;
    // The device's filter saw the whole frame, as a kernel socket filter
    // would; the snapshot length applies after it.
    if (header.caplen > static_cast<bpf_u_int32>(handle.snaplen))
        header.caplen = static_cast<bpf_u_int32>(handle.snaplen);
    ++handle.passed;
    callback(user, &header, packet.data);
    return true;
}

// Sleeps until the device may have packets, a break, or timeout_ms (-1:
// forever). 1 woken, 0 timed out, negative errno.
int wait_for_packets(Handle& handle, int timeout_ms) noexcept
{
    int ready = handle.zc->device_wait(handle.device, 0);
    if (ready != 0)
        return ready == -EINTR ? 1 : ready;
    struct pollfd entry = {handle.epoll_fd, POLLIN, 0};
    int rc = ::poll(&entry, 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 1 : -errno; // a signal: the caller looks at break_requested
    if (rc > 0 && !handle.break_requested.load(std::memory_order_acquire))
        eventfd_clear(handle.break_fd); // a break already taken left its wake-up behind
    return rc > 0 ? 1 : 0;
}

// Once per handle, before the first packet is read: whether the capture
// takes the host's own traffic (no filter in the kernel, an interface with
// an address or routes), said on stderr in one sentence.
void say_host_traffic(Handle& handle) noexcept
{
    if (handle.host_traffic_said)
        return;
    handle.host_traffic_said = true;
    char sentence[512];
    if (handle.zc->device_host_traffic(handle.device, sentence, sizeof sentence) == 1)
        std::fprintf(stderr, "zc: %s\n", sentence);
}

int read_packets(Handle& handle, int cnt, pcap_handler callback, u_char* user) noexcept
{
    say_host_traffic(handle);
    if (take_break(handle))
        return PCAP_ERROR_BREAK;
    const LibZc& zc = *handle.zc;
    int delivered = 0;
    std::uint64_t deadline = 0; // set at the first sleep, or the second burst
    std::uint32_t bursts = 0;   // taken from the device in this call
    for (;;) {
        while (handle.head < handle.count) {
            if (cnt > 0 && delivered >= cnt)
                goto done;
            const zc_packet& packet = handle.pending[handle.head++];
            if (deliver(handle, packet, callback, user)) {
                ++delivered;
                // A break from the callback: return what was delivered; the
                // flag stays for the next call (so pcap_loop sees it).
                if (handle.break_requested.load(std::memory_order_relaxed))
                    goto done;
            }
        }
        if (delivered > 0 && cnt <= 0)
            goto done; // one batch
        // Everything taken has been looked at: its buffers go back in one
        // release, and a new burst comes in.
        if (handle.count > 0) {
            zc.device_release_burst(handle.device, handle.pending, handle.count);
            handle.head = handle.count = 0;
        }
        if (handle.ended)
            goto done;
        if (bursts > 0) {
            // Bursts whose packets the filter refused (or fewer than cnt
            // passed): one burst per call without blocking, as libpcap reads
            // one buffer; else until the timeout or a break.
            if (handle.nonblock)
                goto done;
            if (handle.break_requested.load(std::memory_order_acquire))
                goto done;
            if (handle.timeout_ms > 0) {
                std::uint64_t now = monotonic_ms();
                if (deadline == 0)
                    deadline = now + static_cast<std::uint64_t>(handle.timeout_ms);
                else if (now >= deadline)
                    goto done;
            }
        }
        std::uint32_t got = zc.device_recv_burst(handle.device, handle.pending, kBurst);
        if (got == ZC_DEVICE_END) {
            handle.ended = true;
            goto done;
        }
        if (got > 0) {
            handle.count = got;
            ++bursts;
            continue;
        }
        if (delivered > 0)
            goto done;
        if (handle.nonblock) {
            zc.device_wait(handle.device, 0); // arms a replay timer so the selectable fd wakes
            if (!handle.break_requested.load(std::memory_order_acquire))
                eventfd_clear(handle.break_fd);
            goto done;
        }
        int timeout = -1;
        if (handle.timeout_ms > 0) {
            std::uint64_t now = monotonic_ms();
            if (deadline == 0)
                deadline = now + static_cast<std::uint64_t>(handle.timeout_ms);
            if (now >= deadline)
                goto done;
            timeout = static_cast<int>(deadline - now);
        }
        int rc = wait_for_packets(handle, timeout);
        if (rc == -EPIPE) {
            // Only a cluster queue ends this way (zc(7)): say what it means.
            set_error(handle, "%s: the cluster's owner (zc-balance) is gone; no more packets will come",
                      handle.name.c_str());
            delivered = PCAP_ERROR;
            goto done;
        }
        if (rc < 0) {
            set_error(handle, "%s: waiting for packets failed: %s", handle.name.c_str(), std::strerror(-rc));
            delivered = PCAP_ERROR;
            goto done;
        }
        if (take_break(handle))
            return PCAP_ERROR_BREAK;
        if (rc == 0 && handle.timeout_ms > 0)
            goto done; // the timeout: 0 packets, as libpcap returns
    }
done:
    publish_pending(handle);
    if (delivered == 0 && take_break(handle))
        return PCAP_ERROR_BREAK;
    return delivered;
}

void keep_one(u_char* user, const struct pcap_pkthdr* header, const u_char* data)
{
    auto* handle = reinterpret_cast<Handle*>(user);
    handle->next_header = *header;
    handle->next_data = data;
}

} // namespace

int selectable_fd(Handle& handle) noexcept
{
    handle.selected = true;
    publish_pending(handle);
    return handle.epoll_fd;
}

char* error_buffer(Handle& handle) noexcept
{
    return PCAPZC_REAL(pcap_geterr)(handle.activated.load(std::memory_order_acquire) ? handle.dead : handle.outer);
}

int activate(Handle& handle) noexcept
{
    if (handle.activated.load(std::memory_order_acquire)) {
        set_error(handle, "can't perform operation on activated capture");
        return PCAP_ERROR_ACTIVATED;
    }
    if (handle.rfmon) {
        set_error(handle, "%s: zc devices have no monitor mode (rfmon); capture without -I", handle.name.c_str());
        return PCAP_ERROR_RFMON_NOTSUP;
    }
    char message[PCAP_ERRBUF_SIZE];
    const LibZc* zc = load_libzc(message, sizeof message);
    if (!zc) {
        set_error(handle, "%s: %s", handle.name.c_str(), message);
        return PCAP_ERROR;
    }
    if (handle.snaplen <= 0 || handle.snaplen > kMaximumSnaplen)
        handle.snaplen = kMaximumSnaplen; // what libpcap's activate does

    zc_device_config config;
    zc->device_config_init(&config);
    config.flags = ZC_DEVICE_RX | ZC_DEVICE_TX; // TX for pcap_inject
    if (!handle.promisc)
        config.flags |= ZC_DEVICE_NO_PROMISC;
    zc_device* device = nullptr;
    zc_error error{};
    int rc = open_device(*zc, handle.name.c_str(), config, &device, &error);
    if (rc != 0 && !clear_refusal(rc)) {
        // A device that cannot transmit may refuse the TX ring: capture
        // without it (pcap_inject then says it cannot send).
        config.flags &= ~ZC_DEVICE_TX;
        error = zc_error{};
        rc = open_device(*zc, handle.name.c_str(), config, &device, &error);
    }
    if (rc != 0) {
        // zc's sentence names the device and what to do.
        const char* sentence = error.message[0] ? error.message : std::strerror(-rc);
        if ((rc == -EPERM || rc == -EACCES) && root_without_bpf())
            set_error(handle, "%s; this program gave up CAP_BPF before opening the device (dumpcap does): "
                              "use zc:afpacket:IFACE here, or let zc-balance own the interface "
                              "(zc-balance -i zc:IFACE -c 99 -n 1) and capture zc:99@0, or use tcpdump",
                      sentence);
        else
            set_error(handle, "%s", sentence);
        return status_of(rc);
    }
    const char* mode = zc->device_mode(device);
    handle.can_send = (config.flags & ZC_DEVICE_TX) &&
                      (std::strncmp(mode, "afxdp", 5) == 0 || std::strcmp(mode, "afpacket") == 0);

    handle.dead = PCAPZC_REAL(pcap_open_dead_with_tstamp_precision)(DLT_EN10MB, handle.snaplen,
                                                                     static_cast<u_int>(handle.precision));
    handle.pending_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    handle.break_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    handle.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    bool ok = handle.dead && handle.pending_fd >= 0 && handle.break_fd >= 0 && handle.epoll_fd >= 0;
    int device_fd = zc->device_selectable_fd(device);
    for (int fd : {device_fd, handle.pending_fd, handle.break_fd}) {
        struct epoll_event event {};
        event.events = EPOLLIN;
        event.data.fd = fd;
        if (ok && fd >= 0 && ::epoll_ctl(handle.epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0)
            ok = false;
    }
    if (!ok) {
        int saved = errno;
        zc->device_close(device);
        for (int* fd : {&handle.pending_fd, &handle.break_fd, &handle.epoll_fd})
            if (*fd >= 0) {
                ::close(*fd);
                *fd = -1;
            }
        if (handle.dead)
            PCAPZC_REAL(pcap_close)(handle.dead);
        handle.dead = nullptr;
        set_error(handle, "%s: cannot set up the capture handle: %s", handle.name.c_str(), std::strerror(saved));
        return PCAP_ERROR;
    }
    handle.zc = zc;
    handle.device = device;
    // release: everything above is visible to whoever sees activated.
    handle.activated.store(true, std::memory_order_release);
    return 0;
}

int dispatch(Handle& handle, int cnt, pcap_handler callback, u_char* user) noexcept
{
    return read_packets(handle, cnt, callback, user);
}

int loop(Handle& handle, int cnt, pcap_handler callback, u_char* user) noexcept
{
    for (;;) {
        int n = read_packets(handle, cnt, callback, user);
        if (n < 0)
            return n;
        if (n == 0) {
            if (handle.ended && handle.head == handle.count)
                return 0; // the end of a replay, as the end of a savefile
            continue;     // a timeout: libpcap's pcap_loop reads again
        }
        if (cnt > 0) {
            cnt -= n;
            if (cnt <= 0)
                return 0;
        }
    }
}

int next_ex(Handle& handle, struct pcap_pkthdr** header, const u_char** data) noexcept
{
    int n = read_packets(handle, 1, keep_one, reinterpret_cast<u_char*>(&handle));
    if (n == 1) {
        *header = &handle.next_header;
        *data = handle.next_data;
        return 1;
    }
    if (n == 0 && handle.ended && handle.head == handle.count)
        return PCAP_ERROR_BREAK;
    return n;
}

void breakloop(Handle& handle) noexcept
{
    handle.break_requested.store(true, std::memory_order_release); // pairs with take_break
    eventfd_set(handle.break_fd);
}

int stats(Handle& handle, struct pcap_stat* out) noexcept
{
    zc_device_stats device_stats{};
    // Only the first release's fields are read here: asking for just those
    // works with every libzc, including one older than this header (which
    // accepts no other struct_size).
    device_stats.struct_size = offsetof(zc_device_stats, forwarded);
    if (int rc = handle.zc->device_get_stats(handle.device, &device_stats); rc != 0) {
        set_error(handle, "%s: cannot read the device's counters: %s", handle.name.c_str(), std::strerror(-rc));
        return PCAP_ERROR;
    }
    // As libpcap on Linux: ps_recv counts what passed the filter plus what
    // the kernel dropped; counters wrap at 32 bits like libpcap's.
    out->ps_recv = static_cast<u_int>(handle.passed + device_stats.dropped);
    out->ps_drop = static_cast<u_int>(device_stats.dropped);
    out->ps_ifdrop = static_cast<u_int>(device_stats.if_dropped);
    return 0;
}

int set_filter(Handle& handle, const struct bpf_program* program) noexcept
{
    if (!program) {
        set_error(handle, "No filter specified");
        return PCAP_ERROR;
    }
    if (program->bf_len == 0 || !program->bf_insns ||
        PCAPZC_REAL(bpf_validate)(program->bf_insns, static_cast<int>(program->bf_len)) == 0) {
        set_error(handle, "BPF program is not valid");
        return PCAP_ERROR;
    }
    // The device filters: in the kernel (translated when this process may
    // still load programs — Debian's tcpdump 4.99 sets its filter before it
    // gives up root — else zc's interpreter, which needs no privilege),
    // else in user space. It copies
    // the program, as libpcap does (the caller may pcap_freecode it).
    // ZC_PCAP_FILTER=user keeps it in user space (for comparisons),
    // ZC_PCAP_FILTER=interpreted skips the translation.
    std::uint32_t flags = 0;
    if (const char* where = std::getenv("ZC_PCAP_FILTER")) {
        if (std::strcmp(where, "user") == 0) {
            flags |= ZC_FILTER_USER_SPACE;
        } else if (std::strcmp(where, "interpreted") == 0) {
            flags |= ZC_FILTER_INTERPRETED;
        } else if (where[0] != '\0') {
            set_error(handle, "%s: ZC_PCAP_FILTER is '%.40s'; it may be 'user', 'interpreted' or unset",
                      handle.name.c_str(), where);
            return PCAP_ERROR;
        }
    }
    static_assert(sizeof(struct bpf_insn) == sizeof(zc_filter_insn), "libpcap's bpf_insn is zc_filter_insn");
    zc_error error{};
    int mode = handle.zc->device_set_filter(handle.device, reinterpret_cast<const zc_filter_insn*>(program->bf_insns),
                                            program->bf_len, flags, &error);
    if (mode < 0) {
        set_error(handle, "%s", error.message[0] ? error.message : std::strerror(-mode));
        return PCAP_ERROR;
    }
    // The packets this handle took from the device and has not delivered
    // yet passed the old filter: those the new one refuses move in front of
    // `head`, with the delivered ones, so that nothing the new filter
    // refuses is delivered after this call (their buffers go back with the
    // rest of the burst).
    auto refused = [program](const zc_packet& packet) {
        struct pcap_pkthdr header {};
        header.caplen = packet.caplen;
        header.len = packet.len;
        return PCAPZC_REAL(pcap_offline_filter)(program, &header, packet.data) == 0;
    };
    zc_packet* first = handle.pending + handle.head;
    zc_packet* kept = std::stable_partition(first, handle.pending + handle.count, refused);
    handle.head += static_cast<std::uint32_t>(kept - first);
    publish_pending(handle);
    if (std::getenv("ZC_PCAP_DEBUG"))
        std::fprintf(stderr, "zc: %s: filter mode %s\n", handle.name.c_str(), handle.zc->device_filter_mode_name(mode));
    return 0;
}

int set_direction(Handle& handle, pcap_direction_t direction) noexcept
{
    switch (direction) {
    case PCAP_D_IN:
    case PCAP_D_INOUT: return 0; // zc sees the incoming packets, which is all there is to see
    case PCAP_D_OUT:
        set_error(handle, "%s: zc captures incoming packets only (AF_XDP does not see outgoing ones); "
                          "use direction in or inout", handle.name.c_str());
        return PCAP_ERROR;
    }
    set_error(handle, "Invalid direction");
    return PCAP_ERROR;
}

int inject(Handle& handle, const void* frame, std::size_t size) noexcept
{
    if (!handle.can_send) {
        set_error(handle, "%s: this zc device cannot send (zc:IFACE and zc:afpacket:IFACE can)", handle.name.c_str());
        return PCAP_ERROR;
    }
    if (size > INT_MAX) {
        set_error(handle, "%s: a frame of %zu bytes is too large to send", handle.name.c_str(), size);
        return PCAP_ERROR;
    }
    // A full TX ring: libpcap's send() would block until there is room; wait
    // for the kernel to complete frames, for 100 ms at most.
    int rc = -EAGAIN;
    for (int attempt = 0; attempt < 2000; ++attempt) {
        rc = handle.zc->device_inject(handle.device, frame, static_cast<std::uint32_t>(size));
        if (rc != -EAGAIN)
            break;
        struct timespec pause = {0, 50000};
        ::nanosleep(&pause, nullptr);
    }
    if (rc == 0)
        return static_cast<int>(size);
    if (rc == -EMSGSIZE)
        set_error(handle, "%s: a frame of %zu bytes does not fit a zc buffer", handle.name.c_str(), size);
    else if (rc == -EAGAIN)
        set_error(handle, "%s: send: the TX ring stayed full for 100 ms", handle.name.c_str());
    else
        set_error(handle, "%s: send: %s", handle.name.c_str(), std::strerror(-rc));
    return PCAP_ERROR;
}

void close_handle(Handle* handle) noexcept
{
    remove_handle(handle);
    if (handle->device) {
        if (handle->count > 0)
            handle->zc->device_release_burst(handle->device, handle->pending, handle->count);
        handle->zc->device_close(handle->device); // detaches the XDP program
    }
    for (int fd : {handle->epoll_fd, handle->pending_fd, handle->break_fd})
        if (fd >= 0)
            ::close(fd);
    if (handle->dead)
        PCAPZC_REAL(pcap_close)(handle->dead);
    PCAPZC_REAL(pcap_close)(handle->outer);
    delete handle;
}

} // namespace pcapzc

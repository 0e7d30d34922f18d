// SPDX-License-Identifier: BSD-3-Clause
//
// hostile-consumer -c CLUSTER -q QUEUE MODE [--seconds S] [--after S] [--holder PID] [--seed N]
//
// A consumer that means harm: it attaches to queue QUEUE of cluster CLUSTER
// through the owner's control socket exactly as any member of the cluster's
// group could — the raw protocol of internal/control_socket.hpp, the structs
// of internal/layout.hpp and zc/ring.hpp, and nothing of libzc — maps what it
// is handed (the region read-only, its queue side writable, the wake-up
// pipe's read end), then does one hostile thing, MODE, and prints one line:
// what it did and what the owner answered or refused. tests/system/
// balance_hostile.sh runs it, as user nobody with the cluster's group,
// against zc-balance while an honest consumer reads another queue.
//
// Modes, and what must happen (exit 0 when it did, 1 when not, 2 on a usage
// or setup error):
//
//   garbage-returns  for --seconds, takes its packets and hands each back,
//                    correctly indexed, followed by garbage: the same buffer
//                    again (length 0xffffffff), random and out-of-pool
//                    addresses, buffers of the pool it does not hold (other
//                    queues'). Every piece of garbage is a bad return in the
//                    owner's count (QueueInfo::bad_return), exactly.
//   random-indices   after --after seconds of honest reading, writes random
//                    values into its rings' indices until the owner cuts it
//                    off; prints the owner's last word and how long it took.
//   random-geometry  after --after seconds, fills its whole side with random
//                    bytes (counters, sleep flag, ring headers, slots) and
//                    exits at once: the owner must cut the queue off and
//                    reclaim it (checked by the script).
//   stale-side       leaves, re-attaches and writes into the side it had;
//                    then gets itself cut off, re-attaches and writes into
//                    that old side too: the new grant must not notice (it
//                    receives, is not cut off, has no bad return).
//   shrink-side      ftruncate, fallocate and F_ADD_SEALS on its side's
//                    memfd: all refused (sealed); the side still works.
//   block-wake       clears O_NONBLOCK on its wake-up pipe, shrinks the pipe
//                    to one page, announces it sleeps all the time, reads and
//                    hands back its packets, never reads the pipe: the pipe
//                    fills and the owner keeps delivering.
//   region-write     every way it knows to write the region (mmap writable,
//                    mprotect, reopening /proc/self/fd/N or the region's
//                    path for writing, write/pwrite/ftruncate/fallocate on
//                    its descriptor, chmod, unlink, rename): all refused.
//                    Meaningful only as a group member, not as root.
//   second-consumer  attaches to a queue held by someone else (--holder PID,
//                    e.g. the honest consumer) or, without --holder, holds
//                    the queue and asks again: refused, naming the holder.
//   hoard            takes its packets and never hands one back, for
//                    --seconds (drop mode): the owner stops at the queue's
//                    limit and counts the rest as the queue's own drops.
//   scribble-counts  writes where reference counts and owner words used to
//                    be (the region's header and pool: by a plain store, by
//                    /proc/self/mem, by process_vm_writev): refused; then
//                    fills its own side's counters with garbage while it
//                    reads: the owner only displays them.

#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "internal/control_socket.hpp"
#include "internal/layout.hpp"
#include "zc/ring.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using zc::QueueInfo;
using zc::QueueSide;
using zc::RegionHeader;
using zc::RingShared;

const char* g_mode = "?";

// The one result line, on standard output.
[[gnu::format(printf, 1, 2)]] void report(const char* format, ...)
{
    std::va_list args;
    va_start(args, format);
    std::printf("hostile-consumer: %s: ", g_mode);
    std::vprintf(format, args);
    std::printf("\n");
    std::fflush(stdout);
    va_end(args);
}

// Progress and setup errors, on standard error.
[[gnu::format(printf, 1, 2)]] void say(const char* format, ...)
{
    std::va_list args;
    va_start(args, format);
    std::fprintf(stderr, "hostile-consumer: %s: ", g_mode);
    std::vfprintf(stderr, format, args);
    std::fprintf(stderr, "\n");
    va_end(args);
}

double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void pause_us(int us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

// What the owner handed over with a grant.
struct Grant {
    int connection = -1;
    int region = -1;
    int side = -1;
    int wake = -1;
    void close_all()
    {
        for (int* fd : {&connection, &region, &side, &wake})
            if (*fd >= 0) {
                ::close(*fd);
                *fd = -1;
            }
    }
};

// Asks the owner of `cluster` for `queue`, speaking the protocol by hand.
// 0 with `grant` filled; or the owner's (negative) status with its sentence
// in `answer`; or -errno for a local failure (with `answer` saying so).
int ask(std::uint32_t cluster, std::uint32_t queue, Grant& grant, std::string& answer)
{
    grant = Grant{};
    char path[108];
    std::snprintf(path, sizeof path, "/run/zc/cluster-%u.sock", cluster);
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        answer = std::string("socket: ") + std::strerror(errno);
        return -errno;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        int e = errno;
        ::close(fd);
        answer = std::string("connect ") + path + ": " + std::strerror(e);
        return -e;
    }
    const zc::control::Request request{zc::control::kMagic, zc::control::kVersion, sizeof(zc::control::Request),
                                       queue, 0};
    if (::send(fd, &request, sizeof request, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof request)) {
        int e = errno;
        ::close(fd);
        answer = std::string("send: ") + std::strerror(e);
        return -e;
    }
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 5000) != 1) {
        ::close(fd);
        answer = "no answer within 5 s";
        return -ETIMEDOUT;
    }
    zc::control::Reply reply{};
    iovec data{&reply, sizeof reply};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 3)];
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got = ::recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
    int handed[3] = {-1, -1, -1};
    std::size_t count = 0;
    for (cmsghdr* h = got >= 0 ? CMSG_FIRSTHDR(&message) : nullptr; h; h = CMSG_NXTHDR(&message, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
            for (std::size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
                int received;
                std::memcpy(&received, CMSG_DATA(h) + i * sizeof(int), sizeof received);
                if (count < 3)
                    handed[count++] = received;
                else
                    ::close(received);
            }
    if (got != static_cast<ssize_t>(sizeof reply) || reply.magic != zc::control::kMagic) {
        ::close(fd);
        for (std::size_t i = 0; i < count; ++i)
            ::close(handed[i]);
        answer = "the owner answered garbage or closed the connection";
        return -EPROTO;
    }
    reply.text[sizeof reply.text - 1] = '\0';
    answer = reply.text;
    if (reply.status != 0 || count != 3) {
        ::close(fd);
        for (std::size_t i = 0; i < count; ++i)
            ::close(handed[i]);
        return reply.status != 0 ? reply.status : -EPROTO;
    }
    grant.connection = fd;
    grant.region = handed[0];
    grant.side = handed[1];
    grant.wake = handed[2];
    return 0;
}

// Waits up to `timeout_ms` for the owner's last word on a connection: true
// with `text` (or "(closed without a word)") when the owner closed it.
bool last_word(int connection, int timeout_ms, std::string& text)
{
    pollfd entry{connection, POLLIN, 0};
    if (::poll(&entry, 1, timeout_ms) <= 0)
        return false;
    zc::control::Reply reply{};
    ssize_t got = ::recv(connection, &reply, sizeof reply, MSG_DONTWAIT);
    if (got == static_cast<ssize_t>(sizeof reply) && reply.magic == zc::control::kMagic) {
        reply.text[sizeof reply.text - 1] = '\0';
        text = reply.text;
        return true;
    }
    if (got == 0 || (entry.revents & (POLLHUP | POLLERR))) {
        text = "(closed without a word)";
        return true;
    }
    return false;
}

// The region, mapped read-only from the descriptor the owner handed over.
struct Region {
    const std::byte* base = nullptr;
    std::size_t bytes = 0;
    const RegionHeader* header = nullptr;
    std::uint32_t frame_shift = 0;
    std::uint32_t frame_count = 0;
    std::uint32_t data_offset = 0;
    std::uint32_t slots = 0;
    std::uint64_t pool_offset = 0;
    std::uint64_t pool_bytes = 0;

    bool map(int fd)
    {
        struct stat st {};
        if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(zc::kHeaderBytes))
            return false;
        void* at = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
        if (at == MAP_FAILED)
            return false;
        base = static_cast<const std::byte*>(at);
        bytes = static_cast<std::size_t>(st.st_size);
        header = reinterpret_cast<const RegionHeader*>(base);
        if (header->magic != zc::kRegionMagic || header->frame_size == 0 ||
            (header->frame_size & (header->frame_size - 1)) != 0)
            return false;
        frame_shift = static_cast<std::uint32_t>(__builtin_ctz(header->frame_size));
        frame_count = header->frame_count;
        data_offset = header->frame_headroom + 256; // cluster.hpp: kXdpHeadroom
        slots = header->queue_slots;
        pool_offset = header->pool_offset;
        pool_bytes = header->pool_bytes;
        return true;
    }
    const QueueInfo& info(std::uint32_t queue) const
    {
        return reinterpret_cast<const QueueInfo*>(base + header->queue_table_offset)[queue];
    }
    std::uint64_t bad_returns(std::uint32_t queue) const
    {
        return std::atomic_ref<const std::uint64_t>(info(queue).bad_return).load(std::memory_order_acquire);
    }
    std::uint64_t cut_offs(std::uint32_t queue) const
    {
        return std::atomic_ref<const std::uint64_t>(info(queue).cut_off).load(std::memory_order_acquire);
    }
    std::uint64_t address_of(std::uint64_t buffer) const { return (buffer << frame_shift) + data_offset; }
    void unmap()
    {
        if (base)
            ::munmap(const_cast<std::byte*>(base), bytes);
        base = nullptr;
    }
};

// The queue side, mapped writable, driven as an honest consumer would (the
// ring handles of zc/ring.hpp, built from the ring size the region gives)
// or written at will.
struct Side {
    std::byte* base = nullptr;
    std::size_t bytes = 0;
    std::uint32_t slots = 0;
    QueueSide* counters = nullptr;
    RingShared* rx_ring = nullptr;
    RingShared* return_ring = nullptr;
    zc::RingConsumer<zc_rx_desc> rx;
    zc::RingProducer<zc_desc> ret;
    std::uint64_t received = 0;
    std::uint64_t returned = 0;

    bool map(int fd, std::uint32_t ring_slots)
    {
        struct stat st {};
        if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < zc::side_bytes(ring_slots))
            return false;
        void* at = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (at == MAP_FAILED)
            return false;
        base = static_cast<std::byte*>(at);
        bytes = static_cast<std::size_t>(st.st_size);
        slots = ring_slots;
        counters = reinterpret_cast<QueueSide*>(base);
        rx_ring = reinterpret_cast<RingShared*>(base + zc::side_ring_offset(slots, true));
        return_ring = reinterpret_cast<RingShared*>(base + zc::side_ring_offset(slots, false));
        rx = zc::RingConsumer<zc_rx_desc>(rx_ring, slots);
        ret = zc::RingProducer<zc_desc>(return_ring, slots);
        return true;
    }
    // Up to `max` descriptors off the RX ring.
    std::uint32_t take(zc_desc* out, std::uint32_t max)
    {
        std::uint32_t index = 0;
        std::uint32_t n = rx.peek(max, &index);
        for (std::uint32_t i = 0; i < n; ++i)
            out[i] = zc_desc{rx.slot(index + i).addr, rx.slot(index + i).len, 0};
        if (n > 0) {
            rx.release(n);
            received += n;
            std::atomic_ref<std::uint64_t>(counters->received).store(received, std::memory_order_relaxed);
        }
        return n;
    }
    // Puts n descriptors on the return ring, correctly indexed, waiting for
    // room (1 s at most); returns how many went.
    std::uint32_t give(const zc_desc* in, std::uint32_t n)
    {
        std::uint32_t done = 0;
        const Clock::time_point start = Clock::now();
        while (done < n) {
            std::uint32_t index = 0;
            std::uint32_t room = ret.reserve_burst(n - done, &index);
            if (room == 0) {
                if (seconds_since(start) > 1)
                    break;
                pause_us(100);
                continue;
            }
            for (std::uint32_t i = 0; i < room; ++i)
                ret.slot(index + i) = in[done + i];
            ret.submit(room);
            done += room;
        }
        returned += done;
        std::atomic_ref<std::uint64_t>(counters->returned).store(returned, std::memory_order_relaxed);
        return done;
    }
    // An honest round: everything on the RX ring goes back. Returns the count.
    std::uint32_t honest_round()
    {
        zc_desc batch[256];
        std::uint32_t n = take(batch, 256);
        if (n > 0)
            give(batch, n);
        return n;
    }
    // Honest for `seconds`.
    void honest_for(double seconds)
    {
        const Clock::time_point start = Clock::now();
        while (seconds_since(start) < seconds)
            if (honest_round() == 0)
                pause_us(200);
    }
    // The return ring's entries the owner has not taken yet (as it says).
    std::uint32_t unreaped()
    {
        return ret.published() -
               std::atomic_ref<std::uint32_t>(return_ring->consumer).load(std::memory_order_acquire);
    }
    void unmap()
    {
        if (base)
            ::munmap(base, bytes);
        base = nullptr;
    }
};

struct Options {
    std::uint32_t cluster = 0;
    std::uint32_t queue = 0;
    bool have_cluster = false;
    double seconds = 2;
    double after = 0.5;
    long holder = 0;
    std::uint64_t seed = 0;
};

std::mt19937_64 g_random;

// Attaches and maps: 0, or 2 after saying why.
int attach(const Options& o, Grant& grant, Region& region, Side& side)
{
    std::string answer;
    int rc = ask(o.cluster, o.queue, grant, answer);
    if (rc != 0) {
        say("cluster %u queue %u: not granted (%s): %s", o.cluster, o.queue, std::strerror(-rc), answer.c_str());
        return 2;
    }
    if (!region.map(grant.region)) {
        say("cannot map the region the owner handed over: %s", std::strerror(errno));
        return 2;
    }
    if (o.queue >= region.header->queue_count) {
        say("the region has %u queues", region.header->queue_count);
        return 2;
    }
    if (!side.map(grant.side, region.slots)) {
        say("cannot map the queue side the owner handed over: %s", std::strerror(errno));
        return 2;
    }
    say("attached to queue %u: region %zu bytes (read-only), side %zu bytes, rings of %u slots", o.queue,
        region.bytes, side.bytes, region.slots);
    return 0;
}

const char* errno_name(int e)
{
    switch (e) {
    case 0: return "succeeded";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EIO: return "EIO";
    case EBUSY: return "EBUSY";
    case EROFS: return "EROFS";
    case ENODEV: return "ENODEV";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ETXTBSY: return "ETXTBSY";
    case ENOENT: return "ENOENT";
    default: return std::strerror(e);
    }
}

// ---------------------------------------------------------------- modes

int garbage_returns(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    const std::uint64_t bad_before = region.bad_returns(o.queue);
    const std::uint64_t pool_end = region.address_of(region.frame_count); // first address past the pool
    std::vector<std::uint64_t> history(1024, ~0ull); // addresses handed back a while ago
    std::size_t history_at = 0;
    std::uint64_t garbage = 0, kinds[5] = {};
    std::uint64_t kind = 0;
    const Clock::time_point start = Clock::now();
    // The last part of the run sends only garbage that names no buffer, so
    // that the count is exact when the queue is given up with packets on
    // it (see the note at the end).
    const double quiet_after = o.seconds * 0.7;
    std::vector<zc_desc> out;
    out.reserve(256 * 6);
    for (;;) {
        const double now = seconds_since(start);
        if (now >= o.seconds)
            break;
        const bool quiet = now >= quiet_after;
        zc_desc batch[256];
        std::uint32_t n = side.take(batch, 256);
        if (n == 0) {
            pause_us(200);
            continue;
        }
        out.clear();
        for (std::uint32_t i = 0; i < n; ++i) {
            out.push_back(batch[i]); // the honest return
            std::uint64_t r = g_random();
            switch (quiet ? kind++ % 3 : kind++ % 5) {
            case 0: // the same buffer again, and an impossible length
                out.push_back(zc_desc{batch[i].addr, 0xffffffffu, 0});
                ++kinds[0];
                break;
            case 1: // past the pool: just past, far past, the last address
                out.push_back(zc_desc{r % 3 == 0 ? pool_end : r % 3 == 1 ? pool_end + (r >> 8) : ~0ull,
                                      static_cast<std::uint32_t>(r >> 32), static_cast<std::uint32_t>(r)});
                ++kinds[1];
                break;
            case 2: { // random 64 bits, outside the pool (as nearly all are)
                std::uint64_t addr = g_random();
                if ((addr >> region.frame_shift) < region.frame_count)
                    addr |= 1ull << 63;
                out.push_back(zc_desc{addr, static_cast<std::uint32_t>(r), 0xffffffffu});
                ++kinds[2];
                break;
            }
            case 3: // a random buffer of the pool, at a random offset in it
                out.push_back(zc_desc{(r % region.frame_count) << region.frame_shift |
                                          ((r >> 40) & ((1u << region.frame_shift) - 1)),
                                      0xffffffffu, 0});
                ++kinds[3];
                break;
            default: { // a buffer handed back a while ago: another queue's now, or nobody's
                std::uint64_t old = history[(history_at + 1) % history.size()];
                out.push_back(zc_desc{old != ~0ull ? old : region.address_of(r % region.frame_count), 0, 0});
                ++kinds[4];
                break;
            }
            }
            history[history_at++ % history.size()] = batch[i].addr;
        }
        std::uint32_t given = side.give(out.data(), static_cast<std::uint32_t>(out.size()));
        if (given != out.size()) {
            report("the owner stopped taking returns: %u of %zu handed back", given, out.size());
            return 1;
        }
        garbage += out.size() - n;
    }
    // The end: whatever is on the RX ring goes back honestly, then the owner
    // is given time to take every return. A piece of garbage that named a
    // buffer this queue held (a random one that happened to be on the RX
    // ring) was taken as good, and that buffer's own return later counts
    // as bad instead: one bad each way, as long as this consumer hands back
    // everything it was given, which it does until the quiet end.
    for (int i = 0; i < 5; ++i)
        side.honest_round();
    for (int i = 0; i < 1000 && side.unreaped() > 0; ++i)
        pause_us(1000);
    const std::uint64_t bad = region.bad_returns(o.queue) - bad_before;
    std::string word;
    const bool cut = last_word(grant.connection, 0, word);
    report("queue %u: %" PRIu64 " received and handed back, %" PRIu64 " pieces of garbage handed back (duplicates %" PRIu64
           ", past the pool %" PRIu64 ", random %" PRIu64 ", random buffers %" PRIu64 ", old buffers %" PRIu64
           "), the owner counted %" PRIu64 " bad returns; %s; seed %" PRIu64,
           o.queue, side.received, garbage, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], bad,
           cut ? ("cut off: " + word).c_str() : "not cut off", o.seed);
    std::printf("garbage=%" PRIu64 " bad_returns=%" PRIu64 "\n", garbage, bad);
    return bad == garbage && !cut && side.received > 0 ? 0 : 1;
}

int random_indices(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    side.honest_for(o.after);
    const Clock::time_point strike = Clock::now();
    std::string word;
    std::uint64_t writes = 0;
    while (seconds_since(strike) < 5) {
        std::uint64_t r = g_random();
        std::atomic_ref<std::uint32_t>(side.rx_ring->consumer).store(static_cast<std::uint32_t>(r), std::memory_order_release);
        std::atomic_ref<std::uint32_t>(side.return_ring->producer).store(static_cast<std::uint32_t>(r >> 32), std::memory_order_release);
        std::atomic_ref<std::uint32_t>(side.rx_ring->producer).store(static_cast<std::uint32_t>(g_random()), std::memory_order_relaxed);
        std::atomic_ref<std::uint32_t>(side.return_ring->consumer).store(static_cast<std::uint32_t>(g_random()), std::memory_order_relaxed);
        ++writes;
        if (last_word(grant.connection, 1, word)) {
            report("queue %u: wrote random ring indices (%" PRIu64 " times) after %" PRIu64
                   " packets; cut off %.1f ms later; the owner's last word: %s",
                   o.queue, writes, side.received, seconds_since(strike) * 1000, word.c_str());
            std::printf("cut_off_ms=%.1f\n", seconds_since(strike) * 1000);
            return 0;
        }
    }
    report("queue %u: wrote random ring indices for 5 s (%" PRIu64 " times) and was not cut off", o.queue, writes);
    return 1;
}

int random_geometry(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    side.honest_for(o.after);
    for (std::size_t at = 0; at + 8 <= side.bytes; at += 8) {
        std::uint64_t r = g_random();
        std::memcpy(side.base + at, &r, 8);
    }
    report("queue %u: after %" PRIu64 " packets, wrote %zu random bytes over its whole side (counters, sleep flag, "
           "both rings' headers, indices and slots) and exits at once; seed %" PRIu64,
           o.queue, side.received, side.bytes, o.seed);
    std::_Exit(0); // no goodbye: the connection closes with the process
}

// Writes everything a consumer can write into an old side: random indices,
// garbage returns (correctly indexed for that old ring), the sleep flag.
void scribble_old(Side& old, const Region& region)
{
    for (int i = 0; i < 64; ++i) {
        zc_desc garbage[16];
        for (zc_desc& d : garbage)
            d = zc_desc{region.address_of(g_random() % region.frame_count), 0xffffffffu, 0};
        std::uint32_t index = 0;
        std::uint32_t room = old.ret.reserve_burst(16, &index);
        for (std::uint32_t k = 0; k < room; ++k)
            old.ret.slot(index + k) = garbage[k];
        old.ret.submit(room);
        std::atomic_ref<std::uint32_t>(old.counters->consumer_sleeping).store(1, std::memory_order_relaxed);
    }
    std::atomic_ref<std::uint32_t>(old.rx_ring->consumer).store(static_cast<std::uint32_t>(g_random()), std::memory_order_release);
    std::atomic_ref<std::uint32_t>(old.return_ring->producer).store(static_cast<std::uint32_t>(g_random()), std::memory_order_release);
    old.counters->received = g_random();
}

// Attaches again once the owner has seen the last connection close (it
// answers EBUSY until then) and maps what it is handed.
bool reattach(const Options& o, Grant& grant, Region& region, Side& side, std::string& answer)
{
    int rc = -EBUSY;
    for (int i = 0; i < 200 && rc == -EBUSY; ++i)
        if ((rc = ask(o.cluster, o.queue, grant, answer)) == -EBUSY)
            pause_us(10000);
    return rc == 0 && region.map(grant.region) && side.map(grant.side, region.slots);
}

int stale_side(const Options& o)
{
    Grant first, second, third;
    Region region, region2, region3;
    Side side1, side2, side3;
    if (int rc = attach(o, first, region, side1); rc != 0)
        return rc;
    side1.honest_for(o.after);
    // 1. Leave (close the connection), keeping the side mapped.
    ::close(first.connection);
    first.connection = -1;
    std::string answer;
    if (!reattach(o, second, region2, side2, answer)) {
        report("could not re-attach after leaving: %s", answer.c_str());
        return 1;
    }
    const std::uint64_t bad_before = region.bad_returns(o.queue);
    const std::uint64_t cut_before = region.cut_offs(o.queue);
    scribble_old(side1, region);
    side2.honest_for(0.5);
    scribble_old(side1, region);
    side2.honest_for(0.5);
    std::string word;
    bool cut2 = last_word(second.connection, 0, word);
    const std::uint64_t bad_left = region.bad_returns(o.queue) - bad_before;
    const std::uint64_t cut_left = region.cut_offs(o.queue) - cut_before;
    const std::uint64_t got_after_leave = side2.received;
    if (cut2 || bad_left != 0 || cut_left != 0 || got_after_leave == 0) {
        report("queue %u: after leaving, writing into the old side reached the new grant: received %" PRIu64
               ", bad returns %" PRIu64 ", cut-offs %" PRIu64 "%s%s",
               o.queue, got_after_leave, bad_left, cut_left, cut2 ? ", cut off: " : "", cut2 ? word.c_str() : "");
        return 1;
    }
    // 2. Be cut off (an impossible RX index), keeping that side mapped.
    const Clock::time_point strike = Clock::now();
    bool cut = false;
    while (!cut && seconds_since(strike) < 5) {
        std::atomic_ref<std::uint32_t>(side2.rx_ring->consumer).store(side2.rx.released() - 12345u, std::memory_order_release);
        cut = last_word(second.connection, 1, word);
    }
    if (!cut) {
        report("queue %u: an RX index moved backwards was not cut off within 5 s", o.queue);
        return 1;
    }
    const double cut_ms = seconds_since(strike) * 1000;
    ::close(second.connection);
    second.connection = -1;
    if (!reattach(o, third, region3, side3, answer)) {
        report("could not re-attach after being cut off: %s", answer.c_str());
        return 1;
    }
    const std::uint64_t bad_before3 = region.bad_returns(o.queue);
    const std::uint64_t cut_before3 = region.cut_offs(o.queue);
    scribble_old(side2, region);
    scribble_old(side1, region);
    side3.honest_for(0.5);
    scribble_old(side2, region);
    side3.honest_for(0.5);
    std::string word3;
    bool cut3 = last_word(third.connection, 0, word3);
    const std::uint64_t bad3 = region.bad_returns(o.queue) - bad_before3;
    const std::uint64_t cuts3 = region.cut_offs(o.queue) - cut_before3;
    const bool ok = !cut3 && bad3 == 0 && cuts3 == 0 && side3.received > 0;
    report("queue %u: left, re-attached and wrote into the old side: the new grant received %" PRIu64
           ", 0 bad returns, not cut off; then cut off (%.1f ms: %s), re-attached and wrote into both old sides: "
           "the new grant received %" PRIu64 ", %" PRIu64 " bad returns, %s",
           o.queue, got_after_leave, cut_ms, word.c_str(), side3.received, bad3,
           cut3 ? ("cut off: " + word3).c_str() : cuts3 ? "another cut-off counted" : "not cut off");
    std::printf("cut_off_ms=%.1f\n", cut_ms);
    return ok ? 0 : 1;
}

int shrink_side(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    side.honest_for(o.after);
    const off_t size = static_cast<off_t>(side.bytes);
    struct Attempt {
        const char* what;
        int result;
        int error;
    };
    std::vector<Attempt> attempts;
    auto attempt = [&](const char* what, int result) { attempts.push_back({what, result, result == 0 ? 0 : errno}); };
    attempt("ftruncate to 0", ::ftruncate(grant.side, 0));
    attempt("ftruncate to one page less", ::ftruncate(grant.side, size - 4096));
    attempt("ftruncate to twice its size", ::ftruncate(grant.side, 2 * size));
    attempt("fallocate past its end", ::fallocate(grant.side, 0, 0, 2 * size));
    attempt("F_ADD_SEALS F_SEAL_WRITE", ::fcntl(grant.side, F_ADD_SEALS, F_SEAL_WRITE));
    attempt("F_ADD_SEALS F_SEAL_FUTURE_WRITE", ::fcntl(grant.side, F_ADD_SEALS, 0x0010 /* F_SEAL_FUTURE_WRITE */));
    const int seals = ::fcntl(grant.side, F_GET_SEALS);
    struct stat st {};
    ::fstat(grant.side, &st);
    // The side still works: packets keep coming, and no fault here.
    const std::uint64_t before = side.received;
    side.honest_for(o.seconds);
    std::string text;
    bool refused_all = true;
    for (const Attempt& a : attempts) {
        text += std::string(text.empty() ? "" : ", ") + a.what + ": " + (a.result == 0 ? "ALLOWED" : errno_name(a.error));
        refused_all = refused_all && a.result != 0;
    }
    std::string word;
    const bool cut = last_word(grant.connection, 0, word);
    report("queue %u: %s; seals 0x%x, size %lld (was %lld); received %" PRIu64 " after the attempts; %s", o.queue,
           text.c_str(), seals, static_cast<long long>(st.st_size), static_cast<long long>(size),
           side.received - before, cut ? ("cut off: " + word).c_str() : "not cut off");
    return refused_all && st.st_size == size && !cut && side.received > before ? 0 : 1;
}

int block_wake(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    const int flags = ::fcntl(grant.wake, F_GETFL);
    const int cleared = ::fcntl(grant.wake, F_SETFL, flags & ~O_NONBLOCK);
    const int pipe_size = ::fcntl(grant.wake, F_SETPIPE_SZ, 4096); // fills sooner
    const int capacity = pipe_size > 0 ? pipe_size : ::fcntl(grant.wake, F_GETPIPE_SZ);
    const Clock::time_point start = Clock::now();
    double full_at = -1;
    std::uint64_t received_when_full = 0;
    int queued = 0;
    while (seconds_since(start) < o.seconds) {
        std::atomic_ref<std::uint32_t>(side.counters->consumer_sleeping).store(1, std::memory_order_seq_cst);
        if (side.honest_round() == 0)
            pause_us(100);
        if (full_at < 0 && ::ioctl(grant.wake, FIONREAD, &queued) == 0 && queued >= capacity) {
            full_at = seconds_since(start);
            received_when_full = side.received;
        }
    }
    ::ioctl(grant.wake, FIONREAD, &queued);
    std::string word;
    const bool cut = last_word(grant.connection, 0, word);
    const std::uint64_t after_full = full_at >= 0 ? side.received - received_when_full : 0;
    report("queue %u: wake-up fd made blocking (%s), pipe of %d bytes, always 'sleeping', never read: %s; "
           "received %" PRIu64 " in all, %" PRIu64 " after the pipe was full; %s",
           o.queue, cleared == 0 ? "done" : std::strerror(errno), capacity,
           full_at >= 0 ? ("full after " + std::to_string(full_at).substr(0, 5) + " s, " + std::to_string(queued) +
                           " bytes queued at the end")
                              .c_str()
                        : ("never full (" + std::to_string(queued) + " bytes)").c_str(),
           side.received, after_full, cut ? ("cut off: " + word).c_str() : "not cut off");
    return full_at >= 0 && after_full > 0 && !cut ? 0 : 1;
}

// Whether the 8 bytes at `at` (in a read-only mapping) can be changed by a
// store in a child process (this one must not die of it).
bool store_in_child(const volatile std::uint64_t* at)
{
    pid_t child = ::fork();
    if (child == 0) {
        int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0)
            ::dup2(null, 2); // a sanitizer's report of the fault is expected
        *const_cast<volatile std::uint64_t*>(at) = 0x5a5a5a5a5a5a5a5aull;
        std::_Exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int region_write(const Options& o)
{
    if (::geteuid() == 0) {
        say("runs as root, who may write anything: run it as a member of the cluster's group");
        return 2;
    }
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    side.honest_for(o.after);
    const int fd = grant.region;
    std::vector<std::string> refused, allowed;
    auto check = [&](const std::string& what, bool succeeded, int error) {
        (succeeded ? allowed : refused).push_back(what + (succeeded ? "" : std::string(": ") + errno_name(error)));
    };
    // The mapping.
    void* writable = ::mmap(nullptr, region.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check("mmap PROT_WRITE MAP_SHARED", writable != MAP_FAILED, errno);
    if (writable != MAP_FAILED)
        ::munmap(writable, region.bytes);
    int rc = ::mprotect(const_cast<std::byte*>(region.base), 4096, PROT_READ | PROT_WRITE);
    check("mprotect PROT_WRITE", rc == 0, errno);
    // The descriptor.
    const RegionHeader copy = *region.header;
    rc = static_cast<int>(::write(fd, &copy, 8));
    check("write", rc > 0, errno);
    rc = static_cast<int>(::pwrite(fd, &copy.free_count, 4, offsetof(RegionHeader, free_count)));
    check("pwrite", rc > 0, errno);
    rc = ::ftruncate(fd, 0);
    check("ftruncate", rc == 0, errno);
    rc = ::fallocate(fd, 0, 0, static_cast<off_t>(region.bytes) + (4 << 20));
    check("fallocate", rc == 0, errno);
    rc = ::fcntl(fd, F_SETFL, O_RDWR); // the access mode cannot change; writes must still fail
    rc = static_cast<int>(::write(fd, &copy, 8));
    check("write after F_SETFL O_RDWR", rc > 0, errno);
    rc = ::fchmod(fd, 0666);
    check("fchmod", rc == 0, errno);
    // Reopening it.
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    for (int how : {O_RDWR, O_WRONLY}) {
        int other = ::open(link, how | O_CLOEXEC);
        check(std::string("open ") + link + (how == O_RDWR ? " O_RDWR" : " O_WRONLY"), other >= 0, errno);
        if (other >= 0)
            ::close(other);
    }
    char path[4096] = {};
    ssize_t length = ::readlink(link, path, sizeof path - 1);
    std::vector<std::string> paths;
    if (length > 0)
        paths.push_back(std::string(path, static_cast<std::size_t>(length)));
    for (const char* directory : {"/dev/shm/zc", "/dev/hugepages/zc"}) {
        std::string candidate = std::string(directory) + "/cluster-" + std::to_string(o.cluster);
        if (::access(candidate.c_str(), F_OK) == 0 && (paths.empty() || candidate != paths[0]))
            paths.push_back(candidate);
    }
    if (paths.empty()) {
        report("cannot find the region's path");
        return 2;
    }
    for (const std::string& p : paths) {
        for (int how : {O_RDWR, O_WRONLY, O_RDONLY | O_TRUNC}) {
            int other = ::open(p.c_str(), how | O_CLOEXEC);
            check("open " + p + (how == O_RDWR ? " O_RDWR" : how == O_WRONLY ? " O_WRONLY" : " O_TRUNC"),
                  other >= 0 && (how != (O_RDONLY | O_TRUNC) || ::lseek(other, 0, SEEK_END) == 0), errno);
            if (other >= 0)
                ::close(other);
        }
        rc = ::truncate(p.c_str(), 0);
        check("truncate " + p, rc == 0, errno);
        rc = ::chmod(p.c_str(), 0666);
        check("chmod " + p, rc == 0, errno);
        std::string moved = p + ".moved";
        rc = ::rename(p.c_str(), moved.c_str());
        check("rename " + p, rc == 0, errno);
        if (rc == 0)
            (void)::rename(moved.c_str(), p.c_str());
        // The directory: a file of one's own in its place?
        std::string beside = p + ".hostile";
        int created = ::open(beside.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        check("create " + beside, created >= 0, errno);
        if (created >= 0) {
            ::close(created);
            ::unlink(beside.c_str());
        }
        rc = ::unlink(p.c_str());
        check("unlink " + p, rc == 0, errno);
    }
    // A private copy may be written (copy on write) but must change nothing shared.
    void* cow = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (cow != MAP_FAILED) {
        static_cast<RegionHeader*>(cow)->free_count = 0xdead;
        ::munmap(cow, 4096);
    }
    // And the header is as the owner wrote it.
    const bool intact = std::atomic_ref<const std::uint64_t>(region.header->magic).load(std::memory_order_relaxed) ==
                            zc::kRegionMagic &&
                        region.header->free_count != 0xdead;
    if (!intact)
        allowed.push_back("the header changed");
    std::string text;
    for (const std::string& r : refused)
        text += (text.empty() ? "" : "; ") + r;
    std::string bad;
    for (const std::string& a : allowed)
        bad += (bad.empty() ? "" : "; ") + a;
    if (allowed.empty())
        report("queue %u: all %zu ways to write the region refused: %s", o.queue, refused.size(), text.c_str());
    else
        report("queue %u: ALLOWED: %s (refused: %s)", o.queue, bad.c_str(), text.c_str());
    return allowed.empty() ? 0 : 1;
}

int second_consumer(const Options& o)
{
    Grant mine;
    long expected = o.holder;
    std::string answer;
    Region region;
    Side side;
    if (expected == 0) {
        if (int rc = attach(o, mine, region, side); rc != 0)
            return rc;
        side.honest_for(o.after);
        expected = ::getpid();
    }
    Grant again;
    int rc = ask(o.cluster, o.queue, again, answer);
    if (rc == 0) {
        report("queue %u: a second attach was GRANTED while pid %ld holds it", o.queue, expected);
        return 1;
    }
    char wanted[64];
    std::snprintf(wanted, sizeof wanted, "in use by pid %ld", expected);
    const bool names_holder = answer.find(wanted) != std::string::npos;
    // The holder keeps its queue.
    std::string word;
    const bool cut = o.holder == 0 && last_word(mine.connection, 0, word);
    const std::uint64_t before = side.received;
    if (o.holder == 0)
        side.honest_for(0.3);
    const bool still = o.holder != 0 || (!cut && side.received > before);
    report("queue %u: a second attach refused (%s): \"%s\"; %s", o.queue, errno_name(-rc), answer.c_str(),
           o.holder != 0 ? "the holder was named" : still ? "the first attach still receives" : "the first attach was DISTURBED");
    return rc == -EBUSY && names_holder && still ? 0 : 1;
}

int hoard(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    const QueueInfo& info = region.info(o.queue);
    auto dropped = [&] { return std::atomic_ref<const std::uint64_t>(info.dropped_full).load(std::memory_order_relaxed); };
    const std::uint64_t dropped_before = dropped();
    const Clock::time_point start = Clock::now();
    zc_desc batch[256];
    double last_at = 0;
    while (seconds_since(start) < o.seconds) {
        if (side.take(batch, 256) == 0)
            pause_us(500);
        else
            last_at = seconds_since(start);
    }
    const std::uint64_t drops = dropped() - dropped_before;
    const std::uint32_t outstanding = std::atomic_ref<const std::uint32_t>(info.outstanding).load(std::memory_order_relaxed);
    std::string word;
    const bool cut = last_word(grant.connection, 0, word);
    report("queue %u: took %" PRIu64 " buffers and handed none back; the last came %.2f s in, the owner counts %u "
           "outstanding and %" PRIu64 " dropped since; %s",
           o.queue, side.received, last_at, outstanding, drops, cut ? ("cut off: " + word).c_str() : "not cut off");
    std::printf("hoarded=%" PRIu64 "\n", side.received);
    return side.received > 0 && drops > 0 && !cut ? 0 : 1;
}

int scribble_counts(const Options& o)
{
    Grant grant;
    Region region;
    Side side;
    if (int rc = attach(o, grant, region, side); rc != 0)
        return rc;
    side.honest_for(o.after);
    // Where the owner's words are, or were: the pool counters in the header,
    // a buffer's first bytes (its metadata), the last word of the pool.
    struct Target {
        const char* name;
        const std::byte* at;
    };
    const Target targets[] = {
        {"header free_count", region.base + offsetof(RegionHeader, free_count)},
        {"header magic", region.base},
        {"queue table", reinterpret_cast<const std::byte*>(&region.info(o.queue))},
        {"pool buffer 0", region.base + region.pool_offset},
        {"pool's last word", region.base + region.pool_offset + region.pool_bytes - 8},
    };
    std::vector<std::string> allowed, refused;
    int mem = ::open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    for (const Target& t : targets) {
        std::uint64_t before;
        std::memcpy(&before, t.at, 8);
        const std::uint64_t poison = ~before;
        if (store_in_child(reinterpret_cast<const volatile std::uint64_t*>(t.at)))
            allowed.push_back(std::string(t.name) + " by a store");
        else
            refused.push_back(std::string(t.name) + " by a store: fault");
        if (mem >= 0) {
            ssize_t put = ::pwrite(mem, &poison, 8, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(t.at)));
            if (put == 8)
                allowed.push_back(std::string(t.name) + " through /proc/self/mem");
            else
                refused.push_back(std::string(t.name) + " through /proc/self/mem: " + errno_name(put < 0 ? errno : 0));
        }
        iovec local{const_cast<std::uint64_t*>(&poison), 8};
        iovec remote{const_cast<std::byte*>(t.at), 8};
        ssize_t put = ::process_vm_writev(::getpid(), &local, 1, &remote, 1, 0);
        if (put == 8)
            allowed.push_back(std::string(t.name) + " by process_vm_writev");
        else
            refused.push_back(std::string(t.name) + " by process_vm_writev: " + errno_name(put < 0 ? errno : 0));
        std::uint64_t after;
        std::memcpy(&after, t.at, 8);
        if (after == poison)
            allowed.push_back(std::string(t.name) + " CHANGED");
    }
    if (mem < 0)
        refused.push_back(std::string("opening /proc/self/mem: ") + errno_name(errno));
    else
        ::close(mem);
    // Its own counters: garbage, all the time, while it reads honestly.
    const Clock::time_point start = Clock::now();
    std::uint64_t garbage[4] = {};
    while (seconds_since(start) < o.seconds) {
        if (side.honest_round() == 0)
            pause_us(200);
        for (std::uint64_t& g : garbage)
            g = g_random();
        std::atomic_ref<std::uint64_t>(side.counters->received).store(garbage[0], std::memory_order_relaxed);
        std::atomic_ref<std::uint64_t>(side.counters->returned).store(garbage[1], std::memory_order_relaxed);
        std::atomic_ref<std::uint64_t>(side.counters->bad_descriptors).store(garbage[2], std::memory_order_relaxed);
        std::atomic_ref<std::uint64_t>(side.counters->consumer_claim).store(garbage[3], std::memory_order_relaxed);
        for (std::uint32_t& r : side.counters->reserved)
            r = static_cast<std::uint32_t>(g_random());
    }
    pause_us(20000); // a control round or more: the owner copies them for display
    const std::uint64_t shown = std::atomic_ref<const std::uint64_t>(region.info(o.queue).received).load(std::memory_order_relaxed);
    std::string word;
    const bool cut = last_word(grant.connection, 0, word);
    std::string text;
    for (const std::string& r : refused)
        text += (text.empty() ? "" : "; ") + r;
    std::string bad;
    for (const std::string& a : allowed)
        bad += (bad.empty() ? "" : "; ") + a;
    report("queue %u: %s%s; wrote garbage into its own counters for %.1f s while receiving %" PRIu64
           " packets: the owner displays received=%" PRIu64 "%s; %s",
           o.queue, allowed.empty() ? "every write to the header, queue table and pool refused: " : "ALLOWED: ",
           allowed.empty() ? text.c_str() : bad.c_str(), o.seconds, side.received, shown,
           shown == garbage[0] ? " (the garbage, displayed)" : "", cut ? ("cut off: " + word).c_str() : "not cut off");
    return allowed.empty() && !cut && side.received > 0 ? 0 : 1;
}

constexpr const char* kUsage =
    "usage: hostile-consumer -c CLUSTER -q QUEUE [--seconds S] [--after S] [--holder PID] [--seed N] MODE\n"
    "modes: garbage-returns random-indices random-geometry stale-side shrink-side block-wake region-write\n"
    "       second-consumer hoard scribble-counts\n";

} // namespace

int main(int argc, char** argv)
{
    Options o;
    static const struct option longs[] = {{"cluster", required_argument, nullptr, 'c'},
                                          {"queue", required_argument, nullptr, 'q'},
                                          {"seconds", required_argument, nullptr, 's'},
                                          {"after", required_argument, nullptr, 'a'},
                                          {"holder", required_argument, nullptr, 'p'},
                                          {"seed", required_argument, nullptr, 'r'},
                                          {"help", no_argument, nullptr, 'h'},
                                          {nullptr, 0, nullptr, 0}};
    int option = 0;
    o.seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^ static_cast<std::uint64_t>(::getpid());
    while ((option = getopt_long(argc, argv, "c:q:s:a:p:r:h", longs, nullptr)) != -1) {
        switch (option) {
        case 'c': o.cluster = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); o.have_cluster = true; break;
        case 'q': o.queue = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); break;
        case 's': o.seconds = std::strtod(optarg, nullptr); break;
        case 'a': o.after = std::strtod(optarg, nullptr); break;
        case 'p': o.holder = std::strtol(optarg, nullptr, 10); break;
        case 'r': o.seed = std::strtoull(optarg, nullptr, 10); break;
        case 'h': std::fputs(kUsage, stdout); return 0;
        default: std::fputs(kUsage, stderr); return 2;
        }
    }
    if (optind + 1 != argc || !o.have_cluster || o.seconds <= 0 || o.after < 0) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    g_random.seed(o.seed);
    const std::string mode = argv[optind];
    g_mode = argv[optind];
    struct Mode {
        const char* name;
        int (*run)(const Options&);
    };
    static const Mode modes[] = {
        {"garbage-returns", garbage_returns}, {"random-indices", random_indices}, {"random-geometry", random_geometry},
        {"stale-side", stale_side},           {"shrink-side", shrink_side},       {"block-wake", block_wake},
        {"region-write", region_write},       {"second-consumer", second_consumer},
        {"hoard", hoard},                     {"scribble-counts", scribble_counts},
    };
    for (const Mode& m : modes)
        if (mode == m.name) {
            say("cluster %u queue %u, pid %d, uid %d, seed %" PRIu64 ": attaching", o.cluster, o.queue, ::getpid(),
                ::getuid(), o.seed);
            return m.run(o);
        }
    std::fprintf(stderr, "hostile-consumer: unknown mode '%s'\n%s", mode.c_str(), kUsage);
    return 2;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/control_socket — see control_socket.hpp.

#include "internal/control_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "internal/clock.hpp"
#include "internal/error.hpp"

namespace zc::control {

namespace {

constexpr const char* kDirectory = "/run/zc";
constexpr std::uint64_t kRequestTimeoutNs = 2000000000u; // a connection that asks nothing is closed after this
constexpr std::size_t kMaxConnections = 4096;

bool make_address(const std::string& path, sockaddr_un& address) noexcept
{
    std::memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path)
        return false;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return true;
}

constexpr std::size_t kHandedFds = 3; // the region, the queue side, the wake-up pipe's read end

// The reply, and on a yes the descriptors with it (one message). Returns
// whether it went out whole.
bool send_reply(int fd, std::int32_t status, const char* text, const int* handed = nullptr) noexcept
{
    Reply reply{};
    reply.magic = kMagic;
    reply.version = kVersion;
    reply.size = sizeof reply;
    reply.status = status;
    std::snprintf(reply.text, sizeof reply.text, "%s", text);
    iovec data{&reply, sizeof reply};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kHandedFds)];
    if (handed) {
        std::memset(control, 0, sizeof control);
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * kHandedFds);
        std::memcpy(CMSG_DATA(header), handed, sizeof(int) * kHandedFds);
    }
    return ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(sizeof reply);
}

} // namespace

std::string socket_path(std::uint32_t cluster)
{
    return std::string(kDirectory) + "/cluster-" + std::to_string(cluster) + ".sock";
}

int attach(std::uint32_t cluster, std::uint32_t queue, Attachment& out, zc_error* err) noexcept
{
    out = Attachment{};
    std::string path;
    try {
        path = socket_path(cluster);
    } catch (...) {
        return fail(err, -ENOMEM, "cluster %u: no memory", cluster);
    }
    sockaddr_un address;
    if (!make_address(path, address))
        return fail(err, -ENAMETOOLONG, "cluster %u: control socket path too long", cluster);
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, -errno, "cluster %u: cannot create a unix socket: %s", cluster, std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        int e = errno;
        ::close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            return fail(err, -ENOENT, "cluster %u: no control socket at %s (is zc-balance -c %u running?)", cluster,
                        path.c_str(), cluster);
        if (e == EACCES || e == EPERM)
            return fail(err, -EACCES,
                        "cluster %u: %s: permission denied (consumers need root or the cluster's group)", cluster,
                        path.c_str());
        return fail(err, -e, "cluster %u: cannot connect to %s: %s", cluster, path.c_str(), std::strerror(e));
    }
    Request request{kMagic, kVersion, sizeof(Request), queue, 0};
    if (::send(fd, &request, sizeof request, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof request)) {
        int e = errno;
        ::close(fd);
        return fail(err, -EPIPE, "cluster %u queue %u: cannot ask the owner for the queue: %s", cluster, queue,
                    std::strerror(e));
    }
    const std::uint64_t deadline = monotonic_ns() + std::uint64_t{kReplyTimeoutMs} * 1000000u;
    Reply reply{};
    int handed[kHandedFds] = {-1, -1, -1};
    std::size_t handed_count = 0;
    bool truncated = false;
    for (;;) {
        std::uint64_t now = monotonic_ns();
        if (now >= deadline) {
            ::close(fd);
            return fail(err, -ETIMEDOUT, "cluster %u queue %u: the owner did not answer within %d ms", cluster,
                        queue, kReplyTimeoutMs);
        }
        pollfd entry{fd, POLLIN, 0};
        int ready = ::poll(&entry, 1, static_cast<int>((deadline - now + 999999u) / 1000000u));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue; // the deadline check above ends it
        iovec data{&reply, sizeof reply};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kHandedFds)];
        msghdr message{};
        message.msg_iov = &data;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        ssize_t got = ::recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR)
            continue;
        // Whatever descriptors came are ours now: keep them to close or use.
        for (cmsghdr* h = got >= 0 ? CMSG_FIRSTHDR(&message) : nullptr; h; h = CMSG_NXTHDR(&message, h)) {
            if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                continue;
            const std::size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < n; ++i) {
                int received;
                std::memcpy(&received, CMSG_DATA(h) + i * sizeof(int), sizeof received);
                if (handed_count < kHandedFds)
                    handed[handed_count++] = received;
                else
                    ::close(received);
            }
        }
        truncated = got >= 0 && (message.msg_flags & MSG_CTRUNC) != 0;
        if (got != static_cast<ssize_t>(sizeof reply) || reply.magic != kMagic || reply.size != sizeof reply) {
            ::close(fd);
            for (std::size_t i = 0; i < handed_count; ++i)
                ::close(handed[i]);
            if (got == static_cast<ssize_t>(sizeof reply) && reply.magic == kMagic)
                return fail(err, -EPROTO,
                            "cluster %u queue %u: the owner speaks control protocol version %u, this library %u; "
                            "use the zc tools and libraries of one release",
                            cluster, queue, reply.version, kVersion);
            return fail(err, -EPROTO, "cluster %u queue %u: the owner closed the connection or answered garbage",
                        cluster, queue);
        }
        break;
    }
    reply.text[sizeof reply.text - 1] = '\0';
    if (reply.status != 0 || handed_count != kHandedFds || truncated) {
        ::close(fd);
        for (std::size_t i = 0; i < handed_count; ++i)
            ::close(handed[i]);
        if (reply.status == 0)
            return fail(err, -EPROTO,
                        "cluster %u queue %u: the owner said yes but handed over %zu of the %zu descriptors%s",
                        cluster, queue, handed_count, kHandedFds,
                        truncated ? " (too many open files here?)" : "");
        int status = reply.status < 0 ? reply.status : -EACCES;
        return fail(err, status, "cluster %u queue %u: refused by the owner: %s", cluster, queue, reply.text);
    }
    out.connection = fd;
    out.region = handed[0];
    out.side = handed[1];
    out.wake = handed[2];
    return 0;
}

bool read_notice(int fd, std::string& text) noexcept
{
    Reply reply{};
    if (::recv(fd, &reply, sizeof reply, MSG_DONTWAIT) != static_cast<ssize_t>(sizeof reply) || reply.magic != kMagic ||
        reply.size != sizeof reply || reply.status == 0)
        return false;
    reply.text[sizeof reply.text - 1] = '\0';
    try {
        text = reply.text;
    } catch (...) {
        return false;
    }
    return true;
}

Server::~Server()
{
    for (const Connection& c : connections_)
        ::close(c.fd);
    if (fd_ >= 0) {
        ::close(fd_);
        struct stat st {};
        // Only our own socket: a newer owner's stays.
        if (::lstat(path_.c_str(), &st) == 0 && st.st_ino == inode_ && st.st_dev == device_)
            ::unlink(path_.c_str());
    }
}

int Server::listen(std::uint32_t cluster, std::uint32_t queue_count, gid_t gid, int region_fd, QueueOwner* owner,
                   zc_error* err) noexcept
{
    try {
        path_ = socket_path(cluster);
        connections_.reserve(64);
    } catch (...) {
        return fail(err, -ENOMEM, "cluster %u: no memory", cluster);
    }
    cluster_ = cluster;
    queue_count_ = queue_count;
    gid_ = gid;
    region_fd_ = region_fd;
    owner_ = owner;
    if (::mkdir(kDirectory, 0755) != 0 && errno != EEXIST)
        return fail(err, -errno, "cluster %u: cannot create %s: %s", cluster, kDirectory, std::strerror(errno));
    sockaddr_un address;
    if (!make_address(path_, address))
        return fail(err, -ENAMETOOLONG, "cluster %u: control socket path too long", cluster);
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fail(err, -EEXIST, "cluster %u: %s exists and is not a socket (remove it)", cluster,
                        path_.c_str());
        ::unlink(path_.c_str()); // stale: the cluster's region is ours, so its old owner is gone
    }
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, -errno, "cluster %u: cannot create a unix socket: %s", cluster, std::strerror(errno));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        int e = errno;
        ::close(fd);
        return fail(err, -e, "cluster %u: cannot bind %s: %s", cluster, path_.c_str(), std::strerror(e));
    }
    if (::chown(path_.c_str(), static_cast<uid_t>(-1), gid) != 0 || ::chmod(path_.c_str(), 0660) != 0 ||
        ::lstat(path_.c_str(), &st) != 0 || ::listen(fd, 64) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(path_.c_str());
        return fail(err, -e, "cluster %u: cannot set up %s: %s", cluster, path_.c_str(), std::strerror(e));
    }
    inode_ = st.st_ino;
    device_ = st.st_dev;
    fd_ = fd;
    return 0;
}

bool Server::allowed(const Connection& c) const noexcept
{
    // gid: the primary group, or the region's when it is one of the peer's
    // supplementary groups (checked at accept).
    return c.uid == 0 || c.gid == gid_;
}

void Server::drop(std::size_t index, std::vector<Event>& events, Event::Kind kind, const char* why)
{
    Connection c = connections_[index];
    ::close(c.fd);
    connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
    if (c.queue >= 0) {
        std::uint32_t buffers = owner_->leave(static_cast<std::uint32_t>(c.queue));
        events.push_back(Event{kind, static_cast<std::uint32_t>(c.queue), c.pid, buffers, why});
    }
}

pid_t Server::cut_off(std::uint32_t queue, const char* why, std::vector<Event>& events)
{
    for (std::size_t i = 0; i < connections_.size(); ++i)
        if (connections_[i].queue == static_cast<std::int64_t>(queue)) {
            pid_t pid = connections_[i].pid;
            // A last word, so that the consumer can say why it ends.
            char text[200];
            std::snprintf(text, sizeof text, "cut off by the owner: %s", why);
            send_reply(connections_[i].fd, -ECONNRESET, text);
            drop(i, events, Event::CutOff, why);
            return pid;
        }
    return 0;
}

void Server::handle_request(std::size_t index, std::vector<Event>& events)
{
    Connection& c = connections_[index];
    Request request{};
    ssize_t got = ::recv(c.fd, &request, sizeof request, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        drop(index, events);
        return;
    }
    if (c.queue >= 0)
        return; // nothing more is expected from an attached consumer: ignored
    char text[200];
    std::int32_t status = 0;
    std::uint32_t asked = ~0u;
    if (got != static_cast<ssize_t>(sizeof request) || request.magic != kMagic || request.version != kVersion ||
        request.size != sizeof request) {
        status = -EPROTO;
        std::snprintf(text, sizeof text, "cluster %u: unknown request (version %u, %zd bytes; this owner speaks version %u)",
                      cluster_, got >= 8 ? request.version : 0u, got, kVersion);
    } else if (asked = request.queue, !allowed(c)) {
        status = -EACCES;
        std::snprintf(text, sizeof text,
                      "cluster %u: uid %u gid %u may not read it (root or group %u only)", cluster_,
                      static_cast<unsigned>(c.uid), static_cast<unsigned>(c.gid), static_cast<unsigned>(gid_));
    } else if (request.queue >= queue_count_) {
        status = -EINVAL;
        std::snprintf(text, sizeof text, "cluster %u has no queue %u: it has queues 0 to %u", cluster_,
                      request.queue, queue_count_ - 1);
    } else {
        // A previous consumer of this queue: gone (its claim was taken
        // over) unless its connection is still up.
        for (std::size_t i = 0; i < connections_.size(); ++i) {
            if (i == index || connections_[i].queue != static_cast<std::int64_t>(request.queue))
                continue;
            pollfd entry{connections_[i].fd, POLLIN, 0};
            char byte;
            bool closed = ::poll(&entry, 1, 0) > 0 && (entry.revents & (POLLHUP | POLLERR | POLLRDHUP) ||
                                                       ::recv(entry.fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 0);
            if (!closed) {
                status = -EBUSY;
                std::snprintf(text, sizeof text, "cluster %u queue %u is in use by pid %d", cluster_, request.queue,
                              static_cast<int>(connections_[i].pid));
                break;
            }
            drop(i, events); // reclaim first: the new consumer starts clean
            if (i < index)
                --index;
            break;
        }
    }
    Connection& me = connections_[index];
    if (status != 0) {
        send_reply(me.fd, status, text);
        events.push_back(Event{Event::Refused, asked, me.pid, 0, text});
        ::close(me.fd);
        connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
        return;
    }
    int handed[kHandedFds] = {region_fd_, -1, -1};
    if (int rc = owner_->grant(request.queue, me.pid, &handed[1], &handed[2], text, sizeof text); rc != 0) {
        send_reply(me.fd, rc, text);
        events.push_back(Event{Event::Refused, asked, me.pid, 0, text});
        ::close(me.fd);
        connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
        return;
    }
    if (!send_reply(me.fd, 0, "ok", handed)) {
        // Its socket buffer cannot take one reply (or it hung up): it never
        // had the queue; the owner takes back what it granted.
        events.push_back(Event{Event::Refused, asked, me.pid, 0, "the reply could not be sent; connection closed"});
        ::close(me.fd);
        connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
        owner_->leave(request.queue);
        return;
    }
    me.queue = request.queue;
    events.push_back(Event{Event::Joined, request.queue, me.pid, 0, {}});
}

void Server::service(std::vector<Event>& events)
{
    if (fd_ < 0)
        return;
    // New connections first.
    while (connections_.size() < kMaxConnections) {
        int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break; // EAGAIN: none waiting; anything else: try again next time
        ucred cred{};
        socklen_t size = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
            ::close(fd);
            continue;
        }
        Connection c{fd, cred.pid, cred.uid, cred.gid, -1, monotonic_ns()};
        if (c.uid != 0 && c.gid != gid_) {
            // Supplementary groups (SO_PEERGROUPS, Linux 4.13).
            gid_t groups[256];
            socklen_t bytes = sizeof groups;
            if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &bytes) == 0)
                for (socklen_t i = 0; i < bytes / sizeof(gid_t); ++i)
                    if (groups[i] == gid_)
                        c.gid = gid_; // a member: as good as the primary group
        }
        try {
            connections_.push_back(c);
        } catch (...) {
            ::close(fd);
            break;
        }
    }
    if (connections_.empty())
        return;
    // Hang-ups before requests: a consumer taking over a queue finds its
    // predecessor already reclaimed.
    std::vector<pollfd> entries;
    try {
        entries.reserve(connections_.size());
    } catch (...) {
        return;
    }
    for (const Connection& c : connections_)
        entries.push_back(pollfd{c.fd, POLLIN, 0});
    if (::poll(entries.data(), entries.size(), 0) > 0)
        for (std::size_t i = entries.size(); i-- > 0;)
            if ((entries[i].revents & (POLLHUP | POLLERR)) != 0)
                drop(i, events);
    // Then requests, and connections that never asked for anything (their
    // deadline is checked whether or not anything else happened).
    const std::uint64_t now = monotonic_ns();
    for (std::size_t i = 0; i < connections_.size();) {
        Connection& c = connections_[i];
        std::size_t before = connections_.size();
        pollfd entry{c.fd, POLLIN, 0};
        if (::poll(&entry, 1, 0) > 0) {
            handle_request(i, events);
        } else if (c.queue < 0 && now - c.since_ns > kRequestTimeoutNs) {
            ::close(c.fd);
            connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(i));
        }
        if (connections_.size() < before)
            continue; // this index now holds the next one (or an earlier one was dropped: re-check is harmless)
        ++i;
    }
}

} // namespace zc::control

// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/control_socket — a cluster owner's control socket,
// /run/zc/cluster-<id>.sock (SOCK_SEQPACKET, mode 0660, the region file's
// group). A consumer connects, sends one Request naming the queue it wants,
// and waits for a Reply: status 0 with three descriptors (SCM_RIGHTS) — the
// region file opened read-only, the queue's consumer side (layout.hpp: a
// memfd made for this grant, the only memory it may write) and the queue's
// wake-up pipe (wakeup.hpp, also made for this grant) — or a negative
// errno and a sentence. It maps the region from that descriptor (so it needs
// no access to the region file itself) and keeps the connection open for as
// long as it reads the queue: the connection is the liveness signal. When it
// closes (the consumer closed its device, or died), the owner reclaims every
// buffer the queue held (zc_balancer_reclaim_queue). When the owner's end
// closes, the consumer knows its owner is gone. The owner closes it first
// when the consumer breaks the queue protocol (cut_off).
//
// The owner checks the peer's credentials (SO_PEERCRED, SO_PEERGROUPS):
// uid 0, or a member of the region file's group; and gives each queue to one
// live connection at a time: the claim is the owner's table of connections,
// nothing a consumer can write. Control path only: nothing here is called per
// packet; the owner's side never blocks.
//
// RegionHeader::flags bit 0 (kRegionControlSocket) tells a consumer that
// found the region file but no socket that the owner means to serve one
// (zc-balance): it must attach through it. A region without the bit (an
// owner using the library API alone) is attached by its path.

#pragma once

#include <sys/types.h>

#include <cstddef>

#include <cstdint>
#include <string>
#include <vector>

#include "zc/zc.h"

namespace zc::control {

constexpr std::uint32_t kMagic = 0x7a63636bu; // "zcck"
constexpr std::uint16_t kVersion = 3; // 3: the reply carries the region (read-only), the queue side and wake-up fds
constexpr std::uint32_t kRegionControlSocket = 1u; // RegionHeader::flags bit
constexpr int kReplyTimeoutMs = 2000;

struct Request {
    std::uint32_t magic;
    std::uint16_t version;
    std::uint16_t size; // sizeof(Request)
    std::uint32_t queue;
    std::uint32_t reserved;
};
static_assert(sizeof(Request) == 16);

struct Reply {
    std::uint32_t magic;
    std::uint16_t version;
    std::uint16_t size; // sizeof(Reply)
    std::int32_t status; // 0, or a negative errno
    char text[236];      // why not, NUL-terminated
};
static_assert(sizeof(Reply) == 248);

std::string socket_path(std::uint32_t cluster);

// What a consumer holds once the owner said yes; every fd close-on-exec.
struct Attachment {
    int connection = -1; // open while the queue is read
    int region = -1;     // the region file, read-only, to map (attach_region_fd)
    int side = -1;       // the queue's consumer side, to map writable (map_queue_side)
    int wake = -1;       // the read end of the queue's wake-up pipe: readable when the owner woke us
};

// The consumer's side: connects to cluster `cluster`'s socket, asks for
// `queue` and waits for the answer (kReplyTimeoutMs at most). 0 with
// `out` filled (the caller closes the four), or a negative errno with
// `err` filled: -ENOENT when nobody listens, -EACCES (or the owner's status)
// with the owner's sentence when refused, -ETIMEDOUT when no answer came,
// -EPROTO for an answer without its descriptors.
int attach(std::uint32_t cluster, std::uint32_t queue, Attachment& out, zc_error* err) noexcept;

// The consumer's side, once its connection became readable after the
// answer: the owner's last word before it closed it (a cut-off), if any.
bool read_notice(int fd, std::string& text) noexcept;

// What happened on the owner's socket, for its log.
struct Event {
    enum Kind { Joined, Left, Refused, CutOff } kind;
    std::uint32_t queue; // Joined, Left, CutOff; Refused: what was asked, or ~0u
    pid_t pid;
    std::uint32_t buffers; // Left, CutOff: buffers reclaimed
    std::string text;      // Refused, CutOff: why
};

// What the server needs from the queues' owner.
class QueueOwner {
public:
    // A consumer (`pid`) is granted `queue`: the descriptors to hand it, its
    // side and wake-up pipe, which stay the owner's. 0, or a negative
    // errno with `why` filled (the request is refused with it).
    virtual int grant(std::uint32_t queue, pid_t pid, int* side_fd, int* wake_fd, char* why,
                      std::size_t why_size) noexcept = 0;
    // The consumer of `queue` is gone (or was cut off): reclaim; returns the
    // buffers reclaimed.
    virtual std::uint32_t leave(std::uint32_t queue) noexcept = 0;

protected:
    ~QueueOwner() = default;
};

// The owner's side.
class Server {
public:
    Server() = default;
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Creates /run/zc (0755) and the socket (a stale one is replaced), mode
    // 0660 with group `gid`. A consumer granted a queue receives
    // `region_fd` (read-only; it stays the caller's, open for as long as
    // this server) and what `owner` grants. 0 or a negative errno with a
    // sentence.
    int listen(std::uint32_t cluster, std::uint32_t queue_count, gid_t gid, int region_fd, QueueOwner* owner,
               zc_error* err) noexcept;

    // Accepts, reads requests, notices closed connections; never blocks.
    // The owner's leave() is called for every queue whose consumer left.
    // Events are appended to `events`.
    void service(std::vector<Event>& events);

    // Disconnects the consumer of `queue` (it broke the queue protocol:
    // `why`), then the owner's leave() reclaims. The pid it had, or 0 when
    // nobody held the queue.
    pid_t cut_off(std::uint32_t queue, const char* why, std::vector<Event>& events);

    bool listening() const noexcept { return fd_ >= 0; }

private:
    struct Connection {
        int fd;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        std::int64_t queue; // -1 until the request is accepted
        std::uint64_t since_ns;
    };
    void handle_request(std::size_t index, std::vector<Event>& events);
    // Closes connection `index`; reclaims its queue, reported as `kind`.
    void drop(std::size_t index, std::vector<Event>& events, Event::Kind kind = Event::Left, const char* why = "");
    bool allowed(const Connection& c) const noexcept;

    int fd_ = -1;
    std::string path_;
    ino_t inode_ = 0;
    dev_t device_ = 0;
    std::uint32_t cluster_ = 0;
    std::uint32_t queue_count_ = 0;
    gid_t gid_ = 0;
    int region_fd_ = -1;
    QueueOwner* owner_ = nullptr;
    std::vector<Connection> connections_;
};

} // namespace zc::control

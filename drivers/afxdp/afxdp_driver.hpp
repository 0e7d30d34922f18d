// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afxdp/afxdp_driver.hpp — the AF_XDP driver behind zc:IFACE,
// zc:IFACE@Q and zc:IFACE1,IFACE2 (see zc/device.h and man zc(7)).
// afxdp.cpp opens and closes it (control path), afxdp_rxtx.cpp moves the
// packets (fast path).
//
// One AF_XDP socket per RX queue of every interface named, all sharing one
// UMEM, which is the driver's private pool; each socket has its own fill and
// completion ring (xsk_socket__create_shared). zc's XDP program, one copy
// per interface (xdp_program.hpp), redirects each queue to its socket and
// lets queues without one through to the kernel stack. Opened with
// ZC_DEVICE_TX, every socket has a TX ring and a completion ring:
// send_burst uses the first socket (queue 0, or the queue named, of the
// first interface); forward_burst the out interface's socket on the queue
// the packet came in on, else that interface's first socket
// (forward_socket_).
//
// Where a buffer is, and what its owner says (zc_buffer_set_owner):
//
//   free list --top_up--> fill ring / kernel --recv_burst--> caller
//      ^                     ^   DEVICE(socket)                |  WORKER(socket)
//      |                     +--------release_burst------------+
//      +------- (fill ring full) -------------------------------+
//
//   free list --tx_alloc--> caller --send_burst--> TX ring / kernel
//      ^                    WORKER(0)              |  DEVICE(0)
//      +-------------- completion ring ------------+
//
//   caller --forward_burst--> TX ring of socket s / kernel --completion ring of s-->
//   WORKER(socket)            DEVICE(s)                      fill ring of s, DEVICE(s)
//                                                            (free list when it is full)
//   and a forward that fails (port, length, TX ring full) goes the way of
//   release_burst: to the fill ring it came from. A completion ring is
//   reaped when its socket forwards or sends again, and when recv_burst
//   finds its RX ring empty while frames are out (tx_outstanding).
//
// Fast path (recv_burst, release_burst, forward_burst, tx_alloc, send_burst): no
// allocation, no logging, and syscalls only to wake the kernel when a
// ring's need_wakeup flag asks for it (or, with ZC_DEVICE_BUSY_POLL, to
// drive the busy poll on an empty ring). One thread at a time; stats() may
// run on another.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <poll.h>
#include <string>
#include <vector>
#include <xdp/xsk.h>

#include "internal/driver.hpp"
#include "netdev.hpp"
#include "../unique_fd.hpp"
#include "xdp_program.hpp"

namespace zc::afxdp {

// A fill ring is topped up from the free list once this many slots are free
// (a quarter of the ring when that is fewer: a ring of 64 would otherwise
// run dry before its first top-up).
inline constexpr std::uint32_t kRefillBatch = 64;
// Buffers moved per pool call (the driver's scratch array).
inline constexpr std::uint32_t kScratch = 256;
// Buffers released to one socket that are gathered before its fill ring
// sees them: release_burst publishes once per socket, not once per packet.
inline constexpr std::uint32_t kStage = 64;

// Counters have one writer (the fast-path thread); stats() may run on
// another thread, so both sides go through relaxed atomics.
inline void add_to_counter(std::uint64_t& counter, std::uint64_t by) noexcept
{
    std::atomic_ref<std::uint64_t>(counter).store(counter + by, std::memory_order_relaxed);
}
inline std::uint64_t load_counter(const std::uint64_t& counter) noexcept
{
    return std::atomic_ref<const std::uint64_t>(counter).load(std::memory_order_relaxed);
}

// One interface of the name and what the driver holds on it. Members go in
// reverse: the program is detached before promiscuity is given back.
struct Interface {
    std::string name;
    unsigned ifindex = 0;
    std::uint32_t rx_queues = 0;
    std::uint64_t rx_dropped_at_open = 0;
    PromiscuousMode promiscuous;
    // Shared with the other devices of this process on the interface
    // (afxdp.cpp, g_programs): detached when the last one closes.
    std::shared_ptr<XdpProgram> program;
};

// One AF_XDP socket: one RX queue of one interface. The rings are views
// libxdp fills in and keeps pointers to; they must not move while the
// socket lives (the driver holds Sockets in one array it never resizes).
struct Socket {
    xsk_ring_cons rx{};
    xsk_ring_prod fill{};
    xsk_ring_prod tx{};
    xsk_ring_cons comp{};
    xsk_socket* xsk = nullptr;
    int fd = -1;
    std::uint16_t port = 0;     // interface index in the name's list
    std::uint32_t queue_id = 0; // the interface's RX queue
    std::uint32_t staged = 0;   // buffers in release_burst's stage for this socket
    bool listed = false;        // on release_burst's list of sockets to flush
    bool tx_listed = false;     // on forward_burst's list of sockets to submit and kick
    std::uint32_t tx_pending = 0;     // descriptors forward_burst reserved and has not submitted
    std::uint32_t tx_outstanding = 0; // submitted to the TX ring, not yet back on the completion ring

    Socket() = default;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket()
    {
        if (xsk)
            xsk_socket__delete(xsk); // unmaps its rings; closes the fd unless it is the UMEM's
    }
};

// libxdp's UMEM handle. Deleted after every socket: libxdp refuses (-EBUSY)
// while one still uses it.
struct Umem {
    Umem() = default;
    Umem(const Umem&) = delete;
    Umem& operator=(const Umem&) = delete;
    ~Umem()
    {
        if (umem)
            xsk_umem__delete(umem);
    }
    xsk_umem* umem = nullptr;
};

// With a borrowed pool (zc_device_config.pool): the buffers the driver took
// from it and has not put back, one bit each, so that closing the driver
// gives back what sits on its fill rings or in the kernel (a private pool
// simply goes away with the driver). Buffers the caller still holds are not
// the driver's to give back; they stay marked and are left alone.
class TakenBuffers {
public:
    TakenBuffers() = default;
    TakenBuffers(const TakenBuffers&) = delete;
    TakenBuffers& operator=(const TakenBuffers&) = delete;
    ~TakenBuffers()
    {
        std::uint32_t batch[256];
        std::uint32_t n = 0;
        for (std::size_t word = 0; word < bits_.size(); ++word)
            for (std::uint64_t bits = bits_[word]; bits != 0; bits &= bits - 1) {
                auto buffer = static_cast<std::uint32_t>(word * 64 + static_cast<unsigned>(__builtin_ctzll(bits)));
                if (ZC_OWNER_KIND(zc_buffer_owner(pool_, buffer)) != ZC_OWNER_DEVICE)
                    continue;
                batch[n++] = buffer;
                if (n == std::size(batch)) {
                    zc_pool_release_burst(pool_, batch, n);
                    n = 0;
                }
            }
        if (n > 0)
            zc_pool_release_burst(pool_, batch, n);
    }

    // Control path: starts tracking (only for a borrowed pool).
    void start(zc_cluster* pool, std::uint32_t frame_count)
    {
        pool_ = pool;
        bits_.assign((std::size_t{frame_count} + 63) / 64, 0);
    }
    void mark(const std::uint32_t* buffers, std::uint32_t n) noexcept
    {
        if (!bits_.empty())
            for (std::uint32_t i = 0; i < n; ++i)
                bits_[buffers[i] >> 6] |= std::uint64_t{1} << (buffers[i] & 63);
    }
    void unmark(const std::uint32_t* buffers, std::uint32_t n) noexcept
    {
        if (!bits_.empty())
            for (std::uint32_t i = 0; i < n; ++i)
                bits_[buffers[i] >> 6] &= ~(std::uint64_t{1} << (buffers[i] & 63));
    }

private:
    zc_cluster* pool_ = nullptr;
    std::vector<std::uint64_t> bits_;
};

class AfXdpDriver final : public Driver {
public:
    explicit AfXdpDriver(const zc_device_config& config) : config_(config) {}
    ~AfXdpDriver() override;

    // Everything open_afxdp promises; on failure, what was opened is closed
    // by the destructor.
    int open(const DeviceName& name, zc_error* err);

    [[nodiscard]] const char* mode() const noexcept override
    {
        return zero_copy_ ? "afxdp-zerocopy" : "afxdp-copy";
    }
    [[nodiscard]] zc_cluster* pool() noexcept override { return pool_.get(); }

    std::uint32_t recv_burst(zc_packet* packets, std::uint32_t n) noexcept override;
    void release_burst(const zc_packet* packets, std::uint32_t n) noexcept override;
    std::uint32_t tx_alloc(std::uint32_t* buffers, std::uint32_t n) noexcept override;
    std::uint32_t send_burst(const std::uint32_t* buffers, const std::uint32_t* lengths,
                             std::uint32_t n) noexcept override;
    std::uint32_t forward_burst(const zc_packet* packets, const std::uint16_t* ports,
                                std::uint32_t n) noexcept override;
    [[nodiscard]] std::uint32_t capabilities() const noexcept override
    {
        std::uint32_t can = tx_ ? ZC_DEVICE_CAN_SEND : 0;
        if (rx_ && tx_)
            can |= ZC_DEVICE_CAN_FORWARD | (zero_copy_ ? ZC_DEVICE_FORWARD_ZEROCOPY : 0);
        return can;
    }
    int wait(int timeout_ms) noexcept override;
    [[nodiscard]] int selectable_fd() const noexcept override { return epoll_.get(); }
    void stats(zc_device_stats& stats) noexcept override;

    // Filters (afxdp_filter.cpp): translated, else interpreted, in every
    // interface's XDP program; the RX rings' producers after the switch
    // are what kernel_filter_settled waits for.
    int set_kernel_filter(const zc_filter_insn* insns, std::uint32_t count, std::uint32_t flags,
                          std::string* why) override;
    [[nodiscard]] bool kernel_filter_settled() const noexcept override;
    int host_traffic(char* sentence, std::uint32_t size) const noexcept override;

private:
    // Control path (afxdp.cpp).
    int find_interfaces(const DeviceName& name, zc_error* err);
    int create_pool(zc_error* err);
    int attach_programs(zc_error* err);
    int create_umem(zc_error* err);
    int create_sockets(zc_error* err);
    int create_socket(std::uint32_t index, std::uint16_t bind_flags);
    int socket_error(std::uint32_t index, int rc, zc_error* err);
    int set_busy_poll(const Socket& socket, zc_error* err);
    void raise_tx_budget(const Socket& socket) noexcept;
    int create_wait_fds(zc_error* err);

    // Fast path (afxdp_rxtx.cpp).
    std::uint32_t top_up(Socket& socket, std::uint32_t index, std::uint32_t limit) noexcept;
    [[nodiscard]] bool caller_holds(std::uint32_t index, std::uint32_t buffer) const noexcept;
    void stage_release(std::uint32_t index, std::uint32_t buffer, std::uint32_t& listed) noexcept;
    void flush_stage(std::uint32_t index) noexcept;
    void flush_stages(std::uint32_t listed) noexcept;
    void reap_completions(std::uint32_t index, bool kick = true) noexcept;
    void kick_waiting_tx(Socket& socket) noexcept;
    void kick_rx(const Socket& socket) noexcept;
    void kick_tx(const Socket& socket) noexcept;
    [[nodiscard]] std::uint64_t frame_addr(std::uint32_t buffer) const noexcept
    {
        return std::uint64_t{buffer} << frame_shift_;
    }

    zc_device_config config_;
    bool rx_ = true;
    bool tx_ = false;
    bool busy_poll_ = false;
    bool zero_copy_ = false;
    bool generic_xdp_ = false;

    // Declared in the order things are built, so destroyed in reverse: wait
    // fds, sockets, UMEM, then per interface the XDP program (its link) and
    // the promiscuous membership, and the pool last of all.
    DevicePool pool_;
    TakenBuffers taken_; // after pool_: given back once the sockets and the UMEM are gone
    std::vector<Interface> interfaces_;
    Umem umem_;
    std::unique_ptr<Socket[]> sockets_;
    std::uint32_t socket_count_ = 0;
    std::uint32_t sockets_created_ = 0;
    UniqueFd epoll_;
    std::vector<pollfd> poll_fds_;

    // The pool as the fast path needs it (copied once at open).
    std::byte* umem_base_ = nullptr;
    std::uint32_t frame_shift_ = 0;
    std::uint32_t frame_count_ = 0;
    std::uint32_t data_offset_ = 0;
    std::uint32_t capacity_ = 0;
    std::uint32_t ring_size_ = 0;
    std::uint32_t tx_kicks_ = 1;
    std::uint32_t refill_batch_ = kRefillBatch;
    std::uint32_t busy_retries_left_ = 0; // open: waits for queues a closed socket still holds

    // forward_burst's socket for a packet of socket r going out of port p:
    // forward_socket_[r * interfaces_.size() + p] (built at open), and the
    // sockets one burst has put descriptors on.
    std::unique_ptr<std::uint32_t[]> forward_socket_;
    std::unique_ptr<std::uint32_t[]> tx_sockets_;
    std::uint32_t port_count_ = 0;

    // Per socket: its RX ring's producer index when the kernel's filter
    // last changed (set_kernel_filter, after the grace period).
    std::vector<std::uint32_t> settle_at_;

    std::uint32_t next_rx_ = 0;
    std::uint32_t scratch_[kScratch];
    // release_burst's staging: kStage buffers per socket, and the sockets
    // with something staged.
    std::unique_ptr<std::uint32_t[]> stage_;
    std::unique_ptr<std::uint32_t[]> staged_sockets_;

    // Single writer: the fast-path thread.
    std::uint64_t packets_ = 0;
    std::uint64_t bytes_ = 0;
    std::uint64_t sent_ = 0;
    std::uint64_t send_failed_ = 0;
    std::uint64_t bad_release_ = 0;
};

} // namespace zc::afxdp

// SPDX-License-Identifier: BSD-3-Clause
//
// core/internal/driver.hpp — the interface every device back-end implements, and
// the factories that open one. core/src/device.cpp puts the C API of
// zc/device.h in front of it; nothing outside libzc sees this header.
//
// A driver has one buffer pool: a private cluster (zc_cluster_create with
// ZC_CLUSTER_PRIVATE), or the cluster the caller lends it in
// zc_device_config.pool (DevicePool below), whose frames are the AF_XDP
// UMEM, the AF_PACKET copy target, or the replayed/generated packets.
// Received packets are handed out as zc_packet views of pool buffers and
// come back through release_burst.
//
// Fast-path members are noexcept, never allocate, log, block or throw, and
// return counts. Control-path failures are a negative errno and a sentence
// in a zc_error.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "counter.hpp"
#include "zc/device.h"
#include "zc/zc.hpp"
#include "clock.hpp" // realtime_ns for the drivers' timestamps

namespace zc {

class Driver {
public:
    Driver() = default;
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;
    virtual ~Driver() = default;

    // "afxdp-zerocopy", "afxdp-copy", "afpacket", "pcap", "synthetic",
    // "cluster".
    [[nodiscard]] virtual const char* mode() const noexcept = 0;
    [[nodiscard]] virtual zc_cluster* pool() noexcept = 0;

    // Up to n received packets; 0 when none wait; ZC_DEVICE_END when a
    // finite source (pcap replay) is exhausted.
    virtual std::uint32_t recv_burst(zc_packet* packets, std::uint32_t n) noexcept = 0;
    // Buffers of received packets, back to the driver (its fill ring).
    virtual void release_burst(const zc_packet* packets, std::uint32_t n) noexcept = 0;

    // Transmit: take free pool buffers, write frames in them, send. Drivers
    // that cannot transmit return 0 from both.
    virtual std::uint32_t tx_alloc(std::uint32_t* buffers, std::uint32_t n) noexcept = 0;
    virtual std::uint32_t send_burst(const std::uint32_t* buffers, const std::uint32_t* lengths,
                                     std::uint32_t n) noexcept = 0;

    // What the device can do as opened: ZC_DEVICE_CAN_* bits.
    [[nodiscard]] virtual std::uint32_t capabilities() const noexcept { return 0; }

    // Buffer ownership: a buffer recv_burst handed out is the caller's until
    // release_burst gives it back, and the driver neither rewrites it nor
    // waits for it in the meantime — it receives into the other buffers it
    // may use, and recv_burst returns fewer (or 0) only when it has none
    // left. buffer_budget() is how many buffers of its pool the device can
    // have out at once (on its rings, in the kernel, in the caller's hands):
    // a caller that keeps some (a balancer's queues, whose drop-mode limit
    // derives from it) must leave it enough of them. This default is the
    // device that takes free buffers from its pool whenever it needs them
    // (AF_XDP's fill rings, the copying back-ends AF_PACKET and pcap): the
    // whole pool. Control path.
    [[nodiscard]] virtual std::uint32_t buffer_budget() noexcept
    {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        return zc_cluster_get_info(pool(), &info) == 0 ? info.frame_count : 0;
    }

    // Forward (zc_device_forward_burst): packet i out of interface
    // ports[i], from its buffer. Every buffer passes to the driver, sent or
    // not; returns how many were queued. This default is the driver that
    // cannot forward (pcap, synthetic, cluster queues): each buffer goes
    // back as release_burst takes it, and counts as failed.
    virtual std::uint32_t forward_burst(const zc_packet* packets, const std::uint16_t* ports,
                                        std::uint32_t n) noexcept
    {
        (void)ports;
        release_burst(packets, n);
        forward_counters_.failed.add(n);
        return 0;
    }

    // Blocks up to timeout_ms (-1 forever) until packets may be waiting:
    // 1, 0 on timeout, negative errno.
    virtual int wait(int timeout_ms) noexcept = 0;
    // poll()/select() on it report readable when packets may be waiting.
    [[nodiscard]] virtual int selectable_fd() const noexcept = 0;

    // Fills the counters (struct_size already set by the caller). A
    // driver that filters in the kernel adds what its filter refused to
    // stats.filtered (the core adds what it refused in user space).
    virtual void stats(zc_device_stats& stats) noexcept = 0;

    // Filters (zc_device_set_filter). Puts the program, which libpcap's
    // bpf_validate accepted, in front of the device in the kernel, and
    // returns where it went: ZC_FILTER_KERNEL_*; or ZC_FILTER_USER when it
    // cannot (then no filter of its own is left in the kernel: the core
    // filters every packet in user space), with the reason in *why when
    // that is a fallback the core logs. count 0: none (ZC_FILTER_NONE). A
    // negative errno (and *why) when even that failed; the old filter then
    // stays. flags: ZC_FILTER_DROP, ZC_FILTER_INTERPRETED. This default is
    // the driver with no kernel side, which filters in user space by
    // design: no fallback, nothing to log.
    virtual int set_kernel_filter(const zc_filter_insn* insns, std::uint32_t count, std::uint32_t flags,
                                  std::string* why)
    {
        (void)insns;
        (void)flags;
        (void)why;
        return count == 0 ? ZC_FILTER_NONE : ZC_FILTER_USER;
    }
    // After set_kernel_filter: true once every packet the kernel queued
    // before the new filter took over (which the old one, or none, let
    // through) has been received. Until then the core filters what it
    // receives in user space too. Fast path, the receiving thread.
    [[nodiscard]] virtual bool kernel_filter_settled() const noexcept { return true; }
    // 1 and a sentence when the device takes packets from the host's stack
    // now (zc_device_host_traffic), else 0.
    virtual int host_traffic(char* sentence, std::uint32_t size) const noexcept
    {
        (void)sentence;
        (void)size;
        return 0;
    }

    // The forward counters, which every driver keeps here (stats() need not).
    void forward_stats(zc_device_stats& stats) const noexcept
    {
        stats.forwarded = forward_counters_.forwarded.get();
        stats.forward_copied = forward_counters_.copied.get();
        stats.forward_failed = forward_counters_.failed.get();
    }

protected:
    // Written by the forwarding thread once per burst, read by stats().
    struct ForwardCounters {
        Counter forwarded; // queued for sending
        Counter copied;    // of those, copied on the way out (by the kernel)
        Counter failed;    // not sent, buffer given back
    };
    ForwardCounters forward_counters_;
};

// Driver::buffer_budget of an open device (device.cpp), for the balancer.
std::uint32_t device_buffer_budget(zc_device* device) noexcept;

// A device name after "zc:", parsed (see zc/device.h and man zc(7)).
struct DeviceName {
    enum class Kind { AfXdp, AfPacket, PcapFile, Synthetic, ClusterQueue };
    Kind kind = Kind::AfXdp;
    std::vector<std::string> interfaces; // AfXdp, AfPacket: one or more
    int queue = -1;                      // AfXdp: one RX queue, or -1 for all; ClusterQueue: the queue
    std::string path;                    // PcapFile
    std::uint32_t cluster = 0;           // ClusterQueue: the cluster id
};

// Parses `name` (with or without the "zc:" prefix). -EINVAL and a sentence
// for a malformed name; no interface is looked up here.
int parse_device_name(const char* name, DeviceName& out, zc_error* err);

// The factories. Each checks what it needs (interface exists and is up,
// queue in range, privileges, file readable), returns 0 and the driver, or a
// negative errno with *err filled. `config` is complete (defaults applied).
int open_afxdp(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out, zc_error* err);
int open_afpacket(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                  zc_error* err);
int open_pcapfile(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                  zc_error* err);
int open_synthetic(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                   zc_error* err);
// The consumer end of a queue of a cluster another process owns
// (drivers/clusterq): it attaches the region and claims the queue.
int open_cluster_queue(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                       zc_error* err);

// Shared by the drivers: a private pool of `frames` buffers (2 KiB each).
int create_private_pool(std::uint32_t frames, Cluster& out, zc_error* err);

// A driver's pool: its own private cluster, or one borrowed from the caller
// (zc_device_config.pool, e.g. zc-balance's cluster) that outlives the
// driver. Either way the driver allocates from it and releases into it the
// same way; only a borrowed pool must get back, when the driver closes,
// every buffer the driver took from it.
class DevicePool {
public:
    DevicePool() noexcept = default;
    [[nodiscard]] zc_cluster* get() const noexcept { return borrowed_ ? borrowed_ : owned_.get(); }
    [[nodiscard]] bool borrowed() const noexcept { return borrowed_ != nullptr; }
    [[nodiscard]] zc_cluster_info info() const
    {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        zc_cluster_get_info(get(), &info);
        return info;
    }

    // config.pool when given (frames is then ignored: the cluster's owner
    // sized it), else a private pool of `frames` buffers.
    friend int open_device_pool(const zc_device_config& config, std::uint32_t frames, DevicePool& out,
                                zc_error* err)
    {
        if (config.pool != nullptr) {
            out.owned_.reset();
            out.borrowed_ = config.pool;
            return 0;
        }
        out.borrowed_ = nullptr;
        return create_private_pool(frames, out.owned_, err);
    }

private:
    Cluster owned_;
    zc_cluster* borrowed_ = nullptr;
};

// Shared by the network drivers: the interface's index, and checks that it
// exists and is up. -ENODEV ("no such interface"), -ENETDOWN.
int interface_index(const std::string& interface, unsigned* index, zc_error* err);

// The one metadata fill: what a driver writes in a buffer's headroom when
// a packet arrives in it (zc_buffer_meta, zc.h). The hash is the
// balancer's to write; a driver leaves it 0.
inline void fill_meta(zc_buffer_meta& meta, std::uint64_t timestamp_ns, std::uint32_t length,
                      std::uint16_t port) noexcept
{
    meta.timestamp_ns = timestamp_ns;
    meta.hash = 0;
    meta.length = length;
    meta.port = port;
    meta.flags = 0;
    meta.reserved = 0;
}

} // namespace zc

// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/afpacket/packet_socket.hpp — one AF_PACKET socket bound to one
// interface, with its TPACKET_V3 receive ring mapped into this process.
//
// The ring protocol (Documentation/networking/packet_mmap.rst), written down
// once. The ring is block_count blocks of block_bytes each; every block
// starts with a tpacket_block_desc whose block_status says who owns it:
//
//   kernel                                   user space (this file)
//   ------                                   ----------------------
//   fills block k with packets
//   closes it (full, or retire timer)
//   A: smp_wmb(); status = TP_STATUS_USER  ──► B: load-acquire status, sees USER
//                                               reads num_pkts and the packets
//                                               (the driver copies each one out)
//   D: sees TP_STATUS_KERNEL, refills  ◄──── C: store-release status = KERNEL
//
// B pairs with A: the packets and the block header are visible before USER
// is. C pairs with D: every read of the block happens before the kernel may
// write it again. Blocks go round in order, so user space only ever looks at
// one block: the next one it has not given back.
//
// Nothing here is per packet except walking tp_next_offset; there is no
// system call on the receive path at all (poll() only when the ring is
// empty, in the driver's wait()).

#pragma once

#include <linux/if_packet.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "zc/zc.h"

namespace zc::afpacket {

// Sizes of one ring, derived from zc_device_config.ring_size (slots).
struct RingGeometry {
    std::uint32_t block_bytes = 0;
    std::uint32_t block_count = 0;
    std::uint32_t frame_bytes = 0; // nominal: TPACKET_V3 packs packets tightly
    std::uint32_t retire_ms = 0;   // a block that is not full is handed over after this

    // ring_size slots of one 2 KiB frame each, like an AF_XDP ring of the
    // same size: 2048 slots give 4 MiB, in 16 blocks of 256 KiB.
    static RingGeometry for_slots(std::uint32_t ring_size) noexcept;
    [[nodiscard]] std::uint64_t bytes() const noexcept { return std::uint64_t{block_bytes} * block_count; }
};

struct SocketOptions {
    bool receive = true;         // TPACKET_V3 ring, bound to ETH_P_ALL
    bool transmit = false;       // PACKET_QDISC_BYPASS for sendmmsg
    bool promiscuous = true;     // PACKET_MR_PROMISC
    std::uint32_t snap_bytes = 0;// the kernel copies at most this much of a frame
    RingGeometry geometry;
};

class PacketSocket {
public:
    PacketSocket() noexcept = default;
    PacketSocket(PacketSocket&& other) noexcept;
    PacketSocket& operator=(PacketSocket&& other) noexcept;
    PacketSocket(const PacketSocket&) = delete;
    PacketSocket& operator=(const PacketSocket&) = delete;
    ~PacketSocket();

    // Control path: socket, ring, bind, promiscuous. 0 or a negative errno
    // with a sentence in *err.
    int open(const std::string& interface, unsigned ifindex, const SocketOptions& options, zc_error* err);

    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] const std::string& interface() const noexcept { return interface_; }

    // The block user space looks at next, if the kernel has handed it over
    // (B in the protocol above); nullptr when the ring is empty.
    [[nodiscard]] tpacket_block_desc* ready_block() const noexcept
    {
        auto* block = block_at(current_);
        std::uint32_t status =
            std::atomic_ref<std::uint32_t>(block->hdr.bh1.block_status).load(std::memory_order_acquire); // B, matches A
        return (status & TP_STATUS_USER) ? block : nullptr;
    }

    // Gives the current block back to the kernel and moves to the next one.
    void release_block() noexcept
    {
        auto* block = block_at(current_);
        std::atomic_ref<std::uint32_t>(block->hdr.bh1.block_status)
            .store(TP_STATUS_KERNEL, std::memory_order_release); // C, matches D
        current_ = current_ + 1 == geometry_.block_count ? 0 : current_ + 1;
    }

    // Where the driver stands inside the current block: packets not read yet
    // and the next one. Kept here so a burst can stop in the middle of a
    // block and the next burst go on from there.
    std::uint32_t packets_left = 0;
    const std::byte* next_packet = nullptr;

    // Control path: kernel drops since the last call (PACKET_STATISTICS
    // reads and resets the kernel's counters), and the interface's hardware
    // drop counters (rx_missed_errors + rx_fifo_errors, as libpcap counts
    // ps_ifdrop) since open.
    std::uint64_t take_kernel_drops() noexcept;
    std::uint64_t interface_drops() const noexcept;

private:
    [[nodiscard]] tpacket_block_desc* block_at(std::uint32_t index) const noexcept
    {
        return reinterpret_cast<tpacket_block_desc*>(ring_ + std::size_t{index} * geometry_.block_bytes);
    }
    std::uint64_t read_interface_counters() const noexcept;
    void reset() noexcept;

    int fd_ = -1;
    std::byte* ring_ = nullptr;
    RingGeometry geometry_;
    std::uint32_t current_ = 0;
    std::string interface_;
    std::uint64_t interface_drops_at_open_ = 0;
};

} // namespace zc::afpacket

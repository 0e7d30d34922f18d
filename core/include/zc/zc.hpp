// SPDX-License-Identifier: BSD-3-Clause
//
// zc/zc.hpp — a thin C++ API over zc/zc.h.
//
// RAII owners for clusters and queue ends. The control path (create,
// attach, open) throws zc::Error, which carries the negative errno and the
// library's sentence; the fast path is the C API's bursts, or the inline
// rings of zc/ring.hpp obtained from Cluster::rx_producer() and friends.

#pragma once

#include <cerrno>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <utility>

#include "zc/ring.hpp"
#include "zc/zc.h"

namespace zc {

class Error : public std::runtime_error {
public:
    explicit Error(const zc_error& error) : std::runtime_error(error.message), code_(error.code) {}
    // Negative errno.
    [[nodiscard]] int code() const noexcept { return code_; }

private:
    int code_;
};

class Queue;

class Cluster {
public:
    Cluster() noexcept = default;
    explicit Cluster(zc_cluster* owned) noexcept : cluster_(owned) {}
    Cluster(Cluster&& other) noexcept : cluster_(std::exchange(other.cluster_, nullptr)) {}
    Cluster& operator=(Cluster&& other) noexcept
    {
        if (this != &other)
            reset(std::exchange(other.cluster_, nullptr));
        return *this;
    }
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;
    ~Cluster() { reset(); }

    static zc_cluster_config default_config() noexcept
    {
        zc_cluster_config config;
        zc_cluster_config_init(&config);
        return config;
    }

    static Cluster create(std::uint32_t id, const zc_cluster_config& config = default_config())
    {
        zc_error error{};
        zc_cluster* cluster = nullptr;
        if (zc_cluster_create(id, &config, &cluster, &error) != 0)
            throw Error(error);
        return Cluster(cluster);
    }

    static Cluster attach(std::uint32_t id, const char* directory = nullptr)
    {
        zc_error error{};
        zc_cluster* cluster = nullptr;
        if (zc_cluster_attach(id, directory, &cluster, &error) != 0)
            throw Error(error);
        return Cluster(cluster);
    }

    // Detaches, or destroys the region if this process owns it.
    void reset(zc_cluster* replacement = nullptr) noexcept
    {
        zc_cluster_close(std::exchange(cluster_, replacement));
    }

    [[nodiscard]] zc_cluster* get() const noexcept { return cluster_; }
    explicit operator bool() const noexcept { return cluster_ != nullptr; }

    [[nodiscard]] zc_cluster_info info() const
    {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        zc_cluster_get_info(cluster_, &info);
        return info;
    }

    // Pool (owner's worker thread only).
    [[nodiscard]] std::uint32_t alloc(std::span<std::uint32_t> buffers, std::uint32_t owner) noexcept
    {
        return zc_pool_alloc_burst(cluster_, buffers.data(), static_cast<std::uint32_t>(buffers.size()), owner);
    }
    std::uint32_t release(std::span<const std::uint32_t> buffers) noexcept
    {
        return zc_pool_release_burst(cluster_, buffers.data(), static_cast<std::uint32_t>(buffers.size()));
    }
    [[nodiscard]] std::uint32_t free_count() const noexcept { return zc_pool_free_count(cluster_); }
    [[nodiscard]] zc_pool_report check() const noexcept
    {
        zc_pool_report report{};
        report.struct_size = sizeof report;
        zc_pool_check(cluster_, &report);
        return report;
    }

    [[nodiscard]] std::byte* data(std::uint32_t buffer) noexcept
    {
        return static_cast<std::byte*>(zc_buffer_data(cluster_, buffer));
    }
    [[nodiscard]] zc_buffer_meta& meta(std::uint32_t buffer) noexcept { return *zc_buffer_meta_of(cluster_, buffer); }
    [[nodiscard]] std::uint64_t addr(std::uint32_t buffer) const noexcept { return zc_buffer_addr(cluster_, buffer); }

    // Inline ring ends of queue `queue`; throws if the queue does not exist.
    // Each end is for one thread of one process at a time.
    [[nodiscard]] RingProducer<zc_rx_desc> rx_producer(std::uint32_t queue) const
    {
        return RingProducer<zc_rx_desc>(ring(queue, ZC_RING_RX), slots());
    }
    [[nodiscard]] RingConsumer<zc_rx_desc> rx_consumer(std::uint32_t queue) const
    {
        return RingConsumer<zc_rx_desc>(ring(queue, ZC_RING_RX), slots());
    }
    [[nodiscard]] RingProducer<zc_desc> return_producer(std::uint32_t queue) const
    {
        return RingProducer<zc_desc>(ring(queue, ZC_RING_RETURN), slots());
    }
    [[nodiscard]] RingConsumer<zc_desc> return_consumer(std::uint32_t queue) const
    {
        return RingConsumer<zc_desc>(ring(queue, ZC_RING_RETURN), slots());
    }

private:
    // The ring size this process validated when it attached.
    std::uint32_t slots() const
    {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        zc_cluster_get_info(cluster_, &info);
        return info.queue_slots;
    }
    RingShared* ring(std::uint32_t queue, zc_ring_kind kind) const
    {
        void* memory = zc_queue_ring_memory(cluster_, queue, kind);
        if (!memory) {
            zc_error error{-EINVAL, "no such queue in this cluster"};
            throw Error(error);
        }
        return static_cast<RingShared*>(memory);
    }

    zc_cluster* cluster_ = nullptr;
};

// One end of one queue, through the C API's out-of-line bursts.
class Queue {
public:
    Queue(Cluster& cluster, std::uint32_t queue, zc_queue_end end)
    {
        zc_error error{};
        if (zc_queue_open(cluster.get(), queue, end, &queue_, &error) != 0)
            throw Error(error);
    }
    Queue(Queue&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    Queue& operator=(Queue&& other) noexcept
    {
        if (this != &other)
            zc_queue_close(std::exchange(queue_, std::exchange(other.queue_, nullptr)));
        return *this;
    }
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;
    ~Queue() { zc_queue_close(queue_); }

    std::uint32_t send(std::span<const zc_desc> d) noexcept { return zc_queue_send_burst(queue_, d.data(), size(d)); }
    std::uint32_t reap(std::span<zc_desc> d) noexcept { return zc_queue_reap_burst(queue_, d.data(), size(d)); }
    std::uint32_t recv(std::span<zc_desc> d) noexcept { return zc_queue_recv_burst(queue_, d.data(), size(d)); }
    std::uint32_t give_back(std::span<const zc_desc> d) noexcept
    {
        return zc_queue_give_back_burst(queue_, d.data(), size(d));
    }

private:
    template <typename Span>
    static std::uint32_t size(Span s) noexcept
    {
        return static_cast<std::uint32_t>(s.size());
    }
    zc_queue* queue_ = nullptr;
};

} // namespace zc

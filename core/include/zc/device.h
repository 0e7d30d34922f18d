/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zc/device.h — opening a packet source or sink by name (the C API).
 *
 * Names (man zc(7) is the one place they are specified):
 *   zc:eth0             AF_XDP, every RX queue of eth0 (one socket per queue,
 *                       one shared UMEM: the device's buffer pool)
 *   zc:eth0@3           AF_XDP, RX queue 3 of eth0 only
 *   zc:eth0,eth1        AF_XDP, both interfaces into one stream
 *   zc:afpacket:eth0    AF_PACKET TPACKET_V3 (one explicit, counted copy into
 *                       the pool), for interfaces where XDP cannot attach
 *   zc:pcap:/path.pcap  replay of a capture file
 *   zc:synthetic        packets generated in the pool (benchmarks, tests)
 *
 * The received packets stay in the device's buffer pool: zc_device_recv_burst
 * hands out views (zc_packet) and zc_device_release_burst gives the buffers
 * back. Nothing on that path copies packet bytes, except where the back-end
 * says so in its mode and counts it (AF_PACKET, pcap replay).
 */
#ifndef ZC_DEVICE_H
#define ZC_DEVICE_H

#include <stdint.h>

#include "zc/zc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zc_device zc_device;

/* One received packet, a view into the device's pool. 32 bytes. */
typedef struct zc_packet {
    const uint8_t* data;   /* first byte of the frame */
    uint32_t caplen;       /* bytes at data */
    uint32_t len;          /* bytes on the wire */
    uint64_t timestamp_ns; /* CLOCK_REALTIME, taken once per received batch */
    uint32_t buffer;       /* pool buffer; give it back with release_burst */
    uint16_t queue;        /* RX queue (index among the device's sockets) */
    uint16_t port;         /* interface index in an aggregate (0 for one) */
} zc_packet;

/* Device flags. */
#define ZC_DEVICE_RX 0x01u          /* receive (default when no RX/TX flag) */
#define ZC_DEVICE_TX 0x02u          /* transmit */
#define ZC_DEVICE_COPY_MODE 0x04u   /* AF_XDP: do not try zero-copy */
#define ZC_DEVICE_BUSY_POLL 0x08u   /* AF_XDP: SO_PREFER_BUSY_POLL + busy_poll_usec */
#define ZC_DEVICE_NO_PROMISC 0x10u  /* leave promiscuous mode alone */
#define ZC_DEVICE_SKB_MODE 0x20u    /* AF_XDP: attach XDP in generic (skb) mode */

typedef struct zc_device_config {
    uint32_t struct_size;   /* sizeof(zc_device_config) */
    uint32_t flags;         /* ZC_DEVICE_* */
    uint32_t frame_count;   /* buffers in the device's pool (0: what the back-end needs) */
    uint32_t ring_size;     /* AF_XDP / TPACKET ring slots, power of two (default 2048) */
    uint32_t busy_poll_usec;/* with ZC_DEVICE_BUSY_POLL (default 20) */
    uint32_t snaplen;       /* bytes kept per packet (default: all) */
    double replay_speed;    /* pcap: 1.0 original timing, 2.0 twice as fast, 0 top speed */
    uint32_t replay_loops;  /* pcap: times to play the file (default 1, 0 forever) */
    uint32_t synthetic_size;/* synthetic: frame bytes (default 64) */
    uint32_t synthetic_flows;/* synthetic: flows, both directions of each (default 1) */
    uint32_t reserved;
    zc_cluster* pool;       /* borrowed, not owned: receive into this cluster's pool (it
                               must outlive the device; AF_XDP registers it as the UMEM,
                               the others allocate from it). NULL (default): the device
                               makes a private pool of its own */
} zc_device_config;

void zc_device_config_init(zc_device_config* config);

/* Opens a device. Errors (negative errno and a sentence in *err):
 *   -ENODEV  no such interface              -EINVAL  bad name, queue out of range
 *   -ENETDOWN interface is down              -EBUSY   another XDP program is attached
 *   -EPERM   missing privileges (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)
 *   -ENOENT  no such pcap file               -EPROTO  not a pcap file */
int zc_device_open(const char* name, const zc_device_config* config, zc_device** out, zc_error* err);
void zc_device_close(zc_device* device);

/* How the device runs: "afxdp-zerocopy", "afxdp-copy", "afpacket", "pcap",
 * "synthetic". */
const char* zc_device_mode(const zc_device* device);
/* The name as given, without the "zc:" prefix. */
const char* zc_device_name(const zc_device* device);
/* The device's buffer pool (zc_buffer_data and friends work on it). */
zc_cluster* zc_device_cluster(zc_device* device);

/* Fast path. Up to n packets, never blocks; 0 when nothing is waiting.
 * For pcap replay, -1 (as a uint32_t: ZC_DEVICE_END) after the last loop. */
#define ZC_DEVICE_END 0xffffffffu
uint32_t zc_device_recv_burst(zc_device* device, zc_packet* packets, uint32_t n);
/* Gives received buffers back to the device (to its fill ring). */
void zc_device_release_burst(zc_device* device, const zc_packet* packets, uint32_t n);

/* Transmit. Sends up to n frames already written in pool buffers (taken
 * with zc_device_tx_alloc); returns how many were queued. Buffers come back
 * by themselves once the kernel has sent them. */
uint32_t zc_device_tx_alloc(zc_device* device, uint32_t* buffers, uint32_t n);
uint32_t zc_device_send_burst(zc_device* device, const uint32_t* buffers, const uint32_t* lengths, uint32_t n);
/* Copies one frame into a pool buffer and sends it (an explicit, counted
 * copy: for pcap_inject and the like). 0, -EAGAIN when the TX ring is full,
 * -EMSGSIZE when the frame does not fit a buffer. */
int zc_device_inject(zc_device* device, const void* frame, uint32_t length);

/* Waits up to timeout_ms (-1: forever) until packets may be waiting: 1 if
 * so, 0 on timeout, negative errno (-EINTR on a signal). */
int zc_device_wait(zc_device* device, int timeout_ms);
/* A file descriptor that poll()/select() report readable when packets may
 * be waiting (an epoll fd over all the device's sockets). */
int zc_device_selectable_fd(const zc_device* device);

typedef struct zc_device_stats {
    uint32_t struct_size;    /* sizeof(zc_device_stats) */
    uint32_t reserved;
    uint64_t packets;        /* received and handed out */
    uint64_t bytes;
    uint64_t dropped;        /* lost in the kernel: RX ring full, fill ring empty */
    uint64_t if_dropped;     /* dropped by the interface (driver counters) */
    uint64_t copied;         /* packets copied into the pool (AF_PACKET, pcap) */
    uint64_t sent;           /* frames transmitted */
    uint64_t send_failed;    /* frames not sent (TX ring full) */
    uint64_t truncated;      /* frames cut to a pool buffer's capacity (not by snaplen) */
} zc_device_stats;

int zc_device_get_stats(zc_device* device, zc_device_stats* stats);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZC_DEVICE_H */

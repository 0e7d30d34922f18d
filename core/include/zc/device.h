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

/* Forward. Sends received packets out of an interface of the same device,
 * from the buffers they arrived in: packet i goes out of interface ports[i]
 * (its index in the device's list, as zc_packet.port; the interface it
 * came in on is allowed too). The whole frame goes out, len bytes: AF_XDP
 * keeps every byte of a frame whatever the snaplen cut from caplen.
 *
 * The buffers pass to the device, sent or not: the caller must not release
 * them afterwards, nor touch the packets' data. One rule whatever happens,
 * because a forward that fails half-way (a TX ring full for one port, not
 * the other) would otherwise hand back a scattered subset the caller would
 * have to find and release; the device gives those buffers back to its fill
 * ring itself, which is also where a failed forward's buffer is needed next.
 * Returns how many were queued for sending; the rest were dropped and
 * counted in zc_device_stats.forward_failed (the device cannot forward,
 * port out of range, TX ring full, a frame of which the device kept only
 * part — AF_PACKET with a snaplen, or longer than a buffer —, a buffer the
 * caller does not hold, which is left alone). Never blocks.
 *
 * Per back-end (zc_device_capabilities tells a program which it has):
 *   AF_XDP    needs ZC_DEVICE_RX | ZC_DEVICE_TX. The descriptor goes on the
 *             TX ring of the out interface's socket on the queue the packet
 *             came in on, else of its first socket; every interface shares
 *             the device's UMEM, so no byte is copied in user space. When
 *             the kernel has sent the frame, the buffer goes back to a fill
 *             ring. Bound XDP_ZEROCOPY (afxdp-zerocopy) the NIC sends from
 *             the buffer itself: ZC_DEVICE_FORWARD_ZEROCOPY. In copy mode
 *             (afxdp-copy: veth, generic XDP, drivers without AF_XDP
 *             zero-copy) the kernel copies each frame into an skb: counted
 *             in forward_copied, and no ZC_DEVICE_FORWARD_ZEROCOPY.
 *   AF_PACKET needs ZC_DEVICE_RX | ZC_DEVICE_TX. One sendmmsg per out
 *             interface per burst: the kernel copies each frame into an
 *             skb (counted in forward_copied), then the buffer goes back to
 *             the pool.
 *   pcap, synthetic, cluster queues: cannot forward (no capability bit);
 *             every packet is dropped, its buffer released and counted.
 * The kernel is woken once per out socket per call, not per packet (AF_XDP:
 * when need_wakeup asks, and in copy mode that is a short loop of sendto
 * calls, each sending a batch): forward whole bursts, not single packets.
 * New in symbol version ZC_1.1 (libzc.map), like zc_device_capabilities. */
uint32_t zc_device_forward_burst(zc_device* device, const zc_packet* packets, const uint16_t* ports, uint32_t n);

/* What a device can do, as opened: ZC_DEVICE_CAN_* bits. A program that
 * needs one (an inline bridge needs ZC_DEVICE_CAN_FORWARD) can refuse at
 * open time, with a sentence, instead of dropping every packet later. */
#define ZC_DEVICE_CAN_SEND 0x1u          /* tx_alloc/send_burst/inject send */
#define ZC_DEVICE_CAN_FORWARD 0x2u       /* forward_burst sends */
#define ZC_DEVICE_FORWARD_ZEROCOPY 0x4u  /* ... and nobody copies the frame on the way out
                                            (AF_XDP bound XDP_ZEROCOPY) */
uint32_t zc_device_capabilities(const zc_device* device);

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
    uint64_t sent;           /* frames transmitted by send_burst and inject */
    uint64_t send_failed;    /* frames not sent (TX ring full) */
    uint64_t truncated;      /* frames cut to a pool buffer's capacity (not by snaplen) */
    /* Added after the first release: a caller built before sets a smaller
     * struct_size and gets the fields above. */
    uint64_t forwarded;      /* queued by zc_device_forward_burst */
    uint64_t forward_copied; /* of those, copied on the way out (AF_PACKET, AF_XDP copy mode) */
    uint64_t forward_failed; /* given to zc_device_forward_burst and not sent */
    /* Added with filters (ZC_1.2): */
    uint64_t filtered;       /* refused by the device's filter, in the kernel or in user
                                space; not in `packets` (packets + filtered: all it saw) */
} zc_device_stats;

/* Fills the first stats->struct_size bytes (at least the fields up to
 * truncated, at most sizeof(zc_device_stats)) and sets struct_size to what
 * it filled; -EINVAL for a struct_size smaller than the first release's. */
int zc_device_get_stats(zc_device* device, zc_device_stats* stats);

/* ------------------------------------------------------------------ filters
 *
 * A packet filter on the device: a classic BPF program as libpcap's
 * pcap_compile makes it for DLT_EN10MB (struct bpf_insn has this layout, as
 * has the kernel's struct sock_filter: cast). zc_device_recv_burst then
 * hands out only the packets it matches, with libpcap's meaning
 * (pcap_offline_filter on the whole frame, len = caplen = the frame's
 * length), wherever the filter runs. Where it runs (zc_device_filter_mode):
 *
 *   ZC_FILTER_KERNEL_TRANSLATED   AF_XDP, privileged caller (CAP_BPF and
 *       CAP_PERFMON: root, zc-balance): the program translated into a
 *       native XDP program (kmod/filter_translate) that replaces zc's XDP
 *       program on its bpf_link;
 *   ZC_FILTER_KERNEL_INTERPRETED  AF_XDP, any caller (one that gave up
 *       root after it opened the device): zc's XDP program interprets
 *       the program from a map the device mapped when it opened; also
 *       where translation or the verifier refuses a program;
 *   ZC_FILTER_KERNEL_SOCKET       reserved for AF_PACKET's socket filter
 *       (SO_ATTACH_FILTER); not returned yet: AF_PACKET filters in user
 *       space (its socket gets copies, so the host keeps its traffic; and
 *       a socket filter sees frames whose VLAN tag the kernel has taken
 *       off, where a program compiled for the whole frame misjudges them);
 *   ZC_FILTER_USER                everything else: programs the kernel
 *       forms cannot take (libpcap's "protochain" loops; longer than 4096
 *       instructions), ZC_FILTER_USER_SPACE, and back-ends with no kernel
 *       side (AF_PACKET, pcap replay, synthetic, cluster queues zc:C@Q: a
 *       queue's consumer filters what its owner gives it; the owner's
 *       filter is zc-balance --filter);
 *   ZC_FILTER_NONE                no filter.
 *
 * In the kernel, a packet the filter refuses never reaches the socket: on
 * AF_XDP it gets XDP_PASS, so the host's own stack sees it as if zc were
 * not there (with ZC_FILTER_DROP, XDP_DROP: nobody sees it). Filtered in
 * user space, every packet reaches the device and the host stack sees none
 * of them. Each fallback is logged once (zc_set_log_handler), with its
 * reason.
 *
 * Changing the filter under traffic loses no packet that both filters
 * match: packets the old filter let into the socket and the new one
 * refuses are dropped in user space until they are all read, and the
 * first packets received after the call all match the new filter.
 *
 * Control path; not at the same time as zc_device_recv_burst on another
 * thread. insns NULL or count 0 removes the filter, and so does the
 * program "return true" (libpcap's for an empty expression, which tcpdump
 * sets when given none): ZC_FILTER_NONE. Returns the mode
 * (>= 0), or a negative errno with a sentence in *err: -EINVAL for a
 * program libpcap would refuse (bpf_validate), -ENOMEM; on error the old
 * filter stays. New in symbol version ZC_1.2. */
typedef struct zc_filter_insn {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} zc_filter_insn;

#define ZC_FILTER_DROP 0x1u        /* refused packets: XDP_DROP, not XDP_PASS */
#define ZC_FILTER_USER_SPACE 0x2u  /* filter in user space (benchmarks, tests) */
#define ZC_FILTER_INTERPRETED 0x4u /* in the kernel, no translation: the interpreter */

typedef enum zc_filter_mode {
    ZC_FILTER_NONE = 0,
    ZC_FILTER_USER = 1,
    ZC_FILTER_KERNEL_INTERPRETED = 2,
    ZC_FILTER_KERNEL_TRANSLATED = 3,
    ZC_FILTER_KERNEL_SOCKET = 4,
} zc_filter_mode;

int zc_device_set_filter(zc_device* device, const zc_filter_insn* insns, uint32_t count, uint32_t flags,
                         zc_error* err);
/* ZC_FILTER_* mode of the filter in place. */
int zc_device_filter_mode(const zc_device* device);
/* "kernel-translated", "kernel-interpreted", "kernel-socket", "user", "none". */
const char* zc_device_filter_mode_name(int mode);

/* Host traffic. An AF_XDP device that receives every packet of a queue
 * (no filter in the kernel) takes them from the host's own stack: on an
 * interface with an address or a route, the host loses that traffic while
 * the device is open. 1 when that is so now, with one sentence naming the
 * interface in sentence[size] (front ends print it once, before they
 * start); 0 when not (a kernel filter, or an interface the host does not
 * use), and then sentence is "". See HOST TRAFFIC in zc(7). */
int zc_device_host_traffic(const zc_device* device, char* sentence, uint32_t size);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZC_DEVICE_H */

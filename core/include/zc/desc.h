/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zc/desc.h — the 16-byte descriptor that moves through every zc ring.
 *
 * Packet bytes never move; descriptors do. The layout is that of the kernel's
 * struct xdp_desc (address, length, options), so that the two read alike;
 * the balancer still writes each queue's descriptor itself (the address is
 * relative to the cluster's pool, which is the UMEM, and options are zc's).
 *
 * A queue's RX ring (owner to consumer) carries a zc_rx_desc instead: the
 * descriptor and what a consumer needs to know of the packet besides its
 * bytes — its time, its length on the wire, its input port and the
 * balancer's flow hash — so that the consumer reads nothing of the buffer
 * but the packet it asked for. The same facts in each frame's headroom
 * (zc_buffer_meta) cost one more cache line per packet, written on the
 * balancer's core and read on the consumer's: measured, 17% of the
 * balancer's rate (bench/balance/run, 5tuple to 2 queues: 26.4 -> 31.0
 * Mpps, medians of 5 interleaved runs). Return rings carry zc_desc.
 */
#ifndef ZC_DESC_H
#define ZC_DESC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zc_desc {
    uint64_t addr;    /* byte offset of the packet data in the buffer pool */
    uint32_t len;     /* bytes of packet data at addr */
    uint32_t options; /* ZC_DESC_* flags */
} zc_desc;

/* What a queue's RX ring carries: two to a cache line. */
typedef struct zc_rx_desc {
    uint64_t addr;         /* as zc_desc.addr */
    uint32_t len;          /* as zc_desc.len: bytes captured at addr */
    uint32_t wire_len;     /* bytes on the wire (at least len) */
    uint64_t timestamp_ns; /* receive time, CLOCK_REALTIME nanoseconds */
    uint32_t hash;         /* the balancer's flow hash (0 from other producers) */
    uint16_t port;         /* input port: the device's index in an aggregate */
    uint16_t flags;        /* 0 */
} zc_rx_desc;

#ifdef __cplusplus
static_assert(sizeof(zc_desc) == 16, "zc_desc must stay 16 bytes");
static_assert(alignof(zc_desc) == 8, "zc_desc alignment is part of the ABI");
static_assert(sizeof(zc_rx_desc) == 32, "zc_rx_desc must stay 32 bytes");
} /* extern "C" */
#else
_Static_assert(sizeof(zc_desc) == 16, "zc_desc must stay 16 bytes");
_Static_assert(sizeof(zc_rx_desc) == 32, "zc_rx_desc must stay 32 bytes");
#endif

#endif /* ZC_DESC_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kmod/zc_xdp.h — what zc_xdp.bpf.c and user space agree on: the map
 * names, their default size, and the per-queue counter record. Included by
 * the BPF program (clang -target bpf) and by the AF_XDP driver (C++).
 */
#ifndef ZC_KMOD_ZC_XDP_H
#define ZC_KMOD_ZC_XDP_H

#include <linux/types.h>

/* Entries of both maps: one per RX queue. The driver raises it before
 * loading when an interface has more queues. */
#define ZC_XDP_QUEUES 256

#define ZC_XDP_PROGRAM "zc_redirect"
#define ZC_XDP_SOCKET_MAP "xsks_map"
#define ZC_XDP_COUNTER_MAP "queue_counters"

/* Per RX queue and per CPU (BPF_MAP_TYPE_PERCPU_ARRAY, so no atomics):
 * packets = redirected + passed. "redirected" means the XSKMAP had a
 * socket for the queue; the socket may still drop the packet (RX ring
 * full, fill ring empty), which its XDP_STATISTICS count. */
struct zc_xdp_counters {
    __u64 packets;
    __u64 redirected;
    __u64 passed;
};

#endif /* ZC_KMOD_ZC_XDP_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kmod/zc_xdp.h — what zc_xdp.bpf.c and user space agree on: the map
 * names, their default size, the per-queue counter record, and the filter
 * area the in-kernel cBPF interpreter reads. Included by the BPF program
 * (clang -target bpf) and by the AF_XDP driver (C++).
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
#define ZC_XDP_FILTER_MAP "filter_map"

/* Per RX queue and per CPU (BPF_MAP_TYPE_PERCPU_ARRAY, so no atomics):
 * packets = redirected + passed. "redirected" means the XSKMAP had a
 * socket for the queue; the socket may still drop the packet (RX ring
 * full, fill ring empty), which its XDP_STATISTICS count. "passed" is
 * every packet not handed to a socket: its queue has none, or the filter
 * refused it. "filtered" counts the latter (a part of "passed", whatever
 * the filter's no-match verdict: XDP_PASS or XDP_DROP). Fields are only
 * ever added at the end. */
struct zc_xdp_counters {
    __u64 packets;
    __u64 redirected;
    __u64 passed;
    __u64 filtered;
};

/* ------------------------------------------------------------------ filter
 * The filter the XDP program interprets (kmod/zc_filter.bpf.h): a classic
 * BPF program as libpcap compiles it, in one BPF_F_MMAPABLE array map of
 * one element. The device maps it at open, while it is still privileged,
 * so that a later pcap_setfilter (from a process that has given up root
 * since) only writes memory. The protocol, one writer (the device's control path):
 *
 *   1. write the program into the slot that is not active (length, verdict,
 *      instructions);
 *   2. store `active` (release): 1 + that slot's index. Every packet reads
 *      `active` once, then only that slot;
 *   3. before the old slot is written again, wait until every XDP run that
 *      may have read the old `active` has ended (a grace period; see
 *      drivers/afxdp/xdp_program.cpp).
 *
 * active == 0: no filter, every packet of a queue with a socket goes to it.
 * Instructions have the layout of the kernel's struct sock_filter and
 * libpcap's struct bpf_insn (zc/device.h calls it zc_filter_insn; the
 * two headers meet in tests, hence the different name). */
#define ZC_FILTER_MAX_INSNS 4096 /* BPF_MAXINSNS; a power of two (the interpreter masks pc) */
#define ZC_FILTER_SLOTS 2

struct zc_xdp_filter_insn {
    __u16 code;
    __u8 jt;
    __u8 jf;
    __u32 k;
};

struct zc_filter_slot {
    __u32 length;           /* instructions, 1 .. ZC_FILTER_MAX_INSNS */
    __u32 no_match_verdict; /* XDP_PASS or XDP_DROP */
    struct zc_xdp_filter_insn insns[ZC_FILTER_MAX_INSNS];
};

struct zc_filter_area {
    __u32 active; /* 0: none; 1 + the slot in use */
    /* Always 0, the first instruction. The interpreter reads where it
     * starts from the map so that the verifier sees an unknown pc, and
     * verifies one step for every pc at once instead of each pc apart. */
    __u32 start;
    struct zc_filter_slot slots[ZC_FILTER_SLOTS];
};

#endif /* ZC_KMOD_ZC_XDP_H */

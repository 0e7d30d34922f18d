/* SPDX-License-Identifier: (BSD-3-Clause OR GPL-2.0) */
/*
 * kmod/zc_xdp.bpf.c — zc's XDP program: hands every packet of an RX queue
 * that has an AF_XDP socket to that socket, and lets every other packet
 * through to the kernel stack untouched.
 *
 * The driver (drivers/afxdp/) loads one copy per interface, attaches it
 * with a bpf_link (so a killed process leaves nothing attached), and puts
 * the socket of RX queue q at key q of xsks_map.
 *
 * Build: clang -O2 -g -target bpf -I/usr/include/$(MULTIARCH) -c zc_xdp.bpf.c
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "zc_xdp.h"

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, ZC_XDP_QUEUES);
    __type(key, __u32);   /* RX queue */
    __type(value, __u32); /* AF_XDP socket fd (on update) */
} xsks_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, ZC_XDP_QUEUES);
    __type(key, __u32); /* RX queue */
    __type(value, struct zc_xdp_counters);
} queue_counters SEC(".maps");

SEC("xdp")
int zc_redirect(struct xdp_md *ctx)
{
    __u32 queue = ctx->rx_queue_index;
    /* XDP_PASS is the action when the map has no socket at this queue. */
    long action = bpf_redirect_map(&xsks_map, queue, XDP_PASS);
    struct zc_xdp_counters *counters = bpf_map_lookup_elem(&queue_counters, &queue);

    if (counters) {
        counters->packets++;
        if (action == XDP_REDIRECT)
            counters->redirected++;
        else
            counters->passed++;
    }
    return (int)action;
}

/* GPL-compatible so that every helper stays available; the program itself
 * is BSD-licensed like the rest of zc. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

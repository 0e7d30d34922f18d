/* SPDX-License-Identifier: (BSD-3-Clause OR GPL-2.0) */
/*
 * kmod/zc_xdp.bpf.c — zc's XDP program: hands the packets of an RX queue
 * that has an AF_XDP socket to that socket, and lets every other packet
 * through to the kernel stack untouched. With a filter in filter_map
 * (zc_xdp.h, interpreted by zc_filter.bpf.h), a packet of such a queue
 * goes to the socket only if the filter matches it; otherwise it gets the
 * filter's no-match verdict, XDP_PASS (the kernel stack sees it, as if zc
 * were not there) unless the device asked for XDP_DROP.
 *
 * The driver (drivers/afxdp/) loads one copy per interface, attaches it
 * with a bpf_link (so a killed process leaves nothing attached), and puts
 * the socket of RX queue q at key q of xsks_map. A privileged device may
 * swap in a translated filter program (kmod/filter_translate) through the
 * same link; it uses the same xsks_map and queue_counters.
 *
 * Build: clang -O2 -g -target bpf -I/usr/include/$(MULTIARCH) -c zc_xdp.bpf.c
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "zc_xdp.h"
#include "zc_filter.bpf.h"

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
    __u32 zero = 0;
    struct zc_xdp_counters *counters = bpf_map_lookup_elem(&queue_counters, &queue);
    struct zc_filter_area *area = bpf_map_lookup_elem(&filter_map, &zero);

    if (area) {
        /* Read once: this packet sees one slot, whatever the writer does
         * next (zc_xdp.h). The slot's index comes from this value, so its
         * reads depend on it (an address dependency, which orders them
         * after it on every CPU Linux runs on). */
        __u32 active = *(volatile __u32 *)&area->active;

        /* Only queues with a socket are filtered: the others pass as always. */
        if ((active == 1 || active == 2) && bpf_map_lookup_elem(&xsks_map, &queue) &&
            !zc_filter_run(ctx, area, active - 1)) {
            __u32 verdict = area->slots[zc_filter_slot_index(active - 1)].no_match_verdict == XDP_DROP ? XDP_DROP
                                                                                                      : XDP_PASS;

            if (counters) {
                counters->packets++;
                counters->passed++;
                counters->filtered++;
            }
            return (int)verdict;
        }
    }

    /* XDP_PASS is the action when the map has no socket at this queue. */
    long action = bpf_redirect_map(&xsks_map, queue, XDP_PASS);

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

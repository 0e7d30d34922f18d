/* SPDX-License-Identifier: (BSD-3-Clause OR GPL-2.0) */
/*
 * tests/unit/filter_interpreter.bpf.c — kmod/zc_filter.bpf.h, the cBPF
 * interpreter of zc's XDP program, behind an entry point that a test can
 * run with BPF_PROG_TEST_RUN: zc_redirect filters only queues that have an
 * AF_XDP socket, and a test run has none. The filter comes from the same
 * filter_map, with the same protocol (kmod/zc_xdp.h).
 *
 * XDP_TX: the filter matches; XDP_PASS: it does not; XDP_ABORTED: no
 * filter is active.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "zc_filter.bpf.h"

SEC("xdp")
int zc_filter_test(struct xdp_md *ctx)
{
    __u32 zero = 0;
    struct zc_filter_area *area = bpf_map_lookup_elem(&filter_map, &zero);
    __u32 active;

    if (!area)
        return XDP_ABORTED;
    active = *(volatile __u32 *)&area->active;
    if (active != 1 && active != 2)
        return XDP_ABORTED;
    return zc_filter_run(ctx, area, active - 1) ? XDP_TX : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

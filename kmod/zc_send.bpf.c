/* SPDX-License-Identifier: (BSD-3-Clause OR GPL-2.0) */
/*
 * kmod/zc_send.bpf.c — the XDP program behind zc-send's live mode.
 *
 * zc-send does not attach this program to the interface it sends on. It
 * runs it with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES, ingress_ifindex set to the
 * interface to send on, and `repeat` = the batch it wants sent: each run
 * writes one frame into the kernel's packet buffer and returns XDP_TX, which
 * in live mode becomes a redirect out of that same interface (the driver's
 * ndo_xdp_xmit).
 *
 * What live mode does with a program's writes (net/bpf/test_run.c and
 * Documentation/bpf/bpf_prog_run.rst): the kernel keeps a page_pool of
 * `batch_size` pages per BPF_PROG_RUN call and copies data_in into a page
 * only when the pool hands out a *new* page. A recycled page keeps whatever
 * was written into it last (by this program, or by whoever received the
 * frame); only the data/data_end/data_meta pointers are reset. Pages that go
 * up a network stack (a veth peer with GRO turns frames into skbs) are not
 * recycled, so there every run starts from a fresh copy of data_in. A program
 * that changed a few bytes in place would therefore see either the original
 * frame or its own earlier edit, depending on the driver and the timing.
 * This program does not depend on either: every run writes the whole frame
 * (bytes and length) from the `frames` map, then stamps the sequence number.
 * The pages' previous content never reaches the wire.
 *
 * The frames. `frames` is an mmap-able array that zc-send fills from user
 * space (drivers/synthetic/frames.hpp builds them, or a capture file
 * provides them). Run n sends slot n % slot_count:
 *   - generated frames: slot_count = 2 x flows, slot i holds frame
 *     zc::frames::nth(i, flows), so run n sends nth(n, flows) — the same
 *     stream the synthetic driver and device mode produce — and, with
 *     stamp_sequence set, carries n as its sequence number;
 *   - capture replay: the slots are a ring that zc-send refills ahead of
 *     each BPF_PROG_RUN call; the frames go out unchanged.
 *
 * Why the program is also attached somewhere. BPF_PROG_RUN with repeat > 1
 * adds the program to the kernel's XDP dispatcher for the length of the call
 * and removes it afterwards (bpf_prog_change_xdp), and each change to the
 * dispatcher waits for an RCU grace period: ~25 ms of sleep per call on
 * the 2-CPU machine this was written on, which makes short calls (pacing) impossible. While the program
 * is attached to some interface, the dispatcher only counts references and
 * a call costs ~10 us. So zc-send attaches it, in generic (SKB) mode, to the
 * loopback of a private network namespace of its own that nobody else can
 * see and that carries no traffic; the namespace, and with it the
 * attachment, goes away when zc-send exits. Should a frame ever reach the
 * program there, it is passed untouched: the program acts only on runs whose
 * ingress interface is the one zc-send sends on (target_ifindex).
 *
 * `runs` counts the program's runs. Only zc-send's one sending thread runs
 * this program instance, one run at a time (BPF_PROG_RUN disables migration
 * for the call, and a later call happens-after the earlier one returned),
 * so a plain increment is exact, and after every call zc-send reads `runs`
 * to know exactly how many frames it handed to the kernel, even when the
 * call ended early (-EINTR part-way through a batch). That is also why
 * it is a plain global and not a per-CPU counter: the sender may migrate
 * between calls, and the sequence must stay one stream.
 */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Layout of a slot: the frame's length, 4 spare bytes, the frame. zc-send
 * sets value_size = 8 + frame_max (a multiple of 8) before loading. */
#define ZC_SEND_SLOT_HEADER 8
#define ZC_SEND_MIN_FRAME 14      /* an Ethernet header */
#define ZC_SEND_SEQUENCE_OFFSET 42 /* Ethernet + IPv4 + UDP headers: frames.hpp kPayload */

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, 8);  /* set by zc-send: 8 + frame_max */
    __uint(max_entries, 1); /* set by zc-send: slot_count */
} frames SEC(".maps");

/* Set by zc-send before loading (frozen .rodata: the verifier sees them as
 * constants, which is what bounds the copy below). */
const volatile __u32 slot_count = 1;
const volatile __u32 frame_max = 0;      /* value_size - ZC_SEND_SLOT_HEADER */
const volatile __u32 stamp_sequence = 0; /* 1: write the run number at offset 42 */
const volatile __u32 target_ifindex = 0; /* the interface zc-send sends on */

/* Read by zc-send through an mmap of .bss. */
__u64 runs = 0;
__u64 bad_frames = 0; /* slots whose length was out of range: dropped */

SEC("xdp")
int zc_send(struct xdp_md* ctx)
{
    if (ctx->ingress_ifindex != target_ifindex)
        return XDP_PASS; /* not one of zc-send's runs (see the top of this file) */

    __u64 n = runs++;
    __u32 slot = (__u32)(n % slot_count);

    __u8* frame = bpf_map_lookup_elem(&frames, &slot);
    if (!frame) {
        bad_frames++;
        return XDP_DROP;
    }
    __u32 length = *(__u32*)frame;
    if (length < ZC_SEND_MIN_FRAME || length > frame_max) {
        bad_frames++;
        return XDP_DROP;
    }

    /* Make the packet `length` bytes long. The kernel resets the pointers of
     * a recycled page to data_in's length before each run, so this does
     * nothing for generated frames (data_in has their length) and grows a
     * replayed frame from data_in's 60 bytes (the kernel zeroes the new
     * bytes; the copy below overwrites them). */
    int delta = (int)length - (int)(ctx->data_end - ctx->data);
    if (delta != 0 && bpf_xdp_adjust_tail(ctx, delta) != 0) {
        bad_frames++;
        return XDP_DROP;
    }
    if (bpf_xdp_store_bytes(ctx, 0, frame + ZC_SEND_SLOT_HEADER, length) != 0) {
        bad_frames++;
        return XDP_DROP;
    }
    if (stamp_sequence && length >= ZC_SEND_SEQUENCE_OFFSET + sizeof n)
        bpf_xdp_store_bytes(ctx, ZC_SEND_SEQUENCE_OFFSET, &n, sizeof n);
    return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

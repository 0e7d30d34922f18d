/* SPDX-License-Identifier: (BSD-3-Clause OR GPL-2.0) */
/*
 * kmod/zc_filter.bpf.h — a classic BPF interpreter for XDP, included by
 * zc_xdp.bpf.c. It runs the program in filter_map (the protocol is in
 * zc_xdp.h) with exactly the meaning of libpcap's bpf_filter() (behind
 * pcap_offline_filter), the frame's length as both wire and captured
 * length:
 *
 *   - A and X are 32-bit and start at 0; M[0..15] are 32-bit scratch words,
 *     0 until written;
 *   - a packet load past the frame ends the filter with "no match";
 *   - division or modulo by X == 0 ends it with "no match"; shifts by 32
 *     or more give 0;
 *   - RET with a non-zero value (K or A) is "match".
 *
 * One instruction per bpf_loop() step, at most `length` steps: classic BPF
 * jumps forward only, so a program of n instructions runs at most n. The
 * device writes only programs that kmod/filter_translate's validate()
 * accepts; whatever else the map holds (an unknown opcode, a jump past the
 * end) ends the filter with "no match", and the verifier guarantees the
 * kernel's safety whatever it holds. Packet bytes are read with
 * bpf_xdp_load_bytes(), which also reaches multi-buffer frames.
 *
 * The program is what user space wrote, not yet seen by anything: no
 * assumption about it goes beyond "each field is some value".
 */
#ifndef ZC_KMOD_ZC_FILTER_BPF_H
#define ZC_KMOD_ZC_FILTER_BPF_H

#include <linux/bpf.h>
#include <linux/filter.h>
#include <bpf/bpf_helpers.h>

#include "zc_xdp.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct zc_filter_area);
} filter_map SEC(".maps");

/* The machine's state, on the XDP program's stack; bpf_loop hands the
 * step function a pointer to it. */
struct zc_filter_machine {
    struct xdp_md* ctx;
    __u32 slot;   /* 0 or 1 */
    __u32 length; /* instructions in the slot */
    __u32 pc;
    __u32 A;
    __u32 X;
    __u32 frame_length;
    __u32 matched; /* the verdict, once `done` */
    __u32 done;
    __u32 M[16];
};

/* A big-endian packet load of 1, 2 or 4 bytes at `offset`; 0 when it lies
 * inside the frame, else -1 (the filter then ends with "no match"). */
static __always_inline int zc_filter_load(struct zc_filter_machine* m, __u64 offset, __u32 size, __u32* out)
{
    __u8 bytes[4] = {};

    if (offset + size > m->frame_length)
        return -1;
    if (size == 4) {
        if (bpf_xdp_load_bytes(m->ctx, (__u32)offset, bytes, 4) != 0)
            return -1;
        *out = (__u32)bytes[0] << 24 | (__u32)bytes[1] << 16 | (__u32)bytes[2] << 8 | bytes[3];
    } else if (size == 2) {
        if (bpf_xdp_load_bytes(m->ctx, (__u32)offset, bytes, 2) != 0)
            return -1;
        *out = (__u32)bytes[0] << 8 | bytes[1];
    } else {
        if (bpf_xdp_load_bytes(m->ctx, (__u32)offset, bytes, 1) != 0)
            return -1;
        *out = bytes[0];
    }
    return 0;
}

static __always_inline long zc_filter_end(struct zc_filter_machine* m, __u32 matched)
{
    m->matched = matched;
    m->done = 1;
    return 1; /* bpf_loop: stop */
}

/* slot & 1, done in BPF whatever the compiler knows of slot: clang drops a
 * mask it can prove useless (slot is 0 or 1 on every path), and the
 * verifier, which cannot prove it, then sees an unbounded index. */
static __always_inline __u32 zc_filter_slot_index(__u32 slot)
{
    __u64 index = slot;

    asm volatile("%[index] &= 1" : [index] "+r"(index));
    return (__u32)index;
}

static __always_inline __u32 zc_filter_size(__u16 code)
{
    return BPF_SIZE(code) == BPF_W ? 4 : BPF_SIZE(code) == BPF_H ? 2 : 1;
}

/* One instruction. */
static long zc_filter_step(__u32 index, void* data)
{
    struct zc_filter_machine* m = data;
    __u32 zero = 0;
    struct zc_filter_area* area = bpf_map_lookup_elem(&filter_map, &zero);
    __u32 pc = m->pc;
    __u32 value = 0;
    __u32 taken;

    (void)index;
    if (!area || pc >= m->length)
        return zc_filter_end(m, 0); /* a jump past the end */
    struct zc_xdp_filter_insn insn = area->slots[zc_filter_slot_index(m->slot)].insns[pc & (ZC_FILTER_MAX_INSNS - 1)];
    __u32 k = insn.k;
    m->pc = pc + 1;

    switch (insn.code) {
    case BPF_RET | BPF_K:
        return zc_filter_end(m, k != 0);
    case BPF_RET | BPF_A:
        return zc_filter_end(m, m->A != 0);

    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_H | BPF_ABS:
    case BPF_LD | BPF_B | BPF_ABS:
        if (zc_filter_load(m, k, zc_filter_size(insn.code), &value) != 0)
            return zc_filter_end(m, 0);
        m->A = value;
        return 0;
    case BPF_LD | BPF_W | BPF_IND:
    case BPF_LD | BPF_H | BPF_IND:
    case BPF_LD | BPF_B | BPF_IND:
        /* In 64 bits: X + k cannot wrap, as libpcap's checks make sure. */
        if (zc_filter_load(m, (__u64)m->X + k, zc_filter_size(insn.code), &value) != 0)
            return zc_filter_end(m, 0);
        m->A = value;
        return 0;
    case BPF_LDX | BPF_MSH | BPF_B:
        if (zc_filter_load(m, k, 1, &value) != 0)
            return zc_filter_end(m, 0);
        m->X = (value & 0xf) << 2;
        return 0;
    case BPF_LD | BPF_W | BPF_LEN:
        m->A = m->frame_length;
        return 0;
    case BPF_LDX | BPF_W | BPF_LEN:
        m->X = m->frame_length;
        return 0;
    case BPF_LD | BPF_IMM:
        m->A = k;
        return 0;
    case BPF_LDX | BPF_IMM:
        m->X = k;
        return 0;
    case BPF_LD | BPF_MEM:
        m->A = m->M[k & 15];
        return 0;
    case BPF_LDX | BPF_MEM:
        m->X = m->M[k & 15];
        return 0;
    case BPF_ST:
        m->M[k & 15] = m->A;
        return 0;
    case BPF_STX:
        m->M[k & 15] = m->X;
        return 0;

    case BPF_JMP | BPF_JA:
        m->pc = pc + 1 + k; /* past the end: the next step ends the filter */
        if (m->pc < pc) /* wrapped around: not a program validate() accepts */
            return zc_filter_end(m, 0);
        return 0;
    case BPF_JMP | BPF_JGT | BPF_K:
        taken = m->A > k;
        break;
    case BPF_JMP | BPF_JGE | BPF_K:
        taken = m->A >= k;
        break;
    case BPF_JMP | BPF_JEQ | BPF_K:
        taken = m->A == k;
        break;
    case BPF_JMP | BPF_JSET | BPF_K:
        taken = (m->A & k) != 0;
        break;
    case BPF_JMP | BPF_JGT | BPF_X:
        taken = m->A > m->X;
        break;
    case BPF_JMP | BPF_JGE | BPF_X:
        taken = m->A >= m->X;
        break;
    case BPF_JMP | BPF_JEQ | BPF_X:
        taken = m->A == m->X;
        break;
    case BPF_JMP | BPF_JSET | BPF_X:
        taken = (m->A & m->X) != 0;
        break;

    case BPF_ALU | BPF_ADD | BPF_X:
        m->A += m->X;
        return 0;
    case BPF_ALU | BPF_SUB | BPF_X:
        m->A -= m->X;
        return 0;
    case BPF_ALU | BPF_MUL | BPF_X:
        m->A *= m->X;
        return 0;
    case BPF_ALU | BPF_DIV | BPF_X:
        if (m->X == 0)
            return zc_filter_end(m, 0);
        m->A /= m->X;
        return 0;
    case BPF_ALU | BPF_MOD | BPF_X:
        if (m->X == 0)
            return zc_filter_end(m, 0);
        m->A %= m->X;
        return 0;
    case BPF_ALU | BPF_AND | BPF_X:
        m->A &= m->X;
        return 0;
    case BPF_ALU | BPF_OR | BPF_X:
        m->A |= m->X;
        return 0;
    case BPF_ALU | BPF_XOR | BPF_X:
        m->A ^= m->X;
        return 0;
    case BPF_ALU | BPF_LSH | BPF_X:
        m->A = m->X < 32 ? m->A << m->X : 0;
        return 0;
    case BPF_ALU | BPF_RSH | BPF_X:
        m->A = m->X < 32 ? m->A >> m->X : 0;
        return 0;
    case BPF_ALU | BPF_ADD | BPF_K:
        m->A += k;
        return 0;
    case BPF_ALU | BPF_SUB | BPF_K:
        m->A -= k;
        return 0;
    case BPF_ALU | BPF_MUL | BPF_K:
        m->A *= k;
        return 0;
    case BPF_ALU | BPF_DIV | BPF_K:
        if (k == 0)
            return zc_filter_end(m, 0);
        m->A /= k;
        return 0;
    case BPF_ALU | BPF_MOD | BPF_K:
        if (k == 0)
            return zc_filter_end(m, 0);
        m->A %= k;
        return 0;
    case BPF_ALU | BPF_AND | BPF_K:
        m->A &= k;
        return 0;
    case BPF_ALU | BPF_OR | BPF_K:
        m->A |= k;
        return 0;
    case BPF_ALU | BPF_XOR | BPF_K:
        m->A ^= k;
        return 0;
    case BPF_ALU | BPF_LSH | BPF_K:
        m->A = k < 32 ? m->A << k : 0;
        return 0;
    case BPF_ALU | BPF_RSH | BPF_K:
        m->A = k < 32 ? m->A >> k : 0;
        return 0;
    case BPF_ALU | BPF_NEG:
        m->A = -m->A;
        return 0;

    case BPF_MISC | BPF_TAX:
        m->X = m->A;
        return 0;
    case BPF_MISC | BPF_TXA:
        m->A = m->X;
        return 0;
    default:
        return zc_filter_end(m, 0); /* not an opcode libpcap's interpreter knows */
    }
    /* The conditional jumps. */
    m->pc = pc + 1 + (taken ? insn.jt : insn.jf);
    return 0;
}

/* 1 when the packet matches the filter in `slot` of `area`, 0 when not. */
static __always_inline int zc_filter_run(struct xdp_md* ctx, struct zc_filter_area* area, __u32 slot)
{
    struct zc_filter_machine m;

    __builtin_memset(&m, 0, sizeof m);
    m.ctx = ctx;
    m.slot = zc_filter_slot_index(slot);
    m.pc = area->start; /* 0, unknown to the verifier (zc_xdp.h) */
    m.length = area->slots[m.slot].length;
    if (m.length > ZC_FILTER_MAX_INSNS || m.length == 0)
        return 0;
    m.frame_length = (__u32)bpf_xdp_get_buff_len(ctx);
    bpf_loop(m.length, zc_filter_step, &m, 0);
    return m.done && m.matched;
}

#endif /* ZC_KMOD_ZC_FILTER_BPF_H */

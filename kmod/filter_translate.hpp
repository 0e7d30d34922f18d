// SPDX-License-Identifier: BSD-3-Clause
//
// kmod/filter_translate.hpp — the pcap filter in the kernel: translates a
// classic BPF program (what libpcap's pcap_compile produces for DLT_EN10MB,
// as struct sock_filter[]) into an eBPF XDP program at run time — no
// compiler on the target host — and loads it. Control path only.
//
// What the generated program computes is exactly libpcap's user-space
// interpreter (bpf_filter(), behind pcap_offline_filter), with the frame's
// length as both wire and captured length:
//
//   - A and X are 32-bit and start at 0; M[0..15] are 32-bit scratch words.
//   - A packet load past the frame ends the filter with "no match".
//   - Division or modulo by X == 0 ends it with "no match"; shifts by
//     X >= 32 give 0.
//   - RET with a non-zero value (K or A) is "match"; the value itself (the
//     snapshot length) is not used.
//
// translate() first checks the program as the kernel's bpf_check_classic()
// does (validate()): every opcode one that libpcap's interpreter knows,
// jumps forward and inside the program, the last instruction a RET, scratch
// indices below 16, no constant division by zero or shift by 32 or more,
// and no scratch word read on any path before it is written. What passes
// has one meaning in libpcap 1.10 and later, and in the kernel's converter.
//
// What is refused (false and a sentence; the caller then filters in user
// space): programs that fail validate() — among them libpcap's own "ip
// protochain" and "ip6 protochain", which loop with backward jumps; loads
// at the offsets Linux reads as negative (k >= SKF_LL_OFF: SKF_LL_OFF,
// SKF_NET_OFF, SKF_AD_* ancillary data — libpcap emits those only when it
// compiles for a live Linux socket, e.g. "vlan" with VLAN offload; compile
// with pcap_open_dead(DLT_EN10MB, ...) instead); and
// programs too long for eBPF's 16-bit jump offsets (a cBPF program of a few
// thousand instructions).
//
// Packet access is direct (ctx->data .. ctx->data_end) with one bounds check
// per load, so the program sees the linear part of the frame only: it is
// loaded without BPF_F_XDP_HAS_FRAGS, and the kernel refuses to attach it
// where multi-buffer frames are possible (an MTU above a page). Offsets
// beyond 65535 are "past the frame" for every frame XDP can hold linearly.
// The frame's length (BPF_LEN) is ctx->data_end - ctx->data, a pointer
// subtraction the verifier allows with CAP_PERFMON (AF_XDP needs it anyway).
//
// The program the wiring needs: MatchAction::RedirectToSocket with the AF_XDP
// socket map makes it a drop-in replacement for kmod/zc_xdp.bpf.c's
// zc_redirect (same XSKMAP, same zc_xdp_counters map), with the filter in
// front:
//
//   zc::filter::TranslateOptions options;
//   options.on_match = zc::filter::MatchAction::RedirectToSocket;
//   options.socket_map_fd = bpf_map__fd(xsks_map);
//   options.counter_map_fd = bpf_map__fd(queue_counters); // optional
//   std::string why;
//   int fd = zc::filter::load_filter(program.bf_insns, program.bf_len, options, &why);
//   if (fd < 0) { /* log why, keep zc_redirect, filter in user space */ }
//
// (libpcap's struct bpf_insn and the kernel's struct sock_filter have the
// same layout; cast. libpcap's header and linux/bpf.h cannot meet in one
// file: both define struct bpf_insn.)

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <linux/bpf.h>
#include <linux/filter.h>

namespace zc::filter {

enum class MatchAction {
    // Return TranslateOptions::match_verdict (tests, or XDP_DROP-style
    // filters that need no socket).
    Verdict,
    // bpf_redirect_map(socket_map, ctx->rx_queue_index, XDP_PASS): to the
    // AF_XDP socket of the packet's RX queue; a queue without a socket
    // passes the packet to the kernel stack, as zc_redirect does.
    RedirectToSocket,
};

struct TranslateOptions {
    // What a packet the filter rejects gets: XDP_PASS (the kernel stack
    // sees it, as if zc were not there) or XDP_DROP (nobody does).
    std::uint32_t no_match_verdict = XDP_PASS;
    MatchAction on_match = MatchAction::RedirectToSocket;
    // MatchAction::Verdict: any XDP action (XDP_ABORTED .. XDP_REDIRECT).
    std::uint32_t match_verdict = XDP_PASS;
    // MatchAction::RedirectToSocket: a BPF_MAP_TYPE_XSKMAP keyed by RX queue.
    int socket_map_fd = -1;
    // Optional (-1: none): a BPF_MAP_TYPE_PERCPU_ARRAY keyed by RX queue
    // whose values are struct zc_xdp_counters (kmod/zc_xdp.h). Every packet
    // counts in `packets`; in `redirected` when the program returns
    // XDP_REDIRECT, else in `passed` — which here means "not handed to a
    // socket": filtered out (passed or dropped, per no_match_verdict), or
    // its queue has no socket.
    int counter_map_fd = -1;
};

// The checks translate() makes first (see above). True when `insns` is a
// program libpcap's interpreter runs with a defined result; false and a
// sentence in *why (if not null) otherwise.
bool validate(const sock_filter* insns, std::size_t count, std::string* why);

// Returns false with a sentence in *why (if not null), leaving *out as it
// was, when the program cannot be translated; else replaces *out with the
// XDP program and returns true. The program is not yet checked by the verifier
// (load_xdp_program() does that).
//
// The program's first two instructions are the 32-bit loads of ctx->data
// and ctx->data_end from r1; in MatchAction::Verdict mode without a counter
// map nothing else reads the context. The translator's test relies on that
// to run it on frames shorter than BPF_PROG_TEST_RUN takes for XDP.
bool translate(const sock_filter* insns, std::size_t count, const TranslateOptions& options,
               std::vector<bpf_insn>* out, std::string* why);

// Loads `program` as BPF_PROG_TYPE_XDP named `name` (at most 15 characters
// are kept). The program's fd (the caller owns it), or a negative errno with
// a sentence in *why (if not null) that ends with the verifier's last lines
// when the verifier refused it.
int load_xdp_program(const std::vector<bpf_insn>& program, const char* name, std::string* why);

// translate() and load_xdp_program() in one step; the fd or a negative
// errno (-EINVAL when the program cannot be translated).
int load_filter(const sock_filter* insns, std::size_t count, const TranslateOptions& options, std::string* why);

} // namespace zc::filter

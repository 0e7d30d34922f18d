#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-balance on a veth, two balanced groups at once (-n 2,4: queues 0-1 and
# 2-5), wait mode, the stock tcpdump (through libpcap-zc) on all six queues,
# in modes 5tuple and inner-5tuple. From the other namespace zc-send replays
# a generated corpus (make-corpus: VLAN, QinQ, MPLS, IPv4 options, IPv6
# extension headers, fragments, GTP-U, VXLAN, GRE, malformed and truncated
# frames, every flow both ways) and sends its own bidirectional flows. In
# each group every frame sent arrives exactly once, byte for byte, and every
# flow (as zc/hash.h defines it, read by check-corpus's own parser) lands,
# both ways, in one queue.
#
# Before any traffic, check-corpus --cross-check compares the library's hash
# with that parser frame by frame. After it, the checker is shown wrong
# input (the two directions of flows in different queues, frames lost, a
# queue read twice, a byte changed) and must refuse each.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
. "$(dirname "$0")/balance_corpus_lib.sh"
netns_pair
in_ns=1
# Fewer frames than sent and nothing dropped by zc-balance: the kernel's
# counters say whether the veth dropped them before AF_XDP (RX ring full on
# a machine too busy for the rate), which is not what this test is about.
kernel_drops() { in_b ethtool -S "$veth_b" 2>/dev/null | grep -i 'drop\|err' >&2; }
undelivered_hint=kernel_drops

corpus=$workdir/corpus.pcap
"$checks/make-corpus" -w "$corpus" --seed 7 --conversations 800 >"$workdir/corpus.log" || fail "make-corpus failed"
cat "$workdir/corpus.log"
frames=$(sed -n 's/^make-corpus: \([0-9]*\) frames .*/\1/p' "$workdir/corpus.log")
[ "${frames:-0}" -gt 1000 ] || fail "make-corpus wrote ${frames:-no} frames"
generated=4000 generated_flows=64 rate=20000
total=$(( frames + generated ))
# check_sent QUEUE.pcap...: check-corpus on one group's queues, against the
# corpus and zc-send's own frames, in hash $mode.
check_sent() {
    "$checks/check-corpus" --hash "$mode" --corpus "$corpus" --generated "$generated,64,$generated_flows" "$@"
}

for mode in 5tuple 2tuple inner-5tuple vlan; do
    "$checks/check-corpus" --hash $mode --corpus "$corpus" --cross-check ||
        fail "$mode: the library's hash and check-corpus's reading of hash.h disagree (above)"
done

for mode in 5tuple inner-5tuple; do
    note "$mode: $frames corpus frames and $generated of zc-send's own, at $rate frames/s"
    start_balancer "$workdir/balance-$mode.log" -i "zc:$veth_b" -m $mode
    start_tcpdumps "$mode" "$out/$mode-@.pcap"
    in_a "$tools/zc-send" -i "$veth_a" -p "$corpus" -r $rate -q || fail "zc-send -p failed"
    send_frames $generated $generated_flows $rate
    wait_delivered $total
    stop_tcpdumps_cleanly
    stop_balancer_cleanly "$workdir/balance-$mode.log" $total
    sed -n '/^total:/,$p' "$workdir/balance-$mode.log"

    check_sent "$out/$mode-0.pcap" "$out/$mode-1.pcap" ||
        fail "$mode: the group of 2 queues is not what was sent, or splits flows"
    check_sent "$out/$mode-2.pcap" "$out/$mode-3.pcap" "$out/$mode-4.pcap" "$out/$mode-5.pcap" ||
        fail "$mode: the group of 4 queues is not what was sent, or splits flows"
    for q in $group0 $group1; do
        [ "$(captured "$mode" "$q")" -eq "$(metric zc_queue_enqueued_total "$q")" ] ||
            fail "$mode: tcpdump on queue $q says it captured $(captured "$mode" "$q"), the balancer gave it $(metric zc_queue_enqueued_total "$q")"
    done
done

note "the checker refuses wrong input"
# refused WHAT PATTERN QUEUE.pcap...: check_sent must fail, saying PATTERN.
refused() {
    what=$1 pattern=$2; shift 2
    check_sent "$@" >"$workdir/refused.log" 2>&1 && { cat "$workdir/refused.log"; fail "check-corpus accepted $what"; }
    grep -q "$pattern" "$workdir/refused.log" || { cat "$workdir/refused.log"; fail "check-corpus refused $what, but not for '$pattern'"; }
    echo "refused $what: $(grep -m1 "$pattern" "$workdir/refused.log")"
}
mode=5tuple q0=$out/5tuple-0.pcap q1=$out/5tuple-1.pcap
# An asymmetric balancer: queue 0's frames dealt out by the parity of the
# source MAC's last byte, so many flows have one direction in each file.
tcpdump -r "$q0" -w "$out/even.pcap" 'ether[11] & 1 = 0' 2>/dev/null || fail "tcpdump -r failed"
tcpdump -r "$q0" -w "$out/odd.pcap" 'ether[11] & 1 = 1' 2>/dev/null || fail "tcpdump -r failed"
refused "directions in different queues" "[1-9][0-9]* flows split" "$out/even.pcap" "$out/odd.pcap" "$q1"
refused "lost frames" "[1-9][0-9]* missing" "$out/even.pcap" "$q1"
refused "a queue read twice" "[1-9][0-9]* surplus" "$q0" "$q0" "$q1"
# One byte of the first frame changed (24-byte file header, 16-byte record header).
cp "$q0" "$out/altered.pcap"
byte=$(od -An -tu1 -j60 -N1 "$out/altered.pcap" | tr -d ' ')
printf "\\$(printf %o $(( 255 - byte )))" | dd of="$out/altered.pcap" bs=1 seek=60 conv=notrunc 2>/dev/null
refused "a changed byte" "1 missing, 0 surplus, 1 not sent" "$out/altered.pcap" "$q1"
head -c 24 "$q0" >"$out/empty.pcap" # the file header alone: a capture of no frame
refused "a queue that got nothing" "holds no frame" "$q0" "$q1" "$out/empty.pcap"

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Lossless at volume: zc-balance replays the generated corpus (make-corpus,
# see balance_corpus.sh) from zc:pcap at top speed, enough loops for at
# least 5 million frames, into two balanced groups (-n 2,4) in wait mode,
# hash inner-5tuple, with the stock tcpdump (through libpcap-zc) on each of
# the six queues. The kernel is not in the way (no veth, whose RX ring may
# drop under load), so every frame must arrive.
#
# Each tcpdump writes into a FIFO that check-corpus reads as it goes (one
# check-corpus per group, reading its queues at once): all 5 million frames
# of each group are checked, nothing is stored. In each group every frame
# of every loop arrives exactly once, byte for byte, and every flow lands,
# both ways, in one queue; each tcpdump counts what the balancer gave its
# queue; the balancer drops, refuses and keeps nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
. "$(dirname "$0")/balance_corpus_lib.sh"

mode=inner-5tuple
corpus=$workdir/corpus.pcap
"$checks/make-corpus" -w "$corpus" --seed 7 --conversations 800 >"$workdir/corpus.log" || fail "make-corpus failed"
cat "$workdir/corpus.log"
frames=$(sed -n 's/^make-corpus: \([0-9]*\) frames .*/\1/p' "$workdir/corpus.log")
[ "${frames:-0}" -gt 1000 ] || fail "make-corpus wrote ${frames:-no} frames"
loops=$(( (5000000 + frames - 1) / frames ))
total=$(( frames * loops ))

note "$loops loops of $frames frames: $total frames into each group"
started=$(date +%s)
# tcpdump opens its -w file as user tcpdump: FIFOs anyone may write.
for q in $group0 $group1; do mkfifo -m 0666 "$out/q$q" || fail "mkfifo failed"; done
checkers=""
"$checks/check-corpus" --hash $mode --corpus "$corpus" --loops $loops "$out/q0" "$out/q1" >"$workdir/check0.log" 2>&1 &
checkers="$checkers $!"
"$checks/check-corpus" --hash $mode --corpus "$corpus" --loops $loops "$out/q2" "$out/q3" "$out/q4" "$out/q5" \
    >"$workdir/check1.log" 2>&1 &
checkers="$checkers $!"
stop_checkers() { for pid in $checkers; do kill -9 "$pid" 2>/dev/null; done; }
cleanups="$cleanups stop_checkers"

start_balancer "$workdir/balance.log" -i "zc:pcap:$corpus" --speed 0 --loops $loops -m $mode
start_tcpdumps tcpdump "$out/q@"
wait_delivered $total 150
stop_tcpdumps_cleanly
stop_balancer_cleanly "$workdir/balance.log" $total
sed -n '/^total:/,$p' "$workdir/balance.log"
for q in $group0 $group1; do
    [ "$(captured tcpdump "$q")" = "$(metric zc_queue_enqueued_total "$q")" ] ||
        fail "tcpdump on queue $q says it captured $(captured tcpdump "$q"), the balancer gave it $(metric zc_queue_enqueued_total "$q")"
done
group=0
for pid in $checkers; do
    bg_pid=$pid
    wait_bg 60
    rc=$?
    cat "$workdir/check$group.log"
    [ $rc -eq 0 ] || fail "group $group: the queues are not $loops times the corpus, or split flows"
    group=$(( group + 1 ))
done
checkers=""
note "$total frames in each group, all checked, in $(( $(date +%s) - started )) s"

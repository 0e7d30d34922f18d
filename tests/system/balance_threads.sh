#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-balance --threads 2: two balancer threads, each replaying the same
# capture (32 flows, both directions of each) through a zc:pcap: device of
# its own, both feeding the same two queues (wait mode, lossless). Read by
# a zc-count on queue 0 and by the stock tcpdump (libpcap-zc) on queue 1,
# each draining both threads' rings of its queue. Every frame of both
# replays arrives once, byte for byte; every flow, both directions, from
# both threads, is in one queue; zc-stat shows the cluster's two lanes; and
# fewer devices than threads is refused with a sentence that says why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
netns_pair

flows=32 count=20000
source=$(( 60000 + $$ % 5000 )) cluster=$(( 65000 + $$ % 5000 ))

# The capture: zc:synthetic with 32 flows, through a balancer with one queue.
start_in_b "$workdir/source.log" "zc-balance: cluster $source:" "$tools/zc-balance" -i zc:synthetic --flows $flows \
    -c $source -n 1 --on-full wait
source_pid=$bg_pid
in_b "$tools/zc-count" -i "zc:$source@0" -c $count -w "$out/flows.pcap" -q || fail "cannot record the capture"
kill -INT "$source_pid"
bg_pid=$source_pid
wait_bg 10 || fail "the source balancer did not stop"
"$checks/check-frames" "$out/flows.pcap" --count $count --size 64 --flows $flows ||
    fail "the capture does not hold the synthetic frames"

# Fewer devices than threads: refused, and said why.
said=$(in_b "$tools/zc-balance" -i "zc:pcap:$out/flows.pcap" --threads 2 -c $cluster -n 2 2>&1) &&
    fail "zc-balance took 2 threads with one device"
echo "$said" | grep -q "each thread reads devices of its own" || fail "unclear refusal: $said"

# Two threads, one replay each, at top speed; consumers attach once the
# cluster is up (wait mode: nothing is lost meanwhile).
start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" \
    -i "zc:pcap:$out/flows.pcap,zc:pcap:$out/flows.pcap" --speed 0 --threads 2 -c $cluster -n 2 --on-full wait
balancer=$bg_pid
grep -q "2 threads" "$workdir/balance.log" || fail "zc-balance does not say it runs 2 threads: $(cat "$workdir/balance.log")"
lanes=$(in_b "$tools/zc-stat" -c $cluster -n 1 2>&1)
echo "$lanes" | grep -q "lanes 2" || fail "zc-stat does not show the cluster's 2 lanes: $lanes"
start_capture "$workdir/q0.log" -i "zc:$cluster@0" -d 8 -w "$out/q0.pcap"
q0=$bg_pid
start_in_b "$workdir/q1.log" "listening on" env LD_PRELOAD="$preload" timeout --preserve-status -s INT 8 \
    tcpdump -n -w "$out/q1.pcap" -i "zc:$cluster@1"
q1=$bg_pid
for pid in $q0 $q1; do
    bg_pid=$pid
    wait_bg 30 || { cat "$workdir"/*.log >&2; fail "a consumer failed"; }
done

frames() { tcpdump -r "$1" -n 2>/dev/null | wc -l; }
n0=$(frames "$out/q0.pcap") n1=$(frames "$out/q1.pcap")
note "queue 0 (zc-count): $n0 frames, queue 1 (tcpdump): $n1 frames"
[ $(( n0 + n1 )) -eq $(( 2 * count )) ] || fail "the queues got $n0 + $n1 frames, the two replays held $(( 2 * count ))"
[ "$n0" -gt 0 ] && [ "$n1" -gt 0 ] || fail "one queue got nothing ($n0, $n1)"
"$checks/check-frames" "$out/q0.pcap" --count "$n0" --size 64 --flows $flows || fail "queue 0 holds wrong frames"
"$checks/check-frames" "$out/q1.pcap" --count "$n1" --size 64 --flows $flows || fail "queue 1 holds wrong frames"
flows_whole "$out/q0.pcap" "$n0" "$out/q1.pcap" "$n1" $flows

kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || { cat "$workdir/balance.log" >&2; fail "zc-balance did not stop cleanly"; }
grep -q "total: received $(( 2 * count ))" "$workdir/balance.log" ||
    fail "zc-balance's total is not both replays: $(grep total "$workdir/balance.log")"
[ ! -e "/dev/shm/zc/cluster-$cluster" ] || fail "zc-balance left its cluster region behind"

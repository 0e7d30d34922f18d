#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-balance on a veth (AF_XDP into the cluster's pool), groups 2,1, wait
# mode: two zc-count consumers on the balanced queues and the stock tcpdump
# (through libpcap-zc) on the queue that sees everything. Every frame sent
# arrives once in the balanced group and once in the full queue, byte for
# byte; every flow, both directions, stays in one balanced queue.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
netns_pair

cluster=$(( 50000 + $$ % 10000 ))
count=20000 flows=32

start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster -n 2,1 --on-full wait
balancer=$bg_pid
start_capture "$workdir/q0.log" -i "zc:$cluster@0" -d 8 -w "$workdir/q0.pcap"
q0=$bg_pid
start_capture "$workdir/q1.log" -i "zc:$cluster@1" -d 8 -w "$workdir/q1.pcap"
q1=$bg_pid
start_in_b "$workdir/tcpdump.log" "listening on" env LD_PRELOAD="$preload" \
    tcpdump -n -c $count -w "$out/all.pcap" -i "zc:$cluster@2"
full=$bg_pid

send_frames $count $flows
for pid in $q0 $q1 $full; do
    bg_pid=$pid
    wait_bg 30 || { cat "$workdir"/*.log >&2; fail "a consumer failed"; }
done
cat "$workdir/q0.log" "$workdir/q1.log"

got() { sed -n 's/^zc-count: .* \([0-9]*\) packets, .*/\1/p' "$1"; }
n0=$(got "$workdir/q0.log") n1=$(got "$workdir/q1.log")
[ $(( n0 + n1 )) -eq $count ] || fail "the balanced queues got $n0 + $n1 frames, $count were sent"
[ "$n0" -gt 0 ] && [ "$n1" -gt 0 ] || fail "one balanced queue got nothing ($n0, $n1)"
"$checks/check-frames" "$workdir/q0.pcap" --count "$n0" --size 64 --flows $flows || fail "queue 0 holds wrong frames"
"$checks/check-frames" "$workdir/q1.pcap" --count "$n1" --size 64 --flows $flows || fail "queue 1 holds wrong frames"
"$checks/check-frames" "$out/all.pcap" --count $count --size 64 --flows $flows --sequences ||
    fail "the full queue (stock tcpdump) is not what was sent"

flows_whole "$workdir/q0.pcap" "$n0" "$workdir/q1.pcap" "$n1" $flows

kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
[ ! -e "/dev/shm/zc/cluster-$cluster" ] || fail "zc-balance left its cluster region behind"
! xdp_attached "$ns_b" "$veth_b" || fail "an XDP program is left on $veth_b"

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
# Then one interface's two RX queues (a veth with two), one AF_XDP device
# and one thread each, sharing the interface's XDP program: every frame two
# senders send arrives once, flows whole, and no program is left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
netns_pair

flows=32 count=20000

# check_queues PCAP0 N0 PCAP1 N1 TOTAL: the two queues' captures (N0 and N1
# frames) hold TOTAL frames between them, each one as sent, flows whole.
check_queues() {
    [ $(( $2 + $4 )) -eq "$5" ] || fail "the queues got $2 + $4 frames, $5 were sent"
    [ "$2" -gt 0 ] && [ "$4" -gt 0 ] || fail "one queue got nothing ($2, $4)"
    "$checks/check-frames" "$1" --count "$2" --size 64 --flows $flows || fail "queue 0 holds wrong frames"
    "$checks/check-frames" "$3" --count "$4" --size 64 --flows $flows || fail "queue 1 holds wrong frames"
    flows_whole "$1" "$2" "$3" "$4" $flows
}
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

# --burst out of range: refused, and said why.
said=$(in_b "$tools/zc-balance" -i zc:synthetic --burst 0 -c $cluster -n 2 2>&1) && fail "zc-balance took --burst 0"
echo "$said" | grep -q "a number of packets from 1 to 1024" || fail "unclear refusal of --burst 0: $said"

# Fewer devices than threads: refused, and said why.
said=$(in_b "$tools/zc-balance" -i "zc:pcap:$out/flows.pcap" --threads 2 -c $cluster -n 2 2>&1) &&
    fail "zc-balance took 2 threads with one device"
echo "$said" | grep -q "each thread reads devices of its own" || fail "unclear refusal: $said"

# Two threads, one replay each, at top speed; consumers attach once the
# cluster is up (wait mode: nothing is lost meanwhile).
start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" \
    -i "zc:pcap:$out/flows.pcap,zc:pcap:$out/flows.pcap" --speed 0 --threads 2 --burst 128 -c $cluster -n 2 \
    --on-full wait
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
check_queues "$out/q0.pcap" "$n0" "$out/q1.pcap" "$n1" $(( 2 * count )) # both replays

kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || { cat "$workdir/balance.log" >&2; fail "zc-balance did not stop cleanly"; }
grep -q "total: received $(( 2 * count ))" "$workdir/balance.log" ||
    fail "zc-balance's total is not both replays: $(grep total "$workdir/balance.log")"
[ ! -e "/dev/shm/zc/cluster-$cluster" ] || fail "zc-balance left its cluster region behind"

# One interface, two RX queues, a thread each: zc:IF@0 and zc:IF@1 share
# the interface's one XDP program. Two senders on different CPUs (the veth
# puts a sender's packets on the RX queue of its CPU's TX queue).
multi_a=${tag}ms multi_b=${tag}md
ip link add "$multi_a" netns "$ns_a" numtxqueues 2 numrxqueues 2 type veth peer name "$multi_b" netns "$ns_b" \
    numtxqueues 2 numrxqueues 2 || fail "cannot create a veth pair with two queues"
in_a sysctl -q -w "net.ipv6.conf.$multi_a.disable_ipv6=1" >/dev/null
in_b sysctl -q -w "net.ipv6.conf.$multi_b.disable_ipv6=1" >/dev/null
ip -n "$ns_a" link set "$multi_a" up
ip -n "$ns_b" link set "$multi_b" up
cluster=$(( cluster + 1 ))
start_in_b "$workdir/balance2.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" \
    -i "zc:$multi_b@0,zc:$multi_b@1" --threads 2 -c $cluster -n 2 --on-full wait
balancer=$bg_pid
start_capture "$workdir/m0.log" -i "zc:$cluster@0" -d 8 -w "$out/m0.pcap"
m0=$bg_pid
start_capture "$workdir/m1.log" -i "zc:$cluster@1" -d 8 -w "$out/m1.pcap"
m1=$bg_pid
half=$(( count / 2 ))
in_a taskset -c 0 "$tools/zc-send" -i "$multi_a" -c $half -s 64 -f $flows -r 20000 -q & sender0=$!
second_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
in_a taskset -c $second_cpu "$tools/zc-send" -i "$multi_a" -c $half -s 64 -f $flows -r 20000 -q || fail "zc-send failed"
wait "$sender0" || fail "zc-send failed"
for pid in $m0 $m1; do
    bg_pid=$pid
    wait_bg 30 || { cat "$workdir"/*.log >&2; fail "a consumer failed"; }
done
got() { sed -n 's/^zc-count: .* \([0-9]*\) packets, .*/\1/p' "$1"; }
n0=$(got "$workdir/m0.log") n1=$(got "$workdir/m1.log")
note "two RX queues, two threads: queue 0 $n0 frames, queue 1 $n1 frames"
check_queues "$out/m0.pcap" "$n0" "$out/m1.pcap" "$n1" $(( 2 * half ))
kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || { cat "$workdir/balance2.log" >&2; fail "zc-balance did not stop cleanly"; }
! xdp_attached "$ns_b" "$multi_b" || fail "an XDP program is left on $multi_b"

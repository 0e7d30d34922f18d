#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# A consumer killed with SIGKILL while it holds buffers: zc-balance (groups
# 2, wait mode) learns it from its control socket closing, reclaims queue 1
# at once, and says so; queue 0's consumer loses nothing through it; every
# buffer comes home (the pool's free count returns to where it started); a
# new consumer attaches to queue 1 and receives. Then zc-balance itself is
# killed with SIGKILL: the stock tcpdump reading a queue exits at once with
# a message that says so, after the frames already queued.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
netns_pair

cluster=$(( 60000 + $$ % 10000 ))
count=20000 flows=32
socket=/run/zc/cluster-$cluster.sock

start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster -n 2 --on-full wait
balancer=$bg_pid
stop_all() { kill -9 ${q0:-} ${q1:-} ${q1b:-} ${dump:-} $balancer 2>/dev/null; }
cleanups="$cleanups stop_all"
[ -S "$socket" ] || fail "zc-balance made no control socket at $socket"

# metric NAME [QUEUE]: a value from one zc-stat scrape.
scrape() { "$tools/zc-stat" -c $cluster --prometheus >"$workdir/scrape" || fail "zc-stat --prometheus failed"; }
metric() {
    if [ $# -eq 2 ]; then sed -n "s/^$1{cluster=\"$cluster\",queue=\"$2\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"
    else sed -n "s/^$1{cluster=\"$cluster\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"; fi
}
scrape
free0=$(metric zc_pool_free_buffers)
[ -n "$free0" ] || fail "the scrape lacks zc_pool_free_buffers"
note "pool free before traffic: $free0"

start_capture "$workdir/q0.log" -i "zc:$cluster@0" -d 12 -w "$workdir/q0.pcap"
q0=$bg_pid
start_capture "$workdir/q1.log" -i "zc:$cluster@1" -d 60 -w "$workdir/q1.pcap"
q1=$bg_pid

# Kill queue 1's consumer while the frames flow (it holds buffers then).
( sleep 0.3; kill -9 $q1 ) &
killer=$!
send_frames $count $flows
wait $killer
wait $q1 2>/dev/null
q1=
for _ in $(seq 1 50); do
    grep -q "consumer of queue 1 (pid [0-9]*) left; [0-9]* buffers reclaimed" "$workdir/balance.log" && break
    sleep 0.1
done
grep "consumer of queue 1 .* left" "$workdir/balance.log" || { cat "$workdir/balance.log" >&2; fail "zc-balance did not notice queue 1's consumer die"; }

# A new consumer takes queue 1 over and receives (what waited on its ring,
# and new frames).
start_capture "$workdir/q1b.log" -i "zc:$cluster@1" -d 3
q1b=$bg_pid
send_frames 2000 $flows
bg_pid=$q1b
wait_bg 15 || { cat "$workdir/q1b.log" >&2; fail "the new consumer of queue 1 failed"; }
q1b=
got() { sed -n 's/^zc-count: .* \([0-9]*\) packets, .*/\1/p' "$1"; }
n1b=$(got "$workdir/q1b.log")
cat "$workdir/q1b.log"
[ -n "$n1b" ] && [ "$n1b" -gt 0 ] || fail "the new consumer of queue 1 received nothing"

bg_pid=$q0
wait_bg 30 || { cat "$workdir/q0.log" >&2; fail "queue 0's consumer failed"; }
q0=
cat "$workdir/q0.log"
n0=$(got "$workdir/q0.log")
scrape
e0=$(metric zc_queue_enqueued_total 0)
[ -n "$n0" ] && [ "$n0" = "$e0" ] || fail "queue 0's consumer counted $n0 frames, the balancer enqueued $e0"
"$checks/check-frames" "$workdir/q0.pcap" --count "$n0" --size 64 --flows $flows || fail "queue 0 holds wrong frames"

# Every buffer home: consumers gone, traffic over.
for _ in $(seq 1 50); do
    scrape
    free=$(metric zc_pool_free_buffers)
    [ "$free" = "$free0" ] && break
    sleep 0.2
done
[ "$free" = "$free0" ] || { cat "$workdir/scrape" "$workdir/balance.log" >&2; fail "pool free buffers: $free at the end, $free0 at the start"; }
note "pool free after: $free; queue 0: $n0 frames; new queue 1 consumer: $n1b frames"
cat "$workdir/balance.log"

kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
[ ! -e "$socket" ] || fail "zc-balance left its control socket behind"
[ ! -e "/dev/shm/zc/cluster-$cluster" ] || fail "zc-balance left its cluster region behind"

note "zc-balance killed with SIGKILL: the stock tcpdump on a queue exits with a message"
start_in_b "$workdir/balance2.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster -n 1 --on-full wait
balancer=$bg_pid
start_in_b "$workdir/tcpdump.log" "listening on" env LD_PRELOAD="$preload" \
    tcpdump -n -w "$out/owner-killed.pcap" -i "zc:$cluster@0"
dump=$bg_pid
send_frames 1000 $flows
sleep 0.5 # the frames on the queue's ring before the owner dies
kill -9 "$balancer"
bg_pid=$dump
status=0
wait_bg 10 || status=$?
dump=
cat "$workdir/tcpdump.log"
[ "$status" -ne 0 ] || fail "tcpdump exited 0 after its cluster's owner was killed"
grep -q "cluster $cluster: its owner (pid [0-9]*) closed the control socket" "$workdir/tcpdump.log" &&
    grep -q "zc:$cluster@0: the cluster's owner (zc-balance) is gone; no more packets will come" "$workdir/tcpdump.log" ||
    fail "tcpdump's message does not say that the owner is gone"
n=$(tcpdump -n -r "$out/owner-killed.pcap" 2>/dev/null | wc -l)
[ "$n" -eq 1000 ] || fail "tcpdump wrote $n of the 1000 frames queued before the owner died"
# What a killed owner leaves (the next zc-balance -c would replace it).
rm -f "/dev/shm/zc/cluster-$cluster" "/dev/hugepages/zc/cluster-$cluster" "$socket"
exit 0

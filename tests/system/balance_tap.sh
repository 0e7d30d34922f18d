#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Both sides of a tap: a passive tap gives one interface per direction, so
# the two directions of a flow arrive on different interfaces. zc-balance
# aggregates both (-i zc:IF1,zc:IF2: two AF_XDP devices receiving into one
# cluster pool) and must still put each flow, both directions, in one
# balanced queue. The client-to-server half of the traffic goes down one
# veth pair, the server-to-client half down another.
. "$(dirname "$0")/lib.sh"
netns_pair

# The second pair: the tap's other direction.
tap_a=${tag}t tap_b=${tag}u
veth_pair "$tap_a" "$tap_b"

cluster=$(( 72000 + $$ % 1000 ))
count=8000 flows=32

# The traffic: zc-send's flows (both directions), recorded once, then split
# by direction (client 198.18.x.y, server 198.19.x.y).
start_in_b "$workdir/record.log" "listening on" tcpdump -n -c $count -w "$workdir/both.pcap" -i "$veth_b"
in_a "$tools/zc-send" -i "$veth_a" -c $count -s 64 -f $flows -r 25000 -q || fail "zc-send failed"
wait_bg 30 || fail "recording the traffic failed"
tcpdump -n -r "$workdir/both.pcap" -w "$workdir/up.pcap" 'src net 198.18.0.0/16' 2>/dev/null
tcpdump -n -r "$workdir/both.pcap" -w "$workdir/down.pcap" 'src net 198.19.0.0/16' 2>/dev/null
up=$(tcpdump -n -r "$workdir/up.pcap" 2>/dev/null | wc -l)
down=$(tcpdump -n -r "$workdir/down.pcap" 2>/dev/null | wc -l)
[ $(( up + down )) -eq $count ] && [ "$up" -gt 0 ] && [ "$down" -gt 0 ] ||
    fail "splitting the recording gave $up + $down frames of $count"
note "$up frames client to server on $veth_b, $down server to client on $tap_b"

start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" \
    -i "zc:$veth_b,zc:$tap_b" -c $cluster -n 2 --on-full wait
balancer=$bg_pid
start_capture "$workdir/q0.log" -i "zc:$cluster@0" -d 8 -w "$workdir/q0.pcap"
q0=$bg_pid
start_capture "$workdir/q1.log" -i "zc:$cluster@1" -d 8 -w "$workdir/q1.pcap"
q1=$bg_pid
stop_all() { kill -9 ${q0:-} ${q1:-} $balancer 2>/dev/null; }
cleanups="$cleanups stop_all"

# Both directions at once, each on its own interface.
in_a "$tools/zc-send" -i "$veth_a" -p "$workdir/up.pcap" -q >"$workdir/send-up.log" 2>&1 &
sender_up=$!
in_a "$tools/zc-send" -i "$tap_a" -p "$workdir/down.pcap" -q >"$workdir/send-down.log" 2>&1 ||
    fail "zc-send on $tap_a failed: $(cat "$workdir/send-down.log")"
wait $sender_up || fail "zc-send on $veth_a failed: $(cat "$workdir/send-up.log")"

for pid in $q0 $q1; do
    bg_pid=$pid
    wait_bg 30 || { cat "$workdir"/q*.log >&2; fail "a consumer failed"; }
done
q0= q1=
cat "$workdir/q0.log" "$workdir/q1.log"
got() { sed -n 's/^zc-count: .* \([0-9]*\) packets, .*/\1/p' "$1"; }
n0=$(got "$workdir/q0.log") n1=$(got "$workdir/q1.log")
[ $(( n0 + n1 )) -eq $count ] || fail "the queues got $n0 + $n1 frames, $count were sent"
"$checks/check-frames" "$workdir/q0.pcap" --count "$n0" --size 64 --list-flows >"$workdir/flows0" ||
    fail "queue 0 holds wrong frames"
"$checks/check-frames" "$workdir/q1.pcap" --count "$n1" --size 64 --list-flows >"$workdir/flows1" ||
    fail "queue 1 holds wrong frames"
split=$(sort "$workdir/flows0" "$workdir/flows1" | uniq -d | wc -l)
[ "$split" -eq 0 ] || fail "$split flows were split between the queues"
[ "$(cat "$workdir/flows0" "$workdir/flows1" | wc -l)" -eq $flows ] || fail "not every flow arrived"
# Each queue saw both directions of its flows, from both interfaces.
for q in 0 1; do
    for net in 198.18 198.19; do
        [ "$(tcpdump -n -r "$workdir/q$q.pcap" "src net $net.0.0/16" 2>/dev/null | wc -l)" -gt 0 ] ||
            fail "queue $q has no frame from $net.0.0/16"
    done
done
note "flows whole across two interfaces: $(wc -l <"$workdir/flows0") on queue 0 ($n0 frames), $(wc -l <"$workdir/flows1") on queue 1 ($n1)"

kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
cat "$workdir/balance.log"
! xdp_attached "$ns_b" "$veth_b" || fail "an XDP program is left on $veth_b"
! xdp_attached "$ns_b" "$tap_b" || fail "an XDP program is left on $tap_b"
exit 0

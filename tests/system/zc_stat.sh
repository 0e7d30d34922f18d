#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-stat against a live cluster: zc-balance on a veth with one balanced
# group of two queues, wait mode, a zc-count on queue 0 and nobody on queue 1.
# After 2000 frames, zc-stat --prometheus must show enqueued totals summing
# to 2000, queue 1's RX ring holding all it was given, queue 0's consumer pid;
# and zc-stat on a cluster nobody created fails with exit status 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
[ -x "$tools/zc-stat" ] || skip "$tools/zc-stat is not built"
netns_pair

cluster=$(( 60000 + $$ % 5000 ))
count=2000 flows=32

start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster -n 2 --on-full wait
balancer=$bg_pid
start_capture "$workdir/q0.log" -i "zc:$cluster@0" -d 30
q0=$bg_pid
cleanups="$cleanups stop_all"
stop_all() { kill -INT $q0 $balancer 2>/dev/null; sleep 0.5; kill -9 $q0 $balancer 2>/dev/null; }

send_frames $count $flows

# metric NAME QUEUE: the value of NAME{cluster,queue} in the scrape.
metric() { sed -n "s/^$1{cluster=\"$cluster\",queue=\"$2\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"; }
scrape() { "$tools/zc-stat" -c $cluster --prometheus >"$workdir/scrape" || fail "zc-stat --prometheus failed"; }

# The balancer may still be moving the last frames: wait for the totals.
for _ in $(seq 1 50); do
    scrape
    e0=$(metric zc_queue_enqueued_total 0) e1=$(metric zc_queue_enqueued_total 1)
    [ -n "$e0" ] && [ -n "$e1" ] && [ $(( e0 + e1 )) -ge $count ] && break
    sleep 0.2
done
cat "$workdir/scrape"
[ -n "$e0" ] && [ -n "$e1" ] || fail "the scrape lacks zc_queue_enqueued_total for queues 0 and 1"
[ $(( e0 + e1 )) -eq $count ] || fail "enqueued $e0 + $e1 frames, $count were sent"
[ "$e1" -gt 0 ] || fail "queue 1 got nothing: the test needs both queues used"

o1=$(metric zc_queue_occupancy 1)
[ "$o1" = "$e1" ] || fail "queue 1 has no consumer: occupancy $o1 should equal enqueued $e1"
[ "$(metric zc_queue_consumer_pid 1)" = 0 ] || fail "queue 1 shows a consumer"
[ "$(metric zc_queue_consumer_pid 0)" = "$q0" ] || fail "queue 0's consumer pid is not zc-count's ($q0)"
[ "$(metric zc_queue_dropped_full_total 0)" = 0 ] && [ "$(metric zc_queue_dropped_full_total 1)" = 0 ] ||
    fail "wait mode dropped frames"

# Exposition format: every family has HELP and TYPE; counters end in _total.
grep -q "^zc_cluster_owner_pid{cluster=\"$cluster\"} $balancer\$" "$workdir/scrape" ||
    fail "zc_cluster_owner_pid is not zc-balance's pid ($balancer)"
grep -q '^zc_pool_free_buffers{' "$workdir/scrape" || fail "no zc_pool_free_buffers"
for family in $(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$workdir/scrape"); do
    grep -q "^# HELP $family " "$workdir/scrape" || fail "$family has no HELP line"
done
sed -n 's/^# TYPE \([a-z_]*\) \(.*\)/\1 \2/p' "$workdir/scrape" | while read -r family type; do
    case "$family:$type" in
    *_total:counter | *:gauge) ;;
    *) fail "$family is a $type: counters end in _total, gauges do not" ;;
    esac
    case "$family:$type" in *_total:gauge) fail "gauge $family ends in _total" ;; esac
done || exit 1

# The table: two samples, the first rate '-', the second a number.
"$tools/zc-stat" -c $cluster -i 0.2 -n 2 >"$workdir/table" || fail "zc-stat -n 2 failed"
cat "$workdir/table"
[ "$(grep -c '^cluster ' "$workdir/table")" -eq 2 ] || fail "zc-stat -n 2 did not print two tables"
rates=$(awk '$1 == "1" { print $NF }' "$workdir/table" | tr '\n' ' ')
[ "$rates" = "- 0 " ] || fail "queue 1's rates over two samples are '$rates', expected '- 0 '"

# A missing cluster: exit 1 and the library's sentence.
missing=$(( cluster + 1 ))
"$tools/zc-stat" -c $missing >"$workdir/missing.log" 2>&1
rc=$?
cat "$workdir/missing.log"
[ $rc -eq 1 ] || fail "zc-stat on a missing cluster exited $rc, not 1"
grep -q "no such cluster" "$workdir/missing.log" || fail "zc-stat on a missing cluster did not say 'no such cluster'"

kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
note "zc-stat: enqueued $e0 + $e1, queue 1 occupancy $o1"

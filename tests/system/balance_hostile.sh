#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Consumers are untrusted (man zc-balance, TRUST). zc-balance spreads paced
# traffic from a veth pair over two queues, each in a group of its own
# (-n 1,1: both see every frame, so the two queues share every buffer):
# queue 0 in drop mode, the one a hostile consumer attacks; queue 1 in wait
# mode, read by an honest zc-count that writes what it gets. Once per mode,
# tests/system/hostile-consumer (one hostile thing per run, see its header)
# attaches to queue 0 as user nobody with the cluster's group — what any
# member of the group can do — while the same traffic as in a baseline run
# flows. Each run must leave:
#   - zc-balance running;
#   - queue 1's consumer with byte-exact frames (check-frames: every frame
#     as sent, none twice) and no less than 0.9x the frames it got in the
#     baseline run (the source is paced, so this is its rate over the same
#     interval);
#   - the pool's free count (zc-stat) where it started, once the hostile
#     process is gone and the traffic over;
#   - queue 0's cut-off counter one higher for the modes that must be cut
#     off, unchanged for the others; for garbage-returns, exactly one bad
#     return counted per piece of garbage.
# Then an honest zc-count on queue 0 is stopped (SIGSTOP) for two seconds
# while the traffic flows: queue 1 keeps its rate and queue 0 counts drops.
#
# The source is paced well below what this machine can carry (ZC_HOSTILE_RATE
# frames/s, default 100000, for ZC_HOSTILE_SECONDS s, default 3; halved
# when the baseline shows the machine cannot carry it) so that a tenth less
# means something, not noise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
command -v groupadd >/dev/null || skip "groupadd (passwd) is not installed"
[ -x "$checks/hostile-consumer" ] || fail "$checks/hostile-consumer is not built (make check builds it)"
netns_pair

group=zch$tag
groupadd -r "$group" || fail "groupadd $group failed"
remove_group() { groupdel "$group" 2>/dev/null; }
cleanups="$cleanups remove_group"

cluster=$(( 80000 + $$ % 1000 ))
rate=${ZC_HOSTILE_RATE:-100000}
seconds=${ZC_HOSTILE_SECONDS:-3}
count=$(( rate * seconds ))
flows=32

start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster \
    -n 1,1 --on-full drop,wait --group "$group"
balancer=$bg_pid
stop_all() { kill -9 ${hostile:-} ${q0:-} ${q1:-} ${sender:-} $balancer 2>/dev/null; }
cleanups="$cleanups stop_all"

# The hostile program from a place user nobody can read (the build tree may
# not be).
mkdir -p "$workdir/bin"
cp "$checks/hostile-consumer" "$workdir/bin/"
chmod -R a+rX "$workdir/bin"
as_member() { in_b setpriv --reuid=nobody --regid=nogroup --groups="$group" "$@"; }

# scrape; metric NAME [QUEUE]: a value from one zc-stat scrape.
scrape() { "$tools/zc-stat" -c $cluster -n 1 --prometheus >"$workdir/scrape" || fail "zc-stat --prometheus failed"; }
metric() {
    if [ $# -eq 2 ]; then sed -n "s/^$1{cluster=\"$cluster\",queue=\"$2\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"
    else sed -n "s/^$1{cluster=\"$cluster\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"; fi
}
got() { sed -n 's/^zc-count: .* \([0-9]*\) packets, .*/\1/p' "$1"; }
alive() {
    kill -0 "$balancer" 2>/dev/null && return 0
    cat "$workdir/balance.log" >&2
    fail "$1: zc-balance is gone (see its log above)"
}

scrape
free0=$(metric zc_pool_free_buffers)
[ -n "$free0" ] || fail "the scrape lacks zc_pool_free_buffers"
note "cluster $cluster: pool free $free0 of $(metric zc_pool_buffers); traffic: $count frames at $rate/s over $flows flows"

# send: the paced frames from $ns_a, through AF_PACKET (zc-send's device
# mode): it works on every kernel (live mode needs BPF_PROG_RUN with live
# frames, which some sandboxed kernels refuse) and carries far more than the
# rate asked here.
send() {
    in_a "$tools/zc-send" -i "zc:afpacket:$veth_a" -c $count -s 64 -f $flows -r $rate -q ||
        fail "zc-send failed"
}

# traffic LABEL: the paced frames, with an honest zc-count writing queue 1;
# sets n1 (its frames) and took (the seconds the sending took). Whatever
# the caller started on queue 0 runs meanwhile; $before_send, if set, is
# run (eval) just before the sending starts.
traffic() {
    start_capture "$workdir/$1-q1.log" -i "zc:$cluster@1" -w "$workdir/$1-q1.pcap"
    q1=$bg_pid
    eval "${before_send:-:}"
    start=$(date +%s.%N)
    send
    took=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.2f", $2 - $1 }')
    sleep 0.5 # what is on queue 1's ring
    kill -INT $q1
    bg_pid=$q1
    wait_bg 10 || { cat "$workdir/$1-q1.log" >&2; fail "$1: queue 1's zc-count failed"; }
    q1=
    n1=$(got "$workdir/$1-q1.log")
    [ -n "$n1" ] && [ "$n1" -gt 0 ] || { cat "$workdir/$1-q1.log" >&2; fail "$1: queue 1's consumer received nothing"; }
    "$checks/check-frames" "$workdir/$1-q1.pcap" --count "$n1" --size 64 --flows $flows --unique >/dev/null ||
        fail "$1: queue 1's frames are not what was sent (check-frames above)"
    rm -f "$workdir/$1-q1.pcap"
}

# drain_queue0: an honest consumer takes queue 0 for a moment and leaves:
# whatever the traffic left on its ring after the hostile one was gone
# comes home when it leaves.
drain_queue0() {
    in_b "$tools/zc-count" -i "zc:$cluster@0" -d 0.3 -q >"$workdir/drain.log" 2>&1 ||
        { cat "$workdir/drain.log" >&2; fail "$1: an honest consumer could not take queue 0 afterwards"; }
}

# pool_home LABEL: the pool's free count is back at free0.
pool_home() {
    for _ in $(seq 1 50); do
        scrape
        free=$(metric zc_pool_free_buffers)
        [ "$free" = "$free0" ] && return 0
        sleep 0.1
    done
    cat "$workdir/scrape" "$workdir/balance.log" >&2
    fail "$1: pool free buffers $free once everything was over, $free0 at the start"
}

# ratio_ok: n1 is at least 0.9x the baseline's.
ratio() { echo "$n1 $base1" | awk '{ printf "%.3f", $1 / $2 }'; }
ratio_ok() { echo "$n1 $base1" | awk '{ exit !($1 >= 0.9 * $2) }'; }

# baseline: honest zc-count on both queues. When a loaded machine cannot
# carry the rate (queue 1 gets less than 0.9 of what was sent), the rate is
# halved, twice at most: the comparison needs a rate the machine carries.
for attempt in 1 2 3; do
    note "baseline at $rate frames/s: honest zc-count on both queues"
    start_capture "$workdir/base-q0.log" -i "zc:$cluster@0"
    q0=$bg_pid
    traffic base
    base1=$n1
    base_took=$took
    kill -INT $q0
    bg_pid=$q0
    wait_bg 10 || { cat "$workdir/base-q0.log" >&2; fail "baseline: queue 0's zc-count failed"; }
    q0=
    alive baseline
    pool_home baseline
    note "baseline: queue 1 received $base1 of $count frames in ${base_took} s ($(echo "$base1 $base_took" |
        awk '{ printf "%.0f", $1 / $2 }') frames/s)"
    [ "$base1" -ge $(( count * 9 / 10 )) ] && break
    [ $attempt -lt 3 ] ||
        fail "baseline: queue 1 received $base1 of $count frames: the machine cannot carry $rate frames/s (set ZC_HOSTILE_RATE lower)"
    rate=$(( rate / 2 ))
    count=$(( rate * seconds ))
done

summary=""
# hostile MODE CUT [ARGS...]: hostile_run, and once more when queue 1 fell
# short of 0.9x the baseline: on a shared machine a stall of the whole
# guest (a few hundred ms in a 3 s run) costs queue 1 a tenth once; a mode
# that really slows the owner does it both times, and fails.
hostile() {
    short=""
    hostile_run "$@"
    ratio_ok && return 0
    short="$(ratio) x baseline the first time"
    note "$1: queue 1 received $n1 frames, $short (the interface: $(device_drops)); once more"
    hostile_run "$@"
    ratio_ok || fail "$1: queue 1 received $n1 frames, $(ratio) of the baseline's $base1 (at least 0.9 wanted), twice in a row ($short)"
}

# device_drops: the receiving veth's counters, for the record.
device_drops() { in_b ip -s link show "$veth_b" | tr -s ' ' | tr '\n' ' '; }

# hostile_run MODE CUT [ARGS...]: one hostile run on queue 0; CUT is yes
# when the mode must be cut off.
hostile_run() {
    mode=$1 cut=$2; shift 2
    scrape
    cut0=$(metric zc_queue_cut_off_total 0) bad0=$(metric zc_queue_bad_returns_total 0)
    start_in_b "$workdir/$mode.log" "attached to queue" setpriv --reuid=nobody --regid=nogroup --groups="$group" \
        "$workdir/bin/hostile-consumer" -c $cluster -q 0 --seconds "$seconds" "$@" "$mode"
    hostile=$bg_pid pid=$bg_pid # ip netns exec and setpriv exec it: the pid zc-balance sees
    traffic "$mode"
    bg_pid=$hostile
    status=0
    wait_bg 30 || status=$?
    hostile=
    line=$(grep "^hostile-consumer: $mode: " "$workdir/$mode.log" | grep -v -e ': attaching$' -e 'attached to queue [0-9]*: region')
    echo "$line"
    alive "$mode"
    [ $status -eq 0 ] || { cat "$workdir/$mode.log" >&2; fail "$mode: the hostile consumer's expectation failed (status $status): $line"; }
    # The hostile process gone and the traffic over: every buffer is free
    # or on queue 0's ring (which nobody reads now).
    # The device may be short of its fill ring by less than one top-up
    # batch (AF_XDP refills 64 at a time, kRefillBatch): those buffers are
    # free until it next tops up. The exact count is checked below, once
    # queue 0 is drained and its buffers have gone home to the device.
    home_now() { [ $(( free + occupancy )) -ge "$free0" ] && [ $(( free + occupancy )) -lt $(( free0 + 64 )) ]; }
    for _ in $(seq 1 50); do
        scrape
        free=$(metric zc_pool_free_buffers) occupancy=$(metric zc_queue_occupancy 0)
        home_now && break
        sleep 0.1
    done
    home_now || { cat "$workdir/scrape" "$workdir/balance.log" >&2
        fail "$mode: with the hostile consumer gone, $free buffers are free and $occupancy on queue 0's ring; $free0 were free at the start (up to 63 more allowed: the device's fill ring)"; }
    drain_queue0 "$mode"
    alive "$mode"
    pool_home "$mode"
    cut1=$(metric zc_queue_cut_off_total 0) bad1=$(metric zc_queue_bad_returns_total 0)
    cuts=$(( cut1 - cut0 )) bads=$(( bad1 - bad0 ))
    if [ "$cut" = yes ]; then
        [ $cuts -ge 1 ] || { cat "$workdir/balance.log" >&2; fail "$mode: queue 0's cut-off counter did not rise ($cut0 before, $cut1 after)"; }
        grep "consumer of queue 0 (pid $pid) cut off: .*; [0-9]* buffers reclaimed" "$workdir/balance.log" ||
            { cat "$workdir/balance.log" >&2; fail "$mode: zc-balance did not log the cut-off of pid $pid"; }
    else
        [ $cuts -eq 0 ] || { cat "$workdir/balance.log" >&2; fail "$mode: queue 0 was cut off ($cut0 before, $cut1 after), and it should not have been"; }
    fi
    if [ "$mode" = garbage-returns ]; then
        garbage=$(sed -n 's/^garbage=\([0-9]*\) .*/\1/p' "$workdir/$mode.log")
        [ "$bads" = "$garbage" ] || fail "$mode: the hostile consumer handed back $garbage pieces of garbage, zc-stat counts $bads bad returns"
    fi
    ratio_ok || return 0 # hostile decides
    cut_ms=$(sed -n 's/^cut_off_ms=//p' "$workdir/$mode.log")
    result="$mode: queue 1 $n1 frames ($(ratio) x baseline${short:+; $short}) in $took s; queue 0 cut-offs +$cuts, bad returns +$bads${cut_ms:+, cut off in $cut_ms ms}; pool free $free (start $free0)"
    note "$result"
    summary="$summary
$result"
}

hostile garbage-returns no
hostile random-indices yes
hostile random-geometry yes
hostile stale-side yes
hostile shrink-side no
hostile block-wake no
hostile region-write no
hostile second-consumer no
hostile hoard no
hostile scribble-counts no

note "second-consumer against the honest consumer of queue 1"
start_capture "$workdir/holder.log" -i "zc:$cluster@1" -d 30
q1=$bg_pid
as_member "$workdir/bin/hostile-consumer" -c $cluster -q 1 --holder $q1 second-consumer >"$workdir/second.log" 2>&1 ||
    { cat "$workdir/second.log" >&2; fail "second-consumer: a second attach to queue 1 was not refused naming its holder (pid $q1)"; }
grep "^hostile-consumer: second-consumer: " "$workdir/second.log" | grep -v ': attaching$'
kill -INT $q1
bg_pid=$q1
wait_bg 10 || fail "queue 1's holder failed"
q1=
alive second-consumer

note "drop mode: the honest consumer of queue 0 stopped (SIGSTOP) for 2 s while the traffic flows"
scrape
drop0=$(metric zc_queue_dropped_full_total 0)
start_capture "$workdir/stopped-q0.log" -i "zc:$cluster@0"
q0=$bg_pid
# The stop lies inside the sending (3 s at the rate, paced), whatever
# time queue 1's consumer took to start.
before_send='( sleep 0.5; kill -STOP $q0; sleep 2; kill -CONT $q0 ) & stopper=$!'
traffic sigstop
before_send=
wait $stopper
kill -INT $q0
bg_pid=$q0
wait_bg 10 || { cat "$workdir/stopped-q0.log" >&2; fail "SIGSTOP: queue 0's zc-count failed after SIGCONT"; }
q0=
alive SIGSTOP
scrape
drop1=$(metric zc_queue_dropped_full_total 0)
drops=$(( drop1 - drop0 ))
ratio_ok || fail "SIGSTOP: queue 1 received $n1 frames, $(ratio) of the baseline's $base1 (at least 0.9 wanted) while queue 0's consumer was stopped"
[ $drops -gt 0 ] || fail "SIGSTOP: queue 0's drop counter did not rise ($drop0 before, $drop1 after)"
pool_home SIGSTOP
result="SIGSTOP: queue 1 $n1 frames ($(ratio) x baseline) in $took s; queue 0 dropped +$drops; pool free $free (start $free0)"
note "$result"
summary="$summary
$result"

note "summary (baseline: queue 1 $base1 frames in $base_took s):$summary"
kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
grep "cut off" "$workdir/balance.log"
exit 0

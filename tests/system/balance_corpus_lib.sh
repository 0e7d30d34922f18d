# SPDX-License-Identifier: BSD-3-Clause
#
# tests/system/balance_corpus_lib.sh — sourced by balance_corpus*.sh after
# lib.sh and pcap_zc_lib.sh: zc-balance with two balanced groups (-n 2,4:
# queues 0-1 and 2-5), the stock tcpdump on every queue, and the waits and
# readings around them.

command -v tcpdump >/dev/null || skip "tcpdump is not installed"
[ -x "$tools/zc-stat" ] || skip "$tools/zc-stat is not built"
cluster=$(( 81000 + $$ % 1000 ))
group0="0 1" group1="2 3 4 5"

# start_balancer LOG ARGS...: zc-balance -c $cluster -n 2,4 --on-full wait
# ARGS in the background (pid in $balancer), once it is ready; run it in
# $ns_b when $in_ns is set.
start_balancer() {
    balance_log=$1; shift
    if [ -n "${in_ns:-}" ]; then
        start_in_b "$balance_log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -c $cluster -n 2,4 --on-full wait "$@"
    else
        "$tools/zc-balance" -c $cluster -n 2,4 --on-full wait "$@" >"$balance_log" 2>&1 &
        bg_pid=$!
        for _ in $(seq 1 100); do
            grep -q "zc-balance: cluster $cluster:" "$balance_log" && break
            kill -0 $bg_pid 2>/dev/null || { cat "$balance_log" >&2; fail "zc-balance exited early"; }
            sleep 0.1
        done
        grep -q "zc-balance: cluster $cluster:" "$balance_log" || { cat "$balance_log" >&2; fail "zc-balance did not start"; }
    fi
    balancer=$bg_pid
    cleanups="$cleanups stop_balancer"
}
# (On exit: SIGINT first, so that it removes its region and socket.)
stop_balancer() {
    [ -n "${balancer:-}" ] || return 0
    kill -INT "$balancer" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$balancer" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$balancer" 2>/dev/null
}

# start_tcpdumps NAME TARGET: the stock tcpdump through libpcap-zc on each
# queue q, writing to TARGET with @ replaced by q (or to /dev/null);
# logs in $workdir/NAME-q.log, pids in $dumps.
start_tcpdumps() {
    dumps=""
    for dump_queue in $group0 $group1; do
        dump_file=$(echo "$2" | sed "s/@/$dump_queue/")
        dump_log=$workdir/$1-$dump_queue.log
        if [ -n "${in_ns:-}" ]; then
            start_in_b "$dump_log" "listening on" env LD_PRELOAD="$preload" tcpdump -n -w "$dump_file" -i "zc:$cluster@$dump_queue"
        else
            LD_PRELOAD="$preload" tcpdump -n -w "$dump_file" -i "zc:$cluster@$dump_queue" >"$dump_log" 2>&1 &
            bg_pid=$!
        fi
        dumps="$dumps $bg_pid"
    done
    cleanups="$cleanups stop_tcpdumps"
}
stop_tcpdumps() { for dump_pid in $dumps; do kill -9 "$dump_pid" 2>/dev/null; done; }

# metric NAME QUEUE: a per-queue value from the last scrape.
metric() { sed -n "s/^$1{cluster=\"$cluster\",queue=\"$2\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"; }
group_sum() {
    name=$1; shift
    sum=0
    for q in "$@"; do sum=$(( sum + $(metric "$name" "$q") )); done
    echo $sum
}

# wait_delivered COUNT [SECONDS]: until each group's queues were given COUNT
# frames in all and every tcpdump handed back every one (libpcap-zc returns
# a burst's buffers only after its callbacks ran: all were delivered).
# Fails after SECONDS (default 60) with the counters, and what
# $undelivered_hint (a command) adds.
wait_delivered() {
    for _ in $(seq 1 $(( ${2:-60} * 5 ))); do
        "$tools/zc-stat" -c $cluster --prometheus >"$workdir/scrape" 2>"$workdir/scrape.err" ||
            fail "zc-stat failed: $(cat "$workdir/scrape.err")"
        e0=$(group_sum zc_queue_enqueued_total $group0) e1=$(group_sum zc_queue_enqueued_total $group1)
        r0=$(group_sum zc_queue_returned_total $group0) r1=$(group_sum zc_queue_returned_total $group1)
        [ "$e0" -eq "$1" ] && [ "$e1" -eq "$1" ] && [ "$r0" -eq "$1" ] && [ "$r1" -eq "$1" ] && return 0
        [ "$e0" -gt "$1" ] || [ "$e1" -gt "$1" ] && break
        sleep 0.2
    done
    grep -v '^#' "$workdir/scrape" >&2
    ${undelivered_hint:-true}
    fail "expected $1 frames in each group: enqueued $e0 and $e1, handed back $r0 and $r1"
}

# stop_tcpdumps_cleanly: SIGINT to each, which ends pcap_loop and flushes
# the file; each must exit 0.
stop_tcpdumps_cleanly() {
    kill -INT $dumps
    for dump_pid in $dumps; do
        bg_pid=$dump_pid
        wait_bg 20 || { cat "$workdir"/*.log >&2; fail "a tcpdump failed"; }
    done
    dumps=""
}

# captured NAME Q: what tcpdump said it captured on queue Q.
captured() { sed -n 's/^\([0-9]*\) packets captured$/\1/p' "$workdir/$1-$2.log"; }

# stop_balancer_cleanly LOG TOTAL: SIGINT; the final table in LOG must show
# TOTAL received and distributed, nothing dropped, refused or held.
stop_balancer_cleanly() {
    kill -INT "$balancer"
    bg_pid=$balancer
    wait_bg 20 || fail "zc-balance did not stop cleanly"
    balancer=""
    balance_log=$1 balance_total=$2
    grep -q "^total: received $balance_total distributed $balance_total waiting 0 " "$balance_log" ||
        { cat "$balance_log" >&2; fail "zc-balance's totals are not $balance_total received and distributed"; }
    awk '$1 ~ /^[0-9]+$/ && NF >= 6 && ($3 != 0 || $4 != 0 || $5 != 0 || $6 != 0) { bad = 1 } END { exit bad }' \
        "$balance_log" || { cat "$balance_log" >&2; fail "zc-balance dropped, refused or still holds frames"; }
    [ ! -e "/dev/shm/zc/cluster-$cluster" ] || fail "zc-balance left its cluster region behind"
}

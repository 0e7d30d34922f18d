# SPDX-License-Identifier: BSD-3-Clause
#
# bench/lib.sh — sourced by the benchmark scripts: a private pair of network
# namespaces joined by a veth pair (tests/system/lib.sh), zc-send saturating
# it from $ns_a with 64-byte frames, and the helpers that measure a receiver
# on $veth_b and take medians. Root only; traffic stays in the namespaces.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export ZC_BUILD=${ZC_BUILD:-$top/build}
. "$top/tests/system/lib.sh"
command -v tcpdump >/dev/null || fail "tcpdump is not installed (apt-get install tcpdump)"
netns_pair

# json_field NAME: the number after "NAME": in the last JSON line on stdin.
json_field() { tail -n 1 | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
# median: of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
tx_packets() { in_a cat "/sys/class/net/$veth_a/statistics/tx_packets"; }

# offered_during NAME COMMAND...: runs COMMAND (one measurement; its output
# passes through) and appends to $workdir/NAME.offered the packets per
# second the sender offered meanwhile: what $veth_a handed to $veth_b over
# the command's wall time (a veth counts as sent what its peer took in).
# (Its variables are its own: the command may be a function with a before
# and an after of its own.)
offered_during() {
    offered_name=$1; shift
    offered_before=$(tx_packets) offered_start=$(date +%s.%N)
    "$@"
    offered_status=$?
    offered_after=$(tx_packets) offered_end=$(date +%s.%N)
    awk -v p=$(( offered_after - offered_before )) -v a="$offered_start" -v b="$offered_end" \
        'BEGIN { printf "%.0f\n", p / (b - a) }' >>"$workdir/$offered_name.offered"
    return $offered_status
}

# generator NAME COMMAND...: COMMAND, a sender printing one JSON line with
# "pps" and "mode", alone on the pair for $seconds from $ns_a, into the bare
# rxdrop loop on $veth_b; sender and receiver pinned to a CPU each where
# there are two. Appends the sender's own rate to $workdir/NAME, its mode to
# $workdir/NAME.mode, and what the receiver got per second to
# $workdir/NAME.received. Before saturate: nothing else may send meanwhile.
generator() {
    generator_name=$1; shift
    send_cpu="" receive_cpu=""
    [ "$(nproc)" -ge 2 ] && send_cpu="taskset -c 0" receive_cpu="taskset -c 1"
    ip netns exec "$ns_b" $receive_cpu "$ZC_BUILD/bench/capture/xdp-rxdrop" -i "$veth_b" -d $(( seconds + 2 )) \
        --json >"$workdir/$generator_name.rx.json" &
    generator_receiver=$!
    sleep 1
    ip netns exec "$ns_a" $send_cpu "$@" >"$workdir/$generator_name.json" 2>>"$workdir/generators.err"
    wait "$generator_receiver"
    json_field pps <"$workdir/$generator_name.json" >>"$workdir/$generator_name"
    sed -n 's/.*"mode":"\([a-z-]*\)".*/\1/p' "$workdir/$generator_name.json" >"$workdir/$generator_name.mode"
    # The receiver ran $seconds + 2 s, the sender $seconds of them.
    json_field packets <"$workdir/$generator_name.rx.json" |
        awk -v s="$seconds" '{ printf "%.0f\n", $1 / s }' >>"$workdir/$generator_name.received"
}

# An awk function for the tables, the one rule for which side a row
# measured: when the receiver took (nearly) all that was offered, it kept
# up and the sender was the limit, so the row says nothing of what the
# receiver could do and no ratio between such rows means anything.
limit_awk='function limit(received, offered) {
    if (offered <= 0) return "-"
    return received >= 0.95 * offered ? "sender-bound" : "receiver-bound"
}'

# saturate SECONDS: zc-send at top speed, 64-byte frames, 64 flows, for
# SECONDS, in the background; stopped on exit. ip netns exec execs zc-send,
# so $sender is zc-send itself (through in_a it would be a subshell, and
# killing that would leave zc-send running).
saturate() {
    ip netns exec "$ns_a" "$tools/zc-send" -i "$veth_a" -s 64 -f 64 -d "$1" -q >"$workdir/send.log" 2>&1 &
    sender=$!
    cleanups="$cleanups stop_sender"
    sleep 1
}
stop_sender() { kill "$sender" 2>/dev/null; wait "$sender" 2>/dev/null; }

# capture_window LOG COMMAND...: runs COMMAND (a tcpdump, perhaps under
# env, time and timeout) with its output in LOG and prints the seconds it
# captured: from tcpdump's "listening on" line to its end, so that its
# start (an AF_XDP socket and an XDP program for zc:) does not count as
# time in which it kept up or not. Writes what the sender offered per
# second over that same window to LOG.offered.
capture_window() {
    window_log=$1; shift
    : >"$window_log"
    "$@" >"$window_log" 2>&1 &
    window_pid=$!
    while kill -0 "$window_pid" 2>/dev/null && ! grep -q 'listening on' "$window_log"; do
        sleep 0.02
    done
    window_before=$(tx_packets) window_start=$(date +%s.%N)
    wait "$window_pid"
    window_end=$(date +%s.%N) window_after=$(tx_packets)
    awk -v p=$(( window_after - window_before )) -v a="$window_start" -v b="$window_end" \
        'BEGIN { printf "%.0f\n", (b > a ? p / (b - a) : 0) }' >"$window_log.offered"
    awk -v a="$window_start" -v b="$window_end" 'BEGIN { printf "%.3f\n", b - a }'
}

# tcpdump_pps SECONDS [LD_PRELOAD] ARGS...: packets per second the stock
# tcpdump writes to /dev/null, with ARGS (-i ...), run for SECONDS, over the
# time it captured (capture_window); the load offered meanwhile is then in
# $workdir/tcpdump.out.offered.
tcpdump_pps() {
    seconds=$1 preload_path=$2; shift 2
    window=$(capture_window "$workdir/tcpdump.out" in_b env ${preload_path:+LD_PRELOAD=$preload_path} \
        timeout -s INT "$seconds" tcpdump -n -w /dev/null "$@")
    captured=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$workdir/tcpdump.out")
    awk -v p="${captured:-0}" -v w="$window" 'BEGIN { printf "%.0f\n", (w > 0 ? p / w : 0) }'
}

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

# tcpdump_pps SECONDS [LD_PRELOAD] ARGS...: packets per second the stock
# tcpdump writes to /dev/null in SECONDS, with ARGS (-i ...).
tcpdump_pps() {
    seconds=$1 preload_path=$2; shift 2
    captured=$(in_b env ${preload_path:+LD_PRELOAD=$preload_path} timeout -s INT "$seconds" \
        tcpdump -n -w /dev/null "$@" 2>&1 | sed -n 's/^\([0-9]*\) packets captured.*/\1/p')
    echo "$(( ${captured:-0} / seconds ))"
}

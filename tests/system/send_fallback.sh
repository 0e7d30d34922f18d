#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Where the kernel refuses live frames, zc-send sends through an AF_XDP
# socket with a TX ring only: no XDP program on the interface while it does,
# and every frame of -c N at top speed leaves (the TX ring is flushed at
# the end). With queue 0 held by another AF_XDP socket it falls back to
# AF_PACKET and still sends them all. Skipped where live frames work.
. "$(dirname "$0")/lib.sh"
netns_pair

count=20000
counters() {
    in_a cat "/sys/class/net/$veth_a/statistics/tx_packets" "/sys/class/net/$veth_a/statistics/tx_dropped" |
        awk '{ sum += $1 } END { print sum }'
}

# send LOG: zc-send -c $count at top speed from $ns_a; checks that the
# interface took all of them (sent, or dropped by the peer's stack).
send() {
    before=$(counters)
    in_a "$tools/zc-send" -i "$veth_a" -c $count -s 64 -f 8 >"$1" 2>&1 || { cat "$1" >&2; fail "zc-send failed"; }
    after=$(counters)
    [ $(( after - before )) -eq $count ] ||
        { cat "$1" >&2; fail "$veth_a took $(( after - before )) of the $count frames zc-send sent"; }
}

in_a "$tools/zc-send" -i "$veth_a" -c 1 -q >"$workdir/probe.log" 2>&1 ||
    { cat "$workdir/probe.log" >&2; fail "zc-send -c 1 failed"; }
grep -q "refuses to run them with live frames" "$workdir/probe.log" || skip "this kernel runs live frames"

note "AF_XDP, transmit only"
in_a "$tools/zc-send" -i "$veth_a" -d 3 -q >"$workdir/timed.log" 2>&1 &
timed=$!
sleep 1.5
! xdp_attached "$ns_a" "$veth_a" || fail "zc-send's AF_XDP fallback attached an XDP program to $veth_a"
wait $timed || { cat "$workdir/timed.log" >&2; fail "zc-send -d 3 failed"; }
grep -q "sending through zc:$veth_a (AF_XDP, transmit only)" "$workdir/timed.log" ||
    { cat "$workdir/timed.log" >&2; fail "zc-send did not say it fell back to AF_XDP"; }
send "$workdir/afxdp.log"
cat "$workdir/afxdp.log"

note "queue 0 held by another AF_XDP socket: AF_PACKET"
: >"$workdir/holder.log"
ip netns exec "$ns_a" "$tools/zc-count" -i "zc:$veth_a" -d 30 >"$workdir/holder.log" 2>&1 &
holder=$!
for _ in $(seq 1 100); do
    grep -q 'counting on' "$workdir/holder.log" && break
    sleep 0.1
done
grep -q 'counting on' "$workdir/holder.log" ||
    { cat "$workdir/holder.log" >&2; fail "zc-count on $veth_a did not start"; }
send "$workdir/afpacket.log"
kill "$holder"; wait "$holder" 2>/dev/null
cat "$workdir/afpacket.log"
grep -q "AF_XDP cannot send either (.*); sending through zc:afpacket:$veth_a instead" "$workdir/afpacket.log" ||
    fail "zc-send did not say why it fell back to AF_PACKET"

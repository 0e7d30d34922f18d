#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The stock Debian tcpdump, run as Debian runs it (it drops to user tcpdump
# right after pcap_activate), captures from zc: names through libpcap-zc:
# exactly what zc-send sent, over AF_XDP and AF_PACKET; a filter returns
# exactly the matching frames; SIGINT (pcap_breakloop from a signal handler)
# ends it with true counts; tcpdump -D lists zc devices; a bad name fails
# with zc's sentence; a name that is not zc: captures as stock libpcap does.
. "$(dirname "$0")/lib.sh"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
. "$(dirname "$0")/pcap_zc_lib.sh"
netns_pair

count=20000 flows=8

for device in "zc:$veth_b" "zc:afpacket:$veth_b" "$veth_b"; do
    note "tcpdump -i $device -c $count -w (default user: drops to tcpdump)"
    rm -f "$out/capture.pcap"
    start_in_b "$workdir/tcpdump.log" "listening on" env LD_PRELOAD="$preload" tcpdump -n -c $count -w "$out/capture.pcap" -i "$device"
    user=$(ps -o user= -p "$bg_pid" | tr -d ' ')
    if id tcpdump >/dev/null 2>&1; then
        [ "$user" = tcpdump ] || fail "$device: tcpdump runs as '$user', not as user tcpdump"
    fi
    send_frames $count $flows
    wait_bg 30 || { cat "$workdir/tcpdump.log" >&2; fail "tcpdump failed on $device"; }
    cat "$workdir/tcpdump.log"
    "$checks/check-frames" "$out/capture.pcap" --count $count --size 64 --flows $flows --sequences ||
        fail "$device: the capture is not what was sent"
    grep -q "^$count packets captured" "$workdir/tcpdump.log" || fail "$device: tcpdump does not report $count packets"
    ! xdp_attached "$ns_b" "$veth_b" || fail "$device: an XDP program is left on $veth_b"
done

note "the wrapper: zc-pcap tcpdump, nanosecond time stamps"
rm -f "$out/nano.pcap"
start_in_b "$workdir/wrapper.log" "listening on" env ${asan_runtime:+LD_PRELOAD=$asan_runtime} \
    sh "$zc_pcap" tcpdump -n -c 100 --time-stamp-precision=nano -w "$out/nano.pcap" -i "zc:$veth_b"
send_frames 100 $flows
wait_bg 30 || { cat "$workdir/wrapper.log" >&2; fail "zc-pcap tcpdump failed"; }
"$checks/check-frames" "$out/nano.pcap" --count 100 --size 64 --flows $flows --sequences ||
    fail "zc-pcap: the capture is not what was sent"
# A nanosecond pcap file has magic a1b23c4d (little-endian: 4d 3c b2 a1).
[ "$(od -An -tx1 -N4 "$out/nano.pcap" | tr -d ' ')" = 4d3cb2a1 ] || fail "--time-stamp-precision=nano: not a nanosecond file"

note "a filter, stopped by SIGINT: exactly the matching frames"
# Stream frame n is flow (n/2)%flows, client to server when n is even:
# src 198.18.0.3 is n % 16 == 6 for 8 flows, count/16 frames of 20000.
expected=$(( count / 16 ))
start_in_b "$workdir/filter.log" "listening on" env LD_PRELOAD="$preload" tcpdump -n -w "$out/filter.pcap" -i "zc:$veth_b" \
    udp and src host 198.18.0.3
send_frames $count $flows
sleep 1
kill -INT "$bg_pid"
wait_bg 10 || { cat "$workdir/filter.log" >&2; fail "tcpdump with a filter failed"; }
cat "$workdir/filter.log"
got=$(tcpdump -n -r "$out/filter.pcap" 2>/dev/null | grep -c '198\.18\.0\.3\.[0-9]* > 198\.19\.0\.3\.')
total=$(tcpdump -n -r "$out/filter.pcap" 2>/dev/null | wc -l)
[ "$got" -eq "$expected" ] && [ "$total" -eq "$expected" ] ||
    fail "filter: $total frames, $got from 198.18.0.3, expected $expected"
grep -q "^$expected packets captured" "$workdir/filter.log" || fail "filter: tcpdump does not report $expected captured"
grep -q "^$expected packets received by filter" "$workdir/filter.log" ||
    fail "filter: ps_recv is not the $expected frames that passed the filter"
! xdp_attached "$ns_b" "$veth_b" || fail "after SIGINT: an XDP program is left on $veth_b"

note "tcpdump -D lists zc devices next to the usual ones"
list=$(in_b env LD_PRELOAD="$preload" tcpdump -D) || fail "tcpdump -D failed"
echo "$list"
echo "$list" | grep -q "\.zc:$veth_b " || fail "tcpdump -D does not list zc:$veth_b"
echo "$list" | grep -q "\.$veth_b " || fail "tcpdump -D lost $veth_b"
stock=$(in_b tcpdump -D)
[ "$(echo "$list" | head -n "$(echo "$stock" | wc -l)")" = "$stock" ] || fail "tcpdump -D: libpcap's own entries changed"

note "errors: the sentence from zc, a non-zero exit"
for name in zc:nosuch0 zc:afpacket:nosuch0; do
    msg=$(in_b env LD_PRELOAD="$preload" timeout 10 tcpdump -c 1 -i $name 2>&1) && fail "$name: tcpdump succeeded"
    echo "$msg"
    echo "$msg" | grep -q "no such interface" || fail "$name: no 'no such interface' in: $msg"
done
ip -n "$ns_b" link set "$veth_b" down
msg=$(in_b env LD_PRELOAD="$preload" timeout 10 tcpdump -c 1 -i "zc:$veth_b" 2>&1) && fail "interface down: tcpdump succeeded"
echo "$msg"
echo "$msg" | grep -q "not up" || fail "interface down: no PCAP_ERROR_IFACE_NOT_UP sentence in: $msg"
ip -n "$ns_b" link set "$veth_b" up
msg=$(in_b env LD_PRELOAD="$preload" timeout 10 tcpdump -c 1 -i nosuch0 2>&1) && fail "nosuch0: tcpdump succeeded"
[ "$msg" = "$(in_b timeout 10 tcpdump -c 1 -i nosuch0 2>&1)" ] || fail "a non-zc error differs from stock libpcap's: $msg"
exit 0

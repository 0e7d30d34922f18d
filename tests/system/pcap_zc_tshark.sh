#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The stock Debian tshark (and the dumpcap it runs) captures from zc: names
# through libpcap-zc: exactly what zc-send sent; a zc: device and a plain
# interface captured by one dumpcap process both see every frame; tshark
# -D lists zc devices; a bad name fails with zc's sentence.
#
# dumpcap gives up every capability but CAP_NET_RAW and CAP_NET_ADMIN when
# it starts, even as root, so it cannot load XDP programs: tshark captures
# with zc:afpacket:IFACE, and zc:IFACE must fail saying why.
. "$(dirname "$0")/lib.sh"
command -v tshark >/dev/null || skip "tshark is not installed"
. "$(dirname "$0")/pcap_zc_lib.sh"
# tshark's dumpcap does not run with the ASan runtime preloaded (it prints
# nothing and exits, with or without libpcap-zc): the sanitizer build tests
# libpcap-zc with tcpdump and the API test only.
[ -z "$asan_runtime" ] || skip "tshark does not run with the ASan runtime preloaded"
start_timeout=30 # tshark loads its dissectors first
netns_pair

count=10000 flows=8

note "tshark -i zc:afpacket:$veth_b, $count frames"
# A fixed duration rather than -c: if a frame went missing, the capture
# ends all the same and says how many came (-c would wait for ever).
start_in_b "$workdir/tshark.log" "Capturing on" env LD_PRELOAD="$preload" tshark -n -q -a duration:8 \
    -w "$out/tshark.pcapng" -i "zc:afpacket:$veth_b"
# 10000 frames/s: dumpcap writes pcapng through a pipe to tshark, and on a
# machine busy with other jobs it must still take every frame.
send_frames $count $flows 10000
wait_bg 60 || { cat "$workdir/tshark.log" >&2; fail "tshark failed on zc:afpacket:$veth_b"; }
cat "$workdir/tshark.log"
captured=$(tshark -n -r "$out/tshark.pcapng" 2>/dev/null | wc -l)
[ "$captured" -eq $count ] ||
    fail "tshark on zc:afpacket:$veth_b captured $captured of the $count frames sent ($(in_b ip -s link show "$veth_b" | tr -s ' ' | tr '\n' ' '))"
"$checks/check-frames" "$out/tshark.pcapng" --count $count --size 64 --flows $flows --sequences ||
    fail "tshark: the capture is not what was sent"
! xdp_attached "$ns_b" "$veth_b" || fail "tshark: an XDP program is left on $veth_b"

note "one dumpcap, two interfaces: zc:afpacket:$veth_b and plain $veth_b"
# dumpcap opens the interfaces one after the other, each in its own
# thread: give both time, then stop after a fixed duration.
start_in_b "$workdir/both.log" "Capturing on" env LD_PRELOAD="$preload" tshark -n -q -a duration:6 -w "$out/both.pcapng" \
    -i "zc:afpacket:$veth_b" -i "$veth_b"
sleep 2
# Slower: one dumpcap writing two interfaces loses frames at 100000/s even
# on plain libpcap alone.
both=2000
send_frames $both $flows 2000
wait_bg 60 || { cat "$workdir/both.log" >&2; fail "tshark with two interfaces failed"; }
per_interface=$(tshark -n -r "$out/both.pcapng" -T fields -e frame.interface_name 2>/dev/null | sort | uniq -c)
echo "$per_interface"
echo "$per_interface" | grep -q "^ *$both zc:afpacket:$veth_b\$" || fail "zc:afpacket:$veth_b did not see $both frames"
echo "$per_interface" | grep -q "^ *$both $veth_b\$" || fail "$veth_b (stock libpcap) did not see $both frames"

note "tshark -D"
in_b env LD_PRELOAD="$preload" tshark -D 2>/dev/null | grep -q " zc:$veth_b\$" || fail "tshark -D does not list zc:$veth_b"

note "tshark -i zc:nosuch0"
msg=$(in_b env LD_PRELOAD="$preload" timeout 30 tshark -c 1 -i zc:nosuch0 2>&1) && fail "zc:nosuch0: tshark succeeded"
echo "$msg"
echo "$msg" | grep -q "no such interface" || fail "zc:nosuch0: no 'no such interface' in: $msg"
note "tshark -i zc:$veth_b (AF_XDP): dumpcap has no CAP_BPF, and is told so"
msg=$(in_b env LD_PRELOAD="$preload" timeout 30 tshark -c 1 -i "zc:$veth_b" 2>&1) && fail "zc:$veth_b: tshark succeeded"
echo "$msg" | grep -v '^libbpf'
echo "$msg" | grep -q "use zc:afpacket:IFACE" || fail "zc:$veth_b under dumpcap: no hint in: $msg"
! xdp_attached "$ns_b" "$veth_b" || fail "an XDP program is left on $veth_b"

note "tshark -i zc:CLUSTER@0: AF_XDP through zc-balance, no privilege needed in dumpcap"
cluster=$(( 50000 + $$ % 10000 ))
start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster \
    -n 1 --on-full wait
balancer=$bg_pid
start_in_b "$workdir/cluster.log" "Capturing on" env LD_PRELOAD="$preload" \
    tshark -n -q -c 1000 -w "$out/cluster.pcapng" -i "zc:$cluster@0"
bg_pid_tshark=$bg_pid
send_frames 1000 $flows
bg_pid=$bg_pid_tshark
wait_bg 60 || { cat "$workdir/cluster.log" >&2; fail "tshark on zc:$cluster@0 failed"; }
"$checks/check-frames" "$out/cluster.pcapng" --count 1000 --size 64 --flows $flows --sequences ||
    fail "tshark on zc:$cluster@0: the capture is not what was sent"
kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
exit 0

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# In-kernel filters keep the host's traffic: with a filter, zc's XDP
# program hands the AF_XDP socket only what the filter matches, and every
# other packet reaches the kernel stack of the capturing host.
#
#   - the stock Debian tcpdump as Debian runs it (tcpdump -i zc:VETH -w
#     FILE 'udp port 53': it drops to user tcpdump), through libpcap-zc:
#     every matching datagram captured, and every other one received by a
#     UDP socket on the capturing interface; the same with the filter in
#     zc's in-kernel interpreter (ZC_PCAP_FILTER=interpreted); and, for
#     contrast, with it forced into user space (ZC_PCAP_FILTER=user), where
#     the socket gets none, and tcpdump says so once;
#   - zc-balance --filter: the cluster's consumer gets the matching
#     datagrams, the host the others; a consumer's own filter on its
#     cluster queue (in user space); and with a filter no kernel form
#     takes (protochain), the same datagrams from user space, the reason
#     and the host-traffic sentence said once;
#   - SIGKILL of a capture that takes everything: the host's traffic flows
#     to the socket again (the bpf_link goes with the process);
#   - a filter changed under traffic (filter-switch), translated and, after
#     giving up root, interpreted: no datagram that both filters match is
#     lost, and none the new filter refuses is delivered after the change.
#
# Counts, never rates: the senders are paced well below what a loaded
# 2-core machine handles, and each receiver waits for its count.
. "$(dirname "$0")/lib.sh"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
. "$(dirname "$0")/pcap_zc_lib.sh"
# This test's namespaces carry the zcf- prefix (removed by lib.sh's exit trap).
ns_a=zcf-$tag-a ns_b=zcf-$tag-b
netns_pair

probe=$checks/udp-probe
switcher=$checks/filter-switch
[ -x "$probe" ] && [ -x "$switcher" ] || skip "udp-probe or filter-switch is not built"
ip -n "$ns_a" addr add 10.77.0.1/24 dev "$veth_a" || fail "cannot address $veth_a"
ip -n "$ns_b" addr add 10.77.0.2/24 dev "$veth_b" || fail "cannot address $veth_b"
# The sender must not depend on ARP: with everything captured, the host
# answers none.
mac_b=$(ip -n "$ns_b" -o link show dev "$veth_b" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip -n "$ns_a" neigh replace 10.77.0.2 lladdr "$mac_b" dev "$veth_a" nud permanent || fail "cannot set the neighbour"

matching=2000 other=3000 rate=20000

# receiver COUNT IDLE: a UDP socket on port 5555 in $ns_b, expecting COUNT
# datagrams (it gives up after IDLE seconds without one); $rx_pid, $rx_log.
receiver() {
    rx_log=$workdir/rx.$$.$1.log
    : >"$rx_log" # an earlier receiver's "ready" must not count
    ip netns exec "$ns_b" "$probe" receive 5555 "$1" "$2" >"$rx_log" 2>&1 &
    rx_pid=$!
    for _ in $(seq 1 50); do grep -q ready "$rx_log" && return 0; sleep 0.1; done
    fail "the UDP receiver did not start"
}
# received: waits for the receiver; what it got in $got.
received() {
    wait "$rx_pid"
    got=$(sed -n 's/^received //p' "$rx_log")
    [ -n "$got" ] || fail "the UDP receiver said nothing: $(cat "$rx_log")"
}
send() { in_a "$probe" send 10.77.0.2 "$1" "$2" "$rate" || fail "udp-probe send failed"; }
# short WHAT: fails, with what the kernel counted on the way (the veths'
# drops, the UDP socket's), which says where datagrams went missing.
short() {
    ip -s -n "$ns_a" link show dev "$veth_a" >&2
    ip -s -n "$ns_b" link show dev "$veth_b" >&2
    in_b nstat -az Udp* >&2 2>/dev/null
    fail "$*"
}

# capture_with_tcpdump NAME ENV...: tcpdump -i zc:VETH -w FILE 'udp port
# 53' with libpcap-zc and ENV; $matching to port 53 and $other to 5555;
# checks the capture and returns what the host's socket received in $got.
capture_with_tcpdump() {
    name=$1; shift
    note "tcpdump -i zc:$veth_b -w FILE 'udp port 53' ($name)"
    rm -f "$out/$name.pcap"
    start_in_b "$workdir/$name.log" "listening on" env LD_PRELOAD="$preload" ZC_PCAP_DEBUG=1 "$@" \
        tcpdump -i "zc:$veth_b" -w "$out/$name.pcap" 'udp port 53'
    capture=$bg_pid
    user=$(ps -o user= -p "$capture" | tr -d ' ')
    if id tcpdump >/dev/null 2>&1; then
        [ "$user" = tcpdump ] || fail "$name: tcpdump runs as '$user', not as user tcpdump"
    fi
    receiver $other 3
    send 53 $matching
    send 5555 $other
    received
    sleep 1
    kill -INT "$capture"
    bg_pid=$capture
    wait_bg 10 || { cat "$workdir/$name.log" >&2; fail "$name: tcpdump failed"; }
    grep -v '^libbpf' "$workdir/$name.log"
    captured=$(tcpdump -n -r "$out/$name.pcap" 2>/dev/null | wc -l)
    strays=$(tcpdump -n -r "$out/$name.pcap" 'not (udp port 53)' 2>/dev/null | wc -l)
    echo "$name: captured $captured of $matching matching, the host's socket received $got of $other others"
    [ "$captured" -eq $matching ] && [ "$strays" -eq 0 ] ||
        fail "$name: captured $captured frames ($strays not udp port 53), expected the $matching sent to port 53"
    grep -q "^$matching packets captured" "$workdir/$name.log" || fail "$name: tcpdump does not report $matching"
    ! xdp_attached "$ns_b" "$veth_b" || fail "$name: an XDP program is left on $veth_b"
}

capture_with_tcpdump default
[ "$got" -eq $other ] || short "default: the host received $got of the $other datagrams the filter refuses"
grep -q "filter mode kernel-" "$workdir/default.log" || fail "default: the filter is not in the kernel"
! grep -q "HOST TRAFFIC" "$workdir/default.log" || fail "default: a kernel filter, yet the host-traffic sentence"

capture_with_tcpdump interpreted ZC_PCAP_FILTER=interpreted
[ "$got" -eq $other ] || short "interpreted: the host received $got of the $other datagrams the filter refuses"
grep -q "filter mode kernel-interpreted" "$workdir/interpreted.log" || fail "interpreted: not the interpreter"

capture_with_tcpdump user ZC_PCAP_FILTER=user
[ "$got" -eq 0 ] || fail "user: filtering in user space, yet the host received $got datagrams"
[ "$(grep -c "HOST TRAFFIC" "$workdir/user.log")" -eq 1 ] ||
    fail "user: the host-traffic sentence is not said exactly once"

# balance_with_filter NAME EXPR MODE [QUEUE-FILTER]: zc-balance --filter
# EXPR on $veth_b, one queue read by the stock tcpdump (with QUEUE-FILTER,
# which a cluster queue runs in user space); $other to port 5555, then
# $matching to port 53. The consumer must get the $matching and nothing
# else (what EXPR and QUEUE-FILTER together match), the cluster's filter
# must run where MODE says, and $got is what the host's socket received.
balance_with_filter() {
    name=$1 expression=$2 mode=$3 queue_filter=${4:-}
    note "zc-balance --filter '$expression' ($name)"
    cluster=$(( 62000 + $$ % 1000 ))
    start_in_b "$workdir/$name.log" "zc-balance: cluster $cluster:" \
        "$tools/zc-balance" -i "zc:$veth_b" -c $cluster -n 1 --filter "$expression"
    balancer=$bg_pid
    grep -v '^libbpf' "$workdir/$name.log"
    grep -q "filter $mode)" "$workdir/$name.log" || fail "$name: the filter does not run as $mode"
    start_in_b "$workdir/$name.consumer.log" "listening on" env LD_PRELOAD="$preload" \
        tcpdump -n -c $matching -w "$out/$name.pcap" -i "zc:$cluster@0" $queue_filter
    consumer=$bg_pid
    receiver $other 3
    send 5555 $other
    send 53 $matching
    received
    bg_pid=$consumer
    wait_bg 20 || { cat "$workdir/$name.consumer.log" >&2; fail "$name: the cluster's consumer failed"; }
    kill -INT $balancer
    bg_pid=$balancer
    wait_bg 10 || { cat "$workdir/$name.log" >&2; fail "$name: zc-balance failed"; }
    captured=$(tcpdump -n -r "$out/$name.pcap" 'udp port 53' 2>/dev/null | wc -l)
    strays=$(tcpdump -n -r "$out/$name.pcap" 'not (udp port 53)' 2>/dev/null | wc -l)
    echo "$name: the consumer got $captured of $matching matching, the host's socket $got of $other others"
    [ "$captured" -eq $matching ] && [ "$strays" -eq 0 ] ||
        fail "$name: the consumer got $captured of $matching matching and $strays others"
}

balance_with_filter balance 'udp port 53' kernel-translated
[ "$got" -eq $other ] || short "zc-balance --filter: the host received $got of $other"
! grep -q "HOST TRAFFIC" "$workdir/balance.log" || fail "zc-balance: a kernel filter, yet the host-traffic sentence"

# The cluster takes all UDP (the host none of it); its consumer filters
# its queue in user space: 'tcpdump -i zc:C@0 udp port 53'.
balance_with_filter queue 'udp' kernel-translated 'udp port 53'
[ "$got" -eq 0 ] || fail "queue: the cluster takes all UDP, yet the host received $got datagrams"

# libpcap's protochain loops (a backward jump): neither kernel form takes
# it, so the filter runs in user space, said once with the reason, and
# the consumer gets the same packets; the host then gets none of them.
balance_with_filter fallback 'ip protochain 17 and udp port 53' user
[ "$got" -eq 0 ] || fail "fallback: filtering in user space, yet the host received $got datagrams"
[ "$(grep -c "the filter runs in user space" "$workdir/fallback.log")" -eq 1 ] ||
    fail "fallback: the reason is not said exactly once"
[ "$(grep -c "HOST TRAFFIC" "$workdir/fallback.log")" -eq 1 ] ||
    fail "fallback: the host-traffic sentence is not said exactly once"

# Per-group filters: the cluster takes all UDP in the kernel; group 0 gets
# all of it, group 1 (--group-filter 1:'udp port 53', run by the balancer)
# only the port-53 datagrams.
note "zc-balance -n 1,1 --group-filter 1:'udp port 53'"
cluster=$(( 63000 + $$ % 1000 ))
start_in_b "$workdir/groups.log" "zc-balance: cluster $cluster:" \
    "$tools/zc-balance" -i "zc:$veth_b" -c $cluster -n 1,1 --on-full wait --filter udp --group-filter "1:udp port 53"
balancer=$bg_pid
start_in_b "$workdir/groups.q0.log" "listening on" env LD_PRELOAD="$preload" \
    tcpdump -n -c $(( other + matching )) -w "$out/groups.q0.pcap" -i "zc:$cluster@0"
q0=$bg_pid
start_in_b "$workdir/groups.q1.log" "listening on" env LD_PRELOAD="$preload" \
    tcpdump -n -c $matching -w "$out/groups.q1.pcap" -i "zc:$cluster@1"
q1=$bg_pid
send 5555 $other
send 53 $matching
bg_pid=$q0
wait_bg 20 || { cat "$workdir/groups.q0.log" >&2; fail "group filters: group 0's tcpdump did not get all $(( other + matching ))"; }
bg_pid=$q1
wait_bg 20 || { cat "$workdir/groups.q1.log" >&2; fail "group filters: group 1's tcpdump did not get its $matching"; }
"$tools/zc-stat" -c $cluster -n 1 --prometheus >"$workdir/groups.scrape" || fail "group filters: zc-stat failed"
kill -INT $balancer
bg_pid=$balancer
wait_bg 10 || { cat "$workdir/groups.log" >&2; fail "group filters: zc-balance failed"; }
all0=$(tcpdump -n -r "$out/groups.q0.pcap" 2>/dev/null | wc -l)
dns0=$(tcpdump -n -r "$out/groups.q0.pcap" 'udp port 53' 2>/dev/null | wc -l)
dns1=$(tcpdump -n -r "$out/groups.q1.pcap" 'udp port 53' 2>/dev/null | wc -l)
strays1=$(tcpdump -n -r "$out/groups.q1.pcap" 'not (udp port 53)' 2>/dev/null | wc -l)
refused1=$(sed -n "s/^zc_queue_filtered_total{cluster=\"$cluster\",queue=\"1\"} \([0-9]*\)\$/\1/p" "$workdir/groups.scrape")
echo "group filters: group 0 got $all0 ($dns0 to port 53), group 1 got $dns1 to port 53 and $strays1 others; group 1's filter refused ${refused1:-?}"
[ "$all0" -eq $(( other + matching )) ] && [ "$dns0" -eq $matching ] || fail "group filters: group 0 got $all0, $dns0 of them to port 53"
[ "$dns1" -eq $matching ] && [ "$strays1" -eq 0 ] || fail "group filters: group 1 got $dns1 of $matching and $strays1 others"
[ "$refused1" = "$other" ] || fail "group filters: zc-stat says group 1's filter refused ${refused1:-nothing}, not $other"

note "SIGKILL of a capture that takes everything: the host's traffic comes back"
start_in_b "$workdir/all.log" "listening on" env LD_PRELOAD="$preload" tcpdump -i "zc:$veth_b" -w "$out/all.pcap"
capture=$bg_pid
receiver $other 2
send 5555 $other
received
echo "capturing everything: the host's socket received $got of $other"
[ "$got" -eq 0 ] || fail "capturing everything, yet the host received $got datagrams"
grep "HOST TRAFFIC" "$workdir/all.log"
[ "$(grep -c "HOST TRAFFIC" "$workdir/all.log")" -eq 1 ] ||
    fail "capturing everything: the host-traffic sentence is not said exactly once"
kill -9 "$capture"
wait "$capture" 2>/dev/null
for _ in $(seq 1 50); do xdp_attached "$ns_b" "$veth_b" || break; sleep 0.1; done
! xdp_attached "$ns_b" "$veth_b" || fail "after SIGKILL: an XDP program is left on $veth_b"
receiver $other 3
send 5555 $other
received
echo "after SIGKILL: the host's socket received $got of $other"
[ "$got" -eq $other ] || short "after SIGKILL: the host received $got of $other"

# switch_under_traffic [--unprivileged]: ports 53, 54 and 55 at once, the
# filter changed from "53 or 54" to "53 or 55" after 2500 packets.
switch_under_traffic() {
    note "a filter changed under traffic ${1:-(privileged)}"
    each=3000
    # Its first start in a fresh tree (make distcheck) includes libtool
    # relinking it (the wrapper's .libs/lt-filter-switch): seconds on a
    # loaded 2-core machine, hence more than the usual 10 s.
    start_timeout=60 start_in_b "$workdir/switch.log" "ready" "$switcher" "zc:$veth_b" 2500 3 "$@"
    switch=$bg_pid
    for port in 53 54 55; do
        in_a "$probe" send 10.77.0.2 $port $each 2000 &
        eval "sender_$port=\$!"
    done
    wait "$sender_53" "$sender_54" "$sender_55" || fail "a sender failed"
    bg_pid=$switch
    wait_bg 20 || { cat "$workdir/switch.log" >&2; fail "filter-switch failed"; }
    line=$(grep '^modes' "$workdir/switch.log")
    echo "$line"
    set -- $line
    # modes A B port53 N port54 N port55 N other N violations N dropped N
    [ "$5" -eq $each ] ||
        short "switch: $5 of the $each datagrams both filters match arrived (the RX ring dropped ${15})"
    [ "${13}" -eq 0 ] || fail "switch: ${13} datagrams the new filter refuses were delivered after the change"
    [ "$3" != unchanged ] || fail "switch: the filter was never changed"
    case "$2$3" in *user*|*none*) fail "switch: a filter not in the kernel ($2, $3)" ;; esac
}
switch_under_traffic
switch_under_traffic --unprivileged
grep -q "modes kernel-interpreted kernel-interpreted" "$workdir/switch.log" ||
    fail "switch without privileges: not the in-kernel interpreter"
exit 0

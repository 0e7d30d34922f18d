#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-balance --group: the control socket is mode 0660 with that group, the
# region 0640 (members read it, only the owner writes it). The stock tcpdump run as user nobody is refused with the
# sentence that says why; the same tcpdump as nobody with the group as a
# supplementary group captures the queue (a cluster queue needs no
# capability: the owner holds the interface). A consumer asking for a queue
# the cluster does not have gets the owner's answer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
command -v groupadd >/dev/null || skip "groupadd (passwd) is not installed"
netns_pair

group=zct$tag
groupadd -r "$group" || fail "groupadd $group failed"
remove_group() { groupdel "$group" 2>/dev/null; }
cleanups="$cleanups remove_group"

cluster=$(( 70000 + $$ % 1000 ))
count=500 flows=8

start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" "$tools/zc-balance" -i "zc:$veth_b" -c $cluster \
    -n 1 --group "$group" --on-full wait
balancer=$bg_pid

socket=/run/zc/cluster-$cluster.sock
[ "$(stat -c '%a %G' "$socket")" = "660 $group" ] || fail "$socket: $(stat -c '%a %G' "$socket"), wanted 660 $group"
region=$(ls /dev/hugepages/zc/cluster-$cluster /dev/shm/zc/cluster-$cluster 2>/dev/null | head -n 1)
[ -n "$region" ] || fail "no region file for cluster $cluster"
[ "$(stat -c '%a %G' "$region")" = "640 $group" ] || fail "$region: $(stat -c '%a %G' "$region"), wanted 640 $group"

# The libraries from a place user nobody can read (the build tree may not
# be), laid out as installed: libpcap-zc finds libzc beside its folder.
mkdir -p "$workdir/lib/zc"
cp "$pcap_zc_lib" "$workdir/lib/zc/libpcap-zc.so"
cp "$libzc_built" "$workdir/lib/libzc.so.0"
chmod -R a+rX "$workdir/lib"
nobody_preload=$(echo "$preload" | sed "s|$pcap_zc_lib|$workdir/lib/zc/libpcap-zc.so|")
as_nobody() {
    in_b env LD_PRELOAD="$nobody_preload" setpriv --reuid=nobody --regid=nogroup "$@"
}

note "tcpdump as nobody, outside group $group: refused"
msg=$(as_nobody --clear-groups timeout 10 tcpdump -n -c 1 -w /dev/null -i "zc:$cluster@0" 2>&1) &&
    fail "tcpdump as nobody succeeded: $msg"
echo "$msg"
echo "$msg" | grep -q "permission denied (consumers need root or the cluster's group)" ||
    fail "the refusal does not say why: $msg"

note "tcpdump as root, a queue the cluster does not have"
msg=$(in_b env LD_PRELOAD="$preload" timeout 10 tcpdump -n -c 1 -w /dev/null -i "zc:$cluster@3" 2>&1) &&
    fail "tcpdump on queue 3 succeeded: $msg"
echo "$msg" | grep -q "cluster $cluster has no queue 3: it has queues 0 to 0" || fail "queue 3: $msg"

note "tcpdump as nobody in group $group: captures"
start_in_b "$workdir/tcpdump.log" "listening on" env LD_PRELOAD="$nobody_preload" \
    setpriv --reuid=nobody --regid=nogroup --groups="$group" \
    tcpdump -n -c $count -w "$out/member.pcap" -i "zc:$cluster@0"
send_frames $count $flows
wait_bg 30 || { cat "$workdir/tcpdump.log" >&2; fail "tcpdump as a member of $group failed"; }
"$checks/check-frames" "$out/member.pcap" --count $count --size 64 --flows $flows --sequences ||
    fail "tcpdump as a member of $group: the capture is not what was sent"

grep -q "refused" "$workdir/balance.log" || fail "zc-balance did not log the refusals"
kill -INT "$balancer"
bg_pid=$balancer
wait_bg 10 || fail "zc-balance did not stop cleanly"
exit 0

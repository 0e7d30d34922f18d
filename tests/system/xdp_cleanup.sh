#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc attaches its XDP program through a bpf_link: nothing is left on the
# interface after a normal exit, nor after SIGKILL; promiscuous mode is
# restored after a normal exit.
. "$(dirname "$0")/lib.sh"
netns_pair

note "normal exit"
start_capture "$workdir/count.log" -i "zc:$veth_b" -d 3
xdp_attached "$ns_b" "$veth_b" || fail "no XDP program while zc-count runs"
promiscuous "$ns_b" "$veth_b" || fail "not promiscuous while zc-count runs"
wait_capture || fail "zc-count failed"
! xdp_attached "$ns_b" "$veth_b" || fail "XDP program left after a normal exit"
! promiscuous "$ns_b" "$veth_b" || fail "promiscuous mode not restored"

note "SIGKILL"
start_capture "$workdir/count.log" -i "zc:$veth_b" -d 60
xdp_attached "$ns_b" "$veth_b" || fail "no XDP program while zc-count runs"
kill -9 "$bg_pid"
wait "$bg_pid" 2>/dev/null
for _ in $(seq 1 50); do
    xdp_attached "$ns_b" "$veth_b" || break
    sleep 0.1
done
! xdp_attached "$ns_b" "$veth_b" || fail "XDP program left after SIGKILL"

note "the interface works for zc again"
start_capture "$workdir/count.log" -i "zc:$veth_b" -d 0.5
wait_capture || fail "zc-count cannot reopen the interface"

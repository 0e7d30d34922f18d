#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Every way of opening a device wrong gives a clear message and exit code 1,
# never a crash or a hang.
. "$(dirname "$0")/lib.sh"
netns_pair

# expect_error MESSAGE-PART COMMAND...: the command fails with exit 1 and
# says MESSAGE-PART.
expect_error() {
    part=$1; shift
    out=$("$@" 2>&1) && fail "succeeded: $*"
    status=$?
    echo "$out"
    [ $status -eq 1 ] || fail "exit $status, not 1: $*"
    echo "$out" | grep -q -- "$part" || fail "message lacks '$part': $*"
}

count() { in_b timeout 10 "$tools/zc-count" -q -d 1 "$@"; }

note "no such interface"
expect_error "no such interface" count -i zc:nosuch0
expect_error "no such interface" count -i zc:afpacket:nosuch0

note "queue out of range"
expect_error "queue" count -i "zc:$veth_b@7"

note "malformed names"
expect_error "not a valid interface name" count -i "zc:"
expect_error "queue 'x'" count -i "zc:$veth_b@x"
expect_error "cluster" count -i "zc:99@0"

note "interface down"
ip -n "$ns_b" link set "$veth_b" down
expect_error "is down" count -i "zc:$veth_b"
expect_error "is down" count -i "zc:afpacket:$veth_b"
ip -n "$ns_b" link set "$veth_b" up

note "another XDP program attached"
in_b ip link set dev "$veth_b" xdpgeneric obj "$build/kmod/zc_xdp.bpf.o" sec xdp ||
    fail "cannot attach a foreign XDP program for the test"
expect_error "another XDP program" count -i "zc:$veth_b"
in_b ip link set dev "$veth_b" xdpgeneric off

note "missing privileges"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
nobody() { in_b setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }
expect_error "root" nobody "$tools/zc-count" -q -d 1 -i "zc:$veth_b"
expect_error "root" nobody "$tools/zc-count" -q -d 1 -i "zc:afpacket:$veth_b"

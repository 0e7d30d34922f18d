# SPDX-License-Identifier: BSD-3-Clause
#
# tests/system/lib.sh — sourced by the system tests. Gives each test its own
# pair of network namespaces joined by a veth pair, removed on exit, and the
# paths of the programs under test. Traffic stays inside those namespaces.
#
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error.

set -u

build=${ZC_BUILD:-$(pwd)}
tools=$build/tools
checks=$build/tests/system

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
note() { echo "-- $*"; }

[ "$(id -u)" -eq 0 ] || skip "system tests need root (network namespaces, XDP)"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"

# A short, unique tag per test run: interface names have 15 bytes at most.
tag=$(printf 'z%04x' $(( $$ % 65536 )))
ns_a=$tag-a ns_b=$tag-b
veth_a=${tag}s veth_b=${tag}d
cleanups=""

on_exit() {
    for command in $cleanups; do $command; done
    # Whatever a failed test left running in its namespaces (a zc-balance, a
    # capture): asked to stop, then killed, before the namespaces go.
    left=$(ip netns pids "$ns_a" 2>/dev/null; ip netns pids "$ns_b" 2>/dev/null)
    if [ -n "$left" ]; then
        kill $left 2>/dev/null
        sleep 0.5
        kill -9 $left 2>/dev/null
    fi
    ip netns del "$ns_a" 2>/dev/null
    ip netns del "$ns_b" 2>/dev/null
    rm -rf "$workdir"
}
trap on_exit EXIT
trap 'exit 99' INT TERM
workdir=$(mktemp -d /tmp/zc-system-XXXXXX)

in_a() { ip netns exec "$ns_a" "$@"; }
in_b() { ip netns exec "$ns_b" "$@"; }

# veth_pair A B: a veth pair between the two namespaces, A in $ns_a and B in
# $ns_b; both up, IPv6 off so the kernel sends nothing of its own, GRO on at
# the receiver (frames sent from XDP reach a veth peer without an XDP
# program only then).
veth_pair() {
    ip link add "$1" netns "$ns_a" type veth peer name "$2" netns "$ns_b" || fail "cannot create veth pair $1-$2"
    for side in a b; do
        if [ $side = a ]; then ns=$ns_a dev=$1; else ns=$ns_b dev=$2; fi
        ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null
        ip -n "$ns" link set "$dev" up
    done
    in_b ethtool -K "$2" gro on >/dev/null 2>&1 || true
}

# netns_pair: $ns_a and $ns_b (loopback up, IPv6 off), $veth_a in $ns_a
# joined to $veth_b in $ns_b (veth_pair), bpffs mounted.
netns_pair() {
    ip netns add "$ns_a" || fail "cannot create netns $ns_a"
    ip netns add "$ns_b" || fail "cannot create netns $ns_b"
    for ns in "$ns_a" "$ns_b"; do
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 >/dev/null
        ip -n "$ns" link set lo up
    done
    veth_pair "$veth_a" "$veth_b"
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
}

# xdp_attached NS DEV: true when DEV in NS has an XDP program.
xdp_attached() { ip -n "$1" link show dev "$2" | grep -q 'prog/xdp'; }
# promiscuous NS DEV: true when DEV in NS is promiscuous (zc asks through a
# packet-socket membership, as libpcap does: ip shows a count, not a flag).
promiscuous() { ip -d -n "$1" link show dev "$2" | grep -q 'promiscuity [1-9]'; }

# start_in_b LOG READY-PATTERN COMMAND...: runs COMMAND in $ns_b in the
# background (pid in $bg_pid: the command itself, as ip netns exec and env
# exec it) and waits until LOG shows READY-PATTERN ($start_timeout seconds
# at most, 10 by default).
start_in_b() {
    log=$1 ready=$2; shift 2
    # Emptied here, not only by the background command's redirection, which
    # may run after the first grep: a log reused from an earlier start must
    # not show READY-PATTERN before this command has said it.
    : >"$log"
    ip netns exec "$ns_b" "$@" >"$log" 2>&1 &
    bg_pid=$!
    for _ in $(seq 1 $(( ${start_timeout:-10} * 10 ))); do
        grep -q -- "$ready" "$log" 2>/dev/null && return 0
        kill -0 "$bg_pid" 2>/dev/null || { cat "$log" >&2; fail "$1 exited early"; }
        sleep 0.1
    done
    cat "$log" >&2
    kill -9 "$bg_pid" 2>/dev/null
    fail "$1 did not start within ${start_timeout:-10} s"
}

# wait_bg [SECONDS]: waits for $bg_pid (default 30 s), kills it after that
# and fails; returns its exit status.
wait_bg() {
    for _ in $(seq 1 $(( ${1:-30} * 10 ))); do
        kill -0 "$bg_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$bg_pid" 2>/dev/null; then
        kill -9 "$bg_pid"
        fail "still running after ${1:-30} s: pid $bg_pid"
    fi
    wait "$bg_pid"
}

# start_capture LOG ARGS...: zc-count ARGS in $ns_b, in the background,
# once it has opened its device; wait_capture waits for it (30 s at most).
start_capture() { log=$1; shift; start_in_b "$log" 'counting on' "$tools/zc-count" "$@"; }
wait_capture() { wait_bg 30; }

# flows_whole PCAP0 N0 PCAP1 N1 FLOWS: every one of FLOWS flows (both
# directions) is in exactly one of the two captures (N0 and N1 frames of
# 64 bytes, as zc-send and zc:synthetic make them); says how they fell.
flows_whole() {
    "$checks/check-frames" "$1" --count "$2" --size 64 --list-flows >"$workdir/flows0"
    "$checks/check-frames" "$3" --count "$4" --size 64 --list-flows >"$workdir/flows1"
    split=$(sort "$workdir/flows0" "$workdir/flows1" | uniq -d | wc -l)
    [ "$split" -eq 0 ] || fail "$split flows were split between the queues"
    [ "$(cat "$workdir/flows0" "$workdir/flows1" | wc -l)" -eq "$5" ] || fail "not every flow arrived"
    note "flows whole: $(wc -l <"$workdir/flows0") on queue 0, $(wc -l <"$workdir/flows1") on queue 1"
}

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-balance as the cluster owner daemon and as a systemd service:
#  - --daemon returns 0 only once the cluster and its control socket exist,
#    the daemon (in the pid file) owns the cluster and serves a consumer,
#    and SIGTERM removes its pid file, socket, region and XDP program;
#  - a daemon that cannot start makes the command fail with the error,
#    leaving no pid file, socket, region nor XDP program;
#  - a second owner of a running cluster is refused, with a clear message;
#  - --config FILE runs what the same options run, the command line
#    overrides it, the shipped example parses, and each error names file:line;
#  - --core pins the worker, --stats prints per-queue counters that add up;
#  - zc-balance@.service passes systemd-analyze verify (when installed), and
#    its ExecStart, run under its capability bounding set, serves a consumer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
netns_pair

cluster=$(( 71000 + $$ % 1000 ))
other=$(( cluster == 71999 ? 71998 : cluster + 1 )) # named in a file, overridden
socket=/run/zc/cluster-$cluster.sock
balance=$tools/zc-balance
banner="zc-balance: cluster $cluster:"
pid_file=$workdir/balance.pid
count=4000 flows=8

# alive PID: it runs (a zombie, which nobody may reap here, does not).
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
# wait_gone PID: true once PID has ended (10 s at most).
wait_gone() {
    for _ in $(seq 1 100); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}
region_exists() { [ -e "/dev/shm/zc/cluster-$cluster" ] || [ -e "/dev/hugepages/zc/cluster-$cluster" ]; }
# nothing_left WHAT: the cluster's socket, region and XDP program are gone.
nothing_left() {
    [ ! -e "$socket" ] || fail "$1: the control socket $socket is left"
    ! region_exists || fail "$1: the region of cluster $cluster is left"
    ! xdp_attached "$ns_b" "$veth_b" || fail "$1: an XDP program is left on $veth_b"
}
# Every zc-balance this test starts, killed if the test ends early.
ours=""
stop_ours() {
    for pid in $ours; do alive "$pid" && kill -9 "$pid"; done
    for id in $cluster $other; do
        rm -f "/run/zc/cluster-$id.sock" "/dev/shm/zc/cluster-$id" "/dev/hugepages/zc/cluster-$id"
    done
}
cleanups="$cleanups stop_ours"
# stop PID LOG: SIGTERM, then it must end with everything removed.
stop() {
    kill -TERM "$1" || fail "cannot signal zc-balance (pid $1)"
    wait_gone "$1" || fail "zc-balance (pid $1) did not stop on SIGTERM"
    nothing_left "after SIGTERM"
    grep -q '^total: received' "$2" || { cat "$2" >&2; fail "zc-balance (pid $1) ended without its summary"; }
}
got() { sed -n 's/^zc-count: .* \([0-9]*\) packets, .*/\1/p' "$1"; }
# receive QUEUE N: a consumer of QUEUE gets the N frames sent, byte for byte.
receive() {
    start_capture "$workdir/q.log" -i "zc:$cluster@$1" -c "$2" -d 20 -w "$workdir/q.pcap"
    send_frames "$2" $flows
    wait_capture || { cat "$workdir/q.log" >&2; fail "the consumer of queue $1 failed"; }
    [ "$(got "$workdir/q.log")" = "$2" ] || { cat "$workdir/q.log" >&2; fail "queue $1 got $(got "$workdir/q.log") of $2 frames"; }
    "$checks/check-frames" "$workdir/q.pcap" --count "$2" --size 64 --flows $flows --sequences ||
        fail "queue $1 holds other frames than were sent"
}

note "--daemon returns once the cluster and its control socket exist"
in_b "$balance" -i "zc:$veth_b" -c $cluster -n 1 --on-full wait --daemon --pid-file "$pid_file" \
    >"$workdir/daemon.out" 2>"$workdir/daemon.err"
rc=$?
cat "$workdir/daemon.err"
[ $rc -eq 0 ] || fail "zc-balance --daemon exited with $rc"
# No waiting from here: all of it must hold when the command returns.
[ -s "$pid_file" ] || fail "no pid file when zc-balance --daemon returned"
daemon=$(cat "$pid_file")
ours="$ours $daemon"
case $daemon in '' | *[!0-9]*) fail "the pid file holds \"$daemon\", not a pid" ;; esac
alive "$daemon" || fail "the daemon (pid $daemon, from the pid file) is not running"
tr '\0' ' ' <"/proc/$daemon/cmdline" | grep -q 'zc-balance' || fail "pid $daemon is not zc-balance"
[ -S "$socket" ] || fail "no control socket $socket when zc-balance --daemon returned"
region_exists || fail "no region for cluster $cluster when zc-balance --daemon returned"
xdp_attached "$ns_b" "$veth_b" || fail "no XDP program on $veth_b when zc-balance --daemon returned"
grep -q "^$banner" "$workdir/daemon.err" || fail "the daemon's start line is not in its log"
[ "$(ps -o sid= -p "$daemon" | tr -d ' ')" = "$daemon" ] || fail "the daemon did not leave the caller's session"
"$tools/zc-stat" -c $cluster --prometheus >"$workdir/scrape" || fail "zc-stat --prometheus failed"
grep -q "^zc_cluster_owner_pid{cluster=\"$cluster\"} $daemon\$" "$workdir/scrape" ||
    { cat "$workdir/scrape" >&2; fail "the cluster's owner is not the daemon (pid $daemon)"; }

note "a second owner of cluster $cluster is refused; the first one goes on"
in_b "$balance" -i zc:synthetic -c $cluster -n 1 >"$workdir/second.log" 2>&1
rc=$?
cat "$workdir/second.log"
[ $rc -eq 1 ] || fail "a second zc-balance -c $cluster exited with $rc, not 1"
grep -q "cluster $cluster already exists, owned by running pid $daemon" "$workdir/second.log" ||
    fail "the refusal does not name the running owner"
alive "$daemon" && [ -S "$socket" ] && region_exists || fail "the refused zc-balance disturbed the running one"

note "a consumer of the daemon's cluster receives"
receive 0 $count
grep -q "consumer of queue 0 (pid [0-9]*) attached" "$workdir/daemon.err" ||
    fail "the daemon's log (a file: kept) does not show the consumer"

note "SIGTERM: pid file, socket, region and XDP program removed"
stop "$daemon" "$workdir/daemon.out"
[ ! -e "$pid_file" ] || fail "the daemon left its pid file"
grep -q "^total: received $count " "$workdir/daemon.out" ||
    { cat "$workdir/daemon.out" >&2; fail "the daemon's summary does not count $count frames"; }

note "--daemon whose device does not open: the error, a failure, nothing left"
in_b "$balance" -i zc:nosuch0 -c $cluster -n 1 --daemon --pid-file "$pid_file" >"$workdir/fail.log" 2>&1
rc=$?
cat "$workdir/fail.log"
[ $rc -eq 1 ] || fail "zc-balance --daemon with no such interface exited with $rc, not 1"
grep -q "nosuch0: no such interface" "$workdir/fail.log" || fail "the daemon's error did not reach the caller"
[ ! -e "$pid_file" ] || fail "a daemon that failed left a pid file"
nothing_left "a daemon that failed"

note "--daemon whose pid file cannot be written: the same, XDP detached"
in_b "$balance" -i "zc:$veth_b" -c $cluster -n 1 --daemon --pid-file "$workdir/no/such/dir/balance.pid" \
    >"$workdir/fail.log" 2>&1
rc=$?
cat "$workdir/fail.log"
[ $rc -eq 1 ] || fail "zc-balance --daemon with an unwritable pid file exited with $rc, not 1"
grep -q -- "--pid-file $workdir/no/such/dir/balance.pid: cannot create" "$workdir/fail.log" ||
    fail "unclear message for an unwritable pid file"
nothing_left "a daemon without its pid file"

note "--config runs what the same options run"
start_in_b "$workdir/options.log" "$banner" "$balance" -i "zc:$veth_b" -c $cluster -n 2,1 -m 2tuple --on-full drop,wait
ours="$ours $bg_pid"
stop "$bg_pid" "$workdir/options.log"
cat >"$workdir/cluster.conf" <<EOF
# zc-balance -i zc:$veth_b -c $cluster -n 2,1 -m 2tuple --on-full drop,wait

interface = zc:$veth_b
   cluster=$cluster
queues = 2,1
	hash = 2tuple
on-full = drop,wait
EOF
start_in_b "$workdir/config.log" "$banner" "$balance" --config "$workdir/cluster.conf"
ours="$ours $bg_pid"
configured=$bg_pid
[ "$(grep "^$banner" "$workdir/config.log")" = "$(grep "^$banner" "$workdir/options.log")" ] ||
    fail "--config and the same options run differently"
receive 2 2000
stop "$configured" "$workdir/config.log"

note "options on the command line override the file; -i replaces its interfaces"
start_in_b "$workdir/override.log" "$banner" "$balance" --config "$workdir/cluster.conf" -n 3,1 -m 5tuple -i zc:synthetic
ours="$ours $bg_pid"
grep -q "^$banner 4 queues (0-2 drop, 3-3 wait), hash 5tuple, [0-9]* buffers in /dev/[a-z]*/zc/cluster-[0-9]* ([0-9A-Za-z ]* pages); devices: synthetic (synthetic)\$" \
    "$workdir/override.log" || { cat "$workdir/override.log" >&2; fail "the command line did not override the file"; }
stop "$bg_pid" "$workdir/override.log"

note "daemon = true in the file; --foreground wins over it"
cat "$workdir/cluster.conf" >"$workdir/daemon.conf"
printf 'daemon = true\npid-file = %s\n' "$pid_file" >>"$workdir/daemon.conf"
in_b "$balance" --config "$workdir/daemon.conf" >"$workdir/daemon.out" 2>&1 || fail "zc-balance with daemon = true failed"
daemon=$(cat "$pid_file")
ours="$ours $daemon"
alive "$daemon" && [ -S "$socket" ] || fail "daemon = true started no daemon"
stop "$daemon" "$workdir/daemon.out"
[ ! -e "$pid_file" ] || fail "the daemon left its pid file"
start_in_b "$workdir/foreground.log" "$banner" "$balance" --config "$workdir/daemon.conf" --foreground
ours="$ours $bg_pid"
[ "$(cat "$pid_file")" = "$bg_pid" ] || fail "with --foreground, the pid file does not hold the started process"
stop "$bg_pid" "$workdir/foreground.log"
[ ! -e "$pid_file" ] || fail "zc-balance --foreground left its pid file"

note "the shipped example configuration parses"
start_in_b "$workdir/example.log" "$banner" "$balance" --config "$srcdir/dist/cluster-99.conf.example" \
    -i "zc:$veth_b" -c $cluster
ours="$ours $bg_pid"
grep -q "^$banner 5 queues (0-3 drop, 4-4 wait), hash 5tuple" "$workdir/example.log" ||
    { cat "$workdir/example.log" >&2; fail "the example configuration does not run what it says"; }
stop "$bg_pid" "$workdir/example.log"

note "config errors name file:line, exit 2 and create nothing"
# config_error LINE PATTERN FILE-TEXT: zc-balance --config on FILE-TEXT
# exits 2 with "FILE:LINE: " and PATTERN in its message.
config_error() {
    printf '%b' "$3" >"$workdir/bad.conf"
    "$balance" --config "$workdir/bad.conf" >"$workdir/bad.log" 2>&1
    rc=$?
    cat "$workdir/bad.log"
    [ $rc -eq 2 ] || fail "a config error ($2) exited with $rc, not 2"
    grep -qF -- "zc-balance: $workdir/bad.conf:$1: $2" "$workdir/bad.log" || fail "the error does not say \"bad.conf:$1: $2\""
    ! region_exists || fail "a config error created cluster $cluster"
}
base="interface = zc:$veth_b\ncluster = $cluster\n"
config_error 4 'unknown key "interfaces"' "$base# a comment\ninterfaces = zc:eth0\n"
config_error 4 'queues has no value' "$base\nqueues =\n"
config_error 3 'hash = 6tuple: unknown hash mode' "${base}hash = 6tuple\nqueues = 1\n"
config_error 3 'queues = 4x' "${base}queues = 4x\n"
config_error 3 'daemon = 1: true or false' "${base}daemon = 1\n"
config_error 4 'on-full = 1: "1" is neither drop nor wait' "${base}queues = 2\non-full = 1\n"
config_error 4 'on-full = drop,wait,drop: 3 policies for 1 group' "${base}queues = 2\non-full = drop,wait,drop\n"
config_error 3 'cluster is set again (first on line 2)' "${base}cluster = 5\n"
config_error 3 '"queues 4" is not a key = value line' "${base}queues 4\n"
config_error 3 'core = two: a CPU number' "${base}core = two\n"
config_error 1 'stats = 0: a number of seconds above 0' "stats = 0\n"
config_error 1 'flows = 0: a number of flows, 1 to 65536' "flows = 0\n"
"$balance" --config "$workdir/none.conf" >"$workdir/bad.log" 2>&1
[ $? -eq 2 ] && grep -q -- "--config $workdir/none.conf: No such file" "$workdir/bad.log" ||
    { cat "$workdir/bad.log" >&2; fail "a missing config file is not reported"; }

note "--flows: zc:synthetic gives the hash flows to spread (one flow: one queue)"
# enqueued LOG: the two queues' enqueued counts in the summary, "Q0 Q1".
enqueued() { sed -n '/^total:/,$ s/^ *[01] *\([0-9]*\) .*/\1/p' "$1" | tr '\n' ' ' | sed 's/ $//'; }
for flows_given in 1 64; do
    start_in_b "$workdir/flows.log" "$banner" "$balance" -i zc:synthetic --flows $flows_given -c $cluster -n 2
    ours="$ours $bg_pid"
    sleep 0.5 # no consumer: the queues fill (drop mode) with what the hash gives them
    stop "$bg_pid" "$workdir/flows.log"
    set -- $(enqueued "$workdir/flows.log")
    note "--flows $flows_given: queue 0 got ${1:-?}, queue 1 got ${2:-?}"
    [ $# -eq 2 ] || { cat "$workdir/flows.log" >&2; fail "--flows $flows_given: no summary"; }
    if [ $flows_given -eq 1 ]; then
        [ "$1" -eq 0 ] || [ "$2" -eq 0 ] || fail "--flows 1: one flow reached both queues ($1, $2)"
    else
        [ "$1" -gt 0 ] && [ "$2" -gt 0 ] || fail "--flows 64: the flows were not spread ($1, $2)"
    fi
done

note "--core pins the worker, --stats prints per-queue counters"
cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | sed 's/.*[-,]//')
start_in_b "$workdir/core.log" "$banner" "$balance" -i "zc:$veth_b" -c $cluster -n 2 --core "$cpu" --stats 0.2
ours="$ours $bg_pid"
pinned=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$bg_pid/status")
[ "$pinned" = "$cpu" ] || fail "--core $cpu: the worker may run on CPUs $pinned"
send_frames $count $flows
# periodic LOG: how many periodic reports hold a row for each of 2 queues.
periodic() {
    awk '/^-- received/ { header = NR; rows = 0; next }
         header && /^ +[01] +[0-9]+ / { if (++rows == 2) { reports++; header = 0 } }
         END { print reports + 0 }' "$1"
}
for _ in $(seq 1 100); do
    [ "$(periodic "$workdir/core.log")" -ge 3 ] && break
    sleep 0.1
done
[ "$(periodic "$workdir/core.log")" -ge 3 ] || { cat "$workdir/core.log" >&2; fail "--stats 0.2 printed no periodic per-queue counters"; }
stop "$bg_pid" "$workdir/core.log"
# The summary adds up: what the queues took or dropped is what came in.
received=$(sed -n 's/^total: received \([0-9]*\) .*/\1/p' "$workdir/core.log")
queued=$(sed -n '/^total:/,$ s/^ *[01] *\([0-9]*\) *\([0-9]*\) .*/\1 \2/p' "$workdir/core.log" |
    awk '{ sum += $1 + $2 } END { print sum + 0 }')
note "received $received, enqueued or dropped $queued"
[ -n "$received" ] && [ "$received" -gt 0 ] || fail "--stats: zc-balance received nothing"
[ "$queued" -eq "$received" ] || fail "--stats: the queues account for $queued of $received frames"
"$balance" -i "zc:$veth_b" -c $cluster -n 1 --core 1023 >"$workdir/core.log" 2>&1
rc=$?
cat "$workdir/core.log"
[ $rc -eq 1 ] && grep -q -- "--core 1023: cannot pin a balancer thread there: .* (this process may use CPUs " "$workdir/core.log" ||
    fail "--core on a CPU not allowed: unclear"
nothing_left "--core on a CPU not allowed"

note "zc-balance@.service"
unit_in=$srcdir/dist/systemd/zc-balance@.service.in
[ -f "$unit_in" ] || fail "no $unit_in"
mkdir -p "$workdir/etc/zc" "$workdir/units"
# The unit as make would install it, with this build's zc-balance.
unit=$workdir/units/zc-balance@.service
sed -e "s|@bindir@|$tools|g" -e "s|@sysconfdir@|$workdir/etc|g" "$unit_in" >"$unit"
if command -v systemd-analyze >/dev/null; then
    cp "$unit" "$workdir/units/zc-balance@$cluster.service"
    for file in "$unit" "$workdir/units/zc-balance@$cluster.service"; do
        # --man=no: the man pages it names are not installed from a build tree.
        systemd-analyze verify --man=no "$file" >"$workdir/verify.log" 2>&1
        rc=$?
        # verify reports a bad line and goes on: any word from it is a failure.
        [ $rc -eq 0 ] && [ ! -s "$workdir/verify.log" ] || { cat "$workdir/verify.log" >&2; fail "systemd-analyze verify $file"; }
    done
    note "systemd-analyze verify: no complaint"
else
    note "systemd-analyze is not installed: the unit is not verified"
fi
grep -q '^ExecStart=.*--foreground' "$unit" && ! grep -q -- '--daemon' "$unit" ||
    fail "the unit does not keep zc-balance in the foreground"
# Its ExecStart for instance $cluster, as systemd would run it (daemon =
# true in the file: --foreground must win), under its capability set.
command=$(sed -n 's/^ExecStart=//p' "$unit" | sed "s/%i/$cluster/g")
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$command" ] && [ -n "$caps" ] || fail "the unit has no ExecStart or no CapabilityBoundingSet"
# The file names another cluster: the instance (--cluster %i) must win.
{
    grep -v 'cluster *=' "$workdir/cluster.conf"
    printf 'cluster = %s\ndaemon = true\n' $other
} >"$workdir/etc/zc/cluster-$cluster.conf"
if command -v setpriv >/dev/null; then
    bounding=-all$(for cap in $caps; do printf ',+%s' "$(echo "${cap#CAP_}" | tr 'A-Z' 'a-z')"; done)
    set -- setpriv --bounding-set "$bounding" --inh-caps=-all $command
    note "running with $bounding: $command"
else
    note "setpriv is not installed: ExecStart runs with every capability"
    set -- $command
fi
start_in_b "$workdir/service.log" "$banner" "$@"
service=$bg_pid
ours="$ours $service"
alive "$service" || fail "the unit's ExecStart did not stay in the foreground"
receive 2 2000
stop "$service" "$workdir/service.log"

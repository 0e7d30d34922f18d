#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc-balance --rules (content rules, Hyperscan), as an operator meets it:
#  - a rule file that fails stops zc-balance at start with exit status 1 and
#    one line naming FILE:LINE and why: a bad regex (Hyperscan's message), an
#    unknown action, a group that does not exist, a file that is not there;
#  - a good file loads (one line says how many rules), and under traffic
#    zc-stat's table and its --prometheus scrape show each rule's hits and
#    the packets rules dropped;
#  - SIGHUP reloads: a good file is taken up (one line, the new rule in
#    zc-stat, the old rule's hits kept by id), a bad one is refused in one
#    line naming its line and leaves the rules in force;
#  - zc-balance ends with its summary, rules included.
# (Which packet each rule takes is tests/unit/balancer_rules_test's.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_zc_lib.sh"
[ -x "$tools/zc-stat" ] || skip "$tools/zc-stat is not built"
"$tools/zc-balance" --help | grep -q -- '--rules' || fail "zc-balance --help does not mention --rules"
netns_pair

cluster=$(( 73000 + $$ % 1000 ))
rules=$workdir/rules.conf
balance=$tools/zc-balance

# refused TEXT MESSAGE: zc-balance with TEXT as its rule file exits 1 and
# says MESSAGE (a fixed string) in one line.
refused() {
    printf '%s' "$1" >"$rules"
    status=0
    "$balance" -i zc:synthetic -c $cluster -n 2,1 --rules "$rules" >"$workdir/refused.log" 2>&1 || status=$?
    [ $status -eq 1 ] || { cat "$workdir/refused.log" >&2; fail "rules '$1': exit status $status, not 1"; }
    grep -qF -- "$2" "$workdir/refused.log" || { cat "$workdir/refused.log" >&2; fail "rules '$1': no '$2'"; }
    [ "$(wc -l <"$workdir/refused.log")" -eq 1 ] || { cat "$workdir/refused.log" >&2; fail "rules '$1': not one line"; }
    [ ! -e "/run/zc/cluster-$cluster.sock" ] || fail "rules '$1': a control socket is left"
}
refused '1 /GET/ payload tag
2 /a(b/ payload drop
' "zc-balance: --rules: rules not loaded: $rules:2: rule 2: Hyperscan cannot compile the expression: Missing close parenthesis"
refused '# comments first

7 /abc/ payload reject
' "$rules:3: rule 7: unknown action 'reject' (drop, group G or tag)"
refused '1 /abc/ frame group 2
' "$rules:1: rule 1: group 2 does not exist: there are 2 groups, numbered 0 to 1"
status=0
"$balance" -i zc:synthetic -c $cluster -n 2,1 --rules "$workdir/none.conf" >"$workdir/refused.log" 2>&1 || status=$?
[ $status -eq 1 ] && grep -q "none.conf" "$workdir/refused.log" || fail "a missing rule file was not refused by name"

# The synthetic frames go between two MACs: 02:7a:63:00:00:01 (client) and
# ...:02 (server). Rule 1 drops what goes to the server; rule 2 tags all.
cat >"$rules" <<'RULES'
# the client's half goes nowhere
1 /^\x02\x7a\x63\x00\x00\x02/ frame drop
2 /\x02\x7a\x63/ frame tag
RULES
start_in_b "$workdir/balance.log" "zc-balance: cluster $cluster:" \
    "$balance" -i zc:synthetic -c $cluster -n 2,1 --rules "$rules" --flows 8
balancer=$bg_pid
cleanups="$cleanups stop_balancer"
stop_balancer() { kill -9 $balancer 2>/dev/null; }
grep -qF "zc-balance: --rules: 2 rules loaded from $rules (load 1)" "$workdir/balance.log" ||
    { cat "$workdir/balance.log" >&2; fail "no line saying the rules loaded"; }

# metric NAME RULE: the value of zc_rule_hits_total for RULE in the scrape.
scrape() { "$tools/zc-stat" -c $cluster --prometheus >"$workdir/scrape" || fail "zc-stat --prometheus failed"; }
rule_hits() { sed -n "s/^zc_rule_hits_total{cluster=\"$cluster\",rule=\"$1\",[^}]*} \([0-9]*\)\$/\1/p" "$workdir/scrape"; }
cluster_value() { sed -n "s/^$1{cluster=\"$cluster\"} \([0-9]*\)\$/\1/p" "$workdir/scrape"; }
# wait_for CONDITION: scrapes until the shell CONDITION holds (5 s at most).
wait_for() {
    for _ in $(seq 1 50); do
        scrape
        eval "$1" && return 0
        sleep 0.1
    done
    cat "$workdir/scrape" >&2
    fail "never true: $1"
}
wait_for '[ "$(rule_hits 1)" -gt 1000 ] 2>/dev/null'
cat "$workdir/scrape"
h1=$(rule_hits 1) h2=$(rule_hits 2) dropped=$(cluster_value zc_rules_dropped_total)
# (No ratio: zc:synthetic skips the buffers the consumerless queues hold,
# so the dropped frames, whose buffers come straight back, come round more.)
[ "$h2" -gt "$h1" ] || fail "the tag rule counted $h2 frames, no more than the drop rule's $h1"
[ "$dropped" -ge "$h1" ] || fail "zc_rules_dropped_total $dropped is below rule 1's hits $h1"
[ "$(cluster_value zc_rules_scanned_total)" -ge "$h2" ] || fail "fewer frames scanned than the tag rule counted"
[ "$(cluster_value zc_rules_in_force)" = 2 ] && [ "$(cluster_value zc_rules_loads)" = 1 ] ||
    fail "the scrape does not show 2 rules from 1 load"
grep -q "^zc_rule_hits_total{cluster=\"$cluster\",rule=\"1\",action=\"drop\",scope=\"frame\"} " "$workdir/scrape" ||
    fail "rule 1's labels are not action=drop, scope=frame"
"$tools/zc-stat" -c $cluster -n 1 >"$workdir/table" || fail "zc-stat failed"
cat "$workdir/table"
grep -q '^rules: 2 in force (load 1), dropped [1-9]' "$workdir/table" || fail "zc-stat's table has no rules line"
grep -Eq '^ +1 +2 +frame +drop +[1-9][0-9]* ' "$workdir/table" || fail "zc-stat's table has no row for rule 1"

# SIGHUP with a good file: rule 3 steers the server's replies to group 1.
cat >"$rules" <<'RULES'
1 /^\x02\x7a\x63\x00\x00\x02/ frame drop
3 /^\x02\x7a\x63\x00\x00\x01/ frame group 1
RULES
kill -HUP $balancer
wait_for '[ "$(cluster_value zc_rules_loads)" = 2 ] && [ "$(rule_hits 3)" -gt 0 ] 2>/dev/null'
grep -qF "zc-balance: SIGHUP: 2 rules loaded from $rules (load 2)" "$workdir/balance.log" ||
    { cat "$workdir/balance.log" >&2; fail "no line saying the reload worked"; }
[ "$(rule_hits 1)" -ge "$h1" ] || fail "rule 1's hits went back from $h1 to $(rule_hits 1) at the reload"
[ -z "$(rule_hits 2)" ] || fail "rule 2, no longer in the file, is still shown"

# SIGHUP with a bad file: refused in one line, rules 1 and 3 stay.
printf '1 /x/ frame drop\n2 /[z/ payload tag\n' >"$rules"
kill -HUP $balancer
for _ in $(seq 1 50); do
    grep -q "SIGHUP: rules not loaded" "$workdir/balance.log" && break
    sleep 0.1
done
grep -qF "zc-balance: SIGHUP: rules not loaded, the previous rules stay in force: $rules:2: rule 2: Hyperscan cannot compile the expression:" \
    "$workdir/balance.log" || { cat "$workdir/balance.log" >&2; fail "no line saying the reload failed and why"; }
before=$(rule_hits 3)
wait_for '[ "$(rule_hits 3)" -gt "$before" ] 2>/dev/null'
[ "$(cluster_value zc_rules_loads)" = 2 ] || fail "a failed reload counted as a load"

kill -TERM $balancer
for _ in $(seq 1 100); do kill -0 $balancer 2>/dev/null || break; sleep 0.1; done
kill -0 $balancer 2>/dev/null && fail "zc-balance did not stop on SIGTERM"
grep -q '^rules: 2 in force, dropped [1-9]' "$workdir/balance.log" ||
    { cat "$workdir/balance.log" >&2; fail "the summary has no rules"; }
note "zc-balance --rules: errors at start, hits in zc-stat, SIGHUP reloads good and bad files"

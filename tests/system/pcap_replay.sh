#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# zc:pcap replays a capture: a capture of zc:synthetic, replayed at top
# speed, gives back exactly the same frames; a missing file and a file that
# is not a capture give clear errors.
. "$(dirname "$0")/lib.sh"

"$tools/zc-count" -i zc:synthetic -c 5000 -w "$workdir/synthetic.pcap" -q >/dev/null ||
    fail "zc-count on zc:synthetic failed"
"$checks/check-frames" "$workdir/synthetic.pcap" --count 5000 --size 64 --sequences ||
    fail "zc:synthetic does not give the frames zc-send sends"
"$tools/zc-count" -i "zc:pcap:$workdir/synthetic.pcap" --speed 0 -w "$workdir/replayed.pcap" -q ||
    fail "replay failed"
"$checks/check-frames" "$workdir/replayed.pcap" --count 5000 --size 64 --sequences ||
    fail "the replay differs from the file"

out=$("$tools/zc-count" -i "zc:pcap:$workdir/missing.pcap" -q 2>&1) && fail "a missing file was accepted"
echo "$out" | grep -qi "no such file" || fail "unclear message for a missing file: $out"
echo "not a capture" >"$workdir/junk.pcap"
out=$("$tools/zc-count" -i "zc:pcap:$workdir/junk.pcap" -q 2>&1) && fail "a junk file was accepted"
echo "$out"

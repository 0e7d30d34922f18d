# SPDX-License-Identifier: BSD-3-Clause
#
# tests/system/pcap_zc_lib.sh — sourced by the pcap_zc_*.sh system tests,
# after lib.sh: runs the STOCK Debian tcpdump and tshark with libpcap-zc.so
# preloaded from the build tree.

pcap_zc_lib=""
for candidate in "$build/pcap-zc/.libs/libpcap-zc.so" "$build/pcap-zc/libpcap-zc.so"; do
    [ -f "$candidate" ] && { pcap_zc_lib=$candidate; break; }
done
[ -n "$pcap_zc_lib" ] || skip "libpcap-zc.so is not built in $build/pcap-zc"
# What the stock programs get in LD_PRELOAD: in a sanitizer build the library
# needs the ASan runtime, which must come first in the process; leaks of the
# stock programs themselves are not ours to report.
preload=$pcap_zc_lib
asan_runtime=""
if nm -D --undefined-only "$pcap_zc_lib" 2>/dev/null | grep -q ' __asan_'; then
    asan_runtime=$(gcc -print-file-name=libasan.so 2>/dev/null)
    [ -f "$asan_runtime" ] || asan_runtime=$(ldconfig -p | awk '/libasan\.so/ { print $NF; exit }')
    [ -f "$asan_runtime" ] || skip "an ASan build of libpcap-zc.so needs the ASan runtime, which is not found"
    preload="$asan_runtime $pcap_zc_lib"
    ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS} && export ASAN_OPTIONS
fi
# libpcap-zc loads libzc at the first zc: activation; from the build tree it
# finds the build tree's (no ZC_LIBZC: the tests use what a user gets).
libzc_built=$build/core/.libs/libzc.so.0
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
# The wrapper, with the library path it gets at install time overridden.
zc_pcap="$srcdir/pcap-zc/zc-pcap.in"
ZC_PCAP_LIBRARY=$pcap_zc_lib && export ZC_PCAP_LIBRARY

# Debian's tcpdump drops to user tcpdump after pcap_activate, then opens
# its -w file; dumpcap keeps uid 0 but drops CAP_DAC_OVERRIDE: both need a
# directory anyone may write to.
out=$workdir/out
mkdir -p "$out"
chmod 1777 "$out"
chmod 0755 "$workdir"

# with_zc COMMAND...: COMMAND with libpcap-zc preloaded.
with_zc() { LD_PRELOAD=$preload "$@"; }

# send_frames COUNT FLOWS [RATE]: zc-send from $ns_a, 64-byte frames, at a
# loss-free rate even on a busy machine (default 25000 frames/s).
send_frames() {
    in_a "$tools/zc-send" -i "$veth_a" -c "$1" -s 64 -f "$2" -r "${3:-25000}" -q || fail "zc-send failed"
}

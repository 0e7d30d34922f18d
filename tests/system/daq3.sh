#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The DAQ 3 module (daq-zc/daq3/) under libdaq 3's own example client,
# daqtest: 1000 packets from zc:synthetic, counted and passed. The module's
# real test is daq3_test (GoogleTest, through libdaq 3's loader); this one
# says plainly when there is no module to test: configure builds it only
# where it finds libdaq 3, which Debian does not ship (exit 77, skipped).
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

[ "${ZC_HAVE_LIBDAQ3:-no}" = yes ] ||
    skip "libdaq 3 is not installed (configure found no libdaq >= 3 with daq_module_api.h): the DAQ 3 module was not built"

build=${ZC_BUILD:-$(pwd)}
modules=$build/daq-zc/daq3/.libs
[ -f "$modules/daq_zc.so" ] || fail "configure found libdaq 3 but $modules/daq_zc.so was not built"
daqtest=${ZC_LIBDAQ3_PREFIX:-/opt/libdaq3}/bin/daqtest
[ -x "$daqtest" ] || skip "the module is built, but libdaq 3's daqtest is not installed at $daqtest (daq3_test tests the module)"

# The module in the build tree finds the build tree's libzc this way.
out=$(LD_LIBRARY_PATH="$build/core/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    timeout 60 "$daqtest" -m "$modules" -d zc -i zc:synthetic -c 1000 -p 2>&1)
status=$?
echo "$out"
[ $status -eq 0 ] || fail "daqtest exited with $status"
echo "$out" | grep -Eq "^ *Packets Received: +1000\$" || fail "daqtest did not receive exactly 1000 packets"
echo "$out" | grep -Eq "^ *Packets Passed: +1000\$" || fail "daqtest did not pass exactly 1000 packets"
echo "daqtest received and passed 1000 packets from zc:synthetic through the DAQ 3 module"

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/install/check.sh — make installcheck: zc as installed, run from where
# it was installed and from nowhere else (make distcheck installs into a
# scratch prefix and runs this there). The build tree is not consulted: each
# check names what a user would type.
#   the tools:   zc-count on zc:synthetic, linked to the installed libzc;
#   zc-pcap:     the stock tcpdump through the installed wrapper and
#                libpcap-zc.so, which finds the installed libzc by itself;
#   man pages:   every one renders with man -l, without a warning;
#   libzc:       a C program built only with pkg-config --cflags --libs
#                libzc creates a cluster, and another process attaches it.
# Environment (from Makefile.am): ZC_BINDIR ZC_LIBDIR ZC_PKGLIBDIR
# ZC_MANDIR ZC_INCLUDEDIR. Prints "installcheck: N passed, N failed, N
# skipped" last; exits 1 if anything failed.
set -u
: "${ZC_BINDIR:?}" "${ZC_LIBDIR:?}" "${ZC_PKGLIBDIR:?}" "${ZC_MANDIR:?}"

passed=0 failed=0 skipped=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "SKIP: $*"; skipped=$((skipped + 1)); }

workdir=$(mktemp -d /tmp/zc-installcheck-XXXXXX)
trap 'rm -rf "$workdir"' EXIT
chmod 0755 "$workdir"
# Nothing from the build tree or the caller's environment may stand in.
unset ZC_LIBZC ZC_PCAP_LIBRARY ZC_BUILD LD_PRELOAD

# --------------------------------------------------------------- zc-count
count_out=$("$ZC_BINDIR/zc-count" -i zc:synthetic -c 100000 2>&1)
if [ $? -eq 0 ] && echo "$count_out" | grep -q '100000 packets'; then
    pass "zc-count -i zc:synthetic -c 100000"
else
    fail "zc-count -i zc:synthetic -c 100000: $count_out"
fi
libzc_used=$(ldd "$ZC_BINDIR/zc-count" | sed -n 's/.*libzc\.so\.0 => \([^ ]*\).*/\1/p')
if [ "$(readlink -f "$libzc_used")" = "$(readlink -f "$ZC_LIBDIR/libzc.so.0")" ]; then
    pass "zc-count loads the installed libzc ($libzc_used)"
else
    fail "zc-count loads libzc from '$libzc_used', not from $ZC_LIBDIR"
fi

# --------------------------------------------------------------- zc-pcap
if ! command -v tcpdump >/dev/null; then
    skip "zc-pcap tcpdump: tcpdump is not installed (Debian package tcpdump)"
else
    # Debian's tcpdump drops to user tcpdump before it opens its -w file.
    mkdir "$workdir/out" && chmod 1777 "$workdir/out"
    dump_out=$("$ZC_BINDIR/zc-pcap" tcpdump -n -c 500 -w "$workdir/out/synthetic.pcap" -i zc:synthetic 2>&1)
    if [ $? -eq 0 ] && echo "$dump_out" | grep -q '^500 packets captured' &&
        [ "$(tcpdump -n -r "$workdir/out/synthetic.pcap" 2>/dev/null | wc -l)" -eq 500 ]; then
        pass "zc-pcap tcpdump -i zc:synthetic -c 500 -w FILE"
    else
        fail "zc-pcap tcpdump -i zc:synthetic: $dump_out"
    fi
    # tcpdump -D lists zc:IFACE beside each interface only when the
    # preloaded library works.
    if "$ZC_BINDIR/zc-pcap" tcpdump -D 2>&1 | grep -q '[0-9]\.zc:lo '; then
        pass "zc-pcap tcpdump -D lists zc:lo"
    else
        fail "zc-pcap tcpdump -D does not list zc:lo"
    fi
fi

# --------------------------------------------------------------- man pages
if ! command -v man >/dev/null; then
    skip "man pages: man is not installed (Debian package man-db)"
else
    pages=$(find "$ZC_MANDIR" -name '*.[0-9]' -type f | sort)
    [ -n "$pages" ] || fail "no man pages under $ZC_MANDIR"
    for page in $pages; do
        name=$(basename "$page" | sed 's/\.[0-9]$//')
        text=$(MANWIDTH=80 man --warnings -l "$page" 2>"$workdir/man.err")
        if [ $? -ne 0 ] || [ -s "$workdir/man.err" ]; then
            fail "man -l $page: $(cat "$workdir/man.err")"
        elif ! echo "$text" | grep -q "^NAME" || ! echo "$text" | grep -qi "$name"; then
            fail "man -l $page: no NAME section naming $name"
        else
            pass "man -l $page"
        fi
    done
fi

# --------------------------------------------------------------- libzc
pc_path=$ZC_LIBDIR/pkgconfig
if ! command -v pkg-config >/dev/null || ! command -v cc >/dev/null; then
    skip "libzc from C: pkg-config or cc is not installed"
elif ! flags=$(PKG_CONFIG_PATH=$pc_path pkg-config --cflags --libs libzc 2>&1); then
    fail "pkg-config --cflags --libs libzc (PKG_CONFIG_PATH=$pc_path): $flags"
else
    cat >"$workdir/cluster.c" <<'EOF'
/* Creates cluster ID with one queue, then a child process attaches it. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zc/zc.h>

int main(int argc, char** argv)
{
    if (argc != 2)
        return 2;
    unsigned id = (unsigned)strtoul(argv[1], NULL, 10);
    zc_cluster_config config;
    zc_cluster_config_init(&config);
    config.queue_count = 1;
    zc_cluster* owner;
    zc_error err;
    if (zc_cluster_create(id, &config, &owner, &err) < 0) {
        fprintf(stderr, "create: %s\n", err.message);
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        zc_cluster* consumer;
        if (zc_cluster_attach(id, NULL, &consumer, &err) < 0) {
            fprintf(stderr, "attach: %s\n", err.message);
            _exit(1);
        }
        zc_cluster_close(consumer);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    zc_cluster_close(owner);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    printf("cluster %u created and attached\n", id);
    return 0;
}
EOF
    # shellcheck disable=SC2086  # pkg-config's words are words
    if ! cc -std=c11 -Wall -Wextra -Werror "$workdir/cluster.c" -o "$workdir/cluster" $flags 2>"$workdir/cc.err"; then
        fail "cc \$(pkg-config --cflags --libs libzc): $(cat "$workdir/cc.err")"
    else
        pass "a C program builds with pkg-config --cflags --libs libzc alone"
        id=$(( 60000 + $$ % 5000 ))
        # A prefix outside the linker's search needs LD_LIBRARY_PATH, as any
        # library there does; /usr/local needs nothing (make install ran
        # ldconfig).
        run_out=$(LD_LIBRARY_PATH=$ZC_LIBDIR "$workdir/cluster" $id 2>&1)
        if [ $? -eq 0 ]; then
            pass "the C program: $run_out"
        else
            fail "the C program (cluster $id): $run_out"
        fi
    fi
fi

echo "installcheck: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Where a cluster's region goes (zc(7)): hugetlbfs at /dev/hugepages when
# the kernel has the free huge pages, whether the mount has a size= limit
# or none (systemd's dev-hugepages.mount has none, and its statfs says
# 0 free: that means "no limit of its own", not "full"); /dev/shm/zc when
# the pages are too few, or the mount's size= is too small. zc-balance's
# first line says which, a consumer attaches and counts packets either way.
#
# The hugetlbfs mounts are made in a private mount namespace (unshare -m),
# so tests running beside this one never see them. The kernel's huge page
# pool is one for the machine: it is raised by what the test needs and put
# back as it was on exit.
. "$(dirname "$0")/lib.sh"

pool=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -w "$pool/nr_hugepages" ] || skip "no 2 MiB huge pages in this kernel"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"

saved=$(cat "$pool/nr_hugepages")
restore_pool() { echo "$saved" > "$pool/nr_hugepages"; }
cleanups="$cleanups restore_pool"

# The region of zc-balance -i zc:synthetic -n 1 (its default pool, about
# 50 MiB) fits in this many 2 MiB pages; twice as many are added, for a
# test running beside this one that may take some while they are there.
need=64
echo $(( saved + 2 * need )) > "$pool/nr_hugepages"
free=$(( $(cat "$pool/free_hugepages") - $(cat "$pool/resv_hugepages") ))
[ "$free" -ge "$need" ] || skip "the kernel gave only $free free huge pages (memory too fragmented?)"

cluster=$(( 74000 + $$ % 1000 ))
# place MOUNT_OPTIONS: in a private mount namespace with a fresh hugetlbfs
# at /dev/hugepages (MOUNT_OPTIONS as given to mount -o, or "" for none),
# runs zc-balance and a zc-count on its queue for 1 s; prints zc-balance's
# first line, then the count.
place() {
    unshare -m --propagation private sh -c '
        mkdir -p /dev/hugepages
        mount -t hugetlbfs ${1:+-o "$1"} zc-test /dev/hugepages || exit 3
        "$2/zc-balance" -i zc:synthetic -c "$3" -n 1 > "$4/balance.log" 2>&1 &
        balance=$!
        for _ in $(seq 1 50); do grep -q " queues (" "$4/balance.log" && break; sleep 0.1; done
        "$2/zc-count" -i "zc:$3@0" -d 1 -q > "$4/count.log" 2>&1
        kill $balance; wait $balance
        head -n 1 "$4/balance.log"
        cat "$4/count.log"
    ' place "$1" "$tools" "$cluster" "$workdir"
}
# counted LOG: the consumer counted packets.
counted() { grep -Eq '[1-9][0-9]* packets' "$1" || grep -Eq '"packets":[1-9]' "$1"; }

note "a hugetlbfs without size=: the region takes huge pages"
place "" > "$workdir/unsized.out" || fail "could not mount hugetlbfs"
cat "$workdir/unsized.out"
grep -q "buffers in /dev/hugepages/zc/cluster-$cluster (huge pages)" "$workdir/unsized.out" ||
    fail "with $free free huge pages and a mount without size=, the region did not go to hugetlbfs"
counted "$workdir/unsized.out" || fail "the consumer counted nothing from a region in huge pages"

note "a hugetlbfs with size= room for it: huge pages"
place "size=$(( need * 2 ))M" > "$workdir/sized.out" || fail "could not mount hugetlbfs"
grep -q "(huge pages)" "$workdir/sized.out" || { cat "$workdir/sized.out"; fail "a mount with room was not used"; }

note "a hugetlbfs whose size= is too small: /dev/shm, and the consumer still counts"
place "size=2M" > "$workdir/small.out" || fail "could not mount hugetlbfs"
cat "$workdir/small.out"
grep -q "buffers in /dev/shm/zc/cluster-$cluster (4 KiB pages)" "$workdir/small.out" ||
    fail "a 2 MiB mount cannot hold the region, yet it was not placed in /dev/shm"
counted "$workdir/small.out" || fail "the consumer counted nothing from a region in /dev/shm"

note "too few free huge pages in the kernel: /dev/shm"
echo "$saved" > "$pool/nr_hugepages"
free=$(( $(cat "$pool/free_hugepages") - $(cat "$pool/resv_hugepages") ))
if [ "$free" -lt "$need" ]; then
    place "" > "$workdir/none.out" || fail "could not mount hugetlbfs"
    grep -q "(4 KiB pages)" "$workdir/none.out" ||
        { cat "$workdir/none.out"; fail "with $free free huge pages the region did not fall back to /dev/shm"; }
else
    note "(skipped: this machine keeps $free free huge pages of its own)"
fi
[ ! -e "/dev/shm/zc/cluster-$cluster" ] || fail "the region in /dev/shm outlived zc-balance"
echo "PASS"

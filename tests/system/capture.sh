#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# N frames sent by zc-send at a loss-free rate are all captured by zc-count,
# byte-for-byte as sent, each sequence number once: over AF_XDP and over
# AF_PACKET. Afterwards no XDP program is left on the interface.
. "$(dirname "$0")/lib.sh"
netns_pair

count=10000 size=64 flows=8 rate=25000

for device in "zc:$veth_b" "zc:afpacket:$veth_b"; do
    note "capture on $device"
    start_capture "$workdir/count.log" -i "$device" -c $count -d 20 -w "$workdir/capture.pcap"
    in_a "$tools/zc-send" -i "$veth_a" -c $count -s $size -f $flows -r $rate -q ||
        fail "zc-send failed"
    wait_capture || { cat "$workdir/count.log" >&2; fail "zc-count failed on $device"; }
    cat "$workdir/count.log"
    "$checks/check-frames" "$workdir/capture.pcap" --count $count --size $size --flows $flows --sequences ||
        fail "$device: the capture is not what was sent"
    grep -q "zc-count: .* $count packets" "$workdir/count.log" || fail "$device: final report does not say $count packets"
    ! xdp_attached "$ns_b" "$veth_b" || fail "$device: an XDP program is left on $veth_b"
done
case $(cat "$workdir/count.log") in
*afpacket*) ;;
*) fail "the AF_PACKET run does not report its mode" ;;
esac

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zc/hash.h — the flow hash of zc-balance, and the packet parser under it.
 *
 * Modes are named, never numbered, on every command line:
 *
 *   "5tuple"        (default) IP protocol, both addresses and both ports.
 *   "2tuple"        both IP addresses.
 *   "inner-5tuple"  the 5tuple of the packet inside a tunnel: GTP-U (UDP port
 *                   2152, G-PDU messages), VXLAN (UDP port 4789) or GRE (IP
 *                   protocol 47, version 0, optional checksum/key/sequence,
 *                   carrying IPv4, IPv6, MPLS or Ethernet (0x6558)). One level
 *                   of tunnel is opened. Packets that are not tunnelled get
 *                   their 5tuple hash, so a mixed link balances too.
 *   "round-robin"   not a hash: the balancer deals packets out in turn, and
 *                   zc_packet_hash returns 0.
 *   "vlan"          the outermost VLAN id (0 when untagged or priority-tagged).
 *   "iface"         the input port (the device's index in an aggregate).
 *
 * Symmetry. Every flow mode (5tuple, 2tuple, inner-5tuple) gives both
 * directions of a flow the same hash by construction: the two endpoints,
 * (address, port) pairs or bare addresses, are put in a canonical order
 * (smaller first, addresses compared as big-endian numbers, ports after) and
 * only then hashed. vlan and iface do not look at endpoints at all.
 *
 * Mixing. The canonical tuple is hashed whole (IPv6 addresses all 128 bits)
 * by a chain of 64-bit multiply-xorshift finalisers (murmur3 fmix64) with a
 * fixed seed, so every bit of the result depends on every bit of the tuple:
 * reduce it to a queue with hash % n or (hash * n) >> 32, either works. The
 * vlan and iface values are mixed the same way, so ids such as 100, 200, 300
 * do not all land on one queue; the price is that two ids may share a queue
 * when there are as many queues as ids. The seed is fixed (the same hash in
 * every process and every release), so this is not a defence against someone
 * who crafts traffic to overload one queue.
 *
 * Fallbacks, when a frame does not parse to the depth a mode needs:
 *   5tuple  -> 2tuple   for IP packets without ports (ICMP, GRE, ESP, ...),
 *                       for fragments (below), and when the captured bytes end
 *                       before the ports or an IP header field is beyond a
 *                       bound (IPv6 extension headers, see ZC_PARSE_*_MAX);
 *                       ports are used for TCP, UDP, UDP-Lite, SCTP and DCCP.
 *   2tuple  -> MAC pair for frames that are not IP, or whose IP header is
 *                       invalid (version, IHL < 5, total length shorter than
 *                       the header) or cut before the addresses; the two MAC
 *                       addresses are ordered like the endpoints above.
 *   MAC pair -> a constant, for frames shorter than 12 bytes.
 *   inner-5tuple        hashes the inner packet by the 5tuple rules (with the
 *                       fallbacks above) when its IP addresses (or, for VXLAN
 *                       and GRE 0x6558, its MAC addresses) were captured;
 *                       otherwise — not a tunnel, an unknown GTP-U message, an
 *                       inner packet cut short, an outer fragment — it hashes
 *                       the outer packet by the 5tuple rules. The inner flow
 *                       hashes exactly as the same flow would untunnelled.
 *                       Tunnels are recognised by their well-known UDP ports
 *                       (2152, 4789, on either side), as Suricata and
 *                       Wireshark do: an ordinary UDP conversation that
 *                       happens to use one of those ports (a NAT-chosen
 *                       source port 4789, say) and whose payload passes the
 *                       header checks is read as a tunnel, and its two
 *                       directions may then reach different queues. Use
 *                       5tuple on links that carry no such tunnels.
 *
 * Fragments. An IPv4 packet with More Fragments set or a fragment offset, or
 * an IPv6 packet whose Fragment header has M set or an offset, is hashed on
 * its address pair alone, in every flow mode: the first fragment too, although
 * it carries the ports, because the later ones do not. So every piece of a
 * datagram goes to one queue, and its hash equals the 2tuple hash of the same
 * address pair. Unfragmented packets of the same 5-tuple flow go by their
 * 5tuple hash and so, in general, to ANOTHER queue than the flow's fragments
 * (Suricata and PF_RING behave the same way); a consumer that must see a
 * fragmenting flow whole should use 2tuple. An IPv6 "atomic fragment" (M 0,
 * offset 0) is not a fragment. Outer fragments of a tunnel are hashed as the
 * outer address pair in inner-5tuple mode (the later ones carry no inner
 * header).
 *
 * Parsing never reads past caplen, nor past the IP total length or IPv6
 * payload length when those are shorter (Ethernet padding). Zero lengths in
 * those fields (TSO, jumbograms) mean "up to caplen". Every loop is bounded.
 */
#ifndef ZC_HASH_H
#define ZC_HASH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum zc_hash_mode {
    ZC_HASH_MODE_INVALID = -1, /* never a mode */
    ZC_HASH_5TUPLE = 0,       /* "5tuple" (the default) */
    ZC_HASH_2TUPLE = 1,       /* "2tuple" */
    ZC_HASH_INNER_5TUPLE = 2, /* "inner-5tuple" */
    ZC_HASH_ROUND_ROBIN = 3,  /* "round-robin" */
    ZC_HASH_VLAN = 4,         /* "vlan" */
    ZC_HASH_IFACE = 5,        /* "iface" */
    ZC_HASH_MODE_COUNT = 6,   /* not a mode: 0..COUNT-1 are, for listing them */
    ZC_HASH_MODE_INT_MAX = 0x7fffffff /* never a mode: with INVALID, makes the enum int-sized,
                                         so any int is a value a caller may pass */
} zc_hash_mode;

#define ZC_HASH_MODE_DEFAULT ZC_HASH_5TUPLE

/* The mode called `name` (exactly one of the names above, case-sensitive)
 * into *out. -EINVAL for an unknown name or a NULL argument (*out unchanged). */
int zc_hash_mode_from_name(const char* name, zc_hash_mode* out);

/* The name of a mode; NULL for a value that is not a mode. */
const char* zc_hash_mode_name(zc_hash_mode mode);

/* Fast path: the hash of a frame (starting with its Ethernet header) of
 * caplen captured bytes, received on input port `port` (used by iface only).
 * Never reads past caplen, never fails: see the fallbacks above. Returns 0
 * for round-robin and for a value that is not a mode. */
uint32_t zc_packet_hash(zc_hash_mode mode, const uint8_t* frame, uint32_t caplen, uint16_t port);

/* ------------------------------------------------------------------------ */
/* The parser's findings, for tests, tools and the in-kernel filter work.    */

#define ZC_PARSE_VLAN_MAX 8        /* VLAN tags followed; a 9th makes the frame non-IP */
#define ZC_PARSE_MPLS_MAX 16       /* MPLS labels followed to bottom of stack */
#define ZC_PARSE_IPV6_EXT_MAX 8    /* IPv6 extension headers followed */
#define ZC_PARSE_GTPU_EXT_MAX 4    /* GTP-U extension headers followed */

#define ZC_PARSED_ABSENT 0xffffffffu /* an offset the parser did not reach */

/* zc_parsed_layer.flags */
#define ZC_PARSED_ETHERNET 0x01u  /* l2_offset and both MAC addresses were captured */
#define ZC_PARSED_IP 0x02u        /* a valid IP header: ip_version, addresses */
#define ZC_PARSED_L4 0x04u        /* protocol is final and l4_offset is where its header starts */
#define ZC_PARSED_PORTS 0x08u     /* src_port and dst_port (TCP, UDP, UDP-Lite, SCTP, DCCP) */
#define ZC_PARSED_FRAGMENT 0x10u  /* a piece of a fragmented datagram (see Fragments) */
#define ZC_PARSED_TRUNCATED 0x20u /* the captured bytes end before a header the parser wanted */
#define ZC_PARSED_MALFORMED 0x40u /* an impossible header field, or a bound (ZC_PARSE_*_MAX) hit */

/* One packet: the frame itself, or the packet inside a tunnel. Offsets count
 * from the first byte of the frame. */
typedef struct zc_parsed_layer {
    uint32_t flags;       /* ZC_PARSED_* */
    uint32_t l2_offset;   /* Ethernet header; ABSENT when the layer starts at IP */
    uint32_t l3_offset;   /* IP header (or ABSENT) */
    uint32_t l4_offset;   /* header after the IP and IPv6 extension headers (or ABSENT) */
    uint16_t ethertype;   /* after the VLAN tags (0x8847/0x8848 for MPLS) */
    uint8_t ip_version;   /* 4 or 6 with ZC_PARSED_IP, else 0 */
    uint8_t protocol;     /* IPv4 protocol / last IPv6 next header (a fragment's: its own) */
    uint16_t vlan_count;  /* tags, outermost first in vlan_ids */
    uint16_t mpls_count;  /* labels */
    uint16_t vlan_ids[ZC_PARSE_VLAN_MAX];
    uint16_t src_port;    /* host byte order, with ZC_PARSED_PORTS */
    uint16_t dst_port;
    uint8_t src_addr[16]; /* network byte order; IPv4 in the first 4 bytes, the rest 0 */
    uint8_t dst_addr[16];
} zc_parsed_layer;

typedef enum zc_tunnel {
    ZC_TUNNEL_NONE = 0,
    ZC_TUNNEL_GTPU = 1,  /* inner layer starts at IP */
    ZC_TUNNEL_VXLAN = 2, /* inner layer starts at Ethernet */
    ZC_TUNNEL_GRE = 3,   /* inner at IP, MPLS (no l2_offset) or Ethernet (0x6558) */
} zc_tunnel;

typedef struct zc_parsed {
    uint32_t struct_size;   /* sizeof(zc_parsed), set by the caller */
    uint32_t tunnel;        /* zc_tunnel; the inner layer is filled when not NONE */
    uint32_t tunnel_offset; /* the GTP-U, VXLAN or GRE header (or ABSENT) */
    uint32_t inner_offset;  /* the first byte of the inner packet (or ABSENT) */
    zc_parsed_layer outer;
    zc_parsed_layer inner;
} zc_parsed;

/* Parses a frame as zc_packet_hash does, tunnels included, into *out.
 * 0, or -EINVAL when out is NULL or out->struct_size is not sizeof(zc_parsed). */
int zc_packet_parse(const uint8_t* frame, uint32_t caplen, zc_parsed* out);

#ifdef __cplusplus
}
#endif

#endif /* ZC_HASH_H */

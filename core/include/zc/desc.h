/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zc/desc.h — the 16-byte descriptor that moves through every zc ring.
 *
 * Packet bytes never move; descriptors do. The layout is that of the kernel's
 * struct xdp_desc (address, length, options), so that the two read alike;
 * the balancer still writes each queue's descriptor itself (the address is
 * relative to the cluster's pool, which is the UMEM, and options are zc's).
 */
#ifndef ZC_DESC_H
#define ZC_DESC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct zc_desc {
    uint64_t addr;    /* byte offset of the packet data in the buffer pool */
    uint32_t len;     /* bytes of packet data at addr */
    uint32_t options; /* ZC_DESC_* flags */
} zc_desc;

#ifdef __cplusplus
static_assert(sizeof(zc_desc) == 16, "zc_desc must stay 16 bytes");
static_assert(alignof(zc_desc) == 8, "zc_desc alignment is part of the ABI");
} /* extern "C" */
#else
_Static_assert(sizeof(zc_desc) == 16, "zc_desc must stay 16 bytes");
#endif

#endif /* ZC_DESC_H */

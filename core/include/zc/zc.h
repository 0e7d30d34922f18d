/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zc/zc.h — the public C API of libzc.
 *
 * A cluster is one shared-memory region: a buffer pool (which is also the
 * AF_XDP UMEM), per-buffer reference counts and owners, and consumer queues
 * (an RX ring and a return ring each). One process creates it and owns it
 * (zc-balance, or a tool that opens a device directly); others attach.
 *
 * Conventions:
 *  - Control-path calls return 0 or a negative errno, and fill *err (when not
 *    NULL) with the same code and a sentence a person can act on.
 *  - Fast-path calls (bursts) never block, allocate or log: they return counts.
 *  - Every struct passed in carries struct_size, so the library can tell which
 *    version of it the caller was built with.
 *
 * Errors from zc_cluster_attach, each with its own errno:
 *   -ENOENT           no such cluster (nobody created it, or it was destroyed)
 *   -EACCES           the caller may not open the region file
 *   -EPROTO           the file is not a zc cluster region (wrong magic)
 *   -EPROTONOSUPPORT  the region has another layout version than this library
 *   -EBADMSG          the file is smaller than its header says, or its layout
 *                     is inconsistent
 *   -ESRCH            the region's owner process is gone (a stale file)
 */
#ifndef ZC_ZC_H
#define ZC_ZC_H

#include <stddef.h>
#include <stdint.h>

#include "zc/desc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a function or struct of this header changes incompatibly. */
#define ZC_API_VERSION 1
/* Bumped when the shared region's layout changes. */
#define ZC_LAYOUT_VERSION 6

/* The API version the library was built with (compare to ZC_API_VERSION). */
unsigned zc_api_version(void);

#define ZC_ERROR_MESSAGE_MAX 256

typedef struct zc_error {
    int code;                           /* negative errno, 0 when no error */
    char message[ZC_ERROR_MESSAGE_MAX]; /* a sentence, without trailing newline */
} zc_error;

/* Log messages of the control path (never the fast path). */
typedef enum zc_log_level {
    ZC_LOG_ERROR = 0,
    ZC_LOG_WARNING = 1,
    ZC_LOG_INFO = 2,
    ZC_LOG_DEBUG = 3,
} zc_log_level;

typedef void (*zc_log_fn)(zc_log_level level, const char* message, void* user);

/* Replaces the log handler (NULL restores the default, which writes
 * "zc: message" to stderr for warnings and errors). Set it before creating
 * clusters; it is not synchronised against concurrent logging. */
void zc_set_log_handler(zc_log_fn handler, void* user);

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */

/* Metadata in each frame's headroom, before the packet data, written by
 * the device that received into the buffer. A queue's consumer gets the
 * same facts, and the balancer's flow hash, in each RX descriptor
 * (zc_rx_desc, zc/desc.h) and need not read this line at all. */
typedef struct zc_buffer_meta {
    uint64_t timestamp_ns; /* receive time, CLOCK_REALTIME nanoseconds */
    uint32_t hash;         /* 0: the balancer's hash is in zc_rx_desc.hash */
    uint32_t length;       /* bytes on the wire (may exceed the captured len) */
    uint16_t port;         /* input port: index of the device in an aggregate */
    uint16_t flags;
    uint32_t reserved;
} zc_buffer_meta;

/* Where a buffer is: the kind in the top 8 bits, an id (queue, device
 * queue) in the low 24. The owner's own record: consumers cannot see or
 * change it. */
typedef enum zc_owner_kind {
    ZC_OWNER_FREE = 0,   /* on the pool's free list */
    ZC_OWNER_WORKER = 1, /* in the hands of the cluster owner's worker */
    ZC_OWNER_DEVICE = 2, /* fill ring, kernel or TX ring of device queue id */
    ZC_OWNER_QUEUE = 3,  /* delivered to queue id (the first group's, with fan-out): on its RX
                            ring, in its consumer's hands or on its return ring; the balancer
                            knows which queues hold it, not which of the three (that is the
                            consumer's business) */
    ZC_OWNER_KINDS = 4
} zc_owner_kind;

#define ZC_OWNER(kind, id) ((((uint32_t)(kind)) << 24) | ((uint32_t)(id)&0xffffffu))
#define ZC_OWNER_KIND(owner) ((uint32_t)(owner) >> 24)
#define ZC_OWNER_ID(owner) ((uint32_t)(owner)&0xffffffu)

/* ------------------------------------------------------------------------ */
/* Clusters                                                                 */

typedef struct zc_cluster zc_cluster;

#define ZC_CLUSTER_NO_HUGEPAGES 0x1u /* use /dev/shm even if hugetlbfs has room */
#define ZC_CLUSTER_PRIVATE 0x2u      /* an unnamed region (memfd) nobody can attach to:
                                        the pool of a device opened directly */

typedef struct zc_cluster_config {
    uint32_t struct_size;  /* sizeof(zc_cluster_config) */
    uint32_t frame_size;   /* bytes per buffer: 2048 or 4096 (default 2048) */
    uint32_t frame_count;  /* buffers in the pool (default 4096) */
    uint32_t queue_count;  /* consumer queues (default 1, at most 1024) */
    uint32_t queue_slots;  /* slots per ring, a power of two (default 4096) */
    int32_t group;         /* group of the region file, -1 for the creator's */
    uint32_t flags;        /* ZC_CLUSTER_* */
    uint32_t lanes;        /* producers (balancer threads) feeding each queue, each through
                              an RX and a return ring of its own: 1 to 64 (0: 1) */
    const char* directory; /* NULL: /dev/hugepages/zc if it has room, else /dev/shm/zc */
} zc_cluster_config;

/* Fills *config with the defaults. */
void zc_cluster_config_init(zc_cluster_config* config);

/* Creates cluster `id` and makes the caller its owner. A region left by a
 * dead owner is replaced (and logged); a live one gives -EEXIST. */
int zc_cluster_create(uint32_t id, const zc_cluster_config* config, zc_cluster** out, zc_error* err);

/* Attaches to cluster `id` (directory as in the config, NULL for the
 * default search). See the error list at the top of this file. */
int zc_cluster_attach(uint32_t id, const char* directory, zc_cluster** out, zc_error* err);

/* Detaches (a consumer) or destroys (the owner: marks the region dead and
 * removes its file). NULL is ignored. */
void zc_cluster_close(zc_cluster* cluster);

typedef struct zc_cluster_info {
    uint32_t struct_size; /* sizeof(zc_cluster_info) */
    uint32_t id;
    int32_t owner_pid;
    uint32_t state;       /* 0 creating, 1 running, 2 stopping, 3 dead */
    uint32_t frame_size;
    uint32_t frame_count;
    uint32_t data_offset; /* frame start to first packet byte */
    uint32_t queue_count;
    uint32_t queue_slots;
    uint32_t hugepages;   /* 1 when the region lives in hugetlbfs */
    uint64_t region_bytes;
    char path[256];       /* the region file */
    /* Since ZC_1.3 (a caller with the older, shorter struct gets the rest): */
    uint32_t lanes;       /* producers feeding each queue (zc_cluster_config.lanes) */
    uint32_t reserved;
} zc_cluster_info;

int zc_cluster_get_info(const zc_cluster* cluster, zc_cluster_info* info);

/* The pool's memory (the UMEM) and its size, for registering with AF_XDP. */
void* zc_cluster_pool_base(zc_cluster* cluster);
uint64_t zc_cluster_pool_bytes(const zc_cluster* cluster);

/* ------------------------------------------------------------------------ */
/* The buffer pool. Allocation and release belong to the cluster's owner and
 * to one thread of it at a time (the worker); consumers return buffers on
 * their queue's return ring. Buffers are named by index, 0..frame_count-1. */

/* Takes up to n free buffers; each gets one reference and the given owner.
 * Returns how many were taken (fewer when the pool runs low: a status, not an
 * error). */
uint32_t zc_pool_alloc_burst(zc_cluster* cluster, uint32_t* buffers, uint32_t n, uint32_t owner);

/* Drops one reference from each buffer; a buffer whose last reference goes
 * returns to the free list. Indices outside the pool and buffers with no
 * reference are ignored and counted (bad_index, double_free). Returns how
 * many buffers went back to the free list. */
uint32_t zc_pool_release_burst(zc_cluster* cluster, const uint32_t* buffers, uint32_t n);

/* Adds `refs` references to an allocated buffer (fan-out: one per group).
 * -EINVAL for a bad index or a free buffer. */
int zc_buffer_ref_add(zc_cluster* cluster, uint32_t buffer, uint32_t refs);
uint32_t zc_buffer_refcount(const zc_cluster* cluster, uint32_t buffer);

/* Records where a buffer is now (ZC_OWNER(kind, id)). */
void zc_buffer_set_owner(zc_cluster* cluster, uint32_t buffer, uint32_t owner);
uint32_t zc_buffer_owner(const zc_cluster* cluster, uint32_t buffer);

/* Descriptor address of the first packet byte of a buffer, and back. The
 * reverse is validated: -EINVAL when addr is outside the pool. */
uint64_t zc_buffer_addr(const zc_cluster* cluster, uint32_t buffer);
int zc_buffer_from_addr(const zc_cluster* cluster, uint64_t addr, uint32_t* buffer);

/* The packet data and the metadata of a buffer (no bounds check: fast path). */
void* zc_buffer_data(zc_cluster* cluster, uint32_t buffer);
zc_buffer_meta* zc_buffer_meta_of(zc_cluster* cluster, uint32_t buffer);
/* Bytes of packet data a buffer can hold. */
uint32_t zc_buffer_capacity(const zc_cluster* cluster);

uint32_t zc_pool_free_count(const zc_cluster* cluster);

typedef struct zc_pool_report {
    uint32_t struct_size;                 /* sizeof(zc_pool_report) */
    uint32_t total;                       /* frames in the pool */
    uint32_t free_count;                  /* the free list's length */
    uint32_t by_kind[ZC_OWNER_KINDS];     /* buffers per zc_owner_kind */
    uint32_t errors;                      /* inconsistencies found */
    uint64_t bad_index;                   /* counters, see release_burst */
    uint64_t double_free;
    char first_error[ZC_ERROR_MESSAGE_MAX]; /* the first inconsistency, described */
} zc_pool_report;

/* The conservation check: every buffer is in exactly one place. Walks the
 * whole pool (control path). Returns 0 when the pool is consistent, -EBADMSG
 * otherwise, with the details in *report. */
int zc_pool_check(const zc_cluster* cluster, zc_pool_report* report);

/* ------------------------------------------------------------------------ */
/* Queues: one RX ring (worker to consumer) and one return ring (consumer to
 * worker) each. A handle is one end of one queue; each end is used by one
 * thread at a time. The C++ header zc/ring.hpp gives the same rings inline.
 * A cluster created with lanes > 1 has that many pairs per queue, one per
 * producer (zc-balance --threads): zc_queue_open refuses it with
 * -EOPNOTSUPP; the device zc:CLUSTER@QUEUE reads every lane. */

typedef struct zc_queue zc_queue;

typedef enum zc_queue_end {
    ZC_QUEUE_WORKER = 0,   /* produces on RX, consumes the return ring */
    ZC_QUEUE_CONSUMER = 1, /* consumes RX, produces on the return ring */
} zc_queue_end;

int zc_queue_open(zc_cluster* cluster, uint32_t queue, zc_queue_end end, zc_queue** out, zc_error* err);
void zc_queue_close(zc_queue* queue);

/* Worker end (the cluster's owner only). send: up to n descriptors onto the
 * RX ring (all of them or as many as fit), each with the time, wire length
 * and port of its buffer's zc_buffer_meta (hash 0); reap: up to n returned
 * descriptors, as the consumer wrote them: check each (zc_buffer_from_addr,
 * and that the queue holds that buffer) before using it. */
uint32_t zc_queue_send_burst(zc_queue* queue, const zc_desc* descs, uint32_t n);
uint32_t zc_queue_reap_burst(zc_queue* queue, zc_desc* descs, uint32_t n);

/* Consumer end. recv: up to n descriptors from the RX ring, each checked
 * (one that names no buffer of the pool, or a length its buffer cannot hold,
 * is skipped and counted in bad_descriptors; the latter is given back at
 * once); recv_rx: the same, with each packet's time, wire length, port and
 * flow hash (zc_rx_desc, zc/desc.h); give_back: up to n descriptors onto
 * the return ring. */
uint32_t zc_queue_recv_burst(zc_queue* queue, zc_desc* descs, uint32_t n);
uint32_t zc_queue_recv_rx_burst(zc_queue* queue, zc_rx_desc* descs, uint32_t n);
uint32_t zc_queue_give_back_burst(zc_queue* queue, const zc_desc* descs, uint32_t n);

/* The shared counters of one queue, read from any process attached to the
 * cluster (zc-stat): control path, relaxed reads, no ordering among them.
 * The consumer's own counters (received, returned, bad_descriptors) are as
 * the consumer wrote them: reports, not facts the owner relies on. */
typedef struct zc_queue_stats {
    uint32_t struct_size;      /* sizeof(zc_queue_stats) */
    uint32_t occupancy;        /* descriptors on the RX ring now */
    uint64_t enqueued;         /* put on the RX ring by the balancer */
    uint64_t dropped_full;     /* not given to this queue: it was full (drop mode) */
    uint64_t bad_returns;      /* handed back and refused by the balancer */
    uint64_t received;         /* taken off the RX ring by the consumer */
    uint64_t returned;         /* handed back by the consumer */
    uint64_t bad_descriptors;  /* refused by the consumer (outside the pool) */
    int32_t consumer_pid;      /* the pid holding the queue, 0 for none */
    uint32_t reserved;
    uint64_t cut_off;          /* consumers the owner disconnected for breaking the queue protocol */
    uint64_t filtered;         /* refused by its group's filter (zc-balance --group-filter) */
} zc_queue_stats;

int zc_queue_get_stats(const zc_cluster* cluster, uint32_t queue, zc_queue_stats* stats);

/* Content rules (zc_balancer_load_rules, zc-balance --rules): what each rule
 * in force does and how many packets it matched. */
typedef enum zc_rule_action {
    ZC_RULE_DROP = 0,  /* no group gets the packet */
    ZC_RULE_GROUP = 1, /* only group `group` gets it */
    ZC_RULE_TAG = 2,   /* counted only */
} zc_rule_action;

typedef enum zc_rule_scope {
    ZC_RULE_SCOPE_PAYLOAD = 0, /* the bytes after the outer L4 header */
    ZC_RULE_SCOPE_FRAME = 1,   /* the whole frame */
} zc_rule_scope;

typedef struct zc_rule_stats {
    uint32_t id;     /* the rule's id in its file */
    uint32_t line;   /* its line in the file, 1-based */
    uint32_t action; /* zc_rule_action */
    uint32_t group;  /* ZC_RULE_GROUP: the group it steers to */
    uint32_t scope;  /* zc_rule_scope */
    uint32_t reserved;
    uint64_t hits;   /* packets it matched: a drop or group rule only when it decided, a tag rule always */
} zc_rule_stats;

typedef struct zc_rules_stats {
    uint32_t struct_size; /* sizeof(zc_rules_stats) */
    uint32_t rule_count;  /* rules in force */
    uint64_t generation;  /* rule files loaded so far; 0: no rules */
    uint64_t dropped;     /* packets no group got because a rule said drop */
    uint64_t scanned;     /* packets scanned with rules in force */
    uint64_t scan_errors; /* scans Hyperscan failed (those packets passed) */
} zc_rules_stats;

/* "drop", "group", "tag"; "payload", "frame" ("?" for anything else). */
const char* zc_rule_action_name(uint32_t action);
const char* zc_rule_scope_name(uint32_t scope);

/* The rule counters of a cluster as its owner last published them (every
 * 100 ms and after each load, zc_balancer_control), read from any process attached
 * to it (zc-stat): *stats, and up to `max` rows (the rules in file order;
 * the region holds the first 1024) in `rows`, their number in *row_count.
 * 0, -EINVAL, or -EAGAIN when no whole copy could be read (the owner kept
 * rewriting the table): try again. Control path. */
int zc_cluster_get_rule_stats(const zc_cluster* cluster, zc_rules_stats* stats, zc_rule_stats* rows, uint32_t max,
                              uint32_t* row_count);

/* For inline access from C++ (zc/ring.hpp): the shared memory of one ring
 * of a queue, to wrap in zc::RingProducer / zc::RingConsumer. NULL for a
 * queue that does not exist. */
typedef enum zc_ring_kind {
    ZC_RING_RX = 0,     /* worker to consumer */
    ZC_RING_RETURN = 1, /* consumer to worker */
} zc_ring_kind;

void* zc_queue_ring_memory(zc_cluster* cluster, uint32_t queue, zc_ring_kind kind);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZC_ZC_H */

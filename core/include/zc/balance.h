/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * zc/balance.h — the balancer: one or more devices into a cluster's consumer
 * queues, symmetric by flow, with fan-out to several groups, without copying
 * a packet (the C API; zc-balance is its command-line owner).
 *
 * The devices receive straight into the cluster's pool (zc_device_config.pool
 * = the cluster), so a consumer that attaches to the cluster reads packets
 * where the NIC put them. For each packet the balancer picks one queue in
 * every group (hash % group size, or round-robin), gives the buffer one
 * reference per group, and puts a descriptor on each chosen queue's RX ring.
 * Content rules (zc_balancer_load_rules) may drop a packet before any group
 * gets it, or give it to one group only.
 * Consumers hand descriptors back on their queue's return ring; the balancer
 * checks each (range, and that this queue holds that buffer: anything else is
 * counted and ignored) and gives a buffer back to its device on the last
 * release.
 *
 * Queues are numbered across groups in order: -n 4,1 makes queues 0..3
 * (group 0, balanced) and queue 4 (group 1, sees everything).
 */
#ifndef ZC_BALANCE_H
#define ZC_BALANCE_H

#include <stdint.h>

#include "zc/device.h"
#include "zc/hash.h"
#include "zc/zc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZC_BALANCE_MAX_GROUPS 16
#define ZC_BALANCE_MAX_DEVICES 8

typedef enum zc_on_full {
    ZC_ON_FULL_DROP = 0, /* count the packet as dropped for that queue; capture never stalls */
    ZC_ON_FULL_WAIT = 1, /* hold the packet until the queue has room: lossless, back-pressures the devices */
} zc_on_full;

typedef struct zc_balance_group {
    uint32_t queues;      /* queues in this group, 1 or more */
    zc_on_full on_full;
} zc_balance_group;

typedef struct zc_balancer_config {
    uint32_t struct_size;        /* sizeof(zc_balancer_config) */
    zc_hash_mode mode;           /* how a packet picks its queue in each group */
    uint32_t group_count;        /* 1 .. ZC_BALANCE_MAX_GROUPS */
    zc_balance_group groups[ZC_BALANCE_MAX_GROUPS];
    uint32_t burst;              /* packets per device read (default 256) */
    uint32_t queue_limit;        /* drop mode: buffers one queue may hold (on its ring, in its
                                    consumer's hands); 0: the buffers the devices can have out
                                    at once (their budgets summed, at most the pool's frames)
                                    / (queues + 1), so that however many queues stall the
                                    devices keep a share (zc:synthetic's budget is its stream,
                                    4096 buffers by default; the other devices' is the pool),
                                    at least 1; one given must be at least one burst */
} zc_balancer_config;

void zc_balancer_config_init(zc_balancer_config* config);

/* Parses "4,1" into groups (each with on_full ZC_ON_FULL_DROP). -EINVAL and a
 * sentence for anything else. */
int zc_balancer_parse_groups(const char* text, zc_balancer_config* config, zc_error* err);

typedef struct zc_balancer zc_balancer;

/* Creates a balancer over `cluster` (created by the caller, owner side, with
 * queue_count = the sum of the group sizes) and `devices` (opened with
 * zc_device_config.pool = cluster). The balancer does not take ownership of
 * either; close it before them. */
int zc_balancer_create(zc_cluster* cluster, zc_device* const* devices, uint32_t device_count,
                       const zc_balancer_config* config, zc_balancer** out, zc_error* err);
void zc_balancer_close(zc_balancer* balancer);

/* Fast path: one round — read a burst from each device, distribute it, reap
 * the return rings. Returns the packets distributed in this round (0: idle;
 * the caller may then wait on the devices). Never blocks, except while the
 * control path (below) holds the lanes for a moment. With several lanes,
 * one round of each, in turn, on the calling thread. */
uint32_t zc_balancer_poll(zc_balancer* balancer);

/* Several threads: a cluster created with lanes = N (zc_cluster_config)
 * is fed by N lanes, each a producer with a ring pair of its own in every
 * queue; device d belongs to lane d % N (there must be at least N). Each
 * lane is polled by one thread of its own (zc_balancer_poll_lane), all at
 * once, while one other thread runs the control path (zc_balancer_control,
 * _reclaim_queue, _get_stats, _set_group_filter, _listen, _close): each of
 * those stops the lanes between two rounds while it works (a lane that
 * sleeps on its devices does not hold it up). A lane's thread waits on the
 * selectable fds zc_balancer_lane_fds gives (with poll(2)), never with
 * zc_device_wait: the control path may give buffers back to its devices
 * meanwhile. zc_balancer_lane_fds writes up to max fds and returns how
 * many the lane has, or -EINVAL. */
uint32_t zc_balancer_lane_count(const zc_balancer* balancer);
uint32_t zc_balancer_poll_lane(zc_balancer* balancer, uint32_t lane);
int zc_balancer_lane_fds(const zc_balancer* balancer, uint32_t lane, int* fds, uint32_t max);

/* Gives back every buffer queue `queue` holds (delivered and not returned,
 * or still on its RX ring) and empties its rings, as if its consumer had
 * returned them: for a consumer that died. With a control socket the queue
 * gets a fresh consumer side. Control path. */
int zc_balancer_reclaim_queue(zc_balancer* balancer, uint32_t queue);

typedef struct zc_balancer_queue_stats {
    uint64_t enqueued;      /* descriptors put on the queue's RX ring */
    uint64_t dropped;       /* packets not given to this queue because it was full (drop mode) */
    uint64_t returned;      /* descriptors handed back and accepted */
    uint64_t bad_returns;   /* handed-back descriptors refused (range, not held by this queue) */
    uint32_t occupancy;     /* descriptors on the RX ring now */
    uint32_t outstanding;   /* buffers this queue holds (on its ring or in its consumer's hands) */
    uint64_t cut_off;       /* consumers disconnected for breaking the queue protocol */
    uint32_t limit;         /* buffers it may hold (drop mode); UINT32_MAX: no limit (wait mode) */
    uint32_t reserved;
    uint64_t filtered;      /* packets the hash gave it that its group's filter refused (ZC_1.2) */
} zc_balancer_queue_stats;

typedef struct zc_balancer_stats {
    uint32_t struct_size;   /* sizeof(zc_balancer_stats) */
    uint32_t queue_count;
    uint64_t received;      /* packets read from the devices */
    uint64_t distributed;   /* packets given to at least one queue */
    uint64_t waiting;       /* packets held for a full queue (wait mode), now */
    uint32_t pool_free;     /* buffers on the pool's free list */
    uint32_t reserved;
    zc_balancer_queue_stats queues[1024];
} zc_balancer_stats;

int zc_balancer_get_stats(const zc_balancer* balancer, zc_balancer_stats* stats);


/* A group's own filter (man zc-balance, --group-filter): a classic BPF
 * program as pcap_compile makes it for Ethernet (zc_filter_insn, zc/device.h;
 * libpcap's bpf_validate must accept it). Group `group` then gets only the
 * packets it matches; the balancer runs it in user space, since one XDP
 * program serves every group (what the cluster takes from the kernel is the
 * devices' filter: zc_device_set_filter, zc-balance --filter). A packet the
 * filter refuses counts in `filtered` of the queue the hash gave it; a
 * packet no group takes goes home at once. insns NULL or count 0 removes
 * the filter. 0, or -EINVAL (no such group, an invalid program) or -ENOMEM,
 * with *err. Call it before polling starts, or from the thread that polls.
 * New in symbol version ZC_1.2. */
int zc_balancer_set_group_filter(zc_balancer* balancer, uint32_t group, const zc_filter_insn* insns, uint32_t count,
                                 zc_error* err);

/* Content rules (man zc-balance, RULE FILES): reads, parses and compiles the
 * rule file at `path` (Hyperscan, block mode), then hands it to the poll
 * loop, which takes it up at its next burst: a packet a rule drops goes to
 * no group, one a rule steers goes only to that group, any other to every
 * group as without rules. The first call loads, later ones reload; the
 * counters of a rule id carry over. On any error the rules in force stay
 * and *err says "FILE:LINE: rule ID: why" (Hyperscan's own message for an
 * expression it refuses); -ENOTSUP when libzc was built without Hyperscan
 * or the CPU lacks what it needs. Control path: any thread, one call at a
 * time or several (they are serialised), compiling takes milliseconds to
 * seconds while the poll loop goes on. */
int zc_balancer_load_rules(zc_balancer* balancer, const char* path, zc_error* err);

/* The rules in force with their hits, live (zc_cluster_get_rule_stats reads
 * the copy published in the region): *stats, up to `max` rows in file order
 * in `rows`, and the rules in force in stats->rule_count (*row_count says
 * how many rows were written). 0 or -EINVAL. Control path, any thread. */
int zc_balancer_get_rule_stats(zc_balancer* balancer, zc_rules_stats* stats, zc_rule_stats* rows, uint32_t max,
                               uint32_t* row_count);

/* The owner's control socket, /run/zc/cluster-<id>.sock (SOCK_SEQPACKET, mode
 * 0660, the region file's group): consumers (zc:CLUSTER@QUEUE) attach through
 * it, and the connection is their liveness signal. Creates /run/zc when
 * needed and replaces a stale socket; zc_balancer_close removes it. Marks
 * the region so that consumers must attach through it. Control path. */
int zc_balancer_listen(zc_balancer* balancer, zc_error* err);

typedef enum zc_balancer_event_kind {
    ZC_BALANCER_CONSUMER_JOINED = 0,  /* a consumer attached to `queue` */
    ZC_BALANCER_CONSUMER_LEFT = 1,    /* its connection closed: `buffers` reclaimed */
    ZC_BALANCER_CONSUMER_REFUSED = 2, /* refused: `text` says why */
    ZC_BALANCER_CONSUMER_CUT_OFF = 3, /* it broke the queue protocol (`text`): disconnected,
                                         `buffers` reclaimed */
} zc_balancer_event_kind;

typedef struct zc_balancer_event {
    zc_balancer_event_kind kind;
    uint32_t queue;   /* UINT32_MAX when a refused request named none */
    int32_t pid;      /* the consumer's process (SO_PEERCRED) */
    uint32_t buffers; /* LEFT: buffers reclaimed from the queue */
    char text[200];
} zc_balancer_event;

/* Services the control socket without blocking: accepts consumers, answers
 * their requests, and reclaims at once (zc_balancer_reclaim_queue) the queue
 * of every consumer whose connection closed. Cuts off the consumer of every
 * queue marked broken (it wrote impossible ring indices): closes its
 * connection (without a socket: resets its rings), reclaims, counts it.
 * With rules loaded, copies their hits into the region (for
 * zc_cluster_get_rule_stats) at once after a load, else every 100 ms.
 * Call it from the thread that polls, every few milliseconds (never per
 * packet), with or without a socket. Up to `max` events go to `events`;
 * returns how many (further ones are not reported). */
uint32_t zc_balancer_control(zc_balancer* balancer, zc_balancer_event* events, uint32_t max);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ZC_BALANCE_H */

// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/clusterq/queue_claim.hpp — one consumer per cluster queue.
//
// A queue's RX ring has one consumer index and its return ring one producer
// index: two processes reading the same queue would corrupt both. So a
// consumer claims the queue before it touches either ring, in
// QueueSide::consumer_claim (core/internal/layout.hpp), one 64-bit word — only
// when the owner serves no control socket (with one, the owner's table of
// connections is the claim):
//
//   claim = pid << 32 | (start time & 0xffffffff)     0: nobody holds it
//
// where the start time is field 22 of /proc/<pid>/stat (clock ticks since
// boot), so that a pid reused by another process does not look like the
// consumer that died. The low 32 bits of it wrap after 497 days of ticks at
// USER_HZ 100; a false "alive" then needs a reused pid started at the same
// tick modulo that: accepted. The word is one CAS on every transition:
//
//   claim:    CAS 0 -> mine; or, when the holder is dead, CAS theirs -> mine
//             (of two processes taking over at once, one CAS wins)
//   release:  CAS mine -> 0 (a claim someone took over stays theirs)
//
// A holder counts as alive when kill(pid, 0) does not say ESRCH and its
// start time matches (or cannot be read). Control path only.

#pragma once

#include <cstdint>
#include <sys/types.h>

#include "zc/zc.h"

namespace zc {
struct QueueSide;
}

namespace zc::clusterq {

// The claim word of this process.
std::uint64_t own_claim() noexcept;

inline pid_t claim_pid(std::uint64_t claim) noexcept { return static_cast<pid_t>(claim >> 32); }

// Claims `info`'s queue for this process. 0; -EBUSY with "cluster C queue Q
// is in use by pid N" when a live process holds it. Taking over from a dead
// holder is logged. `claim` receives the word written.
int claim_queue(QueueSide& info, std::uint32_t cluster, std::uint32_t queue, std::uint64_t* claim,
                zc_error* err) noexcept;

// Gives the queue up, if `claim` still holds it.
void release_queue(QueueSide& info, std::uint64_t claim) noexcept;

} // namespace zc::clusterq

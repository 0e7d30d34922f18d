// SPDX-License-Identifier: BSD-3-Clause
//
// Content rules for the balancer (private to libzc): a rule file
// (rules_file.hpp) compiled by Hyperscan into block-mode databases, matched
// against each packet by a per-worker Matcher that says drop, steer to one
// group, or pass, and counts hits per rule id.
//
//   RuleSet      one rule file, compiled: a database per scope (payload,
//                frame), immutable, shared (rules_set.cpp).
//   Matcher      one per worker thread: its own Hyperscan scratch, its own
//                hit counters; the fast path (rules_match.cpp).
//   RuleEngine   the control side: loads and reloads (SIGHUP) rule files,
//                hands each matcher the new set, frees what the workers are
//                done with, sums the counters (rules_engine.cpp).
//
// Verdict (first match for terminal rules, all match for tags):
//   - A rule's priority is its place in the file: the first line wins.
//   - drop and group G are terminal: of the terminal rules whose expression
//     matches the packet (in its scope), the first in the file decides, and
//     only it counts a hit. No terminal match: the packet passes (every
//     group gets it, as without rules).
//   - tag rules never decide; each one whose expression matches counts a
//     hit, whatever the verdict (a dropped packet is still tagged).
//   - A payload rule sees the bytes after the outer L4 header
//     (payload_span); a packet without one (not IP, a fragment, a protocol
//     without a known header length, a header cut short, no bytes after it)
//     never matches a payload rule. A frame rule sees all captured bytes.
//     Tunnels are not opened: the payload of a VXLAN packet is the VXLAN
//     header and the inner frame.
//   - Hits per rule id survive a reload (the id is the rule's identity, so
//     change the id to start a rule's count afresh), and outlive a rule's
//     absence from a later file.
//
// Early stop, and its price. Every expression is compiled with
// HS_FLAG_SINGLEMATCH, so a rule reports at most once per packet, at the
// end of its first match; Hyperscan reports matches in order of where they
// end, not in file order. A scan therefore stops early only when nothing
// left could change the outcome: when the best terminal rule matched so far
// comes before every terminal rule of the database being scanned, and every
// tag rule of that database has already matched. A database of terminal
// rules alone stops at its first-priority rule's match; each tag rule in a
// scope makes packets that do not match it scanned to their end in that
// scope. A scope is not scanned at all when the packet has no such bytes, or
// when nothing in it could change the outcome.
//
// Threads. RuleEngine's functions are the control path (any thread, one at
// a time: it has a mutex). A Matcher belongs to one worker thread, which
// calls begin_burst() once per burst and match() per packet; the counters it
// writes are read by snapshot() from any thread (relaxed atomics, one writer
// each). A reload reaches a worker at its next begin_burst(); what the
// worker used before goes back to the engine (retired), which frees it at
// its next call: RCU with the worker's begin_burst as the quiescent point.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rules_file.hpp"
#include "zc/zc.h"

struct hs_database; // Hyperscan's, from <hs.h>
struct hs_scratch;

namespace zc::rules {

// Where a packet's payload-scope bytes are: [begin, end) of the frame, or
// begin == end when there are none. Fast path.
struct Span {
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    bool empty() const noexcept { return begin >= end; }
};
Span payload_span(const std::uint8_t* frame, std::uint32_t caplen) noexcept;

// 0 when this build and this CPU can match rules; else a negative errno and
// the sentence saying why (built without Hyperscan; no SSSE3).
int rules_available(zc_error* err);

// One rule file, compiled. Immutable once built; shared by every worker
// that still uses it.
class RuleSet {
public:
    // What a match of rule `index` (its place in the file) does.
    struct Decision {
        Action action;
        std::uint32_t group;
    };
    static constexpr std::uint32_t kNone = UINT32_MAX;
    // One database: the rules of one scope.
    struct Database {
        hs_database* db = nullptr;           // null: no rules in this scope
        std::uint32_t first_terminal = kNone; // index of its first drop/group rule
        std::uint32_t tags = 0;              // its tag rules
    };

    // Compiles `file`: 0 and *out, or a negative errno and "FILE:LINE: rule
    // ID: ..." in *err (Hyperscan's own message for an expression it
    // refuses; the first such line in the file is the one reported).
    static int compile(const RuleFile& file, std::shared_ptr<const RuleSet>* out, zc_error* err);

    ~RuleSet();
    RuleSet(const RuleSet&) = delete;
    RuleSet& operator=(const RuleSet&) = delete;

    const RuleFile& file() const noexcept { return file_; }
    const std::vector<Decision>& decisions() const noexcept { return decisions_; }
    const Database& payload() const noexcept { return payload_; }
    const Database& frame() const noexcept { return frame_; }
    // Scratch big enough for both databases: each matcher clones it.
    const hs_scratch* prototype_scratch() const noexcept { return scratch_; }

private:
    RuleSet() = default;
    RuleFile file_;
    std::vector<Decision> decisions_; // by rule index
    Database payload_;
    Database frame_;
    hs_scratch* scratch_ = nullptr;
};

enum class VerdictKind : std::uint8_t {
    Pass,  // every group gets the packet
    Drop,  // no group gets it
    Steer, // only `group` gets it
};

struct Verdict {
    VerdictKind kind = VerdictKind::Pass;
    std::uint32_t group = 0; // VerdictKind::Steer only
};

class RuleEngine;

// The per-worker half. Made by RuleEngine::add_matcher; used by one thread.
class Matcher {
public:
    // Once per burst, before its first match(): takes up rules loaded since
    // the last call. One relaxed load when there are none. Fast path.
    void begin_burst() noexcept
    {
        if (pending_.load(std::memory_order_relaxed) != nullptr) [[unlikely]]
            adopt();
    }

    // The verdict for one frame of `caplen` bytes; counts the hits. Fast
    // path: no allocation, no lock, no system call. With no rules: Pass.
    Verdict match(const std::uint8_t* frame, std::uint32_t caplen) noexcept;

    // Packets scanned with rules in force, and scans Hyperscan failed
    // (those packets pass). Any thread, relaxed.
    std::uint64_t scanned() const noexcept { return scanned_.load(std::memory_order_relaxed); }
    std::uint64_t scan_errors() const noexcept { return scan_errors_.load(std::memory_order_relaxed); }

    Matcher(const Matcher&) = delete;
    Matcher& operator=(const Matcher&) = delete;
    ~Matcher();

private:
    friend class RuleEngine;
    using Counter = std::atomic<std::uint64_t>;

    // One rule set as this matcher uses it: its own scratch, and where each
    // rule's hits go (this matcher's counter for the rule's id).
    struct Installed {
        std::shared_ptr<const RuleSet> set;
        hs_scratch* scratch = nullptr;
        std::vector<Counter*> hits; // by rule index
        Installed* next_retired = nullptr;
        ~Installed();
    };

    Matcher() = default;
    void adopt() noexcept;

    // Worker side.
    Installed* current_ = nullptr;
    // Control -> worker: the next set (release by the engine, acquire here).
    std::atomic<Installed*> pending_{nullptr};
    // Worker -> control: sets no longer used, a stack pushed here (release)
    // and emptied by the engine (acquire), which frees them.
    std::atomic<Installed*> retired_{nullptr};
    Counter scanned_{0};
    Counter scan_errors_{0};
    // Control side (the engine's mutex): this matcher's counter per rule id.
    // Nodes never move, so Installed::hits may point into them.
    std::unordered_map<std::uint32_t, Counter> hits_by_id_;
};

// One rule's row, for zc-stat and its Prometheus output.
struct RuleHits {
    std::uint32_t id;
    Action action;
    std::uint32_t group; // Action::Group only
    Scope scope;
    std::uint32_t line;
    std::uint64_t hits; // summed over the matchers
};

class RuleEngine {
public:
    // Rules may steer to groups 0 .. group_count-1.
    explicit RuleEngine(std::uint32_t group_count) : group_count_(group_count) {}
    // After every worker has stopped using its matcher.
    ~RuleEngine();
    RuleEngine(const RuleEngine&) = delete;
    RuleEngine& operator=(const RuleEngine&) = delete;

    // Reads, parses and compiles the rule file at `path`, then hands it to
    // every matcher (each takes it up at its next begin_burst). On any
    // error the rules in force stay, and *err says FILE:LINE and why.
    int load_file(const char* path, zc_error* err);
    // The same for rules already in memory, named `name` in messages.
    int load_text(std::string_view text, std::string_view name, zc_error* err);

    // A matcher for one more worker thread, with the rules loaded so far
    // (nullptr and *err when Hyperscan cannot make its scratch). The engine
    // owns it; its address is stable.
    Matcher* add_matcher(zc_error* err);

    // The rules in force, in file order, with their hits summed over the
    // matchers. Also frees what the workers have finished with.
    std::vector<RuleHits> snapshot();

    // Successful loads so far (0: no rules).
    std::uint64_t generation() const;

    // Frees the rule sets every worker has left. snapshot and load do it
    // too; call it when neither comes for a while after a reload.
    void collect();

private:
    int compile_and_install(const RuleFile& file, zc_error* err);
    int install(std::shared_ptr<const RuleSet> set, zc_error* err);
    int prepare(Matcher& m, const std::shared_ptr<const RuleSet>& set, Matcher::Installed** out, zc_error* err);
    void collect_locked();

    mutable std::mutex mutex_;
    std::uint32_t group_count_;
    std::shared_ptr<const RuleSet> current_;
    std::uint64_t generation_ = 0;
    std::vector<std::unique_ptr<Matcher>> matchers_;
};

} // namespace zc::rules

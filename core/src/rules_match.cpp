// SPDX-License-Identifier: BSD-3-Clause
//
// The Matcher: the fast path of content rules (the verdict and early-stop
// rules are in rules.hpp). Per packet: at most one hs_scan per scope with
// this worker's own scratch, one counter store per hit, no allocation.

#include "rules.hpp"

#ifdef HAVE_HYPERSCAN
#include <hs.h>
#endif

namespace zc::rules {

namespace {

using Counter = std::atomic<std::uint64_t>;

// One writer (the worker); snapshot() reads it relaxed from elsewhere.
inline void bump(Counter& counter) noexcept
{
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

#ifdef HAVE_HYPERSCAN

// One packet's scan state, across both scopes.
struct Scan {
    const RuleSet::Decision* decisions;
    Counter* const* hits;
    hs_scratch* scratch;
    std::uint32_t best = RuleSet::kNone;           // first terminal rule matched so far
    std::uint32_t tags_left = 0;                   // this database's tags not matched yet
    std::uint32_t first_terminal = RuleSet::kNone; // this database's first terminal rule

    // Nothing this database could still report would change the outcome.
    bool settled() const noexcept { return tags_left == 0 && best <= first_terminal; }
};

// Hyperscan's callback. HS_FLAG_SINGLEMATCH: each id at most once a scan.
// Non-zero stops the scan (hs_scan then returns HS_SCAN_TERMINATED).
int on_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* context) noexcept
{
    Scan& s = *static_cast<Scan*>(context);
    if (s.decisions[id].action == Action::Tag) {
        bump(*s.hits[id]);
        --s.tags_left;
    } else if (id < s.best) {
        s.best = id;
    }
    return s.settled() ? 1 : 0;
}

// Scans `length` bytes at `data` with one database, unless nothing it holds
// could change the outcome. False when Hyperscan failed.
bool scan(const RuleSet::Database& d, const std::uint8_t* data, std::uint32_t length, Scan& s) noexcept
{
    s.tags_left = d.tags;
    s.first_terminal = d.first_terminal;
    if (d.db == nullptr || length == 0 || s.settled())
        return true;
    const hs_error_t rc =
        hs_scan(d.db, reinterpret_cast<const char*>(data), length, 0, s.scratch, on_match, &s);
    return rc == HS_SUCCESS || rc == HS_SCAN_TERMINATED;
}

#endif // HAVE_HYPERSCAN

} // namespace

Verdict Matcher::match(const std::uint8_t* frame, std::uint32_t caplen) noexcept
{
    const Installed* in = current_;
    if (in == nullptr)
        return {};
#ifdef HAVE_HYPERSCAN
    const RuleSet& set = *in->set;
    Scan s{set.decisions().data(), in->hits.data(), in->scratch};
    bool ok = scan(set.frame(), frame, caplen, s);
    const RuleSet::Database& payload = set.payload();
    // The parse only when a payload rule could still change the outcome.
    if (ok && payload.db != nullptr && (payload.tags != 0 || s.best > payload.first_terminal)) {
        const Span span = payload_span(frame, caplen);
        if (!span.empty())
            ok = scan(payload, frame + span.begin, span.end - span.begin, s);
    }
    bump(scanned_);
    if (!ok) [[unlikely]] {
        bump(scan_errors_); // the packet passes; tags counted before the failure stay counted
        return {};
    }
    if (s.best == RuleSet::kNone)
        return {};
    bump(*in->hits[s.best]);
    const RuleSet::Decision& d = set.decisions()[s.best];
    if (d.action == Action::Drop)
        return Verdict{VerdictKind::Drop, 0};
    return Verdict{VerdictKind::Steer, d.group};
#else
    // Without Hyperscan no RuleSet can be compiled, so nothing is ever
    // installed (RuleSet::compile says why).
    (void)frame;
    (void)caplen;
    return {};
#endif
}

void Matcher::adopt() noexcept
{
    // Acquire, matches the release in RuleEngine::install: the Installed is
    // complete before this thread reads it.
    Installed* next = pending_.exchange(nullptr, std::memory_order_acquire);
    if (next == nullptr)
        return;
    Installed* old = current_;
    current_ = next;
    if (old == nullptr)
        return;
    // Release, matches the acquire in RuleEngine::collect_locked: this
    // thread is done with `old` before the engine frees it.
    old->next_retired = retired_.load(std::memory_order_relaxed);
    while (!retired_.compare_exchange_weak(old->next_retired, old, std::memory_order_release,
                                           std::memory_order_relaxed)) {
    }
}

Matcher::Installed::~Installed()
{
#ifdef HAVE_HYPERSCAN
    hs_free_scratch(scratch);
#endif
}

Matcher::~Matcher()
{
    delete current_;
    delete pending_.load(std::memory_order_acquire);
    for (Installed* r = retired_.load(std::memory_order_acquire); r != nullptr;) {
        Installed* next = r->next_retired;
        delete r;
        r = next;
    }
}

} // namespace zc::rules

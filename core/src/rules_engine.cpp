// SPDX-License-Identifier: BSD-3-Clause
//
// RuleEngine: the control side of content rules. It compiles a rule file,
// gives each worker's Matcher its own copy (scratch and counters), publishes
// it for the worker to take up at its next burst, and frees what workers
// have retired. Loads are all or nothing: a file that does not parse or
// compile, or a scratch that cannot be had, leaves every matcher as it was.

#include <cerrno>
#include <utility>

#include "internal/error.hpp"
#include "rules.hpp"

#ifdef HAVE_HYPERSCAN
#include <hs.h>
#endif

namespace zc::rules {

RuleEngine::~RuleEngine() = default; // each ~Matcher frees what it holds

int RuleEngine::load_file(const char* path, zc_error* err)
{
    if (int rc = rules_available(err); rc != 0)
        return rc;
    RuleFile file;
    if (int rc = read_rules(path, group_count_, &file, err); rc != 0)
        return rc;
    return compile_and_install(file, err);
}

int RuleEngine::load_text(std::string_view text, std::string_view name, zc_error* err)
{
    if (int rc = rules_available(err); rc != 0)
        return rc;
    RuleFile file;
    if (int rc = parse_rules(text, name, group_count_, &file, err); rc != 0)
        return rc;
    return compile_and_install(file, err);
}

int RuleEngine::compile_and_install(const RuleFile& file, zc_error* err)
{
    std::shared_ptr<const RuleSet> set;
    if (int rc = RuleSet::compile(file, &set, err); rc != 0)
        return rc;
    return install(std::move(set), err);
}

// `set` as matcher `m` will use it. Called with the mutex held.
int RuleEngine::prepare(Matcher& m, const std::shared_ptr<const RuleSet>& set, Matcher::Installed** out,
                        [[maybe_unused]] zc_error* err)
{
    auto in = std::make_unique<Matcher::Installed>();
    in->set = set;
#ifdef HAVE_HYPERSCAN
    if (set->prototype_scratch() != nullptr && hs_clone_scratch(set->prototype_scratch(), &in->scratch) != HS_SUCCESS)
        return fail(err, -ENOMEM, "%s: Hyperscan cannot allocate a worker's scratch space", set->file().name.c_str());
#endif
    const std::vector<Rule>& rules = set->file().rules;
    in->hits.reserve(rules.size());
    for (const Rule& rule : rules)
        in->hits.push_back(&m.hits_by_id_.try_emplace(rule.id, 0).first->second);
    *out = in.release();
    return 0;
}

int RuleEngine::install(std::shared_ptr<const RuleSet> set, zc_error* err)
{
    std::lock_guard lock(mutex_);
    collect_locked();
    std::vector<std::unique_ptr<Matcher::Installed>> fresh(matchers_.size());
    for (std::size_t i = 0; i < matchers_.size(); ++i) {
        Matcher::Installed* in = nullptr;
        if (int rc = prepare(*matchers_[i], set, &in, err); rc != 0)
            return rc; // nothing published yet: every matcher keeps what it has
        fresh[i].reset(in);
    }
    for (std::size_t i = 0; i < matchers_.size(); ++i) {
        // Release, matches the acquire in Matcher::adopt. What comes back
        // was never taken up by the worker (its exchange would have left
        // null): it is ours to free.
        delete matchers_[i]->pending_.exchange(fresh[i].release(), std::memory_order_acq_rel);
    }
    current_ = std::move(set);
    ++generation_;
    return 0;
}

Matcher* RuleEngine::add_matcher(zc_error* err)
{
    std::lock_guard lock(mutex_);
    collect_locked();
    std::unique_ptr<Matcher> m(new Matcher);
    if (current_ != nullptr) {
        // No worker has this matcher yet: it may start with the rules in force.
        if (prepare(*m, current_, &m->current_, err) != 0)
            return nullptr;
    }
    matchers_.push_back(std::move(m));
    return matchers_.back().get();
}

void RuleEngine::collect_locked()
{
    for (const std::unique_ptr<Matcher>& m : matchers_) {
        // Acquire, matches the release in Matcher::adopt.
        Matcher::Installed* r = m->retired_.exchange(nullptr, std::memory_order_acquire);
        while (r != nullptr) {
            Matcher::Installed* next = r->next_retired;
            delete r;
            r = next;
        }
    }
}

void RuleEngine::collect()
{
    std::lock_guard lock(mutex_);
    collect_locked();
}

std::vector<RuleHits> RuleEngine::snapshot()
{
    std::lock_guard lock(mutex_);
    collect_locked();
    std::vector<RuleHits> rows;
    if (current_ == nullptr)
        return rows;
    rows.reserve(current_->file().rules.size());
    for (const Rule& rule : current_->file().rules) {
        std::uint64_t hits = 0;
        for (const std::unique_ptr<Matcher>& m : matchers_) {
            auto found = m->hits_by_id_.find(rule.id);
            if (found != m->hits_by_id_.end())
                hits += found->second.load(std::memory_order_relaxed);
        }
        rows.push_back(RuleHits{rule.id, rule.action, rule.group, rule.scope, rule.line, hits});
    }
    return rows;
}

std::uint64_t RuleEngine::generation() const
{
    std::lock_guard lock(mutex_);
    return generation_;
}

} // namespace zc::rules

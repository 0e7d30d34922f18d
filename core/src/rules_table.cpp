// SPDX-License-Identifier: BSD-3-Clause
//
// The region's table of content-rule hits: the owner writes it under a
// sequence lock, any attached process reads it (layout.hpp, RuleTable, has
// the protocol and labels its barriers A-D).

#include "rules_table.hpp"

#include <atomic>
#include <cerrno>

#include "internal/cluster.hpp"

namespace zc {

namespace {

constexpr int kReadAttempts = 1000;

template <typename T> void put(T& field, T value) noexcept
{
    std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}
template <typename T> T get(const T& field) noexcept
{
    return std::atomic_ref<const T>(field).load(std::memory_order_relaxed);
}

} // namespace

zc_rule_stats rule_stats_of(const rules::RuleHits& h) noexcept
{
    zc_rule_stats out{};
    out.id = h.id;
    out.line = h.line;
    out.action = static_cast<std::uint32_t>(h.action);
    out.group = h.group;
    out.scope = static_cast<std::uint32_t>(h.scope);
    out.hits = h.hits;
    return out;
}

void publish_rule_table(RuleTable& t, const std::vector<rules::RuleHits>& rows, const zc_rules_stats& totals) noexcept
{
    std::atomic_ref<std::uint32_t> sequence(t.sequence);
    const std::uint32_t s = sequence.load(std::memory_order_relaxed); // the owner is its only writer
    sequence.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release); // A, matches D
    const std::uint32_t n = rows.size() < kRuleRows ? static_cast<std::uint32_t>(rows.size()) : kRuleRows;
    put(t.rows, n);
    put(t.rule_count, static_cast<std::uint32_t>(rows.size()));
    put(t.generation, totals.generation);
    put(t.dropped, totals.dropped);
    put(t.scanned, totals.scanned);
    put(t.scan_errors, totals.scan_errors);
    for (std::uint32_t i = 0; i < n; ++i) {
        const zc_rule_stats r = rule_stats_of(rows[i]);
        RuleRow& row = t.row[i];
        put(row.id, r.id);
        put(row.line, r.line);
        put(row.action, r.action);
        put(row.group, r.group);
        put(row.scope, r.scope);
        put(row.hits, r.hits);
    }
    sequence.store(s + 2, std::memory_order_release); // B, matches C
}

} // namespace zc

extern "C" const char* zc_rule_action_name(std::uint32_t action)
{
    return action <= static_cast<std::uint32_t>(zc::rules::Action::Tag)
               ? zc::rules::action_name(static_cast<zc::rules::Action>(action))
               : "?";
}

extern "C" const char* zc_rule_scope_name(std::uint32_t scope)
{
    return scope <= static_cast<std::uint32_t>(zc::rules::Scope::Frame)
               ? zc::rules::scope_name(static_cast<zc::rules::Scope>(scope))
               : "?";
}

extern "C" int zc_cluster_get_rule_stats(const zc_cluster* c, zc_rules_stats* stats, zc_rule_stats* rows,
                                         std::uint32_t max, std::uint32_t* row_count)
{
    if (!c || !c->rules || !stats || stats->struct_size != sizeof *stats || (max > 0 && !rows) || !row_count)
        return -EINVAL;
    const zc::RuleTable& t = *c->rules;
    std::atomic_ref<const std::uint32_t> sequence(t.sequence);
    for (int attempt = 0; attempt < zc::kReadAttempts; ++attempt) {
        const std::uint32_t before = sequence.load(std::memory_order_acquire); // C, matches B
        if (before & 1)
            continue;
        zc_rules_stats s{};
        s.struct_size = sizeof s;
        s.rule_count = zc::get(t.rule_count);
        s.generation = zc::get(t.generation);
        s.dropped = zc::get(t.dropped);
        s.scanned = zc::get(t.scanned);
        s.scan_errors = zc::get(t.scan_errors);
        // The owner wrote the table, but a reader checks what it copies:
        // never more rows than the table or the caller holds.
        std::uint32_t n = zc::get(t.rows);
        if (n > zc::kRuleRows)
            n = zc::kRuleRows;
        if (n > max)
            n = max;
        for (std::uint32_t i = 0; i < n; ++i) {
            const zc::RuleRow& row = t.row[i];
            zc_rule_stats& out = rows[i];
            out = zc_rule_stats{};
            out.id = zc::get(row.id);
            out.line = zc::get(row.line);
            out.action = zc::get(row.action);
            out.group = zc::get(row.group);
            out.scope = zc::get(row.scope);
            out.hits = zc::get(row.hits);
        }
        std::atomic_thread_fence(std::memory_order_acquire); // D, matches A
        if (sequence.load(std::memory_order_relaxed) != before)
            continue;
        *stats = s;
        *row_count = n;
        return 0;
    }
    return -EAGAIN;
}

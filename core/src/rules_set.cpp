// SPDX-License-Identifier: BSD-3-Clause
//
// A rule file compiled: one Hyperscan block-mode database per scope, built
// with hs_compile_multi, where a match's id is the rule's index in the file.
// Control path.
//
// Errors name the line. Each expression is first checked on its own, in
// file order (hs_expression_info), so that of several bad lines the first
// is reported; what only the whole database can show (resource limits) is
// reported by hs_compile_multi, whose error names the expression, which
// names the line.
//
// Built without Hyperscan (configure found no libhs, or --without-hyperscan)
// rules_available and compile say so, and nothing here touches Hyperscan:
// no RuleSet can exist, so every Matcher passes every packet.

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "internal/error.hpp"
#include "rules.hpp"

#ifdef HAVE_HYPERSCAN
#include <hs.h>
#endif

namespace zc::rules {

#ifndef HAVE_HYPERSCAN

int rules_available(zc_error* err)
{
    return fail(err, -ENOTSUP,
                "zc-balance was built without Hyperscan; rebuild with libhyperscan-dev installed and "
                "./configure --with-hyperscan");
}

int RuleSet::compile(const RuleFile&, std::shared_ptr<const RuleSet>*, zc_error* err)
{
    return rules_available(err);
}

RuleSet::~RuleSet() = default;

#else // HAVE_HYPERSCAN

namespace {

unsigned hyperscan_flags(std::uint32_t flags) noexcept
{
    unsigned out = HS_FLAG_SINGLEMATCH;
    if (flags & kFlagCaseless)
        out |= HS_FLAG_CASELESS;
    if (flags & kFlagDotAll)
        out |= HS_FLAG_DOTALL;
    if (flags & kFlagMultiLine)
        out |= HS_FLAG_MULTILINE;
    return out;
}

int fail_rule(zc_error* err, const RuleFile& file, const Rule& rule, const char* message)
{
    return fail(err, -EINVAL, "%s:%u: rule %u: Hyperscan cannot compile the expression: %s", file.name.c_str(),
                rule.line, rule.id, message);
}

// Every expression on its own, in file order: the first bad line wins.
int check_expressions(const RuleFile& file, zc_error* err)
{
    for (const Rule& rule : file.rules) {
        hs_expr_info_t* info = nullptr;
        hs_compile_error_t* error = nullptr;
        if (hs_expression_info(rule.expression.c_str(), hyperscan_flags(rule.flags), &info, &error) != HS_SUCCESS) {
            const int rc = fail_rule(err, file, rule, error ? error->message : "unknown error");
            hs_free_compile_error(error);
            return rc;
        }
        const bool matches_empty = info->min_width == 0;
        std::free(info); // allocated with malloc (no hs_set_misc_allocator here)
        if (matches_empty)
            return fail_rule(err, file, rule,
                             "it matches an empty string, so it would match every packet (make it match at "
                             "least one byte)");
    }
    return 0;
}

// The database of one scope's rules; db stays null when there are none.
int compile_scope(const RuleFile& file, Scope scope, const std::vector<RuleSet::Decision>& decisions,
                  RuleSet::Database* out, zc_error* err)
{
    std::vector<const char*> expressions;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (std::uint32_t i = 0; i < file.rules.size(); ++i) {
        const Rule& rule = file.rules[i];
        if (rule.scope != scope)
            continue;
        expressions.push_back(rule.expression.c_str());
        flags.push_back(hyperscan_flags(rule.flags));
        ids.push_back(i);
        if (decisions[i].action == Action::Tag)
            ++out->tags;
        else if (out->first_terminal == RuleSet::kNone)
            out->first_terminal = i;
    }
    if (expressions.empty())
        return 0;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(expressions.size()),
                         HS_MODE_BLOCK, nullptr, &out->db, &error) != HS_SUCCESS) {
        int rc = 0;
        if (error != nullptr && error->expression >= 0 &&
            static_cast<std::size_t>(error->expression) < expressions.size())
            rc = fail_rule(err, file, file.rules[ids[static_cast<std::size_t>(error->expression)]], error->message);
        else
            rc = fail(err, -EINVAL, "%s: Hyperscan cannot build the %s database: %s", file.name.c_str(),
                      scope_name(scope), error ? error->message : "unknown error");
        hs_free_compile_error(error);
        out->db = nullptr;
        return rc;
    }
    return 0;
}

} // namespace

int rules_available(zc_error* err)
{
    if (hs_valid_platform() != HS_SUCCESS)
        return fail(err, -ENOTSUP,
                    "this CPU cannot run Hyperscan (it needs SSSE3), so zc-balance cannot match rules here");
    return 0;
}

int RuleSet::compile(const RuleFile& file, std::shared_ptr<const RuleSet>* out, zc_error* err)
{
    if (int rc = rules_available(err); rc != 0)
        return rc;
    if (int rc = check_expressions(file, err); rc != 0)
        return rc;
    std::shared_ptr<RuleSet> set(new RuleSet);
    set->file_ = file;
    set->decisions_.reserve(file.rules.size());
    for (const Rule& rule : file.rules)
        set->decisions_.push_back(Decision{rule.action, rule.group});
    if (int rc = compile_scope(file, Scope::Payload, set->decisions_, &set->payload_, err); rc != 0)
        return rc;
    if (int rc = compile_scope(file, Scope::Frame, set->decisions_, &set->frame_, err); rc != 0)
        return rc;
    for (const Database* d : {&set->payload_, &set->frame_}) {
        if (d->db == nullptr)
            continue;
        if (hs_alloc_scratch(d->db, &set->scratch_) != HS_SUCCESS)
            return fail(err, -ENOMEM, "%s: Hyperscan cannot allocate scratch space for the rules",
                        file.name.c_str());
    }
    *out = std::move(set);
    return 0;
}

RuleSet::~RuleSet()
{
    hs_free_scratch(scratch_);
    hs_free_database(payload_.db);
    hs_free_database(frame_.db);
}

#endif // HAVE_HYPERSCAN

} // namespace zc::rules

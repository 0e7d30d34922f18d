// SPDX-License-Identifier: BSD-3-Clause
//
// The content-rule sources built as configure builds them where it finds no
// Hyperscan (Makefile.am compiles them for this test with -UHAVE_HYPERSCAN
// and links no libhs, so this binary also shows they need none): loading
// rules says how to get Hyperscan, the rules in force stay none, and a
// matcher passes every packet. The grammar is still checked.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "../../core/src/rules.hpp"

namespace {

using namespace zc::rules;

constexpr const char* kWithout =
    "zc-balance was built without Hyperscan; rebuild with libhyperscan-dev installed and ./configure --with-hyperscan";

TEST(RulesWithoutHyperscan, LoadingSaysHowToGetIt)
{
    zc_error err{};
    EXPECT_EQ(rules_available(&err), -ENOTSUP);
    EXPECT_STREQ(err.message, kWithout);

    RuleEngine engine(2);
    err = zc_error{};
    EXPECT_EQ(engine.load_text("1 /a/ payload drop\n", "r.conf", &err), -ENOTSUP);
    EXPECT_STREQ(err.message, kWithout);
    err = zc_error{};
    EXPECT_EQ(engine.load_file("/nonexistent/rules.conf", &err), -ENOTSUP);
    EXPECT_STREQ(err.message, kWithout);
    EXPECT_EQ(engine.generation(), 0u);
    EXPECT_TRUE(engine.snapshot().empty());

    RuleFile file;
    err = zc_error{};
    ASSERT_EQ(parse_rules("1 /a/ payload drop\n", "r.conf", 2, &file, &err), 0);
    EXPECT_EQ(RuleSet::compile(file, nullptr, &err), -ENOTSUP);
    EXPECT_STREQ(err.message, kWithout);
}

TEST(RulesWithoutHyperscan, AMatcherPassesEverything)
{
    RuleEngine engine(2);
    zc_error err{};
    Matcher* m = engine.add_matcher(&err);
    ASSERT_NE(m, nullptr);
    m->begin_burst();
    const std::uint8_t frame[60] = {};
    const Verdict v = m->match(frame, sizeof frame);
    EXPECT_EQ(v.kind, VerdictKind::Pass);
    EXPECT_EQ(m->scanned(), 0u);
}

TEST(RulesWithoutHyperscan, TheGrammarIsStillChecked)
{
    RuleFile file;
    zc_error err{};
    EXPECT_EQ(parse_rules("1 /a/ payload reject\n", "r.conf", 2, &file, &err), -EINVAL);
    EXPECT_STREQ(err.message, "r.conf:1: rule 1: unknown action 'reject' (drop, group G or tag)");
}

} // namespace

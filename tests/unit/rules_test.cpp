// SPDX-License-Identifier: BSD-3-Clause
//
// Content rules (core/src/rules.hpp): the rule-file grammar and each of its
// errors with its line; Hyperscan's errors mapped back to their line; the
// payload span by protocol; verdicts and hit counters over crafted
// Ethernet/IPv4/IPv6 TCP/UDP frames (drop, steer, tag, pass; payload scope
// against frame scope; first-match priority, also against the order in
// which Hyperscan reports); reloads that keep counters by id and failed
// reloads that keep the old rules, also while a worker thread scans; and two
// worker threads, each with its own matcher and scratch, scanning at once.

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "../../core/src/rules.hpp"
#include "rule_frames.hpp"

namespace {

using namespace zc::rules;
using namespace zc::rule_frames;
using zc::corpus::Bytes;

// ------------------------------------------------------------------ helpers

std::string parse_error(const std::string& rules, std::uint32_t groups = 2)
{
    RuleFile file;
    zc_error err{};
    const int rc = parse_rules(rules, "r.conf", groups, &file, &err);
    EXPECT_EQ(rc, -EINVAL) << rules;
    EXPECT_EQ(err.code, rc);
    return err.message;
}

std::string load_error(RuleEngine& engine, const std::string& rules)
{
    zc_error err{};
    const int rc = engine.load_text(rules, "r.conf", &err);
    EXPECT_LT(rc, 0) << rules;
    return err.message;
}

void load(RuleEngine& engine, const std::string& rules)
{
    zc_error err{};
    ASSERT_EQ(engine.load_text(rules, "r.conf", &err), 0) << err.message;
}

Matcher& matcher(RuleEngine& engine)
{
    zc_error err{};
    Matcher* m = engine.add_matcher(&err);
    EXPECT_NE(m, nullptr) << err.message;
    return *m;
}

Verdict match(Matcher& m, const Bytes& frame)
{
    return m.match(frame.data(), static_cast<std::uint32_t>(frame.size()));
}

std::map<std::uint32_t, std::uint64_t> hits(RuleEngine& engine)
{
    std::map<std::uint32_t, std::uint64_t> out;
    for (const RuleHits& row : engine.snapshot())
        out[row.id] = row.hits;
    return out;
}

const Verdict kPass{VerdictKind::Pass, 0};
const Verdict kDrop{VerdictKind::Drop, 0};
Verdict steer(std::uint32_t group) { return Verdict{VerdictKind::Steer, group}; }

void expect_verdict(const Verdict& got, const Verdict& want, const char* what)
{
    EXPECT_EQ(static_cast<int>(got.kind), static_cast<int>(want.kind)) << what;
    EXPECT_EQ(got.group, want.group) << what;
}

// ------------------------------------------------------------------ grammar

TEST(RuleFile, AcceptsTheDocumentedGrammar)
{
    const std::string rules = "# content rules\n"
                              "\n"
                              "10 /^\\x16\\x03[\\x00-\\x03]/s payload drop\n"
                              "   \t\n"
                              "20\t/GET \\/admin/i  payload\tgroup 1   # steer admin pages\r\n"
                              "  30 /\\xde\\xad\\xbe\\xef/ frame tag\n"
                              "4294967295 /caf\\xc3\\xa9/msi frame group 0\n"
                              "0 /a#b\\/c/ payload tag"; // no final newline; '#' inside the expression
    RuleFile file;
    zc_error err{};
    ASSERT_EQ(parse_rules(rules, "r.conf", 2, &file, &err), 0) << err.message;
    EXPECT_EQ(file.name, "r.conf");
    ASSERT_EQ(file.rules.size(), 5u);

    const Rule& tls = file.rules[0];
    EXPECT_EQ(tls.id, 10u);
    EXPECT_EQ(tls.expression, "^\\x16\\x03[\\x00-\\x03]");
    EXPECT_EQ(tls.flags, kFlagDotAll);
    EXPECT_EQ(tls.scope, Scope::Payload);
    EXPECT_EQ(tls.action, Action::Drop);
    EXPECT_EQ(tls.line, 3u);

    const Rule& admin = file.rules[1];
    EXPECT_EQ(admin.id, 20u);
    EXPECT_EQ(admin.expression, "GET \\/admin");
    EXPECT_EQ(admin.flags, kFlagCaseless);
    EXPECT_EQ(admin.action, Action::Group);
    EXPECT_EQ(admin.group, 1u);
    EXPECT_EQ(admin.line, 5u);

    const Rule& tag = file.rules[2];
    EXPECT_EQ(tag.scope, Scope::Frame);
    EXPECT_EQ(tag.action, Action::Tag);
    EXPECT_EQ(tag.flags, 0u);
    EXPECT_EQ(tag.line, 6u);

    const Rule& all = file.rules[3];
    EXPECT_EQ(all.id, 4294967295u);
    EXPECT_EQ(all.flags, kFlagCaseless | kFlagDotAll | kFlagMultiLine);
    EXPECT_EQ(all.action, Action::Group);
    EXPECT_EQ(all.group, 0u);

    EXPECT_EQ(file.rules[4].id, 0u);
    EXPECT_EQ(file.rules[4].expression, "a#b\\/c");
    EXPECT_EQ(file.rules[4].line, 8u);
}

TEST(RuleFile, CommentsAndBlankLinesAloneAreAnEmptyRuleSet)
{
    RuleFile file;
    zc_error err{};
    ASSERT_EQ(parse_rules("# nothing yet\n\n   # still nothing\n", "r.conf", 1, &file, &err), 0);
    EXPECT_TRUE(file.rules.empty());
}

TEST(RuleFile, EachErrorHasItsOwnSentenceAndLine)
{
    struct Case {
        const char* rules;
        const char* message;
    };
    const Case cases[] = {
        {"# ok\nx1 /a/ payload drop\n",
         "r.conf:2: expected a rule id (a whole number) at the start of the line, got 'x1'"},
        {"4294967296 /a/ payload drop\n", "r.conf:1: rule id 4294967296 is out of range (0 to 4294967295)"},
        {"1 /a/ payload drop\n\n1 /b/ frame tag\n", "r.conf:3: duplicate rule id 1 (line 1 has it already)"},
        {"1 a/ payload drop\n", "r.conf:1: rule 1: expected /EXPRESSION/FLAGS after the id, got 'a/'"},
        {"1\n", "r.conf:1: rule 1: expected /EXPRESSION/FLAGS after the id, got ''"},
        {"1 /GET /admin/ payload drop\n",
         "r.conf:1: rule 1: unknown flag 'a' after the expression (flags: i caseless, s dot-all, m multi-line)"},
        {"1 /abc\\/ payload drop\n",
         "r.conf:1: rule 1: the expression has no closing '/' (a '/' inside it is written '\\/')"},
        {"1 // payload drop\n", "r.conf:1: rule 1: empty expression: '//' would match every packet"},
        {"1 /a/x payload drop\n",
         "r.conf:1: rule 1: unknown flag 'x' after the expression (flags: i caseless, s dot-all, m multi-line)"},
        {"1 /caf\\x{e9}/i8 payload drop\n",
         "r.conf:1: rule 1: flag '8' (UTF-8 mode) is not offered: Hyperscan's results on bytes that are not UTF-8 are "
         "undefined, and packets are any bytes (write UTF-8 text as \\xHH bytes)"},
        {"1 /a/isi payload drop\n", "r.conf:1: rule 1: flag 'i' is given twice"},
        {"1 /a/\n", "r.conf:1: rule 1: expected a scope (payload or frame) after the expression"},
        {"1 /a/ body drop\n", "r.conf:1: rule 1: unknown scope 'body' (payload or frame)"},
        {"1 /a/ payload\n", "r.conf:1: rule 1: expected an action (drop, group G or tag) after the scope"},
        {"\n\n7 /a/ payload reject\n", "r.conf:3: rule 7: unknown action 'reject' (drop, group G or tag)"},
        {"7 /a/ payload drop#no blank\n", "r.conf:1: rule 7: unknown action 'drop#no' (drop, group G or tag)"},
        {"1 /a/ payload group\n", "r.conf:1: rule 1: 'group' needs a group number (0 to 1)"},
        {"1 /a/ payload group one\n", "r.conf:1: rule 1: bad group number 'one' (groups are numbered 0 to 1)"},
        {"1 /a/ payload group -1\n", "r.conf:1: rule 1: bad group number '-1' (groups are numbered 0 to 1)"},
        {"1 /a/ payload group 2\n", "r.conf:1: rule 1: group 2 does not exist: there are 2 groups, numbered 0 to 1"},
        {"1 /a/ payload group 99999999999999999999\n",
         "r.conf:1: rule 1: group 99999999999999999999 does not exist: there are 2 groups, numbered 0 to 1"},
        {"1 /a/ payload drop now\n", "r.conf:1: rule 1: unexpected 'now' after the action (a comment starts with '#')"},
        {"1 /a/ payload tag 3\n", "r.conf:1: rule 1: unexpected '3' after the action (a comment starts with '#')"},
    };
    for (const Case& c : cases)
        EXPECT_EQ(parse_error(c.rules), c.message) << c.rules;

    EXPECT_EQ(parse_error(std::string("1 /a\0b/ payload drop\n", 21)),
              "r.conf:1: rule 1: the expression has a NUL byte (write it as \\x00)");
}

TEST(RuleFile, GroupRangeFollowsTheGroupCountGiven)
{
    EXPECT_EQ(parse_error("5 /a/ frame group 1\n", 1),
              "r.conf:1: rule 5: group 1 does not exist: there is 1 group, numbered 0 to 0");
    RuleFile file;
    zc_error err{};
    EXPECT_EQ(parse_rules("5 /a/ frame group 2\n", "r.conf", 3, &file, &err), 0) << err.message;
}

TEST(RuleFile, ReadsAFileAndNamesItsPath)
{
    char path[] = "/tmp/zc-rules-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    const std::string body = "1 /a/ payload drop\n2 /b/ payload dorp\n";
    ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
    close(fd);

    RuleFile file;
    zc_error err{};
    EXPECT_EQ(read_rules(path, 2, &file, &err), -EINVAL);
    EXPECT_EQ(std::string(err.message), std::string(path) + ":2: rule 2: unknown action 'dorp' (drop, group G or tag)");

    RuleEngine engine(2);
    EXPECT_EQ(engine.load_file(path, &err), -EINVAL);
    EXPECT_EQ(std::string(err.message), std::string(path) + ":2: rule 2: unknown action 'dorp' (drop, group G or tag)");
    unlink(path);

    EXPECT_EQ(read_rules(path, 2, &file, &err), -ENOENT);
    EXPECT_EQ(std::string(err.message), std::string(path) + ": cannot open the rule file: No such file or directory");
}

// ------------------------------------------------------------------ Hyperscan's errors

TEST(RuleCompile, ABadExpressionReportsItsLineAndHyperscansMessage)
{
    RuleEngine engine(2);
    EXPECT_EQ(load_error(engine, "1 /ok/ payload drop\n# two\n3 /(unclosed/ frame tag\n"),
              "r.conf:3: rule 3: Hyperscan cannot compile the expression: Missing close parenthesis for group "
              "started at index 0.");
    EXPECT_EQ(engine.generation(), 0u);
}

TEST(RuleCompile, TheFirstBadLineIsTheOneReported)
{
    RuleEngine engine(2);
    // The frame database would be compiled after the payload one: the
    // frame rule comes first in the file, so it is the one named.
    EXPECT_EQ(load_error(engine, "1 /a/ payload tag\n2 /[z-a]/ frame tag\n3 /b{2,1}/ payload tag\n"),
              "r.conf:2: rule 2: Hyperscan cannot compile the expression: Range out of order in character class at "
              "index 3.");
}

TEST(RuleCompile, AnExpressionThatMatchesTheEmptyStringIsRefused)
{
    RuleEngine engine(2);
    EXPECT_EQ(load_error(engine, "1 /a/ payload tag\n2 /x*/ payload drop\n"),
              "r.conf:2: rule 2: Hyperscan cannot compile the expression: it matches an empty string, so it would "
              "match every packet (make it match at least one byte)");
    EXPECT_EQ(load_error(engine, "1 /^/m frame tag\n"),
              "r.conf:1: rule 1: Hyperscan cannot compile the expression: it matches an empty string, so it would "
              "match every packet (make it match at least one byte)");
}

TEST(RuleCompile, FlagsReachHyperscan)
{
    RuleEngine engine(1);
    load(engine, "1 /caf\\xc3\\xa9/ payload tag\n" // UTF-8 text as its bytes
                 "2 /^x.y$/s payload tag\n"
                 "3 /admin/i payload tag\n"
                 "4 /^two$/m payload tag\n"
                 "5 /x.y/ payload tag\n");
    Matcher& m = matcher(engine);
    match(m, ipv4_frame(kUdp, text("caf\xc3\xa9")));
    match(m, ipv4_frame(kUdp, text("x\ny")));
    match(m, ipv4_frame(kUdp, text("ADMIN")));
    match(m, ipv4_frame(kUdp, text("one\ntwo\nthree")));
    match(m, ipv4_frame(kUdp, text("caf\xe9 x\nz two")));
    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 0}}));
}

// ------------------------------------------------------------------ the payload span

TEST(PayloadSpan, StartsAfterEachProtocolsHeader)
{
    const Bytes payload = text("0123456789");
    struct Case {
        const char* name;
        Bytes frame;
        std::uint32_t begin;
    };
    zc::corpus::Ipv4Extras options;
    options.options = Bytes(8, 1); // 8 NOP options: a 28-byte IPv4 header
    Bytes tcp_options = zc::corpus::segment(kTcp, 1, 2, false, 1, Bytes(12, 1));
    tcp_options[12] = 0x80; // data offset 8: 32 bytes of header, the 12 "payload" bytes are options
    const std::vector<Case> cases = {
        {"ipv4 tcp", ipv4_frame(kTcp, payload), 14 + 20 + 20},
        {"ipv4 udp", ipv4_frame(kUdp, payload), 14 + 20 + 8},
        {"ipv4 options udp", ipv4_frame(kUdp, payload, v4(198, 18, 0, 1), options), 14 + 28 + 8},
        {"ipv6 tcp", ipv6_frame(kTcp, payload), 14 + 40 + 20},
        {"ipv6 udp", ipv6_frame(kUdp, payload), 14 + 40 + 8},
        {"icmp", ipv4_frame(zc::corpus::kIcmp, payload), 14 + 20 + 8},
        {"icmpv6", ipv6_frame(zc::corpus::kIcmp6, payload), 14 + 40 + 8},
        {"sctp", ipv4_frame(zc::corpus::kSctp, payload), 14 + 20 + 12},
        {"dccp", ipv4_frame(zc::corpus::kDccp, payload), 14 + 20 + 16},
        {"udp-lite", ipv6_frame(zc::corpus::kUdpLite, payload), 14 + 40 + 8},
    };
    for (const Case& c : cases) {
        const Span span = payload_span(c.frame.data(), static_cast<std::uint32_t>(c.frame.size()));
        EXPECT_EQ(span.begin, c.begin) << c.name;
        EXPECT_EQ(span.end, c.begin + payload.size()) << c.name;
    }

    Bytes with_options = zc::corpus::ethernet(kLink, zc::corpus::Way::ToServer, kIpv4,
                                              zc::corpus::ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), kTcp, 1,
                                                               [&] {
                                                                   Bytes b = tcp_options;
                                                                   b.insert(b.end(), payload.begin(), payload.end());
                                                                   return b;
                                                               }()));
    const Span span = payload_span(with_options.data(), static_cast<std::uint32_t>(with_options.size()));
    EXPECT_EQ(span.begin, 14u + 20 + 32);
    EXPECT_EQ(span.end, 14u + 20 + 32 + 10);
}

TEST(PayloadSpan, NoneWhereThereIsNoL4Payload)
{
    const Bytes payload = text("GET /admin");
    zc::corpus::Ipv4Extras fragment;
    fragment.flags_offset = 0x2000; // More Fragments: the first piece
    Bytes bad_offset = ipv4_frame(kTcp, payload);
    bad_offset[14 + 20 + 12] = 0x40; // data offset 4: less than a TCP header
    const Bytes empty_udp = ipv4_frame(kUdp, {});
    Bytes cut = ipv4_frame(kTcp, payload);
    cut.resize(14 + 20 + 10); // captured up to the middle of the TCP header
    Bytes arp = zc::corpus::ethernet(kLink, zc::corpus::Way::ToServer, 0x0806, payload);
    const Bytes esp = ipv4_frame(zc::corpus::kEsp, payload);
    const Bytes gre = ipv4_frame(zc::corpus::kGre, payload);

    const std::vector<std::pair<const char*, Bytes>> cases = {
        {"first fragment", ipv4_frame(kTcp, payload, v4(198, 18, 0, 1), fragment)},
        {"tcp data offset 4", bad_offset},
        {"empty udp", empty_udp},
        {"cut in the tcp header", cut},
        {"arp", arp},
        {"esp", esp},
        {"gre", gre},
        {"nothing", {}},
    };
    for (const auto& [name, frame] : cases) {
        const Span span = payload_span(frame.data(), static_cast<std::uint32_t>(frame.size()));
        EXPECT_TRUE(span.empty()) << name << ": " << span.begin << ".." << span.end;
    }
    EXPECT_TRUE(payload_span(nullptr, 0).empty());
}

TEST(PayloadSpan, EndsWhereTheIpPacketEndsNotAtThePadding)
{
    Bytes frame = ipv4_frame(kUdp, text("hi"));
    const std::uint32_t ip_end = static_cast<std::uint32_t>(frame.size());
    frame.resize(60, 'z'); // Ethernet padding
    const Span span = payload_span(frame.data(), static_cast<std::uint32_t>(frame.size()));
    EXPECT_EQ(span.begin, ip_end - 2);
    EXPECT_EQ(span.end, ip_end);
}

// ------------------------------------------------------------------ verdicts

// The example rules, and a frame for each thing they should do.
constexpr const char* kExampleRules = "10 /^\\x16\\x03[\\x00-\\x03]/s payload drop\n"
                                      "20 /GET \\/admin/i payload group 1\n"
                                      "30 /\\xde\\xad\\xbe\\xef/ frame tag\n"
                                      "40 /evil/ payload tag\n";

TEST(RuleVerdict, EachRuleDropsSteersOrTagsExactlyItsPackets)
{
    RuleEngine engine(2);
    load(engine, kExampleRules);
    Matcher& m = matcher(engine);
    m.begin_burst();

    Bytes arp = zc::corpus::ethernet(kLink, zc::corpus::Way::ToServer, 0x0806, text("GET /admin evil"));
    Bytes fragment_frame = [] {
        zc::corpus::Ipv4Extras fragment;
        fragment.flags_offset = 0x2000;
        return ipv4_frame(kTcp, text("GET /admin"), v4(198, 18, 0, 1), fragment);
    }();
    struct Case {
        const char* name;
        Bytes frame;
        Verdict verdict;
    };
    const std::vector<Case> corpus = {
        {"tls client hello over ipv4", ipv4_frame(kTcp, text("\x16\x03\x01\x02\x00hello")), kDrop},
        {"tls over ipv6", ipv6_frame(kTcp, text("\x16\x03\x03 more")), kDrop},
        {"tls record version 4 is not matched", ipv4_frame(kTcp, text("\x16\x03\x04 ")), kPass},
        {"tls bytes not at the payload's start", ipv4_frame(kTcp, text("xx\x16\x03\x01")), kPass},
        {"admin over ipv6, any case", ipv6_frame(kTcp, text("get /ADMIN/users HTTP/1.1")), steer(1)},
        {"admin over udp", ipv4_frame(kUdp, text("GET /admin")), steer(1)},
        {"admin and evil", ipv6_frame(kUdp, text("GET /admin?q=evil")), steer(1)},
        {"tls and evil", ipv4_frame(kTcp, text("\x16\x03\x00 evil")), kDrop},
        {"deadbeef in the source address", ipv4_frame(kUdp, text("hello"), v4(0xde, 0xad, 0xbe, 0xef)), kPass},
        {"deadbeef in the payload", ipv4_frame(kTcp, text("..\xde\xad\xbe\xef..")), kPass},
        {"evil alone", ipv4_frame(kUdp, text("an evil payload")), kPass},
        {"plain", ipv6_frame(kTcp, text("GET /index.html")), kPass},
        {"admin in an arp frame has no payload scope", arp, kPass},
        {"admin in a fragment has no payload scope", fragment_frame, kPass},
    };
    for (const Case& c : corpus)
        expect_verdict(match(m, c.frame), c.verdict, c.name);

    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{10, 3}, {20, 3}, {30, 2}, {40, 3}}));
    EXPECT_EQ(m.scanned(), corpus.size());
    EXPECT_EQ(m.scan_errors(), 0u);

    const std::vector<RuleHits> rows = engine.snapshot();
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[1].id, 20u);
    EXPECT_EQ(rows[1].action, Action::Group);
    EXPECT_EQ(rows[1].group, 1u);
    EXPECT_EQ(rows[1].scope, Scope::Payload);
    EXPECT_EQ(rows[1].line, 2u);
    EXPECT_EQ(rows[2].action, Action::Tag);
    EXPECT_EQ(rows[2].scope, Scope::Frame);
}

TEST(RuleVerdict, HeaderBytesMatchFrameScopeOnly)
{
    RuleEngine engine(1);
    // 198.18.0.1, the source address: in the IPv4 header, not the payload;
    // and "zzzz", in the Ethernet padding only.
    load(engine, "1 /\\xc6\\x12\\x00\\x01/ frame tag\n"
                 "2 /\\xc6\\x12\\x00\\x01/ payload tag\n"
                 "3 /zzzz/ frame tag\n"
                 "4 /zzzz/ payload tag\n");
    Matcher& m = matcher(engine);
    Bytes padded = ipv4_frame(kUdp, text("hi"));
    padded.resize(60, 'z');
    match(m, padded);
    match(m, ipv4_frame(kUdp, text("nothing here")));
    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 2}, {2, 0}, {3, 1}, {4, 0}}));

    // The same bytes in the payload match both.
    match(m, ipv6_frame(kUdp, text("\xc6\x12\x00\x01 zzzz")));
    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 3}, {2, 1}, {3, 2}, {4, 1}}));
}

TEST(RuleVerdict, TheFirstMatchingTerminalRuleInTheFileDecides)
{
    // Hyperscan reports "abc" (ending at 3) before "xyz" (ending at 12):
    // the file's order decides all the same, and only the decider counts.
    const Bytes frame = ipv4_frame(kTcp, text("abc......xyz"));
    {
        RuleEngine engine(2);
        load(engine, "1 /xyz/ payload group 1\n2 /abc/ payload drop\n3 /abc/ payload group 0\n");
        Matcher& m = matcher(engine);
        expect_verdict(match(m, frame), steer(1), "xyz first in the file");
        EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 1}, {2, 0}, {3, 0}}));
    }
    {
        RuleEngine engine(2);
        load(engine, "2 /abc/ payload drop\n1 /xyz/ payload group 1\n");
        Matcher& m = matcher(engine);
        expect_verdict(match(m, frame), kDrop, "abc first in the file");
        EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 0}, {2, 1}}));
    }
    // Across scopes too: the file's order, not the database's.
    {
        RuleEngine engine(2);
        load(engine, "5 /xyz/ payload group 0\n6 /\\x08\\x00\\x45/ frame group 1\n");
        Matcher& m = matcher(engine);
        expect_verdict(match(m, frame), steer(0), "payload rule first");
    }
    {
        RuleEngine engine(2);
        load(engine, "6 /\\x08\\x00\\x45/ frame group 1\n5 /xyz/ payload group 0\n");
        Matcher& m = matcher(engine);
        expect_verdict(match(m, frame), steer(1), "frame rule first");
        EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{5, 0}, {6, 1}}));
    }
}

TEST(RuleVerdict, TagsCountWhereverTheyMatchEvenWhenTheScanCouldStop)
{
    // The drop rule is the first terminal rule, so a scan without tags
    // would stop at its match; the tags after it (and in the other scope)
    // must count all the same, and so must those before it.
    RuleEngine engine(2);
    load(engine, "1 /early/ payload tag\n"
                 "2 /DROP/ payload drop\n"
                 "3 /late/ payload tag\n"
                 "4 /\\x86\\xdd/ frame tag\n"
                 "5 /never/ payload tag\n");
    Matcher& m = matcher(engine);
    constexpr int kPackets = 100;
    for (int i = 0; i < kPackets; ++i) {
        expect_verdict(match(m, ipv6_frame(kTcp, text("early DROP late"))), kDrop, "all");
        expect_verdict(match(m, ipv4_frame(kTcp, text("DROP late"))), kDrop, "drop, late");
        expect_verdict(match(m, ipv4_frame(kUdp, text("late early"))), kPass, "tags only");
    }
    EXPECT_EQ(hits(engine),
              (std::map<std::uint32_t, std::uint64_t>{{1, 2 * kPackets}, {2, 2 * kPackets}, {3, 3 * kPackets},
                                                      {4, kPackets}, {5, 0}}));
}

TEST(RuleVerdict, NoRulesPassEverythingUnscanned)
{
    RuleEngine engine(2);
    Matcher& m = matcher(engine);
    m.begin_burst();
    expect_verdict(match(m, ipv4_frame(kTcp, text("\x16\x03\x01"))), kPass, "no rules");
    EXPECT_EQ(m.scanned(), 0u);
    EXPECT_TRUE(engine.snapshot().empty());

    load(engine, "# rules to come\n"); // an empty set is a set: scanned, nothing matches
    m.begin_burst();
    expect_verdict(match(m, ipv4_frame(kTcp, text("\x16\x03\x01"))), kPass, "empty set");
    EXPECT_EQ(m.scanned(), 1u);
    EXPECT_EQ(engine.generation(), 1u);
}

// ------------------------------------------------------------------ reload

TEST(RuleReload, TakesEffectAtTheNextBurstAndKeepsCountersById)
{
    RuleEngine engine(2);
    load(engine, "1 /one/ payload drop\n2 /two/ payload group 1\n");
    Matcher& m = matcher(engine);
    const Bytes one = ipv4_frame(kUdp, text("one")), two = ipv4_frame(kUdp, text("two")),
                three = ipv4_frame(kUdp, text("three"));
    m.begin_burst();
    expect_verdict(match(m, one), kDrop, "one, first set");
    expect_verdict(match(m, two), steer(1), "two, first set");
    expect_verdict(match(m, two), steer(1), "two, first set");

    // Rule 2 changes its expression and action but keeps its id; 1 goes; 3 comes.
    load(engine, "3 /three/ payload drop\n2 /tw/ payload group 0\n");
    EXPECT_EQ(engine.generation(), 2u);
    expect_verdict(match(m, one), kDrop, "one, before the burst boundary");
    m.begin_burst();
    expect_verdict(match(m, one), kPass, "one, second set");
    expect_verdict(match(m, two), steer(0), "two, second set");
    expect_verdict(match(m, three), kDrop, "three, second set");

    const std::vector<RuleHits> rows = engine.snapshot();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].id, 3u);
    EXPECT_EQ(rows[0].hits, 1u);
    EXPECT_EQ(rows[1].id, 2u);
    EXPECT_EQ(rows[1].hits, 3u); // 2 under the first set + 1 under the second
    EXPECT_EQ(rows[1].group, 0u);
    EXPECT_EQ(rows[1].line, 2u);

    // Rule 1 comes back: its count goes on from where it was.
    load(engine, "1 /one/ payload drop\n");
    m.begin_burst();
    match(m, one);
    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 3}}));
}

TEST(RuleReload, AFailedReloadKeepsTheRulesInForce)
{
    RuleEngine engine(2);
    load(engine, "1 /one/ payload drop\n");
    Matcher& m = matcher(engine);
    const Bytes one = ipv4_frame(kUdp, text("one"));
    m.begin_burst();
    expect_verdict(match(m, one), kDrop, "before");

    EXPECT_EQ(load_error(engine, "1 /one/ payload drop\n2 /t(wo/ payload tag\n"),
              "r.conf:2: rule 2: Hyperscan cannot compile the expression: Missing close parenthesis for group "
              "started at index 1.");
    EXPECT_EQ(load_error(engine, "1 /one/ payload drop\n2 /two/ payload group 7\n"),
              "r.conf:2: rule 2: group 7 does not exist: there are 2 groups, numbered 0 to 1");
    EXPECT_EQ(engine.generation(), 1u);
    m.begin_burst();
    expect_verdict(match(m, one), kDrop, "after the failed reloads");
    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{{1, 2}}));
}

TEST(RuleReload, AMatcherAddedLaterStartsWithTheRulesInForce)
{
    RuleEngine engine(2);
    load(engine, "1 /one/ payload drop\n");
    Matcher& m = matcher(engine);
    expect_verdict(match(m, ipv4_frame(kUdp, text("one"))), kDrop, "no begin_burst needed");
}

// A worker scans bursts while the control thread reloads, alternating
// between two files, some of them broken. Rule 7 is in both and matches every
// packet: its count must be exactly the packets scanned, whatever sets the
// worker went through. ASan/TSan builds check the hand-over itself.
TEST(RuleReload, UnderTrafficNoHitIsLost)
{
    RuleEngine engine(2);
    const std::string first = "1 /alpha/ payload drop\n7 /^pkt/ payload tag\n";
    const std::string second = "7 /^pkt/ payload tag\n2 /beta/ payload group 1\n";
    load(engine, first);
    Matcher& m = matcher(engine);
    const Bytes alpha = ipv4_frame(kUdp, text("pkt alpha")), beta = ipv6_frame(kTcp, text("pkt beta"));

    std::atomic<bool> stop{false};
    std::uint64_t packets = 0;
    std::uint64_t bad_verdicts = 0;
    std::thread worker([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            m.begin_burst();
            for (int i = 0; i < 32; ++i) {
                const Verdict a = match(m, alpha);
                const Verdict b = match(m, beta);
                // Each set gives one of two answers for each frame.
                if (a.kind != VerdictKind::Drop && a.kind != VerdictKind::Pass)
                    ++bad_verdicts;
                if (b.kind != VerdictKind::Pass && !(b.kind == VerdictKind::Steer && b.group == 1))
                    ++bad_verdicts;
                packets += 2;
            }
        }
    });
    for (int i = 0; i < 200; ++i) {
        zc_error err{};
        EXPECT_EQ(engine.load_text(i % 2 ? first : second, "r.conf", &err), 0) << err.message;
        EXPECT_EQ(load_error(engine, "7 /^pkt/ payload tag\n8 /[/ frame tag\n").substr(0, 10), "r.conf:2: ");
        engine.collect();
    }
    stop.store(true, std::memory_order_relaxed);
    worker.join();
    EXPECT_EQ(bad_verdicts, 0u);
    EXPECT_GT(packets, 0u);
    EXPECT_EQ(hits(engine)[7], packets);
    EXPECT_EQ(m.scanned(), packets);
    EXPECT_EQ(engine.generation(), 201u);
}

// ------------------------------------------------------------------ threads

TEST(RuleThreads, TwoWorkersScanAtOnceEachWithItsOwnScratch)
{
    RuleEngine engine(2);
    load(engine, kExampleRules);
    Matcher* matchers[2] = {&matcher(engine), &matcher(engine)};
    const Bytes tls = ipv4_frame(kTcp, text("\x16\x03\x01 hello evil")), admin = ipv6_frame(kTcp, text("GET /admin")),
                beef = ipv4_frame(kUdp, text("\xde\xad\xbe\xef"));
    constexpr std::uint64_t kRounds = 20000;
    std::uint64_t wrong[2] = {0, 0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 2; ++t) {
        workers.emplace_back([&, t] {
            Matcher& m = *matchers[t];
            for (std::uint64_t i = 0; i < kRounds; ++i) {
                if (i % 64 == 0)
                    m.begin_burst();
                wrong[t] += match(m, tls).kind != VerdictKind::Drop;
                const Verdict v = match(m, admin);
                wrong[t] += v.kind != VerdictKind::Steer || v.group != 1;
                wrong[t] += match(m, beef).kind != VerdictKind::Pass;
            }
        });
    }
    for (std::thread& w : workers)
        w.join();
    EXPECT_EQ(wrong[0], 0u);
    EXPECT_EQ(wrong[1], 0u);
    EXPECT_EQ(hits(engine), (std::map<std::uint32_t, std::uint64_t>{
                                {10, 2 * kRounds}, {20, 2 * kRounds}, {30, 2 * kRounds}, {40, 2 * kRounds}}));
    EXPECT_EQ(matchers[0]->scanned(), 3 * kRounds);
    EXPECT_EQ(matchers[1]->scanned(), 3 * kRounds);
}

} // namespace

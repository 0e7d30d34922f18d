// SPDX-License-Identifier: BSD-3-Clause
//
// The rule file of zc-balance --rules (private): its grammar, what a parsed
// rule holds, and the parser. No Hyperscan here: the parser checks the
// grammar, ids, scopes, actions and group numbers; whether an expression
// compiles is rules_set.cpp's question (it reports on the same FILE:LINE).
//
// Grammar (one rule a line; man zc-balance, RULE FILES, says the same):
//
//   file       = { line "\n" }           a final line without "\n" counts;
//                                        a "\r" before the "\n" is ignored
//   line       = [ws] [ comment ]
//              | [ws] rule [ws [ comment ]]
//   comment    = "#" { any byte }        so a "#" starts a comment where a word
//                                        would start, never inside a word or
//                                        the expression
//   rule       = id ws "/" expression "/" flags ws scope ws action
//   id         = digit { digit }         0 .. 4294967295, unique in the file
//   expression = one or more bytes; a backslash and the byte after it are
//                kept as they are (so "\/" is a "/" of the expression, and
//                "\\" a backslash), a "/" not so escaped ends the expression.
//                Written in Hyperscan's PCRE syntax and handed to it as is;
//                a NUL byte is refused (write \x00).
//   flags      = { "i" | "s" | "m" }     each at most once:
//                i HS_FLAG_CASELESS   s HS_FLAG_DOTALL   m HS_FLAG_MULTILINE
//                Every rule is also compiled with HS_FLAG_SINGLEMATCH (a
//                rule matches a packet or not; where does not matter).
//                UTF-8 mode (HS_FLAG_UTF8, UCP) is not offered: Hyperscan's
//                results on bytes that are not valid UTF-8 are undefined, for
//                the whole database, and packets are any bytes. Write UTF-8
//                text as its bytes (caf\xc3\xa9).
//   scope      = "payload"               the bytes after the L4 header
//              | "frame"                 the whole frame, from its Ethernet header
//   action     = "drop"                  no group gets the packet
//              | "group" ws number       only group NUMBER gets it (0-based,
//                                        the order of zc-balance -n)
//              | "tag"                   counted only; every group gets it
//   ws         = ( " " | "\t" ) { " " | "\t" }
//
// Every error is one sentence that starts "FILE:LINE: " and, once the id is
// read, names the rule: "rules.conf:7: rule 30: unknown action 'reject'
// (drop, group G or tag)".

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "zc/zc.h"

namespace zc::rules {

enum class Scope : std::uint8_t {
    Payload, // the bytes after the outer L4 header (rules_payload.cpp)
    Frame,   // the whole captured frame
};

enum class Action : std::uint8_t {
    Drop,  // terminal: no group gets the packet
    Group, // terminal: only `group` gets it
    Tag,   // counted only
};

// Flag letters, as bits of Rule::flags (rules_set.cpp maps them to HS_FLAG_*).
enum RuleFlag : std::uint32_t {
    kFlagCaseless = 1u << 0,  // i
    kFlagDotAll = 1u << 1,    // s
    kFlagMultiLine = 1u << 2, // m
};

struct Rule {
    std::uint32_t id = 0;
    std::string expression; // between the slashes, as written
    std::uint32_t flags = 0; // RuleFlag bits
    Scope scope = Scope::Payload;
    Action action = Action::Tag;
    std::uint32_t group = 0; // Action::Group only
    std::uint32_t line = 0;  // 1-based
};

struct RuleFile {
    std::string name; // as error messages name it
    std::vector<Rule> rules; // in file order: that order is their priority
};

// The names a rule file uses, for messages, zc-stat and Prometheus labels.
const char* scope_name(Scope scope) noexcept;
const char* action_name(Action action) noexcept;

// Parses `text`, named `name` in messages, for a balancer with `group_count`
// groups (numbered 0 .. group_count-1). 0 and *out filled, or a negative
// errno (-EINVAL) with "NAME:LINE: sentence" in *err and *out unchanged.
int parse_rules(std::string_view text, std::string_view name, std::uint32_t group_count, RuleFile* out,
                zc_error* err);

// Reads the file at `path` (at most kMaxFileBytes) and parses it, named by
// its path. Errors as parse_rules, plus the errno of opening or reading it.
inline constexpr std::size_t kMaxFileBytes = 16u << 20;
int read_rules(const char* path, std::uint32_t group_count, RuleFile* out, zc_error* err);

} // namespace zc::rules

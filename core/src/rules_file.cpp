// SPDX-License-Identifier: BSD-3-Clause
//
// The rule-file parser (the grammar is in rules_file.hpp). Control path: it
// builds strings, and every error is a sentence with FILE:LINE.

#include "rules_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "internal/error.hpp"

namespace zc::rules {

namespace {

constexpr const char* kActions = "drop, group G or tag";

// For "%.*s".
int size(std::string_view text) noexcept { return static_cast<int>(text.size()); }

struct Flag {
    char letter;
    RuleFlag bit;
};
constexpr Flag kFlags[] = {{'i', kFlagCaseless}, {'s', kFlagDotAll}, {'m', kFlagMultiLine}};

bool is_space(char c) noexcept { return c == ' ' || c == '\t'; }

// One line, read left to right. Every error goes through fail(), which
// prefixes "NAME:LINE: " and, once the id is known, "rule ID: ".
class LineParser {
public:
    LineParser(std::string_view line, std::string_view name, std::uint32_t number, zc_error* err)
        : line_(line), name_(name), number_(number), err_(err)
    {
    }

    // Skips blanks; true if something other than a comment follows.
    bool more()
    {
        while (at_ < line_.size() && is_space(line_[at_]))
            ++at_;
        return at_ < line_.size() && line_[at_] != '#';
    }

    // The next blank-separated word ("" at the end of the line or a comment).
    std::string_view word()
    {
        if (!more())
            return {};
        const std::size_t start = at_;
        while (at_ < line_.size() && !is_space(line_[at_]))
            ++at_;
        return line_.substr(start, at_ - start);
    }

    int parse(Rule* rule, std::uint32_t group_count)
    {
        rule->line = number_;
        if (int rc = parse_id(rule); rc != 0)
            return rc;
        if (int rc = parse_expression(rule); rc != 0)
            return rc;
        if (int rc = parse_flags(rule); rc != 0)
            return rc;
        if (int rc = parse_scope(rule); rc != 0)
            return rc;
        if (int rc = parse_action(rule, group_count); rc != 0)
            return rc;
        if (more()) {
            const std::string_view extra = word();
            return fail("unexpected '%.*s' after the action (a comment starts with '#')", size(extra), extra.data());
        }
        return 0;
    }

private:
    int parse_id(Rule* rule)
    {
        const std::string_view text = word();
        std::uint64_t value = 0;
        bool digits = !text.empty();
        for (char c : text) {
            if (c < '0' || c > '9') {
                digits = false;
                break;
            }
            value = value * 10 + static_cast<unsigned>(c - '0');
            if (value > UINT32_MAX)
                return fail("rule id %.*s is out of range (0 to 4294967295)", size(text), text.data());
        }
        if (!digits)
            return fail("expected a rule id (a whole number) at the start of the line, got '%.*s'", size(text),
                        text.data());
        rule->id = static_cast<std::uint32_t>(value);
        id_ = rule->id;
        have_id_ = true;
        return 0;
    }

    int parse_expression(Rule* rule)
    {
        if (!more() || line_[at_] != '/')
            {
            const std::string_view got = word();
            return fail("expected /EXPRESSION/FLAGS after the id, got '%.*s'", size(got), got.data());
        }
        const std::size_t start = ++at_;
        for (; at_ < line_.size() && line_[at_] != '/'; ++at_) {
            if (line_[at_] == '\0')
                return fail("the expression has a NUL byte (write it as \\x00)");
            if (line_[at_] == '\\' && at_ + 1 < line_.size())
                ++at_;
        }
        if (at_ == line_.size())
            return fail("the expression has no closing '/' (a '/' inside it is written '\\/')");
        if (at_ == start)
            return fail("empty expression: '//' would match every packet");
        rule->expression.assign(line_.substr(start, at_ - start));
        ++at_; // the closing '/'
        return 0;
    }

    int parse_flags(Rule* rule)
    {
        for (; at_ < line_.size() && !is_space(line_[at_]); ++at_) {
            const char letter = line_[at_];
            const Flag* flag = nullptr;
            for (const Flag& f : kFlags)
                if (f.letter == letter)
                    flag = &f;
            if (letter == '8' || letter == 'W')
                return fail("flag '%c' (UTF-8 mode) is not offered: Hyperscan's results on bytes that are not "
                            "UTF-8 are undefined, and packets are any bytes (write UTF-8 text as \\xHH bytes)",
                            letter);
            if (flag == nullptr)
                return fail("unknown flag '%c' after the expression (flags: i caseless, s dot-all, m multi-line)",
                            letter);
            if ((rule->flags & flag->bit) != 0)
                return fail("flag '%c' is given twice", letter);
            rule->flags |= flag->bit;
        }
        return 0;
    }

    int parse_scope(Rule* rule)
    {
        const std::string_view text = word();
        if (text == "payload")
            rule->scope = Scope::Payload;
        else if (text == "frame")
            rule->scope = Scope::Frame;
        else if (text.empty())
            return fail("expected a scope (payload or frame) after the expression");
        else
            return fail("unknown scope '%.*s' (payload or frame)", size(text), text.data());
        return 0;
    }

    int parse_action(Rule* rule, std::uint32_t group_count)
    {
        const std::string_view text = word();
        if (text == "drop") {
            rule->action = Action::Drop;
        } else if (text == "tag") {
            rule->action = Action::Tag;
        } else if (text == "group") {
            rule->action = Action::Group;
            return parse_group(rule, group_count);
        } else if (text.empty()) {
            return fail("expected an action (%s) after the scope", kActions);
        } else {
            return fail("unknown action '%.*s' (%s)", size(text), text.data(), kActions);
        }
        return 0;
    }

    int parse_group(Rule* rule, std::uint32_t group_count)
    {
        const std::string_view text = word();
        if (text.empty())
            return fail("'group' needs a group number (0 to %u)", group_count - 1);
        std::uint64_t value = 0;
        for (char c : text) {
            if (c < '0' || c > '9')
                return fail("bad group number '%.*s' (groups are numbered 0 to %u)", size(text), text.data(),
                            group_count - 1);
            value = value * 10 + static_cast<unsigned>(c - '0');
            if (value >= group_count)
                break;
        }
        if (value >= group_count)
            return fail("group %.*s does not exist: there %s %u group%s, numbered 0 to %u", size(text), text.data(),
                        group_count == 1 ? "is" : "are", group_count, group_count == 1 ? "" : "s",
                        group_count - 1);
        rule->group = static_cast<std::uint32_t>(value);
        return 0;
    }

    [[gnu::format(printf, 2, 3)]] int fail(const char* format, ...)
    {
        char message[ZC_ERROR_MESSAGE_MAX];
        va_list args;
        va_start(args, format);
        std::vsnprintf(message, sizeof message, format, args);
        va_end(args);
        if (have_id_)
            return zc::fail(err_, -EINVAL, "%.*s:%u: rule %u: %s", size(name_), name_.data(), number_, id_, message);
        return zc::fail(err_, -EINVAL, "%.*s:%u: %s", size(name_), name_.data(), number_, message);
    }

    std::string_view line_;
    std::string_view name_;
    std::uint32_t number_;
    zc_error* err_;
    std::size_t at_ = 0;
    std::uint32_t id_ = 0;
    bool have_id_ = false;
};

} // namespace

const char* scope_name(Scope scope) noexcept
{
    return scope == Scope::Payload ? "payload" : "frame";
}

const char* action_name(Action action) noexcept
{
    switch (action) {
    case Action::Drop: return "drop";
    case Action::Group: return "group";
    case Action::Tag: return "tag";
    }
    return "?";
}

int parse_rules(std::string_view text, std::string_view name, std::uint32_t group_count, RuleFile* out,
                zc_error* err)
{
    if (group_count == 0)
        return zc::fail(err, -EINVAL, "%.*s: rules need at least one group", size(name), name.data());
    RuleFile file;
    file.name.assign(name);
    std::unordered_map<std::uint32_t, std::uint32_t> line_of_id;
    std::uint32_t number = 0;
    while (!text.empty()) {
        ++number;
        const std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        LineParser parser(line, name, number, err);
        if (!parser.more())
            continue;
        Rule rule;
        if (int rc = parser.parse(&rule, group_count); rc != 0)
            return rc;
        auto [first, fresh] = line_of_id.try_emplace(rule.id, number);
        if (!fresh)
            return zc::fail(err, -EINVAL, "%.*s:%u: duplicate rule id %u (line %u has it already)",
                            size(name), name.data(), number, rule.id, first->second);
        file.rules.push_back(std::move(rule));
    }
    *out = std::move(file);
    return 0;
}

int read_rules(const char* path, std::uint32_t group_count, RuleFile* out, zc_error* err)
{
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int code = errno;
        return zc::fail(err, -code, "%s: cannot open the rule file: %s", path, std::strerror(code));
    }
    std::string text;
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int code = errno;
            ::close(fd);
            return zc::fail(err, -code, "%s: cannot read the rule file: %s", path, std::strerror(code));
        }
        if (n == 0)
            break;
        if (text.size() + static_cast<std::size_t>(n) > kMaxFileBytes) {
            ::close(fd);
            return zc::fail(err, -EFBIG, "%s: the rule file is larger than %zu MiB", path, kMaxFileBytes >> 20);
        }
        text.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return parse_rules(text, path, group_count, out, err);
}

} // namespace zc::rules

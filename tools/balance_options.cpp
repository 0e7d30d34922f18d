// SPDX-License-Identifier: BSD-3-Clause
//
// tools/balance_options.cpp — zc-balance's option parser: the usage text,
// the option table, set_option and the --config file reader.

#include "balance_options.hpp"

#include <getopt.h>
#include <grp.h>
#include <sched.h>
#include <sys/types.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "zc/hash.h"

#include "parse_number.hpp"

namespace zc::balance {

namespace {

using zc::tools::parse_number;

constexpr const char* kUsage = R"(Usage: zc-balance -i DEVICE[,DEVICE...] -c CLUSTER -n SIZES [options]
       zc-balance --config FILE [options]

Receives from the devices into cluster CLUSTER's pool and spreads the packets
over its queues; consumers read queue Q as zc:CLUSTER@Q.

  -i, --interface DEVICE   a device to receive from (zc:eth0, zc:eth0@3,
                           zc:afpacket:eth0, zc:pcap:FILE, zc:synthetic; the
                           zc: prefix may be left out); a comma list or -i
                           repeated, at most 8
  -c, --cluster ID         the cluster to create (a number)
  -n, --queues SIZES       queue groups, e.g. 4,1: a group of 4 balanced
                           queues (0-3) and a group of 1 that sees everything (4)
  -m, --hash MODE          5tuple (default), 2tuple, inner-5tuple,
                           round-robin, vlan, iface
      --on-full POLICY     drop (default) or wait, for every group, or a
                           comma list with one per group (e.g. drop,wait)
      --queue-limit N      drop mode: buffers one queue may hold before its
                           own packets are dropped (default: the buffers the
                           devices can use, at most the pool's, / (queues + 1))
      --group NAME         the region file's group (default: yours)
      --threads N          N balancer threads (1 to 8, default 1), each
                           reading devices of its own (device d goes to
                           thread d % N: give at least N, e.g. an
                           interface's RX queues -i zc:eth0@0,zc:eth0@1)
                           and feeding every queue; both directions of a
                           flow still meet in one queue
      --burst N            packets read from a device at a time (1 to 1024,
                           default 256): more amortises each round's fixed
                           work over more packets, at the price of latency
      --core LIST          pin the balancer threads to these CPUs, one
                           each in turn (e.g. 2 or 2,3)
      --stats SECONDS      print per-queue counters every SECONDS
      --speed X            zc:pcap: inputs: replay at X times the original
                           pace (default 1; 0: top speed)
      --loops N            zc:pcap: inputs: play the file N times (default 1;
                           0: forever)
      --flows N            zc:synthetic inputs: N flows, each both ways
                           (default 1)
      --rules FILE         content rules (Hyperscan): drop packets, steer them
                           to one group, or count them; SIGHUP reloads FILE
                           (man zc-balance, RULE FILES)
      --filter EXPR        take only what the pcap filter EXPR matches from
                           the devices (tcpdump syntax, compiled for
                           Ethernet): in the kernel where it can run there,
                           and what it refuses goes on to the host's stack
      --filter-drop        what the filter refuses is dropped instead
      --group-filter G:EXPR
                           group G (0 is the first of --queues) gets only
                           what the pcap filter EXPR matches, filtered by
                           the balancer; repeat for other groups
      --pid-file FILE      write the process id to FILE (removed at exit)
      --daemon             run in the background; returns once the cluster,
                           the devices and the control socket are open
  -C, --config FILE        read options from FILE: key = value lines, the
                           keys being the long option names above (daemon =
                           true or false); options given here override it
      --foreground         stay in the foreground even if FILE says
                           daemon = true (the systemd unit runs this way)
  -h, --help               this text
)";

// Every option, by the id getopt_long returns for it. A config file key is
// the long name of one of them, except those that make no sense in a file.
enum OptionId : int {
    kInterface = 'i',
    kCluster = 'c',
    kQueues = 'n',
    kHash = 'm',
    kConfig = 'C',
    kHelp = 'h',
    kOnFull = 256,
    kGroup,
    kCore,
    kStats,
    kSpeed,
    kLoops,
    kFlows,
    kQueueLimit,
    kPidFile,
    kRules,
    kDaemon,
    kForeground,
    kFilter,
    kFilterDrop,
    kGroupFilter,
    kThreads,
    kBurst,
};

constexpr option kLongOptions[] = {
    {"interface", required_argument, nullptr, kInterface},
    {"cluster", required_argument, nullptr, kCluster},
    {"queues", required_argument, nullptr, kQueues},
    {"hash", required_argument, nullptr, kHash},
    {"on-full", required_argument, nullptr, kOnFull},
    {"group", required_argument, nullptr, kGroup},
    {"core", required_argument, nullptr, kCore},
    {"threads", required_argument, nullptr, kThreads},
    {"burst", required_argument, nullptr, kBurst},
    {"stats", required_argument, nullptr, kStats},
    {"speed", required_argument, nullptr, kSpeed},
    {"loops", required_argument, nullptr, kLoops},
    {"flows", required_argument, nullptr, kFlows},
    {"queue-limit", required_argument, nullptr, kQueueLimit},
    {"filter", required_argument, nullptr, kFilter},
    {"filter-drop", no_argument, nullptr, kFilterDrop},
    {"group-filter", required_argument, nullptr, kGroupFilter},
    {"pid-file", required_argument, nullptr, kPidFile},
    {"rules", required_argument, nullptr, kRules},
    {"daemon", no_argument, nullptr, kDaemon},
    {"config", required_argument, nullptr, kConfig},
    {"foreground", no_argument, nullptr, kForeground},
    {"help", no_argument, nullptr, kHelp},
    {nullptr, 0, nullptr, 0},
};

bool allowed_in_file(int id) { return id != kConfig && id != kForeground && id != kHelp; }

void split(const std::string& text, std::vector<std::string>& out)
{
    std::size_t start = 0;
    for (;;) {
        std::size_t comma = text.find(',', start);
        out.push_back(text.substr(start, comma - start));
        if (comma == std::string::npos)
            return;
        start = comma + 1;
    }
}

// A whole number in [0, max]: parse_number, and no fraction.
bool parse_whole(const std::string& text, double max, std::uint32_t* out)
{
    double value = 0;
    if (!parse_number(text.c_str(), 0, max, &value) || std::trunc(value) != value)
        return false;
    *out = static_cast<std::uint32_t>(value);
    return true;
}

// Sets option `id` from `value`, alike for a command-line argument and a
// config file line; returns what is wrong with the value ("" when nothing).
// A comma in --interface separates devices: each is its own port of the
// balancer (zc_buffer_meta.port, the iface hash).
std::string set_option(Options& o, int id, const std::string& value)
{
    std::uint32_t whole = 0;
    switch (id) {
    case kInterface: {
        std::vector<std::string> names;
        split(value, names);
        for (const std::string& name : names)
            if (name.empty())
                return "an empty device name (two commas in a row?)";
        o.devices.insert(o.devices.end(), names.begin(), names.end());
        if (o.devices.size() > ZC_BALANCE_MAX_DEVICES)
            return "too many devices: at most 8";
        return {};
    }
    case kCluster:
        if (!parse_whole(value, 0xffffff, &whole))
            return "a cluster id is a number from 0 to 16777215";
        o.cluster = whole;
        return {};
    case kQueues: {
        zc_error err{};
        if (zc_balancer_parse_groups(value.c_str(), &o.balancer, &err) != 0)
            return err.message;
        return {};
    }
    case kHash:
        if (zc_hash_mode_from_name(value.c_str(), &o.balancer.mode) != 0)
            return "unknown hash mode (5tuple, 2tuple, inner-5tuple, round-robin, vlan, iface)";
        return {};
    case kOnFull: {
        // Checked here, matched with the groups once every option is in.
        std::vector<std::string> policies;
        split(value, policies);
        for (const std::string& policy : policies)
            if (policy != "drop" && policy != "wait")
                return "\"" + policy + "\" is neither drop nor wait";
        o.on_full = value;
        return {};
    }
    case kGroup: {
        // The library takes a gid: look the name up (numbers are not names).
        const struct group* found = getgrnam(value.c_str());
        if (!found)
            return "no such group (getent group lists them)";
        o.gid = static_cast<std::int32_t>(found->gr_gid);
        return {};
    }
    case kFilter:
        if (value.empty())
            return "an empty filter (leave --filter out to take everything)";
        o.filter = value;
        return {};
    case kGroupFilter: {
        const std::size_t colon = value.find(':');
        if (colon == std::string::npos || !parse_whole(value.substr(0, colon), ZC_BALANCE_MAX_GROUPS - 1, &whole) ||
            colon + 1 == value.size())
            return "GROUP:EXPR, such as 1:'tcp port 80' (groups from 0, as in --queues)";
        o.group_filters.emplace_back(static_cast<std::uint32_t>(whole), value.substr(colon + 1));
        return {};
    }
    case kFilterDrop:
        if (value != "true" && value != "false")
            return "true or false";
        o.filter_drop = value == "true";
        return {};
    case kCore: {
        std::vector<std::string> cores;
        split(value, cores);
        o.cores.clear();
        for (const std::string& core : cores) {
            if (!parse_whole(core, CPU_SETSIZE - 1, &whole))
                return "a CPU number or a comma list of them, such as 2 or 2,3";
            o.cores.push_back(static_cast<int>(whole));
        }
        return {};
    }
    case kBurst:
        if (!parse_whole(value, 1024, &whole) || whole == 0)
            return "a number of packets from 1 to 1024";
        o.balancer.burst = whole;
        return {};
    case kThreads:
        if (!parse_whole(value, ZC_BALANCE_MAX_DEVICES, &whole) || whole == 0)
            return "a number of threads from 1 to 8";
        o.threads = whole;
        return {};
    case kStats:
        if (!parse_number(value.c_str(), 0.001, 1e6, &o.stats_seconds))
            return "a number of seconds above 0, such as 1 or 0.5";
        return {};
    case kSpeed:
        if (!parse_number(value.c_str(), 0, 1e6, &o.replay_speed))
            return "a factor, 0 (top speed) or more, such as 1 or 2.5";
        return {};
    case kLoops:
        if (!parse_whole(value, UINT32_MAX, &o.replay_loops))
            return "a whole number of plays, 0 (forever) or more";
        return {};
    case kQueueLimit:
        if (!parse_whole(value, 16777216, &o.balancer.queue_limit) || o.balancer.queue_limit == 0)
            return "a number of buffers, 1 to 16777216";
        return {};
    case kFlows:
        if (!parse_whole(value, 65536, &o.synthetic_flows) || o.synthetic_flows == 0)
            return "a number of flows, 1 to 65536";
        return {};
    case kPidFile:
        if (value.empty())
            return "a file name";
        o.pid_file = value;
        return {};
    case kRules:
        if (value.empty())
            return "a rule file's name";
        o.rules = value;
        return {};
    case kDaemon:
        if (value != "true" && value != "false")
            return "true or false";
        o.daemon = value == "true";
        return {};
    }
    return "not an option"; // unreachable: ids come from kLongOptions
}

int report(const std::string& origin, const std::string& problem)
{
    std::fprintf(stderr, "zc-balance: %s: %s\n(zc-balance --help lists the options)\n", origin.c_str(),
                 problem.c_str());
    return 2;
}

std::string_view trim(std::string_view text)
{
    const char* blanks = " \t\r\n";
    std::size_t first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos)
        return {};
    return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

std::string file_keys()
{
    std::string keys;
    for (const option* spec = kLongOptions; spec->name; ++spec)
        if (allowed_in_file(spec->val))
            keys += std::string(keys.empty() ? "" : ", ") + spec->name;
    return keys;
}

// Reads a config file: `key = value` lines, keys being long option names;
// blank lines and lines whose first character other than a blank is # are
// skipped. A key may be given once, but interface, like -i, may be
// repeated. Returns 0, or 2 once it has named file:line and the problem.
int read_config(const std::string& path, Options& o)
{
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "re"), std::fclose);
    if (!file) {
        std::fprintf(stderr, "zc-balance: --config %s: %s\n", path.c_str(), std::strerror(errno));
        return 2;
    }
    struct LineBuffer {
        char* data = nullptr; // getline's, grown as it needs
        std::size_t capacity = 0;
        ~LineBuffer() { std::free(data); }
    } buffer;
    std::map<int, unsigned> first_line;
    ssize_t length = 0;
    for (unsigned number = 1; (length = ::getline(&buffer.data, &buffer.capacity, file.get())) >= 0; ++number) {
        const std::string where = path + ":" + std::to_string(number);
        std::string_view line = trim(std::string_view(buffer.data, static_cast<std::size_t>(length)));
        if (line.empty() || line.front() == '#')
            continue;
        std::size_t equals = line.find('=');
        if (equals == std::string_view::npos)
            return report(where, "\"" + std::string(line) + "\" is not a key = value line");
        const std::string key(trim(line.substr(0, equals)));
        const std::string value(trim(line.substr(equals + 1)));
        if (key.empty())
            return report(where, "\"" + std::string(line) + "\" has no key (key = value)");
        const option* spec = kLongOptions;
        while (spec->name && (key != spec->name || !allowed_in_file(spec->val)))
            ++spec;
        if (!spec->name)
            return report(where, "unknown key \"" + key + "\" (the keys: " + file_keys() + ")");
        if (value.empty())
            return report(where, key + " has no value (" + key + " = VALUE)");
        if (auto [previous, fresh] = first_line.emplace(spec->val, number); !fresh && spec->val != kInterface)
            return report(where, key + " is set again (first on line " + std::to_string(previous->second) + ")");
        o.origin[spec->val] = where + ": " + key + " = " + value;
        if (std::string problem = set_option(o, spec->val, value); !problem.empty())
            return report(o.origin[spec->val],
                          problem + (value.find('#') != std::string::npos
                                         ? " (# starts a comment only at the start of a line)"
                                         : ""));
    }
    if (std::ferror(file.get())) {
        std::fprintf(stderr, "zc-balance: --config %s: cannot read it: %s\n", path.c_str(), std::strerror(errno));
        return 2;
    }
    return 0;
}

} // namespace

int parse_options(int argc, char** argv, Options& o, bool* help)
{
    std::vector<std::pair<int, std::string>> given;
    std::string config;
    bool foreground = false;
    int c;
    while ((c = getopt_long(argc, argv, "i:c:n:m:C:h", kLongOptions, nullptr)) != -1) {
        switch (c) {
        case kHelp: *help = true; std::fputs(kUsage, stdout); return 0;
        case kConfig: config = optarg; break;
        case kForeground: foreground = true; break;
        case '?': std::fputs("(zc-balance --help lists the options)\n", stderr); return 2;
        default: given.emplace_back(c, optarg ? optarg : "true"); break;
        }
    }
    if (optind < argc)
        return report("unexpected argument \"" + std::string(argv[optind]) + "\"", "every value follows its option");
    if (!config.empty())
        if (int rc = read_config(config, o); rc != 0)
            return rc;
    bool devices_from_file = !o.devices.empty();
    for (const auto& [id, value] : given) {
        if (id == kInterface && devices_from_file) {
            o.devices.clear();
            devices_from_file = false;
        }
        const option* spec = kLongOptions;
        while (spec->val != id)
            ++spec;
        o.origin[id] = std::string("--") + spec->name + (spec->has_arg ? " " + value : "");
        if (std::string problem = set_option(o, id, value); !problem.empty())
            return report(o.origin[id], problem);
    }
    if (foreground)
        o.daemon = false;

    auto or_in_file = [&config](const char* line) { return config.empty() ? "" : " (or " + (line + (" in " + config)) + ")"; };
    if (o.devices.empty())
        return report("no device", "name one with -i, e.g. -i zc:eth0" + or_in_file("interface = zc:eth0"));
    if (o.cluster < 0)
        return report("no cluster", "give its id with -c, e.g. -c 99" + or_in_file("cluster = 99"));
    if (!o.origin.count(kQueues))
        return report("no queues", "give the queue groups with -n, e.g. -n 4 or -n 4,1" + or_in_file("queues = 4,1"));
    if (o.devices.size() < o.threads)
        return report(o.origin[kThreads], std::to_string(o.devices.size()) +
                                              (o.devices.size() == 1 ? " device" : " devices") +
                                              ": each thread reads devices of its own; give at least " +
                                              std::to_string(o.threads) +
                                              " (an interface's RX queues one by one: -i zc:eth0@0,zc:eth0@1)");

    std::vector<std::string> policies;
    split(o.on_full, policies);
    const std::uint32_t groups = o.balancer.group_count;
    if (policies.size() != 1 && policies.size() != groups)
        return report(o.origin[kOnFull], std::to_string(policies.size()) + " policies for " + std::to_string(groups) +
                                             (groups == 1 ? " group" : " groups") + " of queues (" +
                                             o.origin[kQueues] + "): give one for all groups or one per group");
    for (std::uint32_t g = 0; g < groups; ++g)
        o.balancer.groups[g].on_full =
            (policies.size() == 1 ? policies[0] : policies[g]) == "wait" ? ZC_ON_FULL_WAIT : ZC_ON_FULL_DROP;
    return 0;
}

} // namespace zc::balance

// SPDX-License-Identifier: BSD-3-Clause
//
// tools/balance_options.hpp — zc-balance's options: what they hold
// (Options) and the one parser that fills them from the command line and a
// --config file, with the usage text --help prints.
//
// Options come from the command line and from a --config file of
// `key = value` lines whose keys are the long option names; both go through
// set_option, so that they mean the same and are checked the same way.

#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "zc/balance.h"

namespace zc::balance {

// What the options say, once parse_options has read and checked them.
struct Options {
    std::vector<std::string> devices;
    long cluster = -1;
    zc_balancer_config balancer; // groups, hash mode and on-full policies
    std::string on_full = "drop";
    std::int32_t gid = -1; // --group, looked up
    std::vector<int> cores;   // --core: thread t runs on cores[t % size]; empty: anywhere
    std::uint32_t threads = 1; // --threads: lanes of the cluster, one balancer thread each
    double stats_seconds = 0;
    double replay_speed = 1.0;
    std::uint32_t replay_loops = 1;
    std::uint32_t synthetic_flows = 1;
    std::string filter; // --filter: a pcap expression, run in the kernel where it can be
    bool filter_drop = false; // --filter-drop: what it refuses is dropped, not passed to the host
    // --group-filter G:EXPR, each: group G (0-based, as in --queues) gets
    // only what EXPR matches, filtered by the balancer in user space.
    std::vector<std::pair<std::uint32_t, std::string>> group_filters;
    std::string pid_file;
    std::string rules; // --rules FILE: content rules, reloaded on SIGHUP
    bool daemon = false;
    // Where each option was set, as an error message names it: "--hash
    // 6tuple" or "FILE:LINE: hash = 6tuple".
    std::map<int, std::string> origin;

    Options() { zc_balancer_config_init(&balancer); }
};

// One option parser for the command line and the config file: the command
// line is read first and applied last, so that what it says overrides the
// file it names (its -i replacing the file's interface lines). Returns 0 to
// run, else the exit status (0 after --help).
int parse_options(int argc, char** argv, Options& o, bool* help);

} // namespace zc::balance

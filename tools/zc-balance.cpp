// SPDX-License-Identifier: BSD-3-Clause
//
// zc-balance — the cluster owner: creates cluster CLUSTER, receives from one
// or more devices straight into its pool, and spreads the packets over its
// queues (zc_balancer_*), symmetric by flow, with fan-out to several groups.
// Consumers read queue Q as zc:CLUSTER@Q. See man zc-balance(1).
//
// Options come from the command line and from a --config file of
// `key = value` lines whose keys are the long option names; both go through
// set_option, so that they mean the same and are checked the same way.

#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "zc/balance.h"
#include "zc/device.h"
#include "zc/hash.h"
#include "zc/zc.h"

#include "parse_number.hpp"

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
      --group NAME         the region file's group (default: yours)
      --core N             pin the worker to CPU core N
      --stats SECONDS      print per-queue counters every SECONDS
      --speed X            zc:pcap: inputs: replay at X times the original
                           pace (default 1; 0: top speed)
      --loops N            zc:pcap: inputs: play the file N times (default 1;
                           0: forever)
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

volatile std::sig_atomic_t g_stop = 0; // set by SIGINT/SIGTERM only

void on_signal(int) { g_stop = 1; }

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
    kPidFile,
    kDaemon,
    kForeground,
};

constexpr option kLongOptions[] = {
    {"interface", required_argument, nullptr, kInterface},
    {"cluster", required_argument, nullptr, kCluster},
    {"queues", required_argument, nullptr, kQueues},
    {"hash", required_argument, nullptr, kHash},
    {"on-full", required_argument, nullptr, kOnFull},
    {"group", required_argument, nullptr, kGroup},
    {"core", required_argument, nullptr, kCore},
    {"stats", required_argument, nullptr, kStats},
    {"speed", required_argument, nullptr, kSpeed},
    {"loops", required_argument, nullptr, kLoops},
    {"pid-file", required_argument, nullptr, kPidFile},
    {"daemon", no_argument, nullptr, kDaemon},
    {"config", required_argument, nullptr, kConfig},
    {"foreground", no_argument, nullptr, kForeground},
    {"help", no_argument, nullptr, kHelp},
    {nullptr, 0, nullptr, 0},
};

bool allowed_in_file(int id) { return id != kConfig && id != kForeground && id != kHelp; }

struct Options {
    std::vector<std::string> devices;
    long cluster = -1;
    zc_balancer_config balancer; // groups, hash mode and on-full policies
    std::string on_full = "drop";
    std::int32_t gid = -1; // --group, looked up
    int core = -1;
    double stats_seconds = 0;
    double replay_speed = 1.0;
    std::uint32_t replay_loops = 1;
    std::string pid_file;
    bool daemon = false;
    // Where each option was set, as an error message names it: "--hash
    // 6tuple" or "FILE:LINE: hash = 6tuple".
    std::map<int, std::string> origin;

    Options() { zc_balancer_config_init(&balancer); }
};

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
    case kCore:
        if (!parse_whole(value, CPU_SETSIZE - 1, &whole))
            return "a CPU number, such as 2";
        o.core = static_cast<int>(whole);
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
    case kPidFile:
        if (value.empty())
            return "a file name";
        o.pid_file = value;
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

// One option parser for the command line and the config file: the command
// line is read first and applied last, so that what it says overrides the
// file it names (its -i replacing the file's interface lines). Returns 0 to
// run, else the exit status (0 after --help).
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

// --daemon. The command forks before it opens anything, so that the child
// — the daemon — is the process that owns the cluster (the region records
// its pid; consumers and a second zc-balance check that pid is alive) and
// the one in the pid file. The parent waits on a pipe: a byte means that
// everything is open, and it exits 0, so whoever started it may use the
// cluster at once; end of file means that the daemon failed, its error
// already on stderr, and the parent exits with the daemon's status.
// Returns -1 in the daemon (which then calls daemon_ready), else the status
// the command exits with.
int start_daemon(int* ready_fd)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        std::fprintf(stderr, "zc-balance: --daemon: cannot make a pipe: %s\n", std::strerror(errno));
        return 1;
    }
    std::fflush(nullptr); // nothing buffered is written twice
    pid_t child = ::fork();
    if (child < 0) {
        std::fprintf(stderr, "zc-balance: --daemon: cannot fork: %s\n", std::strerror(errno));
        return 1;
    }
    if (child == 0) {
        ::close(fds[0]);
        ::setsid(); // a session of its own: the terminal's hang-up and ^C are not for it
        *ready_fd = fds[1];
        return -1;
    }
    ::close(fds[1]);
    char byte = 0;
    ssize_t got;
    while ((got = ::read(fds[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    ::close(fds[0]);
    if (got == 1)
        return 0;
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        std::fprintf(stderr, "zc-balance: --daemon: the daemon (pid %d) was killed by %s while it started\n",
                     static_cast<int>(child), strsignal(WTERMSIG(status)));
    else
        std::fprintf(stderr, "zc-balance: --daemon: the daemon (pid %d) stopped before it was ready\n",
                     static_cast<int>(child));
    return 1;
}

// The daemon is set up: it lets go of the terminal and the directory it
// was started in, and tells the waiting parent. Standard output and error
// stay where they go only if that is a file (its log: --daemon >>LOG
// 2>&1); a terminal or a pipe becomes /dev/null, so that nobody reading
// them waits for the daemon to end.
void daemon_ready(int ready_fd)
{
    std::fflush(nullptr);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
            struct stat st {};
            if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
                ::dup2(null, fd);
        }
        ::close(null);
    }
    // Out of the start directory, whose mount it would keep busy; nothing
    // is opened by a relative name from here on, and "/" is always there.
    [[maybe_unused]] int moved = ::chdir("/");
    const char byte = 1;
    while (::write(ready_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(ready_fd);
}

// The CPUs this process may run on, as a list such as "0-3,6".
std::string allowed_cpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return "unknown";
    std::string list;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        int last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set))
            ++last;
        list += (list.empty() ? "" : ",") + std::to_string(cpu) + (last > cpu ? "-" + std::to_string(last) : "");
        cpu = last;
    }
    return list;
}

// Writes the pid file under a temporary name and renames it into place, so
// that a reader sees the whole of it or nothing. Returns the absolute path
// (it is removed at exit, when a daemon has left the start directory), or
// "" once it has said what failed.
std::string write_pid_file(const std::string& name)
{
    std::string path = name;
    if (path.front() != '/') {
        char cwd[PATH_MAX];
        if (!::getcwd(cwd, sizeof cwd)) {
            std::fprintf(stderr, "zc-balance: --pid-file %s: cannot tell the current directory: %s\n", name.c_str(),
                         std::strerror(errno));
            return {};
        }
        path = std::string(cwd) + "/" + path;
    }
    std::string temporary = path + ".XXXXXX";
    int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) {
        std::fprintf(stderr, "zc-balance: --pid-file %s: cannot create a file there: %s\n", name.c_str(),
                     std::strerror(errno));
        return {};
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    bool written = ::fchmod(fd, 0644) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    int code = errno;
    if (::close(fd) != 0 && written) {
        written = false;
        code = errno;
    }
    if (written && ::rename(temporary.c_str(), path.c_str()) != 0) {
        written = false;
        code = errno;
    }
    if (!written) {
        ::unlink(temporary.c_str());
        std::fprintf(stderr, "zc-balance: --pid-file %s: cannot write it: %s\n", name.c_str(), std::strerror(code));
        return {};
    }
    return path;
}

// Removes the pid file if it still names this process: another zc-balance
// given the same --pid-file may have replaced it since.
void remove_pid_file(const std::string& path)
{
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "re"), std::fclose);
    long pid = 0;
    if (file && std::fscanf(file.get(), "%ld", &pid) == 1 && pid == ::getpid())
        ::unlink(path.c_str());
}

double now_seconds()
{
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

void print_stats(const zc_balancer_stats& s, const zc_balancer_stats* previous, double seconds, bool final)
{
    std::printf("%s received %llu distributed %llu waiting %llu pool free %u\n", final ? "total:" : "--",
                static_cast<unsigned long long>(s.received), static_cast<unsigned long long>(s.distributed),
                static_cast<unsigned long long>(s.waiting), s.pool_free);
    std::printf("%6s %14s %12s %12s %10s %11s %12s\n", "queue", "enqueued", "dropped", "bad-returns", "occupancy",
                "outstanding", final ? "" : "rate/s");
    for (std::uint32_t q = 0; q < s.queue_count; ++q) {
        const zc_balancer_queue_stats& x = s.queues[q];
        char rate[32] = "";
        if (previous && seconds > 0)
            std::snprintf(rate, sizeof rate, "%.0f",
                          static_cast<double>(x.enqueued - previous->queues[q].enqueued) / seconds);
        std::printf("%6u %14llu %12llu %12llu %10u %11u %12s\n", q, static_cast<unsigned long long>(x.enqueued),
                    static_cast<unsigned long long>(x.dropped), static_cast<unsigned long long>(x.bad_returns),
                    x.occupancy, x.outstanding, rate);
    }
    std::fflush(stdout);
}

// Waits until a device may have packets, or a short while: a consumer that
// hands buffers back wakes nobody yet, so the wait is bounded.
void idle_wait(const std::vector<zc_device*>& devices, std::vector<pollfd>& fds, unsigned idle_rounds)
{
    if (idle_rounds < 64)
        return; // spin a little first: packets usually follow packets
    if (devices.size() == 1) {
        if (zc_device_wait(devices[0], 10) != 0)
            ::usleep(idle_rounds < 1024 ? 10 : 200); // "ready" and yet nothing: the pool is held by consumers
        return;
    }
    if (::poll(fds.data(), fds.size(), 10) > 0)
        ::usleep(idle_rounds < 1024 ? 10 : 200);
}

// Closed in this order: the balancer (and its control socket), the devices
// (their XDP programs), the cluster, and the pid file last, so that a
// script which waits for the pid file to go finds everything else gone.
struct Resources {
    zc_cluster* cluster = nullptr;
    std::vector<zc_device*> devices;
    zc_balancer* balancer = nullptr;
    std::string pid_file;
    ~Resources()
    {
        zc_balancer_close(balancer);
        for (zc_device* d : devices)
            zc_device_close(d);
        zc_cluster_close(cluster);
        if (!pid_file.empty())
            remove_pid_file(pid_file);
    }
};

// Sets everything up, tells a waiting parent (ready_fd, with --daemon) and
// runs the worker until SIGINT or SIGTERM.
int run(const Options& o, int ready_fd)
{
    const zc_balancer_config& config = o.balancer;
    std::uint32_t queue_count = 0;
    for (std::uint32_t g = 0; g < config.group_count; ++g)
        queue_count += config.groups[g].queues;

    // Pinned first: the pool's pages come from the memory node of the CPU
    // that touches them first, this thread as it creates the cluster.
    if (o.core >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.core, &set);
        if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0) {
            std::fprintf(stderr, "zc-balance: --core %d: cannot pin the worker there: %s (this process may use CPUs %s)\n",
                         o.core, std::strerror(rc), allowed_cpus().c_str());
            return 1;
        }
    }

    zc_cluster_config cluster_config;
    zc_cluster_config_init(&cluster_config);
    cluster_config.queue_count = queue_count;
    cluster_config.group = o.gid;
    // The pool holds what the devices keep for the kernel (per device
    // 16384: the fill and RX rings of a few AF_XDP queues at the default
    // 2048 slots, or the synthetic stream's 4096) plus
    // every slot of every queue, and slack for what the balancer holds.
    constexpr std::uint32_t kPerDevice = 16384;
    std::uint64_t frames = std::uint64_t{kPerDevice} * o.devices.size() +
                           std::uint64_t{queue_count} * cluster_config.queue_slots + 1024;
    cluster_config.frame_count = static_cast<std::uint32_t>(frames);

    zc_error err{};
    Resources r;
    if (zc_cluster_create(static_cast<std::uint32_t>(o.cluster), &cluster_config, &r.cluster, &err) != 0) {
        std::fprintf(stderr, "zc-balance: %s\n", err.message);
        return 1;
    }
    for (const std::string& name : o.devices) {
        std::string full = name.rfind("zc:", 0) == 0 ? name : "zc:" + name;
        zc_device_config device_config;
        zc_device_config_init(&device_config);
        device_config.flags = ZC_DEVICE_RX;
        device_config.pool = r.cluster;
        device_config.frame_count = 4096; // taken from the cluster's pool where the device needs a share
        device_config.replay_speed = o.replay_speed; // only zc:pcap: reads these two
        device_config.replay_loops = o.replay_loops;
        zc_device* device = nullptr;
        if (zc_device_open(full.c_str(), &device_config, &device, &err) != 0) {
            std::fprintf(stderr, "zc-balance: %s\n", err.message);
            return 1;
        }
        r.devices.push_back(device);
    }
    if (zc_balancer_create(r.cluster, r.devices.data(), static_cast<std::uint32_t>(r.devices.size()), &config,
                           &r.balancer, &err) != 0) {
        std::fprintf(stderr, "zc-balance: %s\n", err.message);
        return 1;
    }

    // Consumers attach through the control socket; their connection is
    // how we learn that one left (its queue is reclaimed at once).
    if (zc_balancer_listen(r.balancer, &err) != 0) {
        std::fprintf(stderr, "zc-balance: %s\n", err.message);
        return 1;
    }
    if (!o.pid_file.empty()) {
        r.pid_file = write_pid_file(o.pid_file);
        if (r.pid_file.empty())
            return 1;
    }

    // The line scripts wait for: everything is open and signals are handled.
    std::fprintf(stderr, "zc-balance: cluster %ld: %u queues (", o.cluster, queue_count);
    for (std::uint32_t g = 0, base = 0; g < config.group_count; base += config.groups[g].queues, ++g)
        std::fprintf(stderr, "%s%u-%u %s", g ? ", " : "", base, base + config.groups[g].queues - 1,
                     config.groups[g].on_full == ZC_ON_FULL_WAIT ? "wait" : "drop");
    std::fprintf(stderr, "), hash %s, %u buffers; devices:", zc_hash_mode_name(config.mode),
                 cluster_config.frame_count);
    for (zc_device* d : r.devices)
        std::fprintf(stderr, " %s (%s)", zc_device_name(d), zc_device_mode(d));
    std::fprintf(stderr, "\n");
    if (ready_fd >= 0)
        daemon_ready(ready_fd);

    std::vector<pollfd> fds;
    for (zc_device* d : r.devices)
        fds.push_back(pollfd{zc_device_selectable_fd(d), POLLIN, 0});
    auto stats = std::make_unique<zc_balancer_stats>();
    auto previous = std::make_unique<zc_balancer_stats>();
    stats->struct_size = previous->struct_size = sizeof(zc_balancer_stats);
    bool have_previous = false;
    double last = now_seconds();
    double next_stats = o.stats_seconds > 0 ? last + o.stats_seconds : 0;
    unsigned idle = 0;
    std::uint64_t round = 0;
    double next_control = 0;
    zc_balancer_event events[16];
    while (!g_stop) {
        if (zc_balancer_poll(r.balancer) > 0)
            idle = 0;
        else
            idle_wait(r.devices, fds, ++idle);
        // The control socket: at most every 2 ms, looked at when idle or
        // every 256 busy rounds (never per packet).
        if (idle > 0 || (round & 255) == 0) {
            double t = now_seconds();
            if (t >= next_control) {
                next_control = t + 0.002;
                std::uint32_t n = zc_balancer_control(r.balancer, events, 16);
                for (std::uint32_t i = 0; i < n; ++i) {
                    const zc_balancer_event& e = events[i];
                    if (e.kind == ZC_BALANCER_CONSUMER_LEFT)
                        std::fprintf(stderr, "zc-balance: consumer of queue %u (pid %d) left; %u buffers reclaimed\n",
                                     e.queue, e.pid, e.buffers);
                    else if (e.kind == ZC_BALANCER_CONSUMER_JOINED)
                        std::fprintf(stderr, "zc-balance: consumer of queue %u (pid %d) attached\n", e.queue, e.pid);
                    else
                        std::fprintf(stderr, "zc-balance: refused a consumer (pid %d): %s\n", e.pid, e.text);
                }
            }
        }
        if (idle == 0)
            ++round;
        if (next_stats > 0 && (idle > 0 || (round & 1023) == 0)) {
            double t = now_seconds();
            if (t >= next_stats) {
                zc_balancer_get_stats(r.balancer, stats.get());
                print_stats(*stats, have_previous ? previous.get() : nullptr, t - last, false);
                std::swap(stats, previous);
                have_previous = true;
                last = t;
                next_stats = t + o.stats_seconds;
            }
        }
    }
    zc_balancer_get_stats(r.balancer, stats.get());
    print_stats(*stats, nullptr, 0, true);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    Options options;
    bool help = false;
    if (int rc = parse_options(argc, argv, options, &help); rc != 0 || help)
        return rc;
    int ready_fd = -1;
    if (options.daemon) {
        int rc = start_daemon(&ready_fd);
        if (rc >= 0)
            return rc; // the parent, done
    }

    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    // A log reader that goes away must not take the cluster down with it.
    std::signal(SIGPIPE, SIG_IGN);
    return run(options, ready_fd);
}

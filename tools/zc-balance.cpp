// SPDX-License-Identifier: BSD-3-Clause
//
// zc-balance — the cluster owner: creates cluster CLUSTER, receives from one
// or more devices straight into its pool, and spreads the packets over its
// queues (zc_balancer_*), symmetric by flow, with fan-out to several groups.
// Consumers read queue Q as zc:CLUSTER@Q. See man zc-balance(1).
//
// Its options are in balance_options.hpp, --daemon and --pid-file in
// daemon.hpp; this file is the run loop: setup, the worker, the counters.

#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "zc/balance.h"
#include "zc/device.h"
#include "zc/hash.h"
#include "zc/zc.h"

#include "balance_options.hpp"
#include "daemon.hpp"

namespace {

using zc::balance::Options;
using zc::balance::parse_options;
using zc::tools::daemon_ready;
using zc::tools::remove_pid_file;
using zc::tools::start_daemon;
using zc::tools::write_pid_file;

volatile std::sig_atomic_t g_stop = 0; // set by SIGINT/SIGTERM only

void on_signal(int) { g_stop = 1; }

// EXPR compiled for Ethernet, as tcpdump compiles it for an Ethernet
// interface, into *program (pcap_freecode it). False after saying why,
// naming `option`.
bool compile_filter(const std::string& expr, const char* option, bpf_program* program)
{
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    if (!dead || pcap_compile(dead, program, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::fprintf(stderr, "zc-balance: %s '%s': %s\n", option, expr.c_str(),
                     dead ? pcap_geterr(dead) : "libpcap is out of memory");
        if (dead)
            pcap_close(dead);
        return false;
    }
    pcap_close(dead);
    return true;
}

// --filter: given to every device (zc_device_set_filter: in the kernel
// where it can be). False after saying why.
bool set_filters(const Options& o, const std::vector<zc_device*>& devices)
{
    if (o.filter.empty())
        return true;
    bpf_program program{};
    if (!compile_filter(o.filter, "--filter", &program))
        return false;
    bool ok = true;
    for (zc_device* device : devices) {
        zc_error err{};
        int mode = zc_device_set_filter(device, reinterpret_cast<const zc_filter_insn*>(program.bf_insns),
                                        program.bf_len, o.filter_drop ? ZC_FILTER_DROP : 0, &err);
        if (mode < 0) {
            std::fprintf(stderr, "zc-balance: --filter: %s\n", err.message);
            ok = false;
            break;
        }
    }
    pcap_freecode(&program);
    return ok;
}

// --group-filter G:EXPR: each group's own filter, run by the balancer.
// False after saying why.
bool set_group_filters(const Options& o, zc_balancer* balancer)
{
    for (const auto& [group, expr] : o.group_filters) {
        bpf_program program{};
        if (!compile_filter(expr, "--group-filter", &program))
            return false;
        zc_error err{};
        const int rc = zc_balancer_set_group_filter(balancer, group, reinterpret_cast<const zc_filter_insn*>(program.bf_insns),
                                                    program.bf_len, &err);
        pcap_freecode(&program);
        if (rc != 0) {
            std::fprintf(stderr, "zc-balance: --group-filter %u:'%s': %s\n", group, expr.c_str(), err.message);
            return false;
        }
    }
    return true;
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
    std::printf("%6s %14s %12s %12s %10s %11s %8s %12s\n", "queue", "enqueued", "dropped", "bad-returns",
                "occupancy", "outstanding", "cut-off", final ? "" : "rate/s");
    for (std::uint32_t q = 0; q < s.queue_count; ++q) {
        const zc_balancer_queue_stats& x = s.queues[q];
        char rate[32] = "";
        if (previous && seconds > 0)
            std::snprintf(rate, sizeof rate, "%.0f",
                          static_cast<double>(x.enqueued - previous->queues[q].enqueued) / seconds);
        std::printf("%6u %14llu %12llu %12llu %10u %11u %8llu %12s\n", q, static_cast<unsigned long long>(x.enqueued),
                    static_cast<unsigned long long>(x.dropped), static_cast<unsigned long long>(x.bad_returns),
                    x.occupancy, x.outstanding, static_cast<unsigned long long>(x.cut_off), rate);
    }
    std::fflush(stdout);
}

// The rules in force with their hits, after the queue table (nothing
// without rules).
void print_rule_stats(zc_balancer* balancer)
{
    zc_rules_stats stats{};
    stats.struct_size = sizeof stats;
    std::uint32_t rows = 0;
    if (zc_balancer_get_rule_stats(balancer, &stats, nullptr, 0, &rows) != 0 || stats.generation == 0)
        return;
    std::vector<zc_rule_stats> row(stats.rule_count);
    if (zc_balancer_get_rule_stats(balancer, &stats, row.data(), static_cast<std::uint32_t>(row.size()), &rows) != 0)
        return;
    std::printf("rules: %u in force, dropped %llu, scanned %llu, scan errors %llu\n", stats.rule_count,
                static_cast<unsigned long long>(stats.dropped), static_cast<unsigned long long>(stats.scanned),
                static_cast<unsigned long long>(stats.scan_errors));
    std::printf("%10s %6s %8s %10s %14s\n", "rule", "line", "scope", "action", "hits");
    for (std::uint32_t i = 0; i < rows; ++i) {
        const zc_rule_stats& x = row[i];
        char action[32];
        std::snprintf(action, sizeof action, x.action == ZC_RULE_GROUP ? "%s %u" : "%s",
                      zc_rule_action_name(x.action), x.group);
        std::printf("%10u %6u %8s %10s %14llu\n", x.id, x.line, zc_rule_scope_name(x.scope), action,
                    static_cast<unsigned long long>(x.hits));
    }
    std::fflush(stdout);
}

// Empty rounds a balancer thread spins before it waits: packets usually
// follow packets, and a wait is a system call and a wake-up.
constexpr unsigned kIdleSpinRounds = 64;

// Waits until a device may have packets, or a short while: a consumer that
// hands buffers back wakes nobody yet, so the wait is bounded.
void idle_wait(const std::vector<zc_device*>& devices, std::vector<pollfd>& fds, unsigned idle_rounds)
{
    if (idle_rounds < kIdleSpinRounds)
        return;
    // A device that says "ready" when the round before found nothing (the
    // pool is held by consumers, say) would make this a busy loop: after
    // the first wait of an idle spell, "ready" is followed by a short
    // sleep. The first one is not: its "ready" is packets, to be read now.
    const bool again = idle_rounds > kIdleSpinRounds;
    if (devices.size() == 1) {
        if (zc_device_wait(devices[0], 10) != 0 && again)
            ::usleep(idle_rounds < 1024 ? 10 : 200);
        return;
    }
    if (::poll(fds.data(), fds.size(), 10) > 0 && again)
        ::usleep(idle_rounds < 1024 ? 10 : 200);
}

// Pins the calling thread to CPU `core`; false, said, when it cannot.
bool pin_thread(int core)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0) {
        std::fprintf(stderr, "zc-balance: --core %d: cannot pin a balancer thread there: %s (this process may use CPUs %s)\n",
                     core, std::strerror(rc), allowed_cpus().c_str());
        return false;
    }
    return true;
}

// One control round: consumers joining, leaving, cut off, refused; said.
void run_control(zc_balancer* balancer)
{
    zc_balancer_event events[16];
    std::uint32_t n = zc_balancer_control(balancer, events, 16);
    for (std::uint32_t i = 0; i < n; ++i) {
        const zc_balancer_event& e = events[i];
        if (e.kind == ZC_BALANCER_CONSUMER_LEFT)
            std::fprintf(stderr, "zc-balance: consumer of queue %u (pid %d) left; %u buffers reclaimed\n", e.queue,
                         e.pid, e.buffers);
        else if (e.kind == ZC_BALANCER_CONSUMER_JOINED)
            std::fprintf(stderr, "zc-balance: consumer of queue %u (pid %d) attached\n", e.queue, e.pid);
        else if (e.kind == ZC_BALANCER_CONSUMER_CUT_OFF)
            std::fprintf(stderr, "zc-balance: consumer of queue %u (pid %d) cut off: %s; %u buffers reclaimed\n",
                         e.queue, e.pid, e.text, e.buffers);
        else
            std::fprintf(stderr, "zc-balance: refused a consumer (pid %d): %s\n", e.pid, e.text);
    }
}

// A balancer thread (--threads): polls its lane until told to stop, and
// when idle waits on its devices' fds with poll(2), not zc_device_wait
// (zc/balance.h: the control path may hand its devices buffers meanwhile).
// A thread that cannot be pinned stops them all.
void run_lane(zc_balancer* balancer, std::uint32_t lane, int core, std::atomic<bool>& stop)
{
    if (core >= 0 && !pin_thread(core)) {
        stop.store(true, std::memory_order_relaxed);
        return;
    }
    int fd_list[ZC_BALANCE_MAX_DEVICES];
    const int count = zc_balancer_lane_fds(balancer, lane, fd_list, ZC_BALANCE_MAX_DEVICES);
    std::vector<pollfd> fds;
    for (int i = 0; i < count && i < ZC_BALANCE_MAX_DEVICES; ++i)
        fds.push_back(pollfd{fd_list[i], POLLIN, 0});
    unsigned idle = 0;
    while (!g_stop && !stop.load(std::memory_order_relaxed)) {
        if (zc_balancer_poll_lane(balancer, lane) > 0) {
            idle = 0;
            continue;
        }
        if (++idle < kIdleSpinRounds)
            continue;
        // "Ready" after the first wait of an idle spell and yet nothing (the
        // pool held by consumers): a short sleep, not a busy loop (idle_wait).
        if (::poll(fds.data(), fds.size(), 10) > 0 && idle > kIdleSpinRounds)
            ::usleep(idle < 1024 ? 10 : 200);
    }
}

// Loads the rule file (at start, and at each SIGHUP) and says so in one
// line: how many rules are in force, or why the file was refused. Returns
// what zc_balancer_load_rules did.
int load_rules(zc_balancer* balancer, const std::string& path, const char* when)
{
    zc_error err{};
    if (int rc = zc_balancer_load_rules(balancer, path.c_str(), &err); rc != 0) {
        std::fprintf(stderr, "zc-balance: %s: rules not loaded%s: %s\n", when,
                     std::strcmp(when, "SIGHUP") == 0 ? ", the previous rules stay in force" : "", err.message);
        return rc;
    }
    zc_rules_stats stats{};
    stats.struct_size = sizeof stats;
    std::uint32_t rows = 0;
    zc_balancer_get_rule_stats(balancer, &stats, nullptr, 0, &rows);
    std::fprintf(stderr, "zc-balance: %s: %u rules loaded from %s (load %llu)\n", when, stats.rule_count,
                 path.c_str(), static_cast<unsigned long long>(stats.generation));
    return 0;
}

// SIGHUP reloads the rule file in a thread of its own, so that the worker
// goes on while Hyperscan compiles (milliseconds to seconds): the balancer
// hands the new rules to the worker at its next burst, and a file that fails
// leaves the old ones in force. main() blocks SIGHUP before any thread
// starts, so it arrives only here, through sigtimedwait: no handler, no flag.
class RuleReloader {
public:
    RuleReloader(zc_balancer* balancer, std::string path)
        : balancer_(balancer), path_(std::move(path)), thread_([this] { run(); })
    {
    }
    ~RuleReloader()
    {
        stop_.store(true, std::memory_order_relaxed);
        thread_.join();
    }
    RuleReloader(const RuleReloader&) = delete;
    RuleReloader& operator=(const RuleReloader&) = delete;

private:
    void run()
    {
        sigset_t hangup;
        sigemptyset(&hangup);
        sigaddset(&hangup, SIGHUP);
        const timespec tick{0, 100'000'000}; // how soon it sees stop_
        while (!stop_.load(std::memory_order_relaxed))
            if (sigtimedwait(&hangup, nullptr, &tick) == SIGHUP)
                load_rules(balancer_, path_, "SIGHUP");
    }

    zc_balancer* balancer_;
    std::string path_;
    std::atomic<bool> stop_{false};
    std::thread thread_; // last: starts once the rest is set
};

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
    if (!o.cores.empty() && !pin_thread(o.cores[0]))
        return 1;

    zc_cluster_config cluster_config;
    zc_cluster_config_init(&cluster_config);
    cluster_config.queue_count = queue_count;
    cluster_config.lanes = o.threads;
    cluster_config.group = o.gid;
    // The pool holds what the devices keep for the kernel (per device
    // 16384: the fill and RX rings of a few AF_XDP queues at the default
    // 2048 slots, or the synthetic stream's 4096) plus
    // every slot of every queue (a ring per thread), and slack for what the
    // balancer holds.
    constexpr std::uint32_t kPerDevice = 16384;
    std::uint64_t frames = std::uint64_t{kPerDevice} * o.devices.size() +
                           std::uint64_t{queue_count} * cluster_config.queue_slots * o.threads + 1024;
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
        device_config.synthetic_flows = o.synthetic_flows; // only zc:synthetic reads this
        zc_device* device = nullptr;
        if (zc_device_open(full.c_str(), &device_config, &device, &err) != 0) {
            std::fprintf(stderr, "zc-balance: %s\n", err.message);
            return 1;
        }
        r.devices.push_back(device);
    }
    if (!set_filters(o, r.devices))
        return 1;
    // No silent loss of the host's traffic: said once, before it starts.
    for (zc_device* d : r.devices) {
        char sentence[512];
        if (zc_device_host_traffic(d, sentence, sizeof sentence) == 1)
            std::fprintf(stderr, "zc-balance: %s\n", sentence);
    }
    if (zc_balancer_create(r.cluster, r.devices.data(), static_cast<std::uint32_t>(r.devices.size()), &config,
                           &r.balancer, &err) != 0) {
        std::fprintf(stderr, "zc-balance: %s\n", err.message);
        return 1;
    }
    if (!set_group_filters(o, r.balancer))
        return 1;

    // Content rules: a file that fails stops us here, with its line and why.
    std::unique_ptr<RuleReloader> reloader; // stops before the balancer closes
    if (!o.rules.empty()) {
        if (load_rules(r.balancer, o.rules, "--rules") != 0)
            return 1;
        reloader = std::make_unique<RuleReloader>(r.balancer, o.rules);
    }

    // Consumers attach through the control socket; their connection is
    // how we learn that one left (its queue is reclaimed at once).
    if (zc_balancer_listen(r.balancer, &err) != 0) {
        std::fprintf(stderr, "zc-balance: %s\n", err.message);
        return 1;
    }
    if (!o.pid_file.empty()) {
        r.pid_file = write_pid_file("zc-balance", o.pid_file);
        if (r.pid_file.empty())
            return 1;
    }

    // The line scripts wait for: everything is open and signals are handled.
    std::fprintf(stderr, "zc-balance: cluster %ld: %u queues (", o.cluster, queue_count);
    for (std::uint32_t g = 0, base = 0; g < config.group_count; base += config.groups[g].queues, ++g)
        std::fprintf(stderr, "%s%u-%u %s", g ? ", " : "", base, base + config.groups[g].queues - 1,
                     config.groups[g].on_full == ZC_ON_FULL_WAIT ? "wait" : "drop");
    std::fprintf(stderr, "), hash %s, %u buffers", zc_hash_mode_name(config.mode), cluster_config.frame_count);
    zc_cluster_info region{};
    region.struct_size = sizeof region;
    if (zc_cluster_get_info(r.cluster, &region) == 0)
        std::fprintf(stderr, " in %s (%s)", region.path, region.hugepages ? "huge pages" : "4 KiB pages");
    if (o.threads > 1)
        std::fprintf(stderr, ", %u threads", o.threads);
    std::fprintf(stderr, "; devices:");
    for (zc_device* d : r.devices) {
        std::fprintf(stderr, " %s (%s", zc_device_name(d), zc_device_mode(d));
        if (!o.filter.empty())
            std::fprintf(stderr, ", filter %s", zc_device_filter_mode_name(zc_device_filter_mode(d)));
        std::fprintf(stderr, ")");
    }
    std::fprintf(stderr, "\n");
    if (ready_fd >= 0)
        daemon_ready(ready_fd);

    auto stats = std::make_unique<zc_balancer_stats>();
    auto previous = std::make_unique<zc_balancer_stats>();
    stats->struct_size = previous->struct_size = sizeof(zc_balancer_stats);
    bool have_previous = false;
    double last = now_seconds();
    double next_stats = o.stats_seconds > 0 ? last + o.stats_seconds : 0;
    double next_control = 0;
    // The control path and the --stats lines, each when due.
    auto control_and_stats = [&](bool idle, std::uint64_t round) {
        if (idle || (round & 255) == 0) {
            double t = now_seconds();
            if (t >= next_control) {
                next_control = t + 0.002;
                run_control(r.balancer);
            }
        }
        if (next_stats > 0 && (idle || (round & 1023) == 0)) {
            double t = now_seconds();
            if (t >= next_stats) {
                zc_balancer_get_stats(r.balancer, stats.get());
                print_stats(*stats, have_previous ? previous.get() : nullptr, t - last, false);
                print_rule_stats(r.balancer);
                std::swap(stats, previous);
                have_previous = true;
                last = t;
                next_stats = t + o.stats_seconds;
            }
        }
    };

    if (o.threads == 1) {
        // One thread polls and runs the control path in turn: the control
        // socket at most every 2 ms, looked at when idle or every 256 busy
        // rounds (never per packet).
        std::vector<pollfd> fds;
        for (zc_device* d : r.devices)
            fds.push_back(pollfd{zc_device_selectable_fd(d), POLLIN, 0});
        unsigned idle = 0;
        std::uint64_t round = 0;
        while (!g_stop) {
            if (zc_balancer_poll(r.balancer) > 0)
                idle = 0;
            else
                idle_wait(r.devices, fds, ++idle);
            control_and_stats(idle > 0, round);
            if (idle == 0)
                ++round;
        }
    } else {
        // A thread per lane, polling it; this one runs the control path
        // every 2 ms (it pauses the lanes for as long: zc/balance.h).
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        for (std::uint32_t lane = 0; lane < o.threads; ++lane) {
            const int core = o.cores.empty() ? -1 : o.cores[lane % o.cores.size()];
            threads.emplace_back([&r, &stop, lane, core] { run_lane(r.balancer, lane, core, stop); });
        }
        while (!g_stop && !stop.load(std::memory_order_relaxed)) {
            ::usleep(2000);
            control_and_stats(true, 0);
        }
        stop.store(true, std::memory_order_relaxed);
        for (std::thread& thread : threads)
            thread.join();
    }
    zc_balancer_get_stats(r.balancer, stats.get());
    print_stats(*stats, nullptr, 0, true);
    print_rule_stats(r.balancer);
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
        int rc = start_daemon("zc-balance", &ready_fd);
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
    if (!options.rules.empty()) {
        // SIGHUP reloads the rules: blocked here, before any thread starts,
        // and taken by RuleReloader's thread alone. Without --rules it keeps
        // its default (the process ends).
        sigset_t hangup;
        sigemptyset(&hangup);
        sigaddset(&hangup, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
    }
    return run(options, ready_fd);
}

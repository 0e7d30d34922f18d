// SPDX-License-Identifier: BSD-3-Clause
//
// zc-balance — the cluster owner: creates cluster CLUSTER, receives from one
// or more devices straight into its pool, and spreads the packets over its
// queues (zc_balancer_*), symmetric by flow, with fan-out to several groups.
// Consumers read queue Q as zc:CLUSTER@Q. See man zc-balance(1).

#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "zc/balance.h"
#include "zc/device.h"
#include "zc/hash.h"
#include "zc/zc.h"

namespace {

constexpr const char* kUsage = R"(Usage: zc-balance -i DEVICE[,DEVICE...] -c CLUSTER -n SIZES [options]

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
      --pid-file FILE      write the process id to FILE
      --daemon             run in the background once everything is open
  -h, --help               this text
)";

volatile std::sig_atomic_t g_stop = 0; // set by SIGINT/SIGTERM only

void on_signal(int) { g_stop = 1; }

struct Options {
    std::vector<std::string> devices;
    long cluster = -1;
    std::string groups;
    zc_hash_mode mode = ZC_HASH_MODE_DEFAULT;
    std::string on_full = "drop";
    std::string group_name;
    int core = -1;
    double stats_seconds = 0;
    std::string pid_file;
    bool daemon = false;
};

int usage_error(const char* format, const char* value)
{
    std::fprintf(stderr, "zc-balance: ");
    std::fprintf(stderr, format, value);
    std::fprintf(stderr, "\n(zc-balance --help lists the options)\n");
    return 2;
}

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

// One parser for every option. A comma in -i separates devices: each is
// its own port of the balancer (zc_buffer_meta.port, the iface hash).
int parse_options(int argc, char** argv, Options& o)
{
    enum { kOnFull = 256, kGroup, kCore, kStats, kPidFile, kDaemon };
    static const option long_options[] = {
        {"interface", required_argument, nullptr, 'i'}, {"cluster", required_argument, nullptr, 'c'},
        {"queues", required_argument, nullptr, 'n'},    {"hash", required_argument, nullptr, 'm'},
        {"on-full", required_argument, nullptr, kOnFull}, {"group", required_argument, nullptr, kGroup},
        {"core", required_argument, nullptr, kCore},    {"stats", required_argument, nullptr, kStats},
        {"pid-file", required_argument, nullptr, kPidFile}, {"daemon", no_argument, nullptr, kDaemon},
        {"help", no_argument, nullptr, 'h'},            {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "i:c:n:m:h", long_options, nullptr)) != -1) {
        char* end = nullptr;
        switch (c) {
        case 'i': split(optarg, o.devices); break;
        case 'c':
            errno = 0;
            o.cluster = std::strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o.cluster < 0 || o.cluster > 0xffffff)
                return usage_error("-c %s: a cluster id is a number from 0 to 16777215", optarg);
            break;
        case 'n': o.groups = optarg; break;
        case 'm':
            if (zc_hash_mode_from_name(optarg, &o.mode) != 0)
                return usage_error("-m %s: unknown hash mode (5tuple, 2tuple, inner-5tuple, round-robin, vlan, iface)",
                                   optarg);
            break;
        case kOnFull: o.on_full = optarg; break;
        case kGroup: o.group_name = optarg; break;
        case kCore:
            errno = 0;
            o.core = static_cast<int>(std::strtol(optarg, &end, 10));
            if (errno || *end || end == optarg || o.core < 0 || o.core >= CPU_SETSIZE)
                return usage_error("--core %s: a CPU number, such as 2", optarg);
            break;
        case kStats:
            errno = 0;
            o.stats_seconds = std::strtod(optarg, &end);
            if (errno || *end || end == optarg || !(o.stats_seconds > 0))
                return usage_error("--stats %s: a number of seconds above 0, such as 1 or 0.5", optarg);
            break;
        case kPidFile: o.pid_file = optarg; break;
        case kDaemon: o.daemon = true; break;
        case 'h': std::fputs(kUsage, stdout); std::exit(0);
        default: std::fputs("(zc-balance --help lists the options)\n", stderr); return 2;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (o.devices.empty())
        return usage_error("%s", "no device: name one with -i (e.g. -i zc:eth0)");
    if (o.devices.size() > ZC_BALANCE_MAX_DEVICES)
        return usage_error("%s", "too many devices: at most 8");
    for (const std::string& d : o.devices)
        if (d.empty())
            return usage_error("%s", "-i: an empty device name (two commas in a row?)");
    if (o.cluster < 0)
        return usage_error("%s", "no cluster: give its id with -c (e.g. -c 99)");
    if (o.groups.empty())
        return usage_error("%s", "no queues: give the queue groups with -n (e.g. -n 4 or -n 4,1)");
    return 0;
}

int parse_on_full(const std::string& text, zc_balancer_config& config)
{
    std::vector<std::string> values;
    split(text, values);
    if (values.size() != 1 && values.size() != config.group_count) {
        std::fprintf(stderr, "zc-balance: --on-full %s: give one policy for all groups or one per group (%u)\n",
                     text.c_str(), config.group_count);
        return 2;
    }
    for (std::uint32_t g = 0; g < config.group_count; ++g) {
        const std::string& v = values.size() == 1 ? values[0] : values[g];
        if (v == "drop")
            config.groups[g].on_full = ZC_ON_FULL_DROP;
        else if (v == "wait")
            config.groups[g].on_full = ZC_ON_FULL_WAIT;
        else {
            std::fprintf(stderr, "zc-balance: --on-full: \"%s\" is neither drop nor wait\n", v.c_str());
            return 2;
        }
    }
    return 0;
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
            ::unlink(pid_file.c_str());
    }
};

int run(const Options& o)
{
    zc_balancer_config config;
    zc_balancer_config_init(&config);
    config.mode = o.mode;
    zc_error err{};
    if (zc_balancer_parse_groups(o.groups.c_str(), &config, &err) != 0) {
        std::fprintf(stderr, "zc-balance: -n: %s\n", err.message);
        return 2;
    }
    if (int rc = parse_on_full(o.on_full, config); rc != 0)
        return rc;
    std::uint32_t queue_count = 0;
    for (std::uint32_t g = 0; g < config.group_count; ++g)
        queue_count += config.groups[g].queues;

    zc_cluster_config cluster_config;
    zc_cluster_config_init(&cluster_config);
    cluster_config.queue_count = queue_count;
    if (!o.group_name.empty()) {
        // The library takes a gid: look the name up (numbers are not names).
        errno = 0;
        struct group* found = getgrnam(o.group_name.c_str());
        if (!found) {
            std::fprintf(stderr, "zc-balance: --group %s: no such group (getent group lists them)\n",
                         o.group_name.c_str());
            return 2;
        }
        cluster_config.group = static_cast<std::int32_t>(found->gr_gid);
    }
    // The pool holds what the devices keep for the kernel (per device
    // 16384: the fill and RX rings of a few AF_XDP queues at the default
    // 2048 slots, or the synthetic stream's 4096) plus
    // every slot of every queue, and slack for what the balancer holds.
    constexpr std::uint32_t kPerDevice = 16384;
    std::uint64_t frames = std::uint64_t{kPerDevice} * o.devices.size() +
                           std::uint64_t{queue_count} * cluster_config.queue_slots + 1024;
    cluster_config.frame_count = static_cast<std::uint32_t>(frames);

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

    if (o.core >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.core, &set);
        if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0) {
            std::fprintf(stderr, "zc-balance: --core %d: cannot pin the worker there: %s\n", o.core,
                         std::strerror(rc));
            return 1;
        }
    }
    if (o.daemon && ::daemon(0, 1) != 0) {
        std::fprintf(stderr, "zc-balance: --daemon: %s\n", std::strerror(errno));
        return 1;
    }
    if (!o.pid_file.empty()) {
        FILE* f = std::fopen(o.pid_file.c_str(), "we");
        if (!f) {
            std::fprintf(stderr, "zc-balance: --pid-file %s: %s\n", o.pid_file.c_str(), std::strerror(errno));
            return 1;
        }
        std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
        std::fclose(f);
        r.pid_file = o.pid_file;
    }

    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    // The line scripts wait for: everything is open and signals are handled.
    std::fprintf(stderr, "zc-balance: cluster %ld: %u queues (", o.cluster, queue_count);
    for (std::uint32_t g = 0, base = 0; g < config.group_count; base += config.groups[g].queues, ++g)
        std::fprintf(stderr, "%s%u-%u %s", g ? ", " : "", base, base + config.groups[g].queues - 1,
                     config.groups[g].on_full == ZC_ON_FULL_WAIT ? "wait" : "drop");
    std::fprintf(stderr, "), hash %s, %u buffers; devices:", zc_hash_mode_name(o.mode), cluster_config.frame_count);
    for (zc_device* d : r.devices)
        std::fprintf(stderr, " %s (%s)", zc_device_name(d), zc_device_mode(d));
    std::fprintf(stderr, "\n");


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
    if (int rc = parse_options(argc, argv, options); rc != 0)
        return rc;
    return run(options);
}

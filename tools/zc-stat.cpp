// SPDX-License-Identifier: BSD-3-Clause
//
// zc-stat — watches a running cluster from outside: per queue what the
// balancer enqueued and dropped, what sits on the RX ring, what the consumer
// handed back, and who the consumer is; plus the pool's free count and the
// owner; with content rules (zc-balance --rules), each rule's hits and the
// packets rules dropped. A table every interval, or one Prometheus scrape.
// See zc-stat(1).
//
// Read-only use: zc-stat attaches like a consumer but claims no queue and
// writes nothing to the region; it reads the counters with
// zc_queue_get_stats and zc_cluster_get_rule_stats.

#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "zc/zc.h"

#include "parse_number.hpp"

namespace {

using zc::tools::parse_number;

constexpr const char* kUsage = R"(Usage: zc-stat -c CLUSTER [options]
Show the counters of a running cluster: per queue, the frames the balancer
enqueued and dropped, the RX ring's occupancy, the buffers returned, the bad
returns, the consumer's pid and the enqueue rate; the pool's free buffers and
the owner's pid; with content rules (zc-balance --rules), each rule's hits.

  -c, --cluster ID        the cluster to watch (a number)
  -i, --interval SECONDS  time between samples (default 1)
  -n, --count N           stop after N samples (default: until SIGINT/SIGTERM)
      --prometheus        print one scrape in the Prometheus text format, exit
  -h, --help              this text
)";

struct Options {
    std::uint32_t cluster = 0;
    bool have_cluster = false;
    double interval = 1.0;
    std::uint64_t count = 0; // 0: no limit
    bool prometheus = false;
};

enum LongOption { kPrometheus = 256 };

// Returns 0 to run, 1 after --help, 2 on a usage error (already reported).
int parse_options(int argc, char** argv, Options& options)
{
    static const struct option longs[] = {
        {"cluster", required_argument, nullptr, 'c'},  {"interval", required_argument, nullptr, 'i'},
        {"count", required_argument, nullptr, 'n'},    {"prometheus", no_argument, nullptr, kPrometheus},
        {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0},
    };
    int option = 0;
    double value = 0;
    while ((option = getopt_long(argc, argv, "c:i:n:h", longs, nullptr)) != -1) {
        switch (option) {
        case 'c':
            if (!parse_number(optarg, 0, 4294967295.0, &value) || value != std::floor(value)) {
                std::fprintf(stderr, "zc-stat: --cluster takes a cluster number, 0 to 4294967295 (got '%s')\n",
                             optarg);
                return 2;
            }
            options.cluster = static_cast<std::uint32_t>(value);
            options.have_cluster = true;
            break;
        case 'i':
            if (!parse_number(optarg, 0.01, 86400, &options.interval)) {
                std::fprintf(stderr, "zc-stat: --interval takes seconds, 0.01 to 86400 (got '%s')\n", optarg);
                return 2;
            }
            break;
        case 'n':
            if (!parse_number(optarg, 1, 1e18, &value) || value != std::floor(value)) {
                std::fprintf(stderr, "zc-stat: --count takes a whole number of samples, 1 or more (got '%s')\n",
                             optarg);
                return 2;
            }
            options.count = static_cast<std::uint64_t>(value);
            break;
        case kPrometheus: options.prometheus = true; break;
        case 'h': std::fputs(kUsage, stdout); return 1;
        default: std::fputs("Try 'zc-stat --help'.\n", stderr); return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "zc-stat: unexpected argument '%s'; try 'zc-stat --help'\n", argv[optind]);
        return 2;
    }
    if (!options.have_cluster) {
        std::fputs("zc-stat: no cluster: give one with -c (for example -c 99)\n", stderr);
        return 2;
    }
    return 0;
}

// The attached cluster, detached on every path.
class Cluster {
public:
    ~Cluster() { zc_cluster_close(cluster_); }

    // 0, or 1 with the reason printed.
    int attach(std::uint32_t id)
    {
        zc_error error{};
        if (zc_cluster_attach(id, nullptr, &cluster_, &error) != 0) {
            std::fprintf(stderr, "zc-stat: %s\n", error.message);
            return 1;
        }
        zc_cluster_info info = this->info();
        if (info.queue_count == 0) {
            std::fprintf(stderr, "zc-stat: cluster %u has no queues\n", id);
            return 1;
        }
        return 0;
    }

    zc_cluster_info info() const
    {
        zc_cluster_info info{};
        info.struct_size = sizeof info;
        zc_cluster_get_info(cluster_, &info);
        return info;
    }
    zc_cluster* get() const { return cluster_; }

private:
    zc_cluster* cluster_ = nullptr;
};

struct QueueSample {
    std::uint64_t enqueued = 0;
    std::uint64_t dropped_full = 0;
    std::uint64_t bad_return = 0;
    std::uint64_t received = 0;
    std::uint64_t returned = 0;
    std::uint64_t bad_descriptors = 0;
    std::uint64_t cut_off = 0;
    std::uint64_t filtered = 0;
    std::uint32_t occupancy = 0;
    pid_t consumer_pid = 0; // 0: nobody holds the queue
    bool consumer_alive = false;
};

struct Sample {
    double time = 0; // CLOCK_MONOTONIC seconds
    zc_cluster_info info{};
    std::uint32_t pool_free = 0;
    std::vector<QueueSample> queues;
    zc_rules_stats rules{};          // rules.generation 0: no rules loaded
    std::vector<zc_rule_stats> rule; // the region's rows, file order
};

// The region holds at most this many rule rows (the owner's table).
constexpr std::uint32_t kRuleRows = 1024;

double now_seconds()
{
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

Sample take_sample(const Cluster& cluster)
{
    Sample s;
    s.time = now_seconds();
    s.info = cluster.info();
    s.pool_free = zc_pool_free_count(cluster.get());
    s.queues.resize(s.info.queue_count);
    for (std::uint32_t q = 0; q < s.info.queue_count; ++q) {
        zc_queue_stats stats{};
        stats.struct_size = sizeof stats;
        zc_queue_get_stats(cluster.get(), q, &stats);
        QueueSample& x = s.queues[q];
        x.enqueued = stats.enqueued;
        x.dropped_full = stats.dropped_full;
        x.bad_return = stats.bad_returns;
        x.received = stats.received;
        x.returned = stats.returned;
        x.bad_descriptors = stats.bad_descriptors;
        x.cut_off = stats.cut_off;
        x.filtered = stats.filtered;
        x.consumer_pid = stats.consumer_pid;
        x.consumer_alive = x.consumer_pid > 0 && (kill(x.consumer_pid, 0) == 0 || errno != ESRCH);
        x.occupancy = stats.occupancy;
    }
    s.rules.struct_size = sizeof s.rules;
    s.rule.resize(kRuleRows);
    std::uint32_t rows = 0;
    if (zc_cluster_get_rule_stats(cluster.get(), &s.rules, s.rule.data(), kRuleRows, &rows) != 0) {
        s.rules = zc_rules_stats{}; // the owner kept rewriting the table: no rules this sample
        rows = 0;
    }
    s.rule.resize(rows);
    return s;
}

// "group 2", "drop", "tag".
std::string action_text(const zc_rule_stats& r)
{
    std::string text = zc_rule_action_name(r.action);
    if (r.action == ZC_RULE_GROUP)
        text += " " + std::to_string(r.group);
    return text;
}

// Each rule's hits (and their rate), after the queue table.
void print_rules(const Sample& s, const Sample* previous, double seconds)
{
    if (s.rules.generation == 0)
        return;
    std::printf("rules: %u in force (load %" PRIu64 "), dropped %" PRIu64 ", scanned %" PRIu64 ", scan errors %" PRIu64
                "\n",
                s.rules.rule_count, s.rules.generation, s.rules.dropped, s.rules.scanned, s.rules.scan_errors);
    std::printf("%10s %6s %8s %10s %14s %12s\n", "rule", "line", "scope", "action", "hits", "rate/s");
    for (std::size_t i = 0; i < s.rule.size(); ++i) {
        const zc_rule_stats& r = s.rule[i];
        char rate[32] = "-";
        // The same rule id in the previous sample (a reload may move rows).
        if (previous && seconds > 0)
            for (const zc_rule_stats& p : previous->rule)
                if (p.id == r.id && p.hits <= r.hits) {
                    std::snprintf(rate, sizeof rate, "%.0f", static_cast<double>(r.hits - p.hits) / seconds);
                    break;
                }
        std::printf("%10u %6u %8s %10s %14" PRIu64 " %12s\n", r.id, r.line, zc_rule_scope_name(r.scope),
                    action_text(r).c_str(), r.hits, rate);
    }
    if (s.rules.rule_count > s.rule.size())
        std::printf("(%zu more rules: the region holds the first %zu)\n", s.rules.rule_count - s.rule.size(),
                    s.rule.size());
}

const char* state_name(std::uint32_t state)
{
    switch (state) {
    case 0: return "creating";
    case 1: return "running";
    case 2: return "stopping";
    case 3: return "dead";
    default: return "unknown";
    }
}

void print_table(const Sample& s, const Sample* previous)
{
    std::printf("cluster %u owner pid %d %s, pool free %u of %u", s.info.id, s.info.owner_pid,
                state_name(s.info.state), s.pool_free, s.info.frame_count);
    if (s.info.lanes > 1) // zc-balance --threads: each queue fed through a ring pair per thread
        std::printf(", lanes %u", s.info.lanes);
    std::printf("\n");
    std::printf("%6s %14s %12s %10s %14s %12s %8s %16s %12s\n", "queue", "enqueued", "dropped", "occupancy",
                "returned", "bad-returns", "cut-off", "consumer", "rate/s");
    const double seconds = previous ? s.time - previous->time : 0;
    for (std::uint32_t q = 0; q < s.queues.size(); ++q) {
        const QueueSample& x = s.queues[q];
        char rate[32] = "-";
        if (previous && seconds > 0 && q < previous->queues.size())
            std::snprintf(rate, sizeof rate, "%.0f",
                          static_cast<double>(x.enqueued - previous->queues[q].enqueued) / seconds);
        char consumer[32] = "-";
        if (x.consumer_pid > 0)
            std::snprintf(consumer, sizeof consumer, x.consumer_alive ? "%d" : "%d(gone)",
                          static_cast<int>(x.consumer_pid));
        std::printf("%6u %14" PRIu64 " %12" PRIu64 " %10u %14" PRIu64 " %12" PRIu64 " %8" PRIu64 " %16s %12s\n", q,
                    x.enqueued, x.dropped_full, x.occupancy, x.returned, x.bad_return, x.cut_off, consumer, rate);
    }
    print_rules(s, previous, seconds);
    std::fflush(stdout);
}

// One metric family: the HELP and TYPE lines, then one line per queue.
template <typename Value>
void prometheus_queue_family(const Sample& s, const char* name, const char* type, const char* help, Value value)
{
    std::printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (std::uint32_t q = 0; q < s.queues.size(); ++q)
        std::printf("%s{cluster=\"%u\",queue=\"%u\"} %" PRIu64 "\n", name, s.info.id, q,
                    static_cast<std::uint64_t>(value(s.queues[q])));
}

void prometheus_cluster_metric(const Sample& s, const char* name, const char* help, std::int64_t value,
                               const char* type = "gauge")
{
    std::printf("# HELP %s %s\n# TYPE %s %s\n%s{cluster=\"%u\"} %" PRId64 "\n", name, help, name, type, name,
                s.info.id, value);
}

void print_prometheus(const Sample& s)
{
    prometheus_cluster_metric(s, "zc_cluster_owner_pid", "Process id of the cluster's owner.", s.info.owner_pid);
    prometheus_cluster_metric(s, "zc_cluster_state", "Region state: 0 creating, 1 running, 2 stopping, 3 dead.",
                              s.info.state);
    prometheus_cluster_metric(s, "zc_pool_buffers", "Buffers in the cluster's pool.", s.info.frame_count);
    prometheus_cluster_metric(s, "zc_pool_free_buffers", "Buffers on the pool's free list.", s.pool_free);
    prometheus_queue_family(s, "zc_queue_enqueued_total", "counter", "Frames the balancer put on the queue.",
                            [](const QueueSample& x) { return x.enqueued; });
    prometheus_queue_family(s, "zc_queue_dropped_full_total", "counter",
                            "Frames the balancer dropped because the queue was full or held its limit.",
                            [](const QueueSample& x) { return x.dropped_full; });
    prometheus_queue_family(s, "zc_queue_cut_off_total", "counter",
                            "Consumers the owner disconnected for breaking the queue protocol.",
                            [](const QueueSample& x) { return x.cut_off; });
    prometheus_queue_family(s, "zc_queue_bad_returns_total", "counter",
                            "Returned descriptors the balancer rejected.",
                            [](const QueueSample& x) { return x.bad_return; });
    prometheus_queue_family(s, "zc_queue_filtered_total", "counter",
                            "Frames the hash gave the queue that its group's filter refused (--group-filter).",
                            [](const QueueSample& x) { return x.filtered; });
    prometheus_queue_family(s, "zc_queue_received_total", "counter", "Frames the consumer took off the queue.",
                            [](const QueueSample& x) { return x.received; });
    prometheus_queue_family(s, "zc_queue_returned_total", "counter", "Buffers the consumer handed back.",
                            [](const QueueSample& x) { return x.returned; });
    prometheus_queue_family(s, "zc_queue_bad_descriptors_total", "counter",
                            "Descriptors the consumer found invalid and skipped.",
                            [](const QueueSample& x) { return x.bad_descriptors; });
    prometheus_queue_family(s, "zc_queue_occupancy", "gauge", "Frames waiting on the queue's RX ring.",
                            [](const QueueSample& x) { return x.occupancy; });
    prometheus_queue_family(s, "zc_queue_consumer_pid", "gauge",
                            "Process id of the queue's consumer, 0 when nobody holds it.",
                            [](const QueueSample& x) { return x.consumer_pid > 0 ? x.consumer_pid : 0; });
    if (s.rules.generation > 0) {
        prometheus_cluster_metric(s, "zc_rules_loads", "Rule files loaded (zc-balance --rules, SIGHUP).",
                                  static_cast<std::int64_t>(s.rules.generation));
        prometheus_cluster_metric(s, "zc_rules_in_force", "Rules in force.", s.rules.rule_count);
        prometheus_cluster_metric(s, "zc_rules_dropped_total", "Packets no group got because a rule said drop.",
                                  static_cast<std::int64_t>(s.rules.dropped), "counter");
        prometheus_cluster_metric(s, "zc_rules_scanned_total", "Packets scanned with rules in force.",
                                  static_cast<std::int64_t>(s.rules.scanned), "counter");
        std::printf("# HELP zc_rule_hits_total Packets a rule matched (drop and group rules: when they decided).\n"
                    "# TYPE zc_rule_hits_total counter\n");
        for (const zc_rule_stats& r : s.rule) {
            // A group rule's group in a label of its own, so that action
            // takes three values.
            char group[32] = "";
            if (r.action == ZC_RULE_GROUP)
                std::snprintf(group, sizeof group, ",group=\"%u\"", r.group);
            std::printf("zc_rule_hits_total{cluster=\"%u\",rule=\"%u\",action=\"%s\"%s,scope=\"%s\"} %" PRIu64 "\n",
                        s.info.id, r.id, zc_rule_action_name(r.action), group, zc_rule_scope_name(r.scope), r.hits);
        }
    }
    std::fflush(stdout);
}

// Sleeps `seconds`, or until SIGINT/SIGTERM (blocked in main, so they only
// arrive here: no handler and no global flag). True when a signal came.
bool wait_or_signal(const sigset_t& signals, double seconds)
{
    const double until = now_seconds() + seconds;
    for (;;) {
        double left = until - now_seconds();
        if (left <= 0)
            return false;
        timespec timeout{};
        timeout.tv_sec = static_cast<time_t>(left);
        timeout.tv_nsec = static_cast<long>((left - static_cast<double>(timeout.tv_sec)) * 1e9);
        int got = sigtimedwait(&signals, nullptr, &timeout);
        if (got > 0)
            return true;
        if (got < 0 && errno != EINTR && errno != EAGAIN) {
            std::fprintf(stderr, "zc-stat: waiting failed: %s\n", std::strerror(errno));
            return true;
        }
    }
}

int run(const Options& options, const sigset_t& signals)
{
    Cluster cluster;
    if (cluster.attach(options.cluster) != 0)
        return 1;
    if (options.prometheus) {
        print_prometheus(take_sample(cluster));
        return 0;
    }
    Sample previous;
    bool have_previous = false;
    for (std::uint64_t n = 1;; ++n) {
        Sample current = take_sample(cluster);
        print_table(current, have_previous ? &previous : nullptr);
        if (current.info.state == 3) {
            std::fprintf(stderr, "zc-stat: cluster %u is dead: its owner has closed it\n", options.cluster);
            return 1;
        }
        if (options.count && n >= options.count)
            return 0;
        previous = std::move(current);
        have_previous = true;
        if (wait_or_signal(signals, options.interval))
            return 0;
    }
}

} // namespace

int main(int argc, char** argv)
{
    Options options;
    int rc = parse_options(argc, argv, options);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    return run(options, signals);
}

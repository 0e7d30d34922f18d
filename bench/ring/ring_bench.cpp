// SPDX-License-Identifier: BSD-3-Clause
//
// zc-bench-ring — descriptors per second through a single-producer
// single-consumer ring of 16-byte zc_desc, for the zc ring, DPDK's rte_ring
// and boost::lockfree::spsc_queue side by side, with the producer and the
// consumer as two pinned threads or two pinned processes.
//
// Every descriptor carries a sequence stamp that the consumer checks, so a
// run also proves the ring lost, repeated or tore nothing; any such run makes
// the program exit 1.

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <getopt.h>

#include "harness.hpp"
#include "peers.hpp"

namespace {

using namespace zc_bench;

struct Options {
    double seconds = 0.3;
    int repeats = 5;
    std::vector<std::uint32_t> batches{1, 8, 32, 256};
    bool threads = true;
    bool processes = true;
};

void usage(FILE* out)
{
    std::fprintf(out,
                 "Usage: zc-bench-ring [OPTION]...\n"
                 "Measure descriptors per second through an SPSC ring of 16-byte descriptors:\n"
                 "the zc ring, DPDK rte_ring and boost::lockfree::spsc_queue, %u slots each.\n"
                 "Every descriptor is checked; exits 1 if any was lost, repeated or torn.\n"
                 "\n"
                 "  -s, --seconds=S        length of one run in seconds (default 0.3)\n"
                 "  -r, --repeats=N        runs per cell; the median is reported (default 5)\n"
                 "  -b, --batches=LIST     comma-separated batch sizes, 1..%u (default 1,8,32,256)\n"
                 "  -m, --mode=MODE        threads, processes or both (default both)\n"
                 "  -q, --quick            short demonstration run (0.05 s, 3 repeats)\n"
                 "  -h, --help             show this help and exit\n"
                 "\n"
                 "The producer runs on the first CPU this process may use and the consumer on\n"
                 "the second; with a single CPU both run unpinned.\n",
                 kSlots, kMaxBatch);
}

[[noreturn]] void bad_option(const char* what, const char* value)
{
    std::fprintf(stderr, "zc-bench-ring: %s: '%s'\nTry 'zc-bench-ring --help'.\n", what, value);
    std::exit(2);
}

bool parse_batches(const char* text, std::vector<std::uint32_t>& batches)
{
    batches.clear();
    std::string list(text);
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        char* end = nullptr;
        errno = 0;
        unsigned long batch = std::strtoul(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || errno != 0 || batch == 0 || batch > kMaxBatch)
            return false;
        batches.push_back(static_cast<std::uint32_t>(batch));
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return !batches.empty();
}

Options parse_options(int argc, char** argv)
{
    static const struct option long_options[] = {
        {"seconds", required_argument, nullptr, 's'}, {"repeats", required_argument, nullptr, 'r'},
        {"batches", required_argument, nullptr, 'b'}, {"mode", required_argument, nullptr, 'm'},
        {"quick", no_argument, nullptr, 'q'},         {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    Options options;
    bool seconds_given = false;
    bool repeats_given = false;
    bool quick = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:r:b:m:qh", long_options, nullptr)) != -1) {
        char* end = nullptr;
        switch (c) {
        case 's':
            options.seconds = std::strtod(optarg, &end);
            if (*end != '\0' || !(options.seconds > 0 && options.seconds <= 60))
                bad_option("--seconds must be a number of seconds above 0 and at most 60", optarg);
            seconds_given = true;
            break;
        case 'r': {
            long repeats = std::strtol(optarg, &end, 10);
            if (*end != '\0' || repeats < 1 || repeats > 1000)
                bad_option("--repeats must be a whole number from 1 to 1000", optarg);
            options.repeats = static_cast<int>(repeats);
            repeats_given = true;
            break;
        }
        case 'b':
            if (!parse_batches(optarg, options.batches))
                bad_option("--batches must be a comma-separated list of sizes from 1 to 1024", optarg);
            break;
        case 'm':
            if (std::strcmp(optarg, "threads") == 0) {
                options.threads = true;
                options.processes = false;
            } else if (std::strcmp(optarg, "processes") == 0) {
                options.threads = false;
                options.processes = true;
            } else if (std::strcmp(optarg, "both") == 0) {
                options.threads = options.processes = true;
            } else {
                bad_option("--mode must be threads, processes or both", optarg);
            }
            break;
        case 'q':
            quick = true;
            break;
        case 'h':
            usage(stdout);
            std::exit(0);
        default:
            usage(stderr);
            std::exit(2);
        }
    }
    if (optind < argc)
        bad_option("unexpected argument", argv[optind]);
    if (quick) {
        if (!seconds_given)
            options.seconds = 0.05;
        if (!repeats_given)
            options.repeats = 3;
    }
    return options;
}

// Runs that lost, repeated or tore a descriptor; any makes the exit status 1.
struct Failures {
    int count = 0;

    void check(const char* ring, const char* setting, std::uint32_t batch, const Outcome& outcome)
    {
        if (outcome.mismatches == 0 && outcome.consumed == outcome.produced)
            return;
        ++count;
        std::fprintf(stderr,
                     "zc-bench-ring: %s, %s, batch %u: %llu descriptors out of sequence, "
                     "%llu sent, %llu received\n",
                     ring, setting, batch, static_cast<unsigned long long>(outcome.mismatches),
                     static_cast<unsigned long long>(outcome.produced),
                     static_cast<unsigned long long>(outcome.consumed));
    }
};

template <typename Ring>
double measure(Setting setting, const Placement& placement, std::uint32_t batch, double seconds,
               Failures& failures)
{
    SharedMapping mapping(Ring::bytes());
    const char* why = "unknown reason";
    if (Ring::bytes() == 0 || Ring::init(mapping.ring(), &why) != 0) {
        std::fprintf(stderr, "zc-bench-ring: cannot set up %s: %s\n", Ring::name, why);
        std::exit(1);
    }
    Job job{mapping.ring(), mapping.control(), batch};
    Outcome outcome = run_pair(setting, placement, job, produce<Ring>, consume<Ring>, seconds);
    failures.check(Ring::name, setting == Setting::Threads ? "threads" : "processes", batch, outcome);
    return outcome.desc_per_second;
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    std::size_t mid = values.size() / 2;
    return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// One row of the table: the three rings at one setting and batch size. The
// repeats are interleaved (zc, rte_ring, boost, zc, ...) so that a slow
// moment of the machine does not land on one ring only.
void run_row(Setting setting, const Placement& placement, std::uint32_t batch, const Options& options,
             Failures& failures)
{
    std::vector<double> zc, rte, boost;
    for (int repeat = 0; repeat < options.repeats; ++repeat) {
        zc.push_back(measure<ZcRing>(setting, placement, batch, options.seconds, failures));
        rte.push_back(measure<RteRing>(setting, placement, batch, options.seconds, failures));
        boost.push_back(measure<BoostRing>(setting, placement, batch, options.seconds, failures));
    }
    double zc_rate = median(zc) / 1e6;
    double rte_rate = median(rte) / 1e6;
    double boost_rate = median(boost) / 1e6;
    std::printf("%-10s %5u %9.1f %9.1f %9.1f %12.2f %9.2f\n",
                setting == Setting::Threads ? "threads" : "processes", batch, zc_rate, rte_rate,
                boost_rate, rte_rate > 0 ? zc_rate / rte_rate : 0.0,
                boost_rate > 0 ? zc_rate / boost_rate : 0.0);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv)
{
    Options options = parse_options(argc, argv);
    Placement placement = choose_placement();

    std::printf("zc ring benchmark: 16-byte descriptors, %u slots, median of %d runs of %.2f s (Mdesc/s)\n",
                kSlots, options.repeats, options.seconds);
    if (placement.pinned)
        std::printf("producer pinned to CPU %d, consumer to CPU %d\n", placement.producer_cpu,
                    placement.consumer_cpu);
    else
        std::printf("only one CPU available: producer and consumer run unpinned, so the\n"
                    "numbers measure the scheduler more than the rings\n");
    std::printf("%-10s %5s %9s %9s %9s %12s %9s\n", "setting", "batch", "zc", "rte_ring", "boost",
                "zc/rte_ring", "zc/boost");
    std::fflush(stdout);

    Failures failures;
    for (Setting setting : {Setting::Threads, Setting::Processes}) {
        if ((setting == Setting::Threads && !options.threads) ||
            (setting == Setting::Processes && !options.processes))
            continue;
        for (std::uint32_t batch : options.batches)
            run_row(setting, placement, batch, options, failures);
    }

    if (failures.count != 0) {
        std::fprintf(stderr, "zc-bench-ring: %d run(s) delivered descriptors out of sequence\n",
                     failures.count);
        return 1;
    }
    return 0;
}

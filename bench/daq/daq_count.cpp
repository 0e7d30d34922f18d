// SPDX-License-Identifier: BSD-3-Clause
//
// bench/daq/daq_count.cpp — a libdaq 2 client that does what Snort 2 does
// with a DAQ module and nothing else: daq_load_modules on the directories
// given, daq_initialize, daq_start, daq_acquire(-1) with a callback that
// counts and answers PASS, daq_breakloop from a timer thread after the
// measurement, daq_get_stats. It prints one JSON line, so that bench/daq/run
// measures daq_zc and libdaq's own afpacket module with one client.
//
//   daq-count --daq-dir DIR [--daq-dir DIR...] --daq NAME -i INPUT
//             [--inline] [--var KEY=VALUE...] [-d SECONDS] [--warmup SECONDS]
//
// Fields: packets (that reached the callback during the measurement),
// seconds, pps, and libdaq's counters over the whole run (received,
// dropped, filtered, injected).

extern "C" {
#include <daq.h>
}

#include <getopt.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Counts {
    std::atomic<std::uint64_t> packets{0};
};

DAQ_Verdict count_packet(void* user, const DAQ_PktHdr_t*, const std::uint8_t*)
{
    auto* counts = static_cast<Counts*>(user);
    // One writer (the acquire thread); relaxed: the timer only reads it.
    counts->packets.store(counts->packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return DAQ_VERDICT_PASS;
}

double now_seconds()
{
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

[[noreturn]] void usage(int status)
{
    std::fprintf(status ? stderr : stdout,
                 "Usage: daq-count --daq-dir DIR [--daq-dir DIR...] --daq NAME -i INPUT\n"
                 "                 [--inline] [--var KEY=VALUE...] [-d SECONDS] [--warmup SECONDS]\n"
                 "Acquires through a libdaq 2 module as Snort 2 does, answers PASS to every\n"
                 "packet, and prints one JSON line: packets, seconds, pps, and libdaq's stats.\n");
    std::exit(status);
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> directories;
    std::vector<std::string> variables;
    const char* module_name = nullptr;
    const char* input = nullptr;
    bool inline_mode = false;
    double seconds = 5;
    double warmup = 0.5;

    const option options[] = {
        {"daq-dir", required_argument, nullptr, 'D'}, {"daq", required_argument, nullptr, 'm'},
        {"interface", required_argument, nullptr, 'i'}, {"inline", no_argument, nullptr, 'Q'},
        {"var", required_argument, nullptr, 'v'},      {"duration", required_argument, nullptr, 'd'},
        {"warmup", required_argument, nullptr, 'w'},   {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0}};
    for (int c; (c = ::getopt_long(argc, argv, "D:m:i:Qv:d:w:h", options, nullptr)) != -1;) {
        switch (c) {
        case 'D': directories.emplace_back(optarg); break;
        case 'm': module_name = optarg; break;
        case 'i': input = optarg; break;
        case 'Q': inline_mode = true; break;
        case 'v': variables.emplace_back(optarg); break;
        case 'd': seconds = std::strtod(optarg, nullptr); break;
        case 'w': warmup = std::strtod(optarg, nullptr); break;
        case 'h': usage(0);
        default: usage(2);
        }
    }
    if (directories.empty() || !module_name || !input || seconds <= 0 || warmup < 0)
        usage(2);

    std::vector<const char*> directory_list;
    for (const std::string& directory : directories)
        directory_list.push_back(directory.c_str());
    directory_list.push_back(nullptr);
    if (daq_load_modules(directory_list.data()) != DAQ_SUCCESS) {
        std::fprintf(stderr, "daq-count: cannot load the DAQ modules\n");
        return 1;
    }
    const DAQ_Module_t* module = daq_find_module(module_name);
    if (!module) {
        std::fprintf(stderr, "daq-count: no DAQ module named %s in the directories given\n", module_name);
        return 1;
    }

    DAQ_Config_t config{};
    config.name = const_cast<char*>(input);
    config.snaplen = 1518;
    config.timeout = 1000;
    config.mode = inline_mode ? DAQ_MODE_INLINE : DAQ_MODE_PASSIVE;
    config.flags = DAQ_CFG_PROMISC;
    for (std::string& variable : variables) {
        auto equals = variable.find('=');
        std::string key = variable.substr(0, equals);
        std::string value = equals == std::string::npos ? std::string{} : variable.substr(equals + 1);
        daq_config_set_value(&config, key.c_str(), equals == std::string::npos ? nullptr : value.c_str());
    }

    char errbuf[256] = {};
    void* handle = nullptr;
    if (daq_initialize(module, &config, &handle, errbuf, sizeof errbuf) != DAQ_SUCCESS) {
        std::fprintf(stderr, "daq-count: %s: %s\n", module_name, errbuf);
        return 1;
    }
    if (daq_start(module, handle) != DAQ_SUCCESS) {
        std::fprintf(stderr, "daq-count: %s: start: %s\n", module_name, daq_get_error(module, handle));
        return 1;
    }

    Counts counts;
    std::uint64_t first = 0, last = 0;
    double started = 0, ended = 0;
    std::atomic<bool> measured{false};
    std::atomic<bool> acquiring{true};
    std::thread timer([&] {
        std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
        first = counts.packets.load(std::memory_order_relaxed);
        started = now_seconds();
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        last = counts.packets.load(std::memory_order_relaxed);
        ended = now_seconds();
        measured.store(true, std::memory_order_release);
        // The DAQ timeout makes acquire return now and then: ask until it
        // has stopped for good.
        while (acquiring.load(std::memory_order_acquire)) {
            daq_breakloop(module, handle);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    int rc = DAQ_SUCCESS;
    // acquire returns after a breakloop and after each DAQ timeout without
    // a packet (DAQ_SUCCESS both): go on until the measurement is over.
    while (!measured.load(std::memory_order_acquire)) {
        rc = daq_acquire(module, handle, -1, count_packet, &counts);
        if (rc != DAQ_SUCCESS)
            break;
    }
    acquiring.store(false, std::memory_order_release);
    timer.join();
    if (rc != DAQ_SUCCESS && rc != DAQ_READFILE_EOF)
        std::fprintf(stderr, "daq-count: %s: acquire: %s\n", module_name, daq_get_error(module, handle));

    DAQ_Stats_t stats{};
    daq_get_stats(module, handle, &stats);
    daq_stop(module, handle);
    daq_shutdown(module, handle);
    daq_unload_modules();

    double elapsed = ended - started;
    std::uint64_t packets = last - first;
    std::printf("{\"module\":\"%s\",\"input\":\"%s\",\"packets\":%" PRIu64 ",\"seconds\":%.3f,\"pps\":%.0f,"
                "\"received\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"filtered\":%" PRIu64 ",\"injected\":%" PRIu64
                "}\n",
                module_name, input, packets, elapsed, elapsed > 0 ? static_cast<double>(packets) / elapsed : 0.0,
                static_cast<std::uint64_t>(stats.packets_received), static_cast<std::uint64_t>(stats.hw_packets_dropped),
                static_cast<std::uint64_t>(stats.packets_filtered), static_cast<std::uint64_t>(stats.packets_injected));
    return rc == DAQ_SUCCESS || rc == DAQ_READFILE_EOF ? 0 : 1;
}

// SPDX-License-Identifier: BSD-3-Clause
//
// bench/rules/rules-bench — the balancer's packet rate with content rules
// (zc_balancer_load_rules) of 0, 1, 100 and 1000 patterns, measured in one
// run on the same payloads, each row the median over ROUNDS measurements of
// SECONDS, and the ratio to 0 patterns.
//
// The payloads: a capture of 20000 frames, written once to a temporary
// directory and replayed by zc:pcap: at top speed, forever: 40% HTTP
// requests and responses (text, 150 to 600 bytes), 25% TLS application data
// (random bytes, 1200 to 1400), 15% DNS queries over UDP, 20% bare TCP ACKs
// (no payload), over 4096 flows; every 100th frame is an HTTP request with
// an "X-Backup-Stream" header, which the last rule of every set drops, so that every
// set drops the same packets. The other patterns are IDS-like content
// strings and a few regexes (one in ten caseless, one in ten with a
// character class and a repeat) that do not occur in the payloads: every
// packet is scanned to its end, the worst case for a set that finds
// nothing. All payload scope, terminal rules (drop).
//
// The balancer runs in this thread with one queue in wait mode, and the
// consumer drains it in the same loop (receive a burst, hand it back): the
// rate is the balancer's with the device's replay copy and the consumer's
// work, the same in every row, so the ratios are what the rules cost.
// Also printed: the time one load (read, parse, compile) took.
//
//   rules-bench [-d SECONDS] [-r ROUNDS]      (run by bench/rules/run)

#include <getopt.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../../tests/unit/rule_frames.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/zc.h"

namespace {

using namespace zc::rule_frames;

constexpr std::uint32_t kFrames = 20000;
constexpr std::uint32_t kFlows = 4096;
constexpr std::uint32_t kPatternCounts[] = {0, 1, 100, 1000};

double now_seconds()
{
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

Bytes bytes_of(const std::string& s) { return Bytes(s.begin(), s.end()); }

// One frame of the mix, for frame number n.
Bytes realistic_frame(std::uint32_t n, std::mt19937& random)
{
    const std::uint32_t flow = n % kFlows;
    const zc::corpus::Address source = v4(10, static_cast<std::uint8_t>(flow >> 8), static_cast<std::uint8_t>(flow), 7);
    const std::uint32_t kind = n % 100 == 0 ? 0 : random() % 100; // every 100th: a request with the header
    if (kind < 40) {
        std::string text;
        if (kind < 20) {
            text = "GET /static/js/app." + std::to_string(random() % 100000) +
                   ".js?v=3 HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; "
                   "rv:115.0) Gecko/20100101 Firefox/115.0\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n"
                   "Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n";
            if (n % 100 == 0)
                text += "X-Backup-Stream: nightly\r\n";
            text += "Cookie: session=" + std::to_string(random()) + std::to_string(random()) + "\r\n\r\n";
        } else {
            text = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
                   std::to_string(random() % 5000) + "\r\nCache-Control: max-age=3600\r\n\r\n<!doctype html><html>"
                   "<head><title>Example</title></head><body><p>";
            static const char* const kProse[] = {"lorem ", "ipsum ", "dolor ", "sit ", "amet ", "consectetur "};
            const std::uint32_t words = 10 + random() % 40;
            for (std::uint32_t w = 0; w < words; ++w)
                text += kProse[random() % 6];
            text += "</p></body></html>";
        }
        return ipv4_frame(kTcp, bytes_of(text), source);
    }
    if (kind < 65) {
        Bytes record{0x17, 0x03, 0x03};
        const std::uint32_t length = 1200 + random() % 200;
        record.push_back(static_cast<std::uint8_t>(length >> 8));
        record.push_back(static_cast<std::uint8_t>(length));
        for (std::uint32_t i = 0; i < length; ++i)
            record.push_back(static_cast<std::uint8_t>(random()));
        return ipv4_frame(kTcp, record, source);
    }
    if (kind < 80) {
        Bytes query{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
        for (const char* label : {"www", "example", "org"}) {
            query.push_back(static_cast<std::uint8_t>(std::string(label).size()));
            query.insert(query.end(), label, label + std::string(label).size());
        }
        query.insert(query.end(), {0, 0, 1, 0, 1});
        return ipv4_frame(kUdp, query, source);
    }
    return ipv4_frame(kTcp, {}, source);
}

bool write_capture(const std::string& path, double* average_bytes)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    if (!dumper) {
        std::fprintf(stderr, "rules-bench: %s: %s\n", path.c_str(), pcap_geterr(dead));
        pcap_close(dead);
        return false;
    }
    std::mt19937 random(2026);
    std::uint64_t total = 0;
    for (std::uint32_t n = 0; n < kFrames; ++n) {
        const Bytes frame = realistic_frame(n, random);
        struct pcap_pkthdr header {};
        header.ts.tv_sec = 1700000000 + n / 1000000;
        header.ts.tv_usec = static_cast<suseconds_t>(n % 1000000);
        header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.data());
        total += frame.size();
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
    *average_bytes = static_cast<double>(total) / kFrames;
    return true;
}

// A rule set of `patterns` rules: IDS-like strings that the payloads do not
// hold, and last the one that drops the 1% with X-Backup-Stream.
std::string rule_file(std::uint32_t patterns)
{
    static const char* const kWords[] = {"cmd", "exec", "shell", "passwd", "select", "union", "eval", "base64",
                                         "payload", "dropper", "beacon", "mimikatz", "powershell", "wget", "curl",
                                         "nc", "chmod", "tmp", "admin", "login"};
    std::mt19937 random(patterns);
    std::string text;
    for (std::uint32_t i = 0; i + 1 < patterns; ++i) {
        std::string a = kWords[random() % 20], b = kWords[random() % 20];
        std::string expression = a + "[-_.]" + b + std::to_string(1000 + i);
        std::string flags;
        if (i % 10 == 3)
            flags = "i";
        if (i % 10 == 7)
            expression = a + "\\x2e" + b + "[0-9]{2,4}z" + std::to_string(i);
        text += std::to_string(100 + i) + " /" + expression + "/" + flags + " payload drop\n";
    }
    if (patterns > 0)
        text += "1 /X-Backup-Stream:/ payload drop\n";
    return text;
}

struct Run {
    double pps = 0;
    double load_seconds = 0;
    double dropped_share = 0; // of the packets received
};

// One measurement: a fresh cluster, device and balancer with `patterns`
// rules, SECONDS of polling and draining.
bool measure(const std::string& directory, const std::string& capture, std::uint32_t patterns, double seconds,
             std::uint32_t cluster_id, Run* out)
{
    zc_error err{};
    zc_cluster_config cc;
    zc_cluster_config_init(&cc);
    cc.frame_count = 8192;
    cc.queue_count = 1;
    cc.queue_slots = 2048;
    cc.directory = directory.c_str();
    cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
    zc_cluster* cluster = nullptr;
    if (zc_cluster_create(cluster_id, &cc, &cluster, &err) != 0) {
        std::fprintf(stderr, "rules-bench: %s\n", err.message);
        return false;
    }
    zc_device_config dc;
    zc_device_config_init(&dc);
    dc.pool = cluster;
    dc.replay_speed = 0;
    dc.replay_loops = 0;
    zc_device* device = nullptr;
    zc_balancer* balancer = nullptr;
    zc_queue* queue = nullptr;
    bool ok = false;
    zc_balancer_config bc;
    zc_balancer_config_init(&bc);
    bc.groups[0].on_full = ZC_ON_FULL_WAIT;
    auto stats = std::make_unique<zc_balancer_stats>();
    stats->struct_size = sizeof *stats;
    zc_rules_stats rules{};
    rules.struct_size = sizeof rules;
    std::uint32_t rows = 0;
    if (zc_device_open(("zc:pcap:" + capture).c_str(), &dc, &device, &err) != 0 ||
        zc_balancer_create(cluster, &device, 1, &bc, &balancer, &err) != 0 ||
        zc_queue_open(cluster, 0, ZC_QUEUE_CONSUMER, &queue, &err) != 0) {
        std::fprintf(stderr, "rules-bench: %s\n", err.message);
    } else {
        ok = true;
        if (patterns > 0) {
            const std::string path = directory + "/rules-" + std::to_string(patterns) + ".conf";
            std::ofstream(path) << rule_file(patterns);
            const double begin = now_seconds();
            if (zc_balancer_load_rules(balancer, path.c_str(), &err) != 0) {
                std::fprintf(stderr, "rules-bench: %s\n", err.message);
                ok = false;
            }
            out->load_seconds = now_seconds() - begin;
        }
        zc_desc descs[256];
        // A warm-up of a tenth, then the measurement.
        for (int phase = 0; ok && phase < 2; ++phase) {
            zc_balancer_get_stats(balancer, stats.get());
            const std::uint64_t before = stats->received;
            const double begin = now_seconds();
            const double length = phase == 0 ? seconds / 10 : seconds;
            double now = begin;
            for (std::uint32_t round = 0; now - begin < length; ++round) {
                zc_balancer_poll(balancer);
                std::uint32_t n = 0;
                while ((n = zc_queue_recv_burst(queue, descs, 256)) > 0)
                    zc_queue_give_back_burst(queue, descs, n);
                if ((round & 255) == 0)
                    now = now_seconds();
            }
            now = now_seconds();
            zc_balancer_get_stats(balancer, stats.get());
            out->pps = static_cast<double>(stats->received - before) / (now - begin);
        }
        zc_balancer_get_rule_stats(balancer, &rules, nullptr, 0, &rows);
        out->dropped_share = stats->received ? static_cast<double>(rules.dropped) / static_cast<double>(stats->received) : 0;
    }
    zc_queue_close(queue);
    zc_balancer_close(balancer);
    zc_device_close(device);
    zc_cluster_close(cluster);
    return ok;
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n == 0 ? 0 : n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

} // namespace

int main(int argc, char** argv)
{
    double seconds = 3;
    int rounds = 3;
    for (int c; (c = getopt(argc, argv, "d:r:h")) != -1;) {
        if (c == 'd')
            seconds = std::atof(optarg);
        else if (c == 'r')
            rounds = std::atoi(optarg);
        else {
            std::fputs("usage: rules-bench [-d SECONDS] [-r ROUNDS]\n", c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (seconds <= 0 || rounds <= 0) {
        std::fputs("rules-bench: -d takes seconds above 0, -r a number of rounds above 0\n", stderr);
        return 2;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "zc-rules-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
        std::perror("rules-bench: mkdtemp");
        return 1;
    }
    const std::string directory = pattern;
    const std::string capture = directory + "/payloads.pcap";
    double average_bytes = 0;
    std::map<std::uint32_t, std::vector<double>> pps, load, dropped;
    bool ok = write_capture(capture, &average_bytes);
    const std::uint32_t base_id = 92000u + static_cast<std::uint32_t>(::getpid()) % 1000u;
    for (int round = 0; ok && round < rounds; ++round) {
        for (std::uint32_t patterns : kPatternCounts) {
            Run run;
            ok = measure(directory, capture, patterns, seconds, base_id, &run);
            if (!ok)
                break;
            pps[patterns].push_back(run.pps);
            load[patterns].push_back(run.load_seconds);
            dropped[patterns].push_back(run.dropped_share);
        }
        std::fprintf(stderr, "round %d done\n", round + 1);
    }
    std::filesystem::remove_all(directory);
    if (!ok)
        return 1;
    const double base = median(pps[0]);
    std::printf("rules benchmark: the balancer (zc:pcap: replay at top speed, 1 queue, wait mode, consumer in the\n"
                "same thread) with payload-scope drop rules; %u frames, %.0f bytes on average (40%% HTTP, 25%% TLS,\n"
                "15%% DNS, 20%% bare ACKs), 1%% dropped by a rule in every set; %.1f s per measurement, median of %d\n\n",
                kFrames, average_bytes, seconds, rounds);
    std::printf("%10s %10s %10s %12s %10s\n", "patterns", "Mpps", "vs 0", "load (ms)", "dropped");
    for (std::uint32_t patterns : kPatternCounts)
        std::printf("%10u %10.3f %10.2f %12.1f %9.2f%%\n", patterns, median(pps[patterns]) / 1e6,
                    base > 0 ? median(pps[patterns]) / base : 0, median(load[patterns]) * 1e3,
                    median(dropped[patterns]) * 100);
    return 0;
}

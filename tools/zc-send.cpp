// SPDX-License-Identifier: BSD-3-Clause
//
// zc-send — a line-rate generator and capture replayer (man zc-send(1)).
//
// Two ways to send, one loop to drive them:
//   live    BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on a plain interface
//           (tools/send_live.cpp, kmod/zc_send.bpf.c): the kernel builds and
//           transmits the frames itself, the fastest path there is;
//   device  a zc device's TX (tools/send_device.cpp): AF_XDP for zc:IFACE,
//           AF_PACKET for zc:afpacket:IFACE, frames built in pool buffers;
//           also where live mode falls back to when the kernel refuses
//           live frames (open_fallback).
// The frames are drivers/synthetic/frames.hpp's (flows in both directions, a
// sequence number in the payload), or those of a capture file.
//
// This file: the options (one getopt_long parser; --help is the man page's
// OPTIONS), the send loop (pacing, limits, signals), and the reports.

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <getopt.h>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../drivers/synthetic/frames.hpp"
#include "send_clock.hpp"
#include "send_device.hpp"
#include "send_live.hpp"
#include "send_sender.hpp"

namespace {

using namespace zc::send;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

constexpr std::uint32_t kMaxFlows = 65536; // frames.hpp: flow numbers are the last two address bytes

const char kUsage[] = "usage: zc-send -i INTERFACE [options]\n";

const char kHelp[] =
    "usage: zc-send -i INTERFACE [options]\n"
    "\n"
    "Sends generated Ethernet/IPv4/UDP frames, or replays a capture, as fast as\n"
    "the interface takes them or at a given rate.\n"
    "\n"
    "Options:\n"
    "  -i, --interface NAME    where to send: a plain interface (eth0) for --mode\n"
    "                          live, or a zc device (zc:eth0, zc:eth0@0,\n"
    "                          zc:afpacket:eth0) for --mode device\n"
    "  -m, --mode live|device  live: BPF_PROG_RUN with live frames, the kernel's\n"
    "                          fastest path; device: through the zc device's TX\n"
    "                          (AF_XDP for zc:IFACE, AF_PACKET for\n"
    "                          zc:afpacket:IFACE). Default: live for a plain\n"
    "                          name, device for a zc: name (and zc:IFACE, else\n"
    "                          zc:afpacket:IFACE, when the kernel refuses live\n"
    "                          frames)\n"
    "  -s, --size BYTES        frame size on the wire, with FCS, 64..1518\n"
    "                          (default 64: 60-byte frames)\n"
    "  -f, --flows N           flows, each sent in both directions, 1..65536\n"
    "                          (default 1)\n"
    "  -r, --rate PPS          packets per second, suffixes k, M, G allowed\n"
    "                          (default: as fast as possible)\n"
    "  -c, --count N           stop after exactly N packets\n"
    "  -d, --duration SECONDS  stop after SECONDS (decimals allowed)\n"
    "  -p, --pcap FILE         replay the frames of this capture instead\n"
    "      --speed X           replay at X times the capture's timing (default 1)\n"
    "      --top-speed         replay as fast as possible\n"
    "      --loops N           play the capture N times, 0 forever (default 1)\n"
    "      --json              final report as one JSON object on standard output\n"
    "                          (per-second lines then go to standard error)\n"
    "  -q, --quiet             no per-second lines\n"
    "  -h, --help              this text\n"
    "\n"
    "Bytes count each frame with its 4-byte FCS (a -s 64 frame counts 64);\n"
    "Gbit/s is the line rate the frames occupy, adding 20 bytes per frame for\n"
    "preamble, start delimiter and inter-frame gap (14.88 Mpps of 64-byte\n"
    "frames is 10 Gbit/s).\n"
    "\n"
    "Exit status: 0 done, 1 runtime error (including fewer than --count packets\n"
    "sent), 2 usage error. See zc-send(1).\n";

enum class Mode { Live, Device };

struct Options {
    Plan plan;
    std::optional<Mode> mode;
    bool mode_asked = false;       // --mode given (live mode then does not fall back)
    std::uint64_t count = 0;       // 0: no limit
    std::uint64_t duration_ns = 0; // 0: no limit
    bool json = false;
    bool quiet = false;
    bool size_given = false;
    bool flows_given = false;
    bool speed_given = false;
    bool top_speed = false;
    bool loops_given = false;
};

// Why the loop stopped.
enum class Stop { Count, Duration, Signal, EndOfCapture, Error };

const char* stop_name(Stop stop)
{
    switch (stop) {
    case Stop::Count: return "count";
    case Stop::Duration: return "duration";
    case Stop::Signal: return "signal";
    case Stop::EndOfCapture: return "end of capture";
    case Stop::Error: return "error";
    }
    return "?";
}

// ------------------------------------------------------------------ options

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A whole unsigned number in [low, high], or a UsageError naming the option
// and the range. `suffixes` allows k, M, G (x 1000).
std::uint64_t parse_number(const char* option, const char* text, std::uint64_t low, std::uint64_t high,
                           const char* what, bool suffixes = false)
{
    auto bad = [&] {
        return UsageError(std::string(option) + " must be " + what + ", not '" + text + "'");
    };
    if (!*text || *text == '-' || *text == '+' || *text == ' ')
        throw bad();
    errno = 0;
    char* end = nullptr;
    double value = 0;
    if (suffixes) {
        value = std::strtod(text, &end);
        double scale = 1;
        if (*end == 'k' || *end == 'K')
            scale = 1e3;
        else if (*end == 'M')
            scale = 1e6;
        else if (*end == 'G')
            scale = 1e9;
        if (scale != 1)
            ++end;
        value *= scale;
        if (errno != 0 || *end != '\0' || !std::isfinite(value) || value != std::floor(value))
            throw bad();
        if (value < static_cast<double>(low) || value > static_cast<double>(high))
            throw bad();
        return static_cast<std::uint64_t>(value);
    }
    unsigned long long whole = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || whole < low || whole > high)
        throw bad();
    return whole;
}

double parse_positive(const char* option, const char* text, double high, const char* what)
{
    errno = 0;
    char* end = nullptr;
    double value = std::strtod(text, &end);
    if (!*text || errno != 0 || *end != '\0' || !std::isfinite(value) || value <= 0 || value > high)
        throw UsageError(std::string(option) + " must be " + what + ", not '" + text + "'");
    return value;
}

bool is_zc_name(const std::string& name) { return name.rfind("zc:", 0) == 0; }

enum LongOnly { kSpeed = 256, kTopSpeed, kLoops, kJson };

// Returns the options, or nullopt after printing --help.
std::optional<Options> parse_options(int argc, char** argv)
{
    static const option kLong[] = {
        {"interface", required_argument, nullptr, 'i'},
        {"mode", required_argument, nullptr, 'm'},
        {"size", required_argument, nullptr, 's'},
        {"flows", required_argument, nullptr, 'f'},
        {"rate", required_argument, nullptr, 'r'},
        {"count", required_argument, nullptr, 'c'},
        {"duration", required_argument, nullptr, 'd'},
        {"pcap", required_argument, nullptr, 'p'},
        {"speed", required_argument, nullptr, kSpeed},
        {"top-speed", no_argument, nullptr, kTopSpeed},
        {"loops", required_argument, nullptr, kLoops},
        {"json", no_argument, nullptr, kJson},
        {"quiet", no_argument, nullptr, 'q'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    Options options;
    opterr = 0; // our messages, not getopt's
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":i:m:s:f:r:c:d:p:qh", kLong, nullptr)) != -1) {
        switch (c) {
        case 'i': options.plan.interface = optarg; break;
        case 'm':
            if (std::strcmp(optarg, "live") == 0)
                options.mode = Mode::Live;
            else if (std::strcmp(optarg, "device") == 0)
                options.mode = Mode::Device;
            else
                throw UsageError(std::string("--mode must be live or device, not '") + optarg + "'");
            break;
        case 's':
            options.plan.size = static_cast<std::uint32_t>(
                parse_number("--size", optarg, zc::frames::kMinSize, zc::frames::kMaxSize,
                             "64..1518 (bytes on the wire, with FCS)"));
            options.size_given = true;
            break;
        case 'f':
            options.plan.flows =
                static_cast<std::uint32_t>(parse_number("--flows", optarg, 1, kMaxFlows, "1..65536"));
            options.flows_given = true;
            break;
        case 'r':
            options.plan.rate = parse_number("--rate", optarg, 1, 1'000'000'000'000ull,
                                             "1..1000G packets per second (suffixes k, M, G)", true);
            break;
        case 'c':
            options.count = parse_number("--count", optarg, 1, INT64_MAX, "a number of packets, 1 or more");
            break;
        case 'd': {
            double seconds = parse_positive("--duration", optarg, 1e9, "a number of seconds above 0");
            options.duration_ns = static_cast<std::uint64_t>(seconds * 1e9);
            if (options.duration_ns == 0)
                throw UsageError(std::string("--duration must be at least 1 ns, not '") + optarg + "'");
            break;
        }
        case 'p': options.plan.pcap = optarg; break;
        case kSpeed:
            options.plan.speed = parse_positive("--speed", optarg, 1e6, "a factor above 0 (1 = original timing)");
            options.speed_given = true;
            break;
        case kTopSpeed: options.top_speed = true; break;
        case kLoops:
            options.plan.loops = parse_number("--loops", optarg, 0, INT64_MAX, "0 (forever) or a number of loops");
            options.loops_given = true;
            break;
        case kJson: options.json = true; break;
        case 'q': options.quiet = true; break;
        case 'h': std::fputs(kHelp, stdout); return std::nullopt;
        case ':': throw UsageError(std::string(argv[optind - 1]) + " needs a value");
        default:
            if (optopt != 0)
                throw UsageError(std::string("unknown option -") + static_cast<char>(optopt));
            throw UsageError(std::string("unknown option ") + argv[optind - 1]);
        }
    }
    if (optind < argc)
        throw UsageError(std::string("unexpected argument '") + argv[optind] + "' (options take their values "
                                                                               "after a space, e.g. -i eth0)");

    Plan& plan = options.plan;
    if (plan.interface.empty())
        throw UsageError("no interface given (-i eth0 for live mode, -i zc:eth0 for device mode)");
    options.mode_asked = options.mode.has_value();
    Mode mode = options.mode.value_or(is_zc_name(plan.interface) ? Mode::Device : Mode::Live);
    options.mode = mode;
    if (mode == Mode::Live && is_zc_name(plan.interface))
        throw UsageError("live mode sends on a plain interface: use -i " + plan.interface.substr(3) +
                         ", or --mode device for " + plan.interface);
    if (mode == Mode::Device && !is_zc_name(plan.interface))
        plan.interface = "zc:" + plan.interface; // device mode names devices: eth0 is zc:eth0

    if (plan.pcap.empty()) {
        if (options.speed_given || options.top_speed || options.loops_given)
            throw UsageError("--speed, --top-speed and --loops are for replaying a capture (--pcap FILE)");
    } else {
        if (options.size_given || options.flows_given)
            throw UsageError("--size and --flows describe generated frames; a replay (--pcap) sends the "
                             "capture's frames");
        if (options.speed_given && options.top_speed)
            throw UsageError("--speed and --top-speed contradict each other; choose one");
        if (plan.rate != 0 && (options.speed_given || options.top_speed))
            throw UsageError("--rate and --speed/--top-speed both set the replay's timing; choose one");
        if (options.top_speed)
            plan.speed = 0;
    }
    return options;
}

// ------------------------------------------------------------------ reports

double seconds_of(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

std::string json_string(const std::string& text)
{
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

struct Report {
    const Options* options = nullptr;
    std::string mode;
    Totals totals;
    std::uint64_t elapsed_ns = 0;
    Losses losses;
    Stop stop = Stop::Error;
    std::vector<std::string> notes;
    std::string failure; // why the run counts as failed (exit 1), if it does
};

void print_second(FILE* out, std::uint64_t at_ns, std::uint64_t packets, std::uint64_t bytes, std::uint64_t span_ns,
                  std::uint64_t dropped)
{
    double span = seconds_of(span_ns);
    double pps = span > 0 ? static_cast<double>(packets) / span : 0;
    double bps = span > 0 ? static_cast<double>(wire_bits(packets, bytes)) / span : 0;
    std::fprintf(out, "%8.3f s: %12.0f pps, %8.3f Gbit/s", seconds_of(at_ns), pps, bps / 1e9);
    if (dropped > 0)
        std::fprintf(out, ", %" PRIu64 " dropped", dropped);
    std::fputc('\n', out);
    std::fflush(out);
}

void print_final(const Report& report)
{
    const Options& options = *report.options;
    double seconds = seconds_of(report.elapsed_ns);
    double pps = seconds > 0 ? static_cast<double>(report.totals.packets) / seconds : 0;
    double bps = seconds > 0 ? static_cast<double>(wire_bits(report.totals.packets, report.totals.bytes)) / seconds
                             : 0;
    if (options.json) {
        std::printf("{\"interface\":%s,\"mode\":%s,", json_string(options.plan.interface).c_str(),
                    json_string(report.mode).c_str());
        if (options.plan.pcap.empty())
            std::printf("\"size\":%u,\"flows\":%u,", options.plan.size, options.plan.flows);
        else
            std::printf("\"pcap\":%s,", json_string(options.plan.pcap).c_str());
        std::printf("\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.0f,"
                    "\"bits_per_second\":%.0f,",
                    report.totals.packets, report.totals.bytes, seconds, pps, bps);
        if (report.losses.known)
            std::printf("\"dropped\":%" PRIu64 ",", report.losses.dropped);
        else
            std::printf("\"dropped\":null,");
        std::printf("\"stopped_by\":%s,\"ok\":%s", json_string(stop_name(report.stop)).c_str(),
                    report.failure.empty() ? "true" : "false");
        if (!report.failure.empty())
            std::printf(",\"error\":%s", json_string(report.failure).c_str());
        std::printf(",\"notes\":[");
        for (std::size_t i = 0; i < report.notes.size(); ++i)
            std::printf("%s%s", i ? "," : "", json_string(report.notes[i]).c_str());
        std::printf("]}\n");
    } else {
        // Three decimals, unless that would round a slow run down to nothing.
        int pps_digits = pps >= 1e3 || pps == 0 ? 3 : 6;
        int bps_digits = bps >= 1e6 || bps == 0 ? 3 : 6;
        std::printf("sent %" PRIu64 " packets (%" PRIu64 " bytes) in %.3f s: %.*f Mpps, %.*f Gbit/s\n",
                    report.totals.packets, report.totals.bytes, seconds, pps_digits, pps / 1e6, bps_digits, bps / 1e9);
    }
    std::fflush(stdout);
    // (With --count, losses are the failure itself, said below.)
    if (report.losses.known && report.losses.dropped > 0 && (report.failure.empty() || report.stop == Stop::Error))
        std::fprintf(stderr, "zc-send: %" PRIu64 " of them were dropped: %s\n", report.losses.dropped,
                     report.losses.reason.c_str());
    for (const std::string& note : report.notes)
        std::fprintf(stderr, "zc-send: note: %s\n", note.c_str());
    if (!report.failure.empty())
        std::fprintf(stderr, "zc-send: %s\n", report.failure.c_str());
}

// ------------------------------------------------------------------ the loop

void warn(Sender& sender)
{
    std::string warning = sender.take_warning();
    if (!warning.empty())
        std::fprintf(stderr, "zc-send: warning: %s\n", warning.c_str());
}

// When the kernel refuses live frames: the next fastest paths, both of
// which leave the interface's receive side alone. First an AF_XDP socket
// with a TX ring only (zc:IFACE opened for TX attaches no XDP program): in
// copy mode the kernel still builds an skb per frame, but a wake-up sends a
// whole batch of them (bench/send/run measures it against AF_PACKET's
// sendmmsg and TX ring, which it outruns). Then AF_PACKET, for a kernel
// without AF_XDP or a queue 0 another AF_XDP socket holds.
std::unique_ptr<Sender> open_fallback(const Plan& live_plan, const char* why)
{
    Plan plan = live_plan;
    plan.interface = "zc:" + live_plan.interface;
    try {
        auto sender = std::make_unique<DeviceSender>(plan);
        std::fprintf(stderr, "zc-send: %s; sending through %s (AF_XDP, transmit only) instead\n", why,
                     plan.interface.c_str());
        return sender;
    } catch (const std::exception& e) {
        plan.interface = "zc:afpacket:" + live_plan.interface;
        std::fprintf(stderr, "zc-send: %s; AF_XDP cannot send either (%s); sending through %s instead\n", why,
                     e.what(), plan.interface.c_str());
        return std::make_unique<DeviceSender>(plan);
    }
}

std::unique_ptr<Sender> open_sender(const Options& options)
{
    if (*options.mode == Mode::Device)
        return std::make_unique<DeviceSender>(options.plan);
    try {
        return std::make_unique<LiveSender>(options.plan);
    } catch (const LiveFramesRefused& e) {
        if (options.mode_asked)
            throw std::runtime_error(std::string(e.what()) + "; use --mode device (-i zc:" +
                                     options.plan.interface + ")");
        return open_fallback(options.plan, e.what());
    }
}

int run(const Options& options, StopSignals& signals)
{
    std::unique_ptr<Sender> sender;
    try {
        sender = open_sender(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "zc-send: %s\n", e.what());
        return kExitError;
    }

    warn(*sender);
    FILE* lines = options.json ? stderr : stdout;
    constexpr std::uint64_t kSignalCheckNs = 10'000'000;
    const std::uint64_t limit = options.count ? options.count : UINT64_MAX;

    Report report;
    report.options = &options;
    report.mode = sender->mode();

    const std::uint64_t start = monotonic_ns();
    const std::uint64_t end = options.duration_ns ? start + options.duration_ns : UINT64_MAX;
    std::uint64_t next_report = start + kNanosPerSecond;
    std::uint64_t next_signal_check = start;
    Totals last_totals{};
    std::uint64_t last_report = start;
    std::uint64_t last_dropped = 0;
    std::uint64_t stopped_at = start;

    auto per_second = [&](std::uint64_t now) {
        Losses losses;
        try {
            losses = sender->losses();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "zc-send: warning: %s\n", e.what());
        }
        warn(*sender);
        Totals totals = sender->totals();
        if (!options.quiet)
            print_second(lines, now - start, totals.packets - last_totals.packets, totals.bytes - last_totals.bytes,
                         now - last_report, losses.dropped - std::min(losses.dropped, last_dropped));
        last_totals = totals;
        last_dropped = losses.dropped;
        last_report = now;
    };

    for (;;) {
        std::uint64_t now = monotonic_ns();
        if (now >= next_signal_check) {
            if (signals.stopped()) {
                report.stop = Stop::Signal;
                break;
            }
            next_signal_check = now + kSignalCheckNs;
        }
        if (now >= end) {
            report.stop = Stop::Duration;
            break;
        }
        if (now >= next_report) {
            per_second(now);
            next_report += kNanosPerSecond;
            if (next_report <= now) // a stall longer than a second: report from now on
                next_report = now + kNanosPerSecond;
        }
        std::uint64_t sent = sender->totals().packets;
        if (sent >= limit) {
            report.stop = Stop::Count;
            break;
        }
        std::uint64_t wake = 0;
        std::uint64_t due = sender->due(now - start, limit - sent, &wake);
        if (due == Sender::kEnd) {
            report.stop = Stop::EndOfCapture;
            break;
        }
        if (due == 0) {
            std::uint64_t deadline = std::min({start + wake, next_report, end});
            if (signals.wait_until(deadline)) {
                report.stop = Stop::Signal;
                break;
            }
            continue;
        }
        std::int64_t rc = sender->send(due, now - start);
        if (rc < 0) {
            report.stop = Stop::Error;
            report.failure = sender->error();
            break;
        }
    }
    stopped_at = monotonic_ns();
    // The last, partial second (when it is long enough to mean something),
    // with the counters as they are now, before finish() settles them.
    if (!options.quiet && stopped_at - last_report >= kNanosPerSecond / 10 &&
        sender->totals().packets != last_totals.packets)
        per_second(stopped_at);

    report.totals = sender->totals();
    report.elapsed_ns = stopped_at - start;
    try {
        sender->finish();
        report.losses = sender->losses();
        report.notes = sender->notes();
    } catch (const std::exception& e) { // the interface went away, say
        report.notes.push_back(e.what());
    }
    if (report.stop == Stop::Signal) {
        const char* name = sigabbrev_np(signals.signal());
        std::string note = std::string("stopped by ") + (name ? std::string("SIG") + name : "a signal");
        if (options.count)
            note += " after " + std::to_string(report.totals.packets) + " of the " + std::to_string(options.count) +
                    " packets of --count";
        report.notes.push_back(note);
    }

    // Did we do what was asked?
    if (report.stop == Stop::Error) {
        // report.failure says why already
    } else if (options.count && report.stop == Stop::EndOfCapture && report.totals.packets < options.count) {
        report.failure = "the capture ended after " + std::to_string(report.totals.packets) + " packets: " +
                         std::to_string(options.count - report.totals.packets) + " of the " +
                         std::to_string(options.count) + " packets of --count were not sent (use --loops)";
    } else if (options.count && report.losses.known && report.losses.dropped > 0) {
        std::uint64_t dropped = report.losses.dropped;
        report.failure = std::to_string(dropped) + " of the " + std::to_string(report.totals.packets) +
                         " packets were not sent: " + report.losses.reason;
    }
    print_final(report);
    return report.failure.empty() ? kExitOk : kExitError;
}

} // namespace

int main(int argc, char** argv)
{
    std::optional<Options> options;
    try {
        options = parse_options(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "zc-send: %s\n%s(zc-send --help lists the options)\n", e.what(), kUsage);
        return kExitUsage;
    }
    if (!options)
        return kExitOk; // --help
    try {
        StopSignals signals; // before anything could start a thread
        return run(*options, signals);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "zc-send: %s\n", e.what());
        return kExitError;
    }
}

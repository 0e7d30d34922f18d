// SPDX-License-Identifier: BSD-3-Clause
//
// check-corpus --hash MODE [--corpus FILE]... [--generated COUNT,SIZE,FLOWS]
//              [--loops N] [--cross-check] [QUEUE.pcap...]
//
// Checks what the queues of one balanced group captured (one file per queue,
// in queue order) against what was sent:
//   frames  the multiset of frames over all queues is exactly the expected
//           one: every frame of every --corpus file, --loops times, and the
//           frames zc-send generates for --generated (drivers/synthetic/
//           frames.hpp), byte for byte; none missing, none twice, none other;
//   flows   every flow, both directions, is in exactly one queue, a flow
//           being what zc/hash.h calls one in MODE, as flow_key.hpp reads it
//           (an independent parser, not the library's);
//   spread  every queue holds something (a balancer that sends all to one
//           queue keeps flows whole, and is still wrong).
// MODE round-robin checks frames only.
//
// The queue files are read at the same time, one thread each, so they may
// be FIFOs that the consumers write as they capture (nothing on disk, and a
// consumer whose FIFO is not read yet never stalls the balancer). Each
// distinct expected frame is keyed once: a received frame costs one lookup.
//
// --cross-check (no queue files needed) hashes every expected frame with the
// library's zc_packet_hash, and checks that the frames of one flow (by the
// independent key) hash alike, like the simplest frame of that flow (hash.h:
// "the inner flow hashes exactly as the same flow would untunnelled", a
// fragment "as the 2tuple of the same address pair", ...), and unlike every
// other flow: it finds where the library and hash.h part ways, for every
// frame rather than by the chance of a queue, without any traffic.
//
// Prints a summary; exits 0 when all is right, 1 with what is wrong, 2 for
// a usage error.

#include <getopt.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "flow_key.hpp"
#include "zc/hash.h"

namespace {

using zc::check::FlowKey;
using zc::check::KeyMode;

const char kUsage[] = "usage: check-corpus --hash MODE [--corpus FILE]... [--generated COUNT,SIZE,FLOWS]\n"
                      "                    [--loops N] [--cross-check] [QUEUE.pcap...]\n";

constexpr std::uint32_t kNoFlow = UINT32_MAX;

// One distinct expected frame.
struct Entry {
    std::string bytes;
    std::uint64_t wanted = 0;
    std::uint64_t first = 0;     // its place in the expected stream (for messages)
    std::uint32_t flow = kNoFlow; // index into Expected::flows
    int direction = -1;
    bool inner = false;
};

struct FlowName {
    std::string key;
    const char* kind;
};

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Expected {
    std::vector<Entry> entries;
    std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> index; // bytes -> entry
    std::vector<FlowName> flows;
    std::unordered_map<std::string, std::uint32_t> flow_index; // key -> flow
    std::uint64_t frames = 0;

    void add(const std::uint8_t* data, std::uint32_t length, std::uint64_t times)
    {
        std::string bytes(reinterpret_cast<const char*>(data), length);
        auto [at, fresh] = index.emplace(bytes, static_cast<std::uint32_t>(entries.size()));
        if (fresh) {
            entries.push_back(Entry{std::move(bytes), 0, frames});
        }
        entries[at->second].wanted += times;
        frames += times;
    }

    std::uint32_t flow_of(const FlowKey& k)
    {
        auto [at, fresh] = flow_index.emplace(k.key, static_cast<std::uint32_t>(flows.size()));
        if (fresh)
            flows.push_back(FlowName{k.key, k.kind});
        return at->second;
    }

    void key_all(KeyMode mode)
    {
        for (Entry& e : entries) {
            const FlowKey k = zc::check::flow_key(mode, reinterpret_cast<const std::uint8_t*>(e.bytes.data()),
                                                  static_cast<std::uint32_t>(e.bytes.size()));
            e.flow = flow_of(k);
            e.direction = k.direction;
            e.inner = k.inner;
        }
    }
};

// What one queue's capture held; filled by its own thread.
struct Tally {
    std::string path;
    bool ok = true;
    std::string error;
    std::uint64_t frames = 0;
    std::uint64_t inner = 0;
    std::vector<std::uint64_t> seen;          // per entry
    std::vector<std::uint64_t> per_flow;      // per flow
    std::vector<std::uint8_t> directions;     // per flow: bit 0, bit 1
    std::vector<std::string> foreign;         // frames that were not sent (the first few, hex)
    std::uint64_t foreign_count = 0;
    std::map<std::string, std::uint64_t> foreign_flows; // their flows, for the split check
};

std::string hex(const std::uint8_t* data, std::size_t length, std::size_t most = 64)
{
    std::string out;
    char byte[4];
    for (std::size_t i = 0; i < length && i < most; ++i) {
        std::snprintf(byte, sizeof byte, "%02x", data[i]);
        out += byte;
    }
    if (length > most)
        out += "...";
    return out;
}

// Calls `each(data, length)` for every frame of a capture; "" when it was
// read whole, else why not. A frame cut by a snapshot length is an error:
// then the bytes cannot be compared.
template <typename Each> std::string read_capture(const char* path, Each each)
{
    char error[PCAP_ERRBUF_SIZE];
    pcap_t* capture = pcap_open_offline(path, error);
    if (!capture)
        return error;
    std::string failure;
    if (pcap_datalink(capture) != DLT_EN10MB) {
        failure = std::string(path) + ": not an Ethernet capture";
    } else {
        struct pcap_pkthdr* header = nullptr;
        const u_char* data = nullptr;
        int rc = 0;
        while ((rc = pcap_next_ex(capture, &header, &data)) == 1) {
            if (header->caplen != header->len) {
                failure = std::string(path) + ": a frame of " + std::to_string(header->len) + " bytes was captured as " +
                          std::to_string(header->caplen);
                break;
            }
            each(data, header->caplen);
        }
        if (failure.empty() && rc != PCAP_ERROR_BREAK)
            failure = std::string(path) + ": " + pcap_geterr(capture);
    }
    pcap_close(capture);
    return failure;
}

void tally_queue(const Expected& expected, KeyMode mode, bool flows, Tally& t)
{
    t.seen.assign(expected.entries.size(), 0);
    t.per_flow.assign(expected.flows.size(), 0);
    t.directions.assign(expected.flows.size(), 0);
    t.error = read_capture(t.path.c_str(), [&](const std::uint8_t* data, std::uint32_t length) {
        ++t.frames;
        const std::string_view bytes(reinterpret_cast<const char*>(data), length);
        auto found = expected.index.find(bytes);
        if (found == expected.index.end()) {
            if (++t.foreign_count <= 5)
                t.foreign.push_back(hex(data, length));
            if (flows)
                ++t.foreign_flows[zc::check::flow_key(mode, data, length).key];
            return;
        }
        ++t.seen[found->second];
        if (!flows)
            return;
        const Entry& e = expected.entries[found->second];
        ++t.per_flow[e.flow];
        if (e.direction >= 0)
            t.directions[e.flow] |= static_cast<std::uint8_t>(1u << e.direction);
        t.inner += e.inner;
    });
    t.ok = t.error.empty();
}

// The simplest frame of a flow: untagged Ethernet, an IP header without
// options, the ports; what hash.h says every frame of the flow hashes like.
std::vector<std::uint8_t> reference_frame(const FlowKey& k)
{
    std::vector<std::uint8_t> f;
    auto put16 = [&](unsigned v) {
        f.push_back(static_cast<std::uint8_t>(v >> 8));
        f.push_back(static_cast<std::uint8_t>(v));
    };
    const std::string kind = k.kind;
    if (kind == "none")
        return std::vector<std::uint8_t>(11, 0x5a);
    if (kind == "mac") {
        f.insert(f.end(), k.second.begin(), k.second.begin() + 6);
        f.insert(f.end(), k.first.begin(), k.first.begin() + 6);
        put16(0x88b5);
        f.resize(60, 0);
        return f;
    }
    const std::uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    f.assign(macs, macs + 12);
    if (kind == "vlan") {
        if (k.vlan != 0) {
            put16(0x8100);
            put16(k.vlan);
        }
        put16(0x88b5);
        f.resize(64, 0);
        return f;
    }
    const bool ports = kind == "5tuple";
    const std::uint8_t protocol = ports ? k.protocol : 253; // 253: an experiment, no ports
    const unsigned upper = ports ? 8 : 0;
    if (k.ip_version == 4) {
        put16(0x0800);
        put16(0x4500);
        put16(20 + upper);
        put16(0);
        put16(0);
        f.push_back(64);
        f.push_back(protocol);
        put16(0);
        f.insert(f.end(), k.first.begin(), k.first.begin() + 4);
        f.insert(f.end(), k.second.begin(), k.second.begin() + 4);
    } else {
        put16(0x86dd);
        put16(0x6000);
        put16(0);
        put16(upper);
        f.push_back(protocol);
        f.push_back(64);
        f.insert(f.end(), k.first.begin(), k.first.end());
        f.insert(f.end(), k.second.begin(), k.second.end());
    }
    if (ports) {
        put16(k.first_port);
        put16(k.second_port);
        put16(0);
        put16(0);
    }
    if (f.size() < 60)
        f.resize(60, 0);
    return f;
}

// The library against the independent keys, offline. Returns the failures.
int cross_check(const Expected& expected, KeyMode mode, zc_hash_mode zc_mode, const std::string& mode_name)
{
    struct Seen {
        std::uint32_t hash = 0;
        std::uint32_t example = 0; // an entry
        bool set = false, differs = false;
    };
    std::vector<Seen> flows(expected.flows.size());
    for (std::uint32_t i = 0; i < expected.entries.size(); ++i) {
        const Entry& e = expected.entries[i];
        const auto* data = reinterpret_cast<const std::uint8_t*>(e.bytes.data());
        const auto length = static_cast<std::uint32_t>(e.bytes.size());
        const std::uint32_t h = zc_packet_hash(zc_mode, data, length, 0);
        Seen& f = flows[e.flow];
        if (!f.set) {
            f = Seen{h, i, true, false};
        } else if (f.hash != h) {
            if (!f.differs)
                std::fprintf(stderr, "check-corpus: cross-check: flow %s: frame %s hashes to %08x, frame %s to %08x\n",
                             expected.flows[e.flow].key.c_str(),
                             hex(reinterpret_cast<const std::uint8_t*>(expected.entries[f.example].bytes.data()),
                                 expected.entries[f.example].bytes.size())
                                 .c_str(),
                             f.hash, hex(data, length).c_str(), h);
            f.differs = true;
        }
    }
    // Distinct flows that share a hash: a key finer than the library's
    // (a 32-bit collision among a few thousand flows is a chance of 1e-3).
    std::map<std::uint32_t, std::uint32_t> by_hash;
    std::uint64_t differing = 0, unlike_reference = 0, sharing = 0;
    for (std::uint32_t flow = 0; flow < flows.size(); ++flow) {
        const Seen& f = flows[flow];
        const std::string& key = expected.flows[flow].key;
        differing += f.differs;
        auto [other, fresh] = by_hash.emplace(f.hash, flow);
        if (!fresh && ++sharing <= 10)
            std::fprintf(stderr, "check-corpus: cross-check: flows %s and %s both hash to %08x\n",
                         expected.flows[other->second].key.c_str(), key.c_str(), f.hash);
        const Entry& example = expected.entries[f.example];
        const FlowKey k = zc::check::flow_key(mode, reinterpret_cast<const std::uint8_t*>(example.bytes.data()),
                                              static_cast<std::uint32_t>(example.bytes.size()));
        const std::vector<std::uint8_t> reference = reference_frame(k);
        const std::uint32_t h = zc_packet_hash(zc_mode, reference.data(), static_cast<std::uint32_t>(reference.size()), 0);
        if (h != f.hash && ++unlike_reference <= 10)
            std::fprintf(stderr,
                         "check-corpus: cross-check: flow %s: frame %s hashes to %08x, the simplest frame of the "
                         "flow (%s) to %08x\n",
                         key.c_str(),
                         hex(reinterpret_cast<const std::uint8_t*>(example.bytes.data()), example.bytes.size()).c_str(),
                         f.hash, hex(reference.data(), reference.size()).c_str(), h);
    }
    std::printf("check-corpus: cross-check %s: %zu distinct frames in %zu flows; zc_packet_hash against the "
                "independent key: %llu flows hash unlike among their frames, %llu unlike their simplest frame, "
                "%llu share a hash with another\n",
                mode_name.c_str(), expected.entries.size(), expected.flows.size(),
                static_cast<unsigned long long>(differing), static_cast<unsigned long long>(unlike_reference),
                static_cast<unsigned long long>(sharing));
    return differing || unlike_reference || sharing ? 1 : 0;
}

bool parse_generated(const char* text, std::uint64_t* count, std::uint32_t* size, std::uint32_t* flows)
{
    unsigned long long c = 0;
    unsigned s = 0, f = 0;
    char tail = 0;
    if (std::sscanf(text, "%llu,%u,%u%c", &c, &s, &f, &tail) != 3)
        return false;
    if (c == 0 || f == 0 || f > 65536 || s < zc::frames::kMinSize || s > zc::frames::kMaxSize)
        return false;
    *count = c;
    *size = s;
    *flows = f;
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    std::string mode_name;
    std::vector<std::string> corpora;
    std::uint64_t loops = 1;
    std::uint64_t generated = 0;
    std::uint32_t generated_size = 0, generated_flows = 0;
    bool cross = false;
    static const option kLong[] = {{"hash", required_argument, nullptr, 'm'},
                                   {"corpus", required_argument, nullptr, 'p'},
                                   {"generated", required_argument, nullptr, 'g'},
                                   {"loops", required_argument, nullptr, 'l'},
                                   {"cross-check", no_argument, nullptr, 'x'},
                                   {"help", no_argument, nullptr, 'h'},
                                   {nullptr, 0, nullptr, 0}};
    int option = 0;
    while ((option = getopt_long(argc, argv, "m:p:g:l:xh", kLong, nullptr)) != -1) {
        char* end = nullptr;
        switch (option) {
        case 'm': mode_name = optarg; break;
        case 'p': corpora.push_back(optarg); break;
        case 'g':
            if (!parse_generated(optarg, &generated, &generated_size, &generated_flows)) {
                std::fprintf(stderr, "check-corpus: --generated %s: COUNT,SIZE,FLOWS as given to zc-send -c -s -f\n",
                             optarg);
                return 2;
            }
            break;
        case 'l':
            loops = std::strtoull(optarg, &end, 10);
            if (*end || end == optarg || loops == 0) {
                std::fprintf(stderr, "check-corpus: --loops %s: a number, 1 or more\n", optarg);
                return 2;
            }
            break;
        case 'x': cross = true; break;
        case 'h': std::fputs(kUsage, stdout); return 0;
        default: std::fputs(kUsage, stderr); return 2;
        }
    }
    const bool round_robin = mode_name == "round-robin";
    KeyMode mode = KeyMode::FiveTuple;
    zc_hash_mode zc_mode = ZC_HASH_5TUPLE;
    if (!round_robin && (!zc::check::key_mode_from_name(mode_name, &mode) ||
                         zc_hash_mode_from_name(mode_name.c_str(), &zc_mode) != 0)) {
        std::fprintf(stderr, "check-corpus: --hash: 5tuple, 2tuple, inner-5tuple, vlan or round-robin\n%s", kUsage);
        return 2;
    }
    const int queues = argc - optind;
    if ((corpora.empty() && generated == 0) || (queues == 0 && !cross) || (cross && round_robin)) {
        std::fputs(kUsage, stderr);
        return 2;
    }

    // What was sent.
    Expected expected;
    for (const std::string& path : corpora) {
        const std::string error = read_capture(
            path.c_str(), [&](const std::uint8_t* data, std::uint32_t length) { expected.add(data, length, loops); });
        if (!error.empty()) {
            std::fprintf(stderr, "check-corpus: %s\n", error.c_str());
            return 1;
        }
    }
    if (generated) {
        std::vector<std::byte> frame(zc::frames::frame_bytes(generated_size));
        for (std::uint64_t n = 0; n < generated; ++n) {
            zc::frames::build(frame.data(), generated_size, zc::frames::nth(n, generated_flows), n);
            expected.add(reinterpret_cast<const std::uint8_t*>(frame.data()), static_cast<std::uint32_t>(frame.size()),
                         1);
        }
    }
    if (!round_robin)
        expected.key_all(mode);
    int failures = 0;
    if (cross) {
        failures += cross_check(expected, mode, zc_mode, mode_name);
        if (queues == 0)
            return failures ? 1 : 0;
    }

    // What the queues hold, all read at once.
    std::vector<Tally> tallies(static_cast<std::size_t>(queues));
    std::vector<std::thread> readers;
    for (int q = 0; q < queues; ++q) {
        tallies[static_cast<std::size_t>(q)].path = argv[optind + q];
        readers.emplace_back(tally_queue, std::cref(expected), mode, !round_robin,
                             std::ref(tallies[static_cast<std::size_t>(q)]));
    }
    for (std::thread& reader : readers)
        reader.join();
    for (const Tally& t : tallies)
        if (!t.ok) {
            std::fprintf(stderr, "check-corpus: %s\n", t.error.c_str());
            return 1;
        }

    // Frames.
    std::uint64_t received = 0, missing = 0, surplus = 0, foreign = 0;
    for (int q = 0; q < queues; ++q) {
        const Tally& t = tallies[static_cast<std::size_t>(q)];
        received += t.frames;
        foreign += t.foreign_count;
        for (const std::string& frame : t.foreign)
            std::fprintf(stderr, "check-corpus: queue %d: a frame that was not sent (or was altered): %s\n", q,
                         frame.c_str());
    }
    std::uint64_t reported = 0;
    for (std::uint32_t i = 0; i < expected.entries.size(); ++i) {
        const Entry& e = expected.entries[i];
        std::uint64_t seen = 0;
        for (const Tally& t : tallies)
            seen += t.seen[i];
        if (seen == e.wanted)
            continue;
        if (++reported <= 5)
            std::fprintf(stderr, "check-corpus: expected frame #%llu arrived %llu times, sent %llu times: %s\n",
                         static_cast<unsigned long long>(e.first), static_cast<unsigned long long>(seen),
                         static_cast<unsigned long long>(e.wanted),
                         hex(reinterpret_cast<const std::uint8_t*>(e.bytes.data()), e.bytes.size()).c_str());
        if (seen < e.wanted)
            missing += e.wanted - seen;
        else
            surplus += seen - e.wanted;
    }
    std::printf("check-corpus: %s, %d queues:", mode_name.c_str(), queues);
    for (const Tally& t : tallies)
        std::printf(" %llu", static_cast<unsigned long long>(t.frames));
    std::printf(" frames\n");
    std::printf("check-corpus: %llu frames received, %llu sent (%zu distinct): %llu missing, %llu surplus, "
                "%llu not sent\n",
                static_cast<unsigned long long>(received), static_cast<unsigned long long>(expected.frames),
                expected.entries.size(), static_cast<unsigned long long>(missing),
                static_cast<unsigned long long>(surplus), static_cast<unsigned long long>(foreign));
    if (missing || surplus || foreign)
        ++failures;

    // Spread.
    for (int q = 0; q < queues; ++q)
        if (tallies[static_cast<std::size_t>(q)].frames == 0) {
            std::fprintf(stderr, "check-corpus: queue %d (%s) holds no frame\n", q, argv[optind + q]);
            ++failures;
        }
    if (round_robin)
        return failures ? 1 : 0;

    // Flows: each in one queue.
    std::uint64_t flows = 0, split = 0, both_ways = 0, inner = 0;
    std::map<std::string, std::uint64_t> kinds;
    auto report_split = [&](const std::string& key, const std::vector<std::uint64_t>& where_counts) {
        if (++split > 10)
            return;
        std::string where;
        for (int q = 0; q < queues; ++q)
            if (where_counts[static_cast<std::size_t>(q)])
                where += " queue " + std::to_string(q) + ": " + std::to_string(where_counts[static_cast<std::size_t>(q)]);
        std::fprintf(stderr, "check-corpus: flow split: %s:%s\n", key.c_str(), where.c_str());
    };
    std::vector<std::uint64_t> where(static_cast<std::size_t>(queues));
    for (std::uint32_t flow = 0; flow < expected.flows.size(); ++flow) {
        int holders = 0;
        std::uint8_t directions = 0;
        for (int q = 0; q < queues; ++q) {
            const Tally& t = tallies[static_cast<std::size_t>(q)];
            where[static_cast<std::size_t>(q)] = t.per_flow[flow];
            holders += t.per_flow[flow] != 0;
            directions |= t.directions[flow];
        }
        if (holders == 0)
            continue;
        ++flows;
        ++kinds[expected.flows[flow].kind];
        both_ways += directions == 3;
        if (holders > 1)
            report_split(expected.flows[flow].key, where);
    }
    // Frames that were not sent still belong to flows, some perhaps in
    // several queues: said too, although they fail the run already.
    std::map<std::string, std::vector<std::uint64_t>> foreign_flows;
    for (int q = 0; q < queues; ++q)
        for (const auto& [key, n] : tallies[static_cast<std::size_t>(q)].foreign_flows) {
            auto& counts = foreign_flows[key];
            counts.resize(static_cast<std::size_t>(queues), 0);
            counts[static_cast<std::size_t>(q)] += n;
        }
    for (const auto& [key, counts] : foreign_flows) {
        int holders = 0;
        for (std::uint64_t n : counts)
            holders += n != 0;
        if (holders > 1)
            report_split(key + " (frames not sent)", counts);
    }
    for (const Tally& t : tallies)
        inner += t.inner;
    std::printf("check-corpus: %llu flows (", static_cast<unsigned long long>(flows));
    const char* separator = "";
    for (const auto& [kind, n] : kinds) {
        std::printf("%s%s %llu", separator, kind.c_str(), static_cast<unsigned long long>(n));
        separator = ", ";
    }
    std::printf("), %llu seen both ways, %llu frames keyed inside a tunnel; %llu flows split\n",
                static_cast<unsigned long long>(both_ways), static_cast<unsigned long long>(inner),
                static_cast<unsigned long long>(split));
    if (split)
        ++failures;
    if (mode != KeyMode::Vlan && both_ways == 0) {
        std::fprintf(stderr, "check-corpus: no flow was seen both ways: symmetry is not tested\n");
        ++failures;
    }
    return failures ? 1 : 0;
}

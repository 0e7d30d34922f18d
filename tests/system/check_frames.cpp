// SPDX-License-Identifier: BSD-3-Clause
//
// check-frames FILE --count N --size BYTES [--flows F] [--sequences | --unique] [--list-flows]
//
// Reads a capture and checks that it holds exactly N frames, each one
// byte-for-byte the frame zc::frames::build makes for its flow and sequence
// number (what zc-send sends). With --sequences, the sequence numbers must
// be exactly 0..N-1, each once (no loss, no duplicate); with --unique, no
// sequence number may come twice, but some may be missing (a capture of a
// lossy link: a frame seen twice means a buffer was reused under a
// consumer that still held it). Prints what is wrong
// and exits 1; exits 0 when all is right. With --list-flows, prints the flow
// numbers the capture holds, one a line, instead of the summary line.

#include <getopt.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"

int main(int argc, char** argv)
{
    std::uint64_t count = 0;
    std::uint32_t size = 0;
    std::uint32_t flows = 0;
    bool sequences = false;
    bool unique = false;
    bool list_flows = false;
    static const struct option longs[] = {{"count", required_argument, nullptr, 'c'},
                                          {"size", required_argument, nullptr, 's'},
                                          {"flows", required_argument, nullptr, 'f'},
                                          {"sequences", no_argument, nullptr, 'q'},
                                          {"unique", no_argument, nullptr, 'u'},
                                          {"list-flows", no_argument, nullptr, 'l'},
                                          {nullptr, 0, nullptr, 0}};
    int option = 0;
    while ((option = getopt_long(argc, argv, "c:s:f:qul", longs, nullptr)) != -1) {
        switch (option) {
        case 'c': count = std::strtoull(optarg, nullptr, 10); break;
        case 's': size = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); break;
        case 'f': flows = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); break;
        case 'q': sequences = true; break;
        case 'u': unique = true; break;
        case 'l': list_flows = true; break;
        default: return 2;
        }
    }
    if (optind + 1 != argc || count == 0 || size < zc::frames::kMinSize || size > zc::frames::kMaxSize) {
        std::fprintf(stderr, "usage: check-frames FILE --count N --size BYTES [--flows F] [--sequences | --unique] [--list-flows]\n");
        return 2;
    }
    char error[PCAP_ERRBUF_SIZE];
    pcap_t* capture = pcap_open_offline(argv[optind], error);
    if (!capture) {
        std::fprintf(stderr, "check-frames: %s\n", error);
        return 1;
    }
    std::vector<bool> seen(sequences ? count : 0, false);
    std::vector<bool> seen_any; // --unique: grows with the highest sequence number
    std::vector<bool> flows_seen;
    std::vector<std::byte> expected(size);
    std::uint64_t frames = 0;
    std::uint64_t wrong = 0;
    struct pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    auto complain = [&](const char* what) {
        if (++wrong <= 5)
            std::fprintf(stderr, "check-frames: frame %llu: %s\n", static_cast<unsigned long long>(frames), what);
    };
    while (pcap_next_ex(capture, &header, &data) == 1) {
        ++frames;
        const auto* bytes = reinterpret_cast<const std::byte*>(data);
        zc::frames::Flow flow{};
        std::uint64_t sequence = 0;
        if (header->caplen != header->len || header->len != zc::frames::frame_bytes(size)) {
            complain("wrong length");
            continue;
        }
        if (!zc::frames::parse(bytes, header->caplen, &flow, &sequence)) {
            complain("not a zc test frame");
            continue;
        }
        if (flows && flow.number >= flows) {
            complain("flow number out of range");
            continue;
        }
        zc::frames::build(expected.data(), size, flow, sequence);
        if (std::memcmp(expected.data(), bytes, header->caplen) != 0) {
            complain("bytes differ from what was sent");
            continue;
        }
        if (flow.number >= flows_seen.size())
            flows_seen.resize(flow.number + 1, false);
        flows_seen[flow.number] = true;
        if (sequences) {
            if (sequence >= count || seen[sequence]) {
                complain(sequence >= count ? "sequence number out of range" : "duplicate sequence number");
                continue;
            }
            seen[sequence] = true;
        } else if (unique) {
            if (sequence >= (std::uint64_t{1} << 32)) {
                complain("sequence number out of range");
                continue;
            }
            if (sequence >= seen_any.size())
                seen_any.resize(sequence + 1, false);
            if (seen_any[sequence]) {
                complain("duplicate sequence number");
                continue;
            }
            seen_any[sequence] = true;
        }
    }
    pcap_close(capture);
    if (frames != count) {
        std::fprintf(stderr, "check-frames: %llu frames captured, %llu sent\n", static_cast<unsigned long long>(frames),
                     static_cast<unsigned long long>(count));
        return 1;
    }
    if (wrong) {
        std::fprintf(stderr, "check-frames: %llu of %llu frames are wrong\n", static_cast<unsigned long long>(wrong),
                     static_cast<unsigned long long>(frames));
        return 1;
    }
    if (list_flows) {
        for (std::size_t flow = 0; flow < flows_seen.size(); ++flow)
            if (flows_seen[flow])
                std::printf("%zu\n", flow);
        return 0;
    }
    std::printf("check-frames: %llu frames, all as sent\n", static_cast<unsigned long long>(frames));
    return 0;
}

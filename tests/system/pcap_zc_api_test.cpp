// SPDX-License-Identifier: BSD-3-Clause
//
// Every libpcap entry point on a zc: handle, through libpcap-zc.so, on
// zc:synthetic and zc:pcap:FILE (no root needed). The binary links libpcap
// only, like tcpdump; main() re-executes it with libpcap-zc preloaded (from
// $ZC_BUILD/pcap-zc) so the dynamic linker interposes exactly as it does
// for the stock programs. Without the library every test is skipped.

#include <gtest/gtest.h>

#include <link.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"

namespace {

bool g_preloaded = false; // set in main: libpcap-zc.so is in LD_PRELOAD

#define NEED_PRELOAD()                                                                        \
    do {                                                                                      \
        if (!g_preloaded)                                                                     \
            GTEST_SKIP() << "libpcap-zc.so not found (set ZC_BUILD to the build directory)";  \
    } while (0)

// A capture file of `count` test frames (size 64, 4 flows), `gap_ns` apart.
std::string write_capture(const char* tag, std::uint32_t count, std::uint64_t gap_ns)
{
    std::string path = "/tmp/pcap-zc-api-" + std::to_string(::getpid()) + "-" + tag + ".pcap";
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    EXPECT_NE(dumper, nullptr) << pcap_geterr(dead);
    std::uint64_t t = 1700000000123456789ull; // every ns digit set
    for (std::uint32_t i = 0; i < count; ++i) {
        std::byte frame[64];
        zc::frames::build(frame, 64, zc::frames::nth(i, 4), i);
        struct pcap_pkthdr header {};
        header.ts.tv_sec = static_cast<time_t>((t + i * gap_ns) / 1000000000u);
        header.ts.tv_usec = static_cast<suseconds_t>((t + i * gap_ns) % 1000000000u);
        header.caplen = header.len = zc::frames::frame_bytes(64);
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, reinterpret_cast<const u_char*>(frame));
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
    return path;
}

// pcap_create + activate, failing the test on error.
pcap_t* open_zc(const std::string& name, int snaplen = 0, int precision = PCAP_TSTAMP_PRECISION_MICRO,
                int timeout_ms = 100)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t* p = pcap_create(name.c_str(), errbuf);
    EXPECT_NE(p, nullptr) << errbuf;
    if (!p)
        return nullptr;
    if (snaplen) {
        EXPECT_EQ(pcap_set_snaplen(p, snaplen), 0);
    }
    EXPECT_EQ(pcap_set_tstamp_precision(p, precision), 0);
    EXPECT_EQ(pcap_set_timeout(p, timeout_ms), 0);
    int rc = pcap_activate(p);
    EXPECT_EQ(rc, 0) << pcap_geterr(p);
    if (rc != 0) {
        pcap_close(p);
        return nullptr;
    }
    return p;
}

struct Counted {
    int packets = 0;
    std::uint32_t last_caplen = 0;
    std::uint32_t last_len = 0;
    pcap_t* breaker = nullptr; // pcap_breakloop after `break_after` packets
    int break_after = 0;
};

void count_packet(u_char* user, const struct pcap_pkthdr* header, const u_char*)
{
    auto* counted = reinterpret_cast<Counted*>(user);
    ++counted->packets;
    counted->last_caplen = header->caplen;
    counted->last_len = header->len;
    if (counted->breaker && counted->packets == counted->break_after)
        pcap_breakloop(counted->breaker);
}

TEST(PcapZcApi, SettingsBeforeAndAfterActivateBehaveAsLibpcap)
{
    NEED_PRELOAD();
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t* p = pcap_create("zc:synthetic", errbuf);
    ASSERT_NE(p, nullptr) << errbuf;
    EXPECT_EQ(pcap_set_snaplen(p, 128), 0);
    EXPECT_EQ(pcap_set_promisc(p, 1), 0);
    EXPECT_EQ(pcap_set_timeout(p, 50), 0);
    EXPECT_EQ(pcap_set_buffer_size(p, 4 << 20), 0);
    EXPECT_EQ(pcap_set_immediate_mode(p, 1), 0);
    EXPECT_EQ(pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO), 0);
    EXPECT_GE(pcap_set_tstamp_type(p, PCAP_TSTAMP_HOST), 0);
    EXPECT_EQ(pcap_can_set_rfmon(p), 0);
    EXPECT_EQ(pcap_setnonblock(p, 1, errbuf), 0) << errbuf;
    EXPECT_EQ(pcap_getnonblock(p, errbuf), PCAP_ERROR_NOT_ACTIVATED); // libpcap's answer before activation
    EXPECT_EQ(pcap_snapshot(p), PCAP_ERROR_NOT_ACTIVATED);
    EXPECT_EQ(pcap_datalink(p), PCAP_ERROR_NOT_ACTIVATED);

    ASSERT_EQ(pcap_activate(p), 0) << pcap_geterr(p);
    EXPECT_EQ(pcap_activate(p), PCAP_ERROR_ACTIVATED);
    EXPECT_EQ(pcap_set_snaplen(p, 64), PCAP_ERROR_ACTIVATED);
    EXPECT_EQ(pcap_set_promisc(p, 0), PCAP_ERROR_ACTIVATED);
    EXPECT_EQ(pcap_can_set_rfmon(p), 0);
    EXPECT_EQ(pcap_getnonblock(p, errbuf), 1) << "set before activation, kept";
    EXPECT_EQ(pcap_setnonblock(p, 0, errbuf), 0);
    EXPECT_EQ(pcap_getnonblock(p, errbuf), 0);

    EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
    EXPECT_GE(pcap_datalink_ext(p), 0);
    int* links = nullptr;
    ASSERT_EQ(pcap_list_datalinks(p, &links), 1);
    EXPECT_EQ(links[0], DLT_EN10MB);
    pcap_free_datalinks(links);
    EXPECT_EQ(pcap_set_datalink(p, DLT_EN10MB), 0);
    EXPECT_EQ(pcap_set_datalink(p, DLT_RAW), PCAP_ERROR);
    EXPECT_EQ(pcap_snapshot(p), 128);
    EXPECT_EQ(pcap_get_tstamp_precision(p), PCAP_TSTAMP_PRECISION_NANO);
    EXPECT_EQ(pcap_is_swapped(p), 0);
    EXPECT_GE(pcap_major_version(p), 0); // a savefile's version; live handles have none
    EXPECT_GE(pcap_minor_version(p), 0);
    EXPECT_GT(pcap_bufsize(p), -2);
    EXPECT_EQ(pcap_file(p), nullptr);
    EXPECT_GE(pcap_get_selectable_fd(p), 0);
    EXPECT_EQ(pcap_fileno(p), pcap_get_selectable_fd(p));
    EXPECT_EQ(pcap_get_required_select_timeout(p), nullptr);
    int* types = nullptr;
    EXPECT_GE(pcap_list_tstamp_types(p, &types), 0);
    pcap_free_tstamp_types(types);
    pcap_close(p);
}

TEST(PcapZcApi, ReadsWithEveryReadFunction)
{
    NEED_PRELOAD();
    pcap_t* p = open_zc("zc:synthetic", 40);
    ASSERT_NE(p, nullptr);
    Counted counted;
    EXPECT_EQ(pcap_dispatch(p, 10, count_packet, reinterpret_cast<u_char*>(&counted)), 10);
    EXPECT_EQ(counted.packets, 10);
    EXPECT_EQ(counted.last_caplen, 40u); // snaplen
    EXPECT_EQ(counted.last_len, 60u);    // 64 on the wire, without FCS
    EXPECT_GT(pcap_dispatch(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), 0);
    counted = Counted{};
    EXPECT_EQ(pcap_loop(p, 25, count_packet, reinterpret_cast<u_char*>(&counted)), 0);
    EXPECT_EQ(counted.packets, 25);
    struct pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    ASSERT_EQ(pcap_next_ex(p, &header, &data), 1);
    EXPECT_EQ(header->caplen, 40u);
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(data[12], 0x08); // IPv4 ethertype
    struct pcap_pkthdr one {};
    EXPECT_NE(pcap_next(p, &one), nullptr);
    EXPECT_EQ(one.len, 60u);
    struct pcap_stat stats {};
    ASSERT_EQ(pcap_stats(p, &stats), 0);
    EXPECT_GE(stats.ps_recv, 37u);
    EXPECT_EQ(stats.ps_drop, 0u);
    pcap_close(p);
}

TEST(PcapZcApi, FilterRunsInUserSpaceAndStatsCountWhatPassed)
{
    NEED_PRELOAD();
    pcap_t* p = open_zc("zc:synthetic");
    ASSERT_NE(p, nullptr);
    struct bpf_program program {};
    // One flow, both directions: half the frames come from the client.
    ASSERT_EQ(pcap_compile(p, &program, "udp and src host 198.18.0.0", 1, PCAP_NETMASK_UNKNOWN), 0)
        << pcap_geterr(p);
    ASSERT_EQ(pcap_setfilter(p, &program), 0) << pcap_geterr(p);
    pcap_freecode(&program); // libpcap copies the program; so do we
    int from_client = 0;
    auto check = [](u_char* user, const struct pcap_pkthdr*, const u_char* data) {
        // IPv4 source address: bytes 26..29.
        if (data[26] == 198 && data[27] == 18 && data[28] == 0 && data[29] == 0)
            ++*reinterpret_cast<int*>(user);
    };
    EXPECT_EQ(pcap_loop(p, 100, check, reinterpret_cast<u_char*>(&from_client)), 0);
    EXPECT_EQ(from_client, 100);
    struct pcap_stat stats {};
    ASSERT_EQ(pcap_stats(p, &stats), 0);
    EXPECT_EQ(stats.ps_recv, 100u) << "ps_recv counts packets that passed the filter";

    ASSERT_EQ(pcap_compile(p, &program, "tcp", 1, PCAP_NETMASK_UNKNOWN), 0);
    ASSERT_EQ(pcap_setfilter(p, &program), 0);
    pcap_freecode(&program);
    ASSERT_EQ(pcap_setnonblock(p, 1, nullptr), 0);
    Counted counted;
    EXPECT_EQ(pcap_dispatch(p, 10, count_packet, reinterpret_cast<u_char*>(&counted)), 0);
    EXPECT_EQ(pcap_compile(p, &program, "no such filter ((", 1, PCAP_NETMASK_UNKNOWN), PCAP_ERROR);
    EXPECT_NE(std::strlen(pcap_geterr(p)), 0u);
    EXPECT_EQ(pcap_setfilter(p, nullptr), PCAP_ERROR);
    pcap_close(p);
}

TEST(PcapZcApi, BreakloopFromTheCallback)
{
    NEED_PRELOAD();
    pcap_t* p = open_zc("zc:synthetic");
    ASSERT_NE(p, nullptr);
    Counted counted;
    counted.breaker = p;
    counted.break_after = 5;
    EXPECT_EQ(pcap_loop(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), PCAP_ERROR_BREAK);
    EXPECT_EQ(counted.packets, 5);
    counted.breaker = nullptr;
    EXPECT_EQ(pcap_dispatch(p, 3, count_packet, reinterpret_cast<u_char*>(&counted)), 3) << "the break is consumed";
    pcap_close(p);
}

pcap_t* g_signal_target = nullptr;
void break_on_signal(int) { pcap_breakloop(g_signal_target); }

TEST(PcapZcApi, BreakloopFromASignalHandlerAndAnotherThreadWakesABlockedLoop)
{
    NEED_PRELOAD();
    // Two frames 100 s apart, replayed at their pace: the loop blocks.
    std::string path = write_capture("slow", 2, 100000000000ull);
    pcap_t* p = open_zc("zc:pcap:" + path, 0, PCAP_TSTAMP_PRECISION_MICRO, 0 /* block forever */);
    ASSERT_NE(p, nullptr);
    g_signal_target = p;
    struct sigaction action {};
    action.sa_handler = break_on_signal;
    sigaction(SIGUSR1, &action, nullptr);
    pthread_t self = pthread_self();
    std::thread signaller([self] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        pthread_kill(self, SIGUSR1);
    });
    Counted counted;
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(pcap_loop(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), PCAP_ERROR_BREAK);
    signaller.join();
    EXPECT_EQ(counted.packets, 1);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));

    std::thread breaker([p] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        pcap_breakloop(p);
    });
    EXPECT_EQ(pcap_dispatch(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), PCAP_ERROR_BREAK);
    breaker.join();
    pcap_close(p);
    signal(SIGUSR1, SIG_DFL);
    std::filesystem::remove(path);
}

TEST(PcapZcApi, NonBlockingModeAndTheSelectableFd)
{
    NEED_PRELOAD();
    // 10 frames 200 ms apart.
    std::string path = write_capture("paced", 10, 200000000ull);
    pcap_t* p = open_zc("zc:pcap:" + path);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(pcap_setnonblock(p, 1, nullptr), 0);
    Counted counted;
    // The first frame is due at once; then nothing for 200 ms.
    struct pollfd entry = {pcap_get_selectable_fd(p), POLLIN, 0};
    ASSERT_EQ(poll(&entry, 1, 2000), 1);
    EXPECT_EQ(pcap_dispatch(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), 1);
    EXPECT_EQ(pcap_dispatch(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), 0) << "non-blocking";
    ASSERT_EQ(poll(&entry, 1, 2000), 1) << "the selectable fd wakes for the next frame";
    EXPECT_EQ(pcap_dispatch(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), 1);
    pcap_close(p);
    std::filesystem::remove(path);
}

TEST(PcapZcApi, PacketsHeldBackKeepTheSelectableFdReadable)
{
    NEED_PRELOAD();
    std::string path = write_capture("burst", 10, 0);
    pcap_t* p = open_zc("zc:pcap:" + path);
    ASSERT_NE(p, nullptr);
    Counted counted;
    EXPECT_EQ(pcap_dispatch(p, 1, count_packet, reinterpret_cast<u_char*>(&counted)), 1);
    struct pollfd entry = {pcap_get_selectable_fd(p), POLLIN, 0};
    EXPECT_EQ(poll(&entry, 1, 0), 1) << "9 frames taken from the device and not yet delivered";
    // The end of a replay: pcap_loop returns 0 like at the end of a savefile,
    // pcap_next_ex PCAP_ERROR_BREAK.
    EXPECT_EQ(pcap_loop(p, -1, count_packet, reinterpret_cast<u_char*>(&counted)), 0);
    EXPECT_EQ(counted.packets, 10);
    struct pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    EXPECT_EQ(pcap_next_ex(p, &header, &data), PCAP_ERROR_BREAK);
    pcap_close(p);
    std::filesystem::remove(path);
}

TEST(PcapZcApi, DumpFilesCarryTheHandlesPrecision)
{
    NEED_PRELOAD();
    std::string path = write_capture("source", 20, 1000);
    std::string out = "/tmp/pcap-zc-api-" + std::to_string(::getpid()) + "-out.pcap";
    pcap_t* p = open_zc("zc:pcap:" + path, 0, PCAP_TSTAMP_PRECISION_NANO);
    ASSERT_NE(p, nullptr);
    pcap_dumper_t* dumper = pcap_dump_open(p, out.c_str());
    ASSERT_NE(dumper, nullptr) << pcap_geterr(p);
    EXPECT_EQ(pcap_loop(p, -1, pcap_dump, reinterpret_cast<u_char*>(dumper)), 0);
    EXPECT_EQ(pcap_dump_flush(dumper), 0);
    pcap_dump_close(dumper);
    pcap_close(p);

    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* reader = pcap_open_offline_with_tstamp_precision(out.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    ASSERT_NE(reader, nullptr) << errbuf;
    EXPECT_EQ(pcap_datalink(reader), DLT_EN10MB);
    struct pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int frames = 0;
    std::vector<std::uint64_t> stamps;
    while (pcap_next_ex(reader, &header, &data) == 1) {
        stamps.push_back(static_cast<std::uint64_t>(header->ts.tv_sec) * 1000000000u + header->ts.tv_usec);
        ++frames;
    }
    ASSERT_EQ(frames, 20);
    EXPECT_NE(stamps[0] % 1000, 0u) << "nanosecond digits survive";
    EXPECT_EQ(stamps[1] - stamps[0], 1000u) << "the frames are 1 us apart";
    pcap_close(reader);
    std::filesystem::remove(path);
    std::filesystem::remove(out);
}

TEST(PcapZcApi, DirectionInjectAndErrors)
{
    NEED_PRELOAD();
    pcap_t* p = open_zc("zc:synthetic");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(pcap_setdirection(p, PCAP_D_IN), 0);
    EXPECT_EQ(pcap_setdirection(p, PCAP_D_INOUT), 0);
    EXPECT_EQ(pcap_setdirection(p, PCAP_D_OUT), PCAP_ERROR);
    EXPECT_NE(std::strstr(pcap_geterr(p), "incoming"), nullptr) << pcap_geterr(p);
    u_char frame[60] = {};
    EXPECT_EQ(pcap_inject(p, frame, sizeof frame), PCAP_ERROR);
    EXPECT_NE(std::strstr(pcap_geterr(p), "cannot send"), nullptr) << pcap_geterr(p);
    EXPECT_EQ(pcap_sendpacket(p, frame, sizeof frame), PCAP_ERROR);
    pcap_close(p);

    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t* missing = pcap_create("zc:pcap:/nonexistent/file.pcap", errbuf);
    ASSERT_NE(missing, nullptr) << errbuf;
    EXPECT_EQ(pcap_dispatch(missing, 1, count_packet, nullptr), PCAP_ERROR_NOT_ACTIVATED);
    EXPECT_EQ(pcap_activate(missing), PCAP_ERROR_NO_SUCH_DEVICE);
    EXPECT_NE(std::strstr(pcap_geterr(missing), "/nonexistent/file.pcap"), nullptr) << pcap_geterr(missing);
    pcap_close(missing);

    pcap_t* bad = pcap_create("zc:lo@x", errbuf);
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(pcap_activate(bad), PCAP_ERROR);
    EXPECT_NE(std::strstr(pcap_geterr(bad), "'x'"), nullptr) << pcap_geterr(bad);
    pcap_close(bad);

    pcap_t* rfmon = pcap_create("zc:synthetic", errbuf);
    ASSERT_EQ(pcap_set_rfmon(rfmon, 1), 0);
    EXPECT_EQ(pcap_activate(rfmon), PCAP_ERROR_RFMON_NOTSUP);
    pcap_close(rfmon);
}

TEST(PcapZcApi, OpenLiveGoesThroughTheInterposer)
{
    NEED_PRELOAD();
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t* p = pcap_open_live("zc:synthetic", 100, 1, 10, errbuf);
    ASSERT_NE(p, nullptr) << errbuf;
    EXPECT_EQ(pcap_snapshot(p), 100);
    Counted counted;
    EXPECT_EQ(pcap_dispatch(p, 4, count_packet, reinterpret_cast<u_char*>(&counted)), 4);
    pcap_close(p);
    EXPECT_EQ(pcap_open_live("zc:nosuch0", 100, 1, 10, errbuf), nullptr);
    EXPECT_NE(std::strstr(errbuf, "no such interface"), nullptr) << errbuf;
    // Not a zc: name: libpcap's own answer.
    EXPECT_EQ(pcap_open_live("nosuch0", 100, 1, 10, errbuf), nullptr);
    EXPECT_EQ(std::strstr(errbuf, "zc"), nullptr) << errbuf;
}

TEST(PcapZcApi, FindalldevsAppendsZcEntriesAndLookupnet)
{
    NEED_PRELOAD();
    pcap_if_t* devices = nullptr;
    char errbuf[PCAP_ERRBUF_SIZE];
    ASSERT_EQ(pcap_findalldevs(&devices, errbuf), 0) << errbuf;
    std::vector<std::string> plain, zc_names;
    bool zc_seen = false, plain_after_zc = false;
    for (pcap_if_t* d = devices; d; d = d->next) {
        bool zc = std::strncmp(d->name, "zc:", 3) == 0;
        (zc ? zc_names : plain).push_back(d->name);
        plain_after_zc = plain_after_zc || (zc_seen && !zc);
        zc_seen = zc_seen || zc;
    }
    EXPECT_FALSE(plain_after_zc) << "zc entries come after libpcap's own";
    bool lo_up = false;
    for (pcap_if_t* d = devices; d; d = d->next)
        lo_up = lo_up || (std::strcmp(d->name, "lo") == 0 && (d->flags & PCAP_IF_UP));
    if (lo_up) {
        EXPECT_NE(std::find(zc_names.begin(), zc_names.end(), "zc:lo"), zc_names.end());
    }
    pcap_freealldevs(devices);

    bpf_u_int32 net = 1, mask = 1;
    EXPECT_EQ(pcap_lookupnet("zc:synthetic", &net, &mask, errbuf), 0);
    EXPECT_EQ(net, 0u);
    EXPECT_EQ(mask, 0u);
}

TEST(PcapZcApi, CloseWithPacketsHeldAndNonZcHandlesUntouched)
{
    NEED_PRELOAD();
    pcap_t* p = open_zc("zc:synthetic");
    ASSERT_NE(p, nullptr);
    struct pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    ASSERT_EQ(pcap_next_ex(p, &header, &data), 1);
    pcap_close(p); // 63 packets still held: given back, no crash

    pcap_t* dead = pcap_open_dead(DLT_RAW, 1500);
    EXPECT_EQ(pcap_datalink(dead), DLT_RAW);
    EXPECT_EQ(pcap_snapshot(dead), 1500);
    struct bpf_program program {};
    EXPECT_EQ(pcap_compile(dead, &program, "ip", 1, PCAP_NETMASK_UNKNOWN), 0);
    pcap_freecode(&program);
    pcap_close(dead);
}

} // namespace

// In an ASan build the ASan runtime must stay first in the process's
// library list, so it goes first in LD_PRELOAD too: its path and a space,
// or nothing.
std::string asan_runtime()
{
#if defined(__SANITIZE_ADDRESS__)
    std::string found;
    dl_iterate_phdr(
        [](struct dl_phdr_info* info, std::size_t, void* data) {
            if (info->dlpi_name && std::strstr(info->dlpi_name, "libasan.so")) {
                *static_cast<std::string*>(data) = std::string(info->dlpi_name) + " ";
                return 1;
            }
            return 0;
        },
        &found);
    return found;
#else
    return {};
#endif
}

// Re-executes this program with libpcap-zc preloaded (once), then runs the
// tests. ZC_BUILD (set by make check) is the build directory.
int main(int argc, char** argv)
{
    if (!std::getenv("PCAP_ZC_API_TEST_CHILD")) {
        const char* build = std::getenv("ZC_BUILD");
        std::string base = build ? build : ".";
        for (const char* relative : {"/pcap-zc/.libs/libpcap-zc.so", "/pcap-zc/libpcap-zc.so"}) {
            std::string library = base + relative;
            if (std::filesystem::exists(library)) {
                ::setenv("PCAP_ZC_API_TEST_CHILD", "1", 1);
                ::setenv("LD_PRELOAD", (asan_runtime() + library).c_str(), 1);
                // libpcap-zc finds the build tree's libzc by itself.
                ::execv("/proc/self/exe", argv);
                std::perror("pcap_zc_api_test: re-executing with LD_PRELOAD");
                return 99;
            }
        }
    } else {
        g_preloaded = true;
    }
    alarm(120); // no run may hang
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

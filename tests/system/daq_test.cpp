// SPDX-License-Identifier: BSD-3-Clause
//
// The DAQ 2 module (daq-zc/daq2) loaded as Snort 2 loads it: through
// Debian's libdaq, daq_load_modules on the build tree's daq-zc/daq2/.libs,
// daq_find_module("zc"), then daq_initialize / daq_set_filter / daq_start /
// daq_acquire / daq_breakloop / daq_get_stats / daq_stop / daq_shutdown.
//
// zc:synthetic and zc:pcap:FILE run as any user: exact counts, headers and
// bytes, verdict and filter counters, breakloop from another thread (busy
// and idle), the DAQ timeout, and every initialize error with its own
// sentence. Veth pairs in network namespaces (root only): passive capture
// receives exactly what was sent, byte for byte, and inject sends out; in
// inline mode (-Q, A:B) exactly the frames whose verdict lets them through
// reach the far side, in either direction (and through
// zc:afpacket:), REPLACE's in-place change included, forwarded from their
// own buffers (the debug line's counts). What the DAQ 2 and DAQ 3 tests
// share is daq_fixture.hpp.
//
// Waits are bounded (5 s for a breakloop to take effect, 10 s for frames to
// arrive) only so that a broken module fails instead of hanging; nothing is
// asserted about how fast anything is.

extern "C" {
#include <daq.h>
#include <daq_api.h>
// libdaq 2.0.7 exports daq_get_device_index but its daq.h does not declare it.
int daq_get_device_index(const DAQ_Module_t* module, void* handle, const char* device);
}

#include <gtest/gtest.h>
#include <net/if.h>
#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"
#include "daq_fixture.hpp"

#ifndef DAQ_ZC_MODULE_DIR
#error DAQ_ZC_MODULE_DIR, the module directory of the build tree, must be defined
#endif

namespace zc::test {
namespace {

// No test may hang: each gets 60 s, then the program fails (netns.hpp).
[[maybe_unused]] const bool bounded = bound_each_test(60);

constexpr auto kBreakBound = std::chrono::seconds(5);

// ------------------------------------------------------------ libdaq

// The module, loaded once for the whole program as Snort does.
class DaqModules : public ::testing::Environment {
public:
    void SetUp() override
    {
        // $ZC_DAQ_DIR overrides the build tree's module directory (to test
        // an installed module).
        const char* override_dir = std::getenv("ZC_DAQ_DIR");
        directory_ = override_dir ? override_dir : DAQ_ZC_MODULE_DIR;
        const char* directories[] = {directory_.c_str(), nullptr};
        load_rc_ = daq_load_modules(directories);
        module_ = daq_find_module("zc");
    }
    void TearDown() override { daq_unload_modules(); }

    static inline const DAQ_Module_t* module_ = nullptr;
    static inline int load_rc_ = 0;
    static inline std::string directory_;
};
[[maybe_unused]] ::testing::Environment* const modules = ::testing::AddGlobalTestEnvironment(new DaqModules);

const DAQ_Module_t* zc_module() { return DaqModules::module_; }

// A DAQ_Config_t with its dictionary (libdaq's), freed on destruction.
struct Config {
    std::string name;
    DAQ_Config_t config{};

    explicit Config(std::string device, unsigned timeout_ms = 0, DAQ_Mode mode = DAQ_MODE_PASSIVE)
        : name(std::move(device))
    {
        config.name = name.data();
        config.snaplen = 65535;
        config.timeout = timeout_ms;
        config.mode = mode;
        config.flags = DAQ_CFG_PROMISC;
    }
    ~Config() { daq_config_clear_values(&config); }
    Config(const Config&) = delete;
    Config& operator=(const Config&) = delete;

    Config& set(const char* key, const char* value = nullptr)
    {
        daq_config_set_value(&config, key, value);
        return *this;
    }
};

// One instance: initialized by the constructor (rc and errbuf say how it
// went), stopped if started and shut down by the destructor.
struct Instance {
    const DAQ_Module_t* module = zc_module();
    void* handle = nullptr;
    int rc = DAQ_ERROR;
    char errbuf[DAQ_ERRBUF_SIZE] = {};

    explicit Instance(Config& config) { rc = daq_initialize(module, &config.config, &handle, errbuf, sizeof errbuf); }
    ~Instance()
    {
        if (!handle)
            return;
        if (daq_check_status(module, handle) == DAQ_STATE_STARTED)
            daq_stop(module, handle);
        daq_shutdown(module, handle);
    }
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    [[nodiscard]] std::string error() const { return daq_get_error(module, handle); }
    DAQ_Stats_t stats()
    {
        DAQ_Stats_t stats{};
        EXPECT_EQ(daq_get_stats(module, handle, &stats), DAQ_SUCCESS);
        return stats;
    }
};

// What the callback saw.
struct Seen {
    DAQ_PktHdr_t header;
    Bytes bytes;
};

struct Capture {
    std::vector<Seen> packets;
    std::vector<DAQ_Verdict> verdicts; // returned in turn; PASS when empty
    std::atomic<std::uint64_t> calls{0};
    const DAQ_Module_t* module = nullptr; // set: breakloop from the callback after `break_after` calls
    void* handle = nullptr;
    std::uint64_t break_after = 0;
    bool keep = true; // copy headers and bytes

    static DAQ_Verdict callback(void* user, const DAQ_PktHdr_t* header, const std::uint8_t* data)
    {
        auto* capture = static_cast<Capture*>(user);
        std::uint64_t n = capture->calls.fetch_add(1, std::memory_order_relaxed);
        if (capture->keep)
            capture->packets.push_back(Seen{*header, Bytes(data, data + header->caplen)});
        if (capture->module && n + 1 == capture->break_after)
            daq_breakloop(capture->module, capture->handle);
        return capture->verdicts.empty() ? DAQ_VERDICT_PASS : capture->verdicts[n % capture->verdicts.size()];
    }
};

int acquire(Instance& instance, int count, Capture& capture)
{
    return daq_acquire(instance.module, instance.handle, count, Capture::callback, &capture);
}

// Runs daq_acquire on another thread; the future is ready when it returns.
std::future<int> acquire_async(Instance& instance, int count, Capture& capture)
{
    return std::async(std::launch::async, [&instance, count, &capture] { return acquire(instance, count, capture); });
}

// ------------------------------------------------------------ loading

TEST(DaqModule, LoadsAsSnortLoadsIt)
{
    ASSERT_EQ(DaqModules::load_rc_, DAQ_SUCCESS) << "daq_load_modules(" << DaqModules::directory_ << ")";
    const DAQ_Module_t* module = zc_module();
    ASSERT_NE(module, nullptr) << "no module named zc in " << DaqModules::directory_;
    EXPECT_STREQ(daq_get_name(module), "zc");
    EXPECT_EQ(module->api_version, static_cast<std::uint32_t>(DAQ_API_VERSION));
    const std::uint32_t type = daq_get_type(module);
    EXPECT_EQ(type, static_cast<std::uint32_t>(DAQ_TYPE_INTF_CAPABLE | DAQ_TYPE_INLINE_CAPABLE |
                                               DAQ_TYPE_MULTI_INSTANCE));
    EXPECT_EQ(type & DAQ_TYPE_NO_UNPRIV, 0u);

    DAQ_Module_Info_t* list = nullptr;
    int count = daq_get_module_list(&list);
    ASSERT_EQ(count, 1) << "the module directory must hold this module alone";
    EXPECT_STREQ(list[0].name, "zc");
    daq_free_module_list(list, count);
}

class DaqTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!zc_module())
            GTEST_FAIL() << "the zc module did not load from " << DaqModules::directory_;
    }
};

// ------------------------------------------------------------ zc:synthetic

TEST_F(DaqTest, SyntheticAcquiresExactlyCountWithHeadersVerdictsAndStats)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    EXPECT_EQ(daq_check_status(daq.module, daq.handle), DAQ_STATE_INITIALIZED);
    EXPECT_EQ(daq_get_datalink_type(daq.module, daq.handle), DLT_EN10MB);
    EXPECT_EQ(daq_get_snaplen(daq.module, daq.handle), 65535);
    const std::uint32_t capabilities = daq_get_capabilities(daq.module, daq.handle);
    EXPECT_TRUE(capabilities & DAQ_CAPA_BPF);
    EXPECT_TRUE(capabilities & DAQ_CAPA_BREAKLOOP);
    EXPECT_FALSE(capabilities & DAQ_CAPA_INJECT) << "zc:synthetic cannot send";
    EXPECT_FALSE(capabilities & DAQ_CAPA_BLOCK) << "passive mode blocks nothing";
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(daq_check_status(daq.module, daq.handle), DAQ_STATE_STARTED);

    Capture capture;
    capture.verdicts = {DAQ_VERDICT_PASS, DAQ_VERDICT_BLOCK, DAQ_VERDICT_WHITELIST, DAQ_VERDICT_PASS};
    constexpr int kFirst = 1000, kSecond = 37;
    ASSERT_EQ(acquire(daq, kFirst, capture), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(capture.packets.size(), static_cast<std::size_t>(kFirst));
    // The next call goes on where this one stopped: no packet lost or repeated.
    ASSERT_EQ(acquire(daq, kSecond, capture), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(capture.packets.size(), static_cast<std::size_t>(kFirst + kSecond));

    const std::uint32_t bytes = frames::frame_bytes(64); // the synthetic default size
    std::uint64_t bad = 0;
    for (std::size_t k = 0; k < capture.packets.size(); ++k) {
        const Seen& seen = capture.packets[k];
        const DAQ_PktHdr_t& h = seen.header;
        bool good = h.caplen == bytes && h.pktlen == bytes && sequence_of(seen.bytes) == k && h.ts.tv_sec > 0 &&
                    h.ts.tv_usec >= 0 && h.ts.tv_usec < 1000000 && h.ingress_index == DAQ_PKTHDR_UNKNOWN &&
                    h.egress_index == DAQ_PKTHDR_UNKNOWN && (h.flags & DAQ_PKT_FLAG_NOT_FORWARDING);
        if (!good && bad++ < 5)
            ADD_FAILURE() << "packet " << k << ": caplen " << h.caplen << " pktlen " << h.pktlen << " sequence "
                          << sequence_of(seen.bytes) << " ingress " << h.ingress_index << " flags " << h.flags;
    }
    EXPECT_EQ(bad, 0u);

    const DAQ_Stats_t stats = daq.stats();
    const std::uint64_t total = kFirst + kSecond;
    EXPECT_EQ(stats.packets_received, total);
    EXPECT_EQ(stats.packets_filtered, 0u);
    EXPECT_EQ(stats.packets_injected, 0u);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_PASS], (total + 1) / 2);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_BLOCK], (total + 2) / 4);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_WHITELIST], (total + 1) / 4);
    // The device handed out whole bursts: what Snort has not seen yet is
    // less than one burst (64), and nothing was dropped.
    EXPECT_GE(stats.hw_packets_received, total);
    EXPECT_LT(stats.hw_packets_received - total, 64u);
    EXPECT_EQ(stats.hw_packets_dropped, 0u);

    daq_reset_stats(daq.module, daq.handle);
    const DAQ_Stats_t reset = daq.stats();
    EXPECT_EQ(reset.packets_received, 0u);
    EXPECT_EQ(reset.verdicts[DAQ_VERDICT_PASS], 0u);
    EXPECT_EQ(reset.hw_packets_received, 0u);

    ASSERT_EQ(daq_stop(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(daq_check_status(daq.module, daq.handle), DAQ_STATE_STOPPED);
    // The counters outlive the device (Snort prints them after stopping).
    daq.stats();
}

TEST_F(DaqTest, NameWithoutThePrefixOpensTheSameDevice)
{
    Config config("synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    Capture capture;
    ASSERT_EQ(acquire(daq, 10, capture), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(capture.packets.size(), 10u);
}

TEST_F(DaqTest, AcquireBeforeStartIsRefusedByLibdaq)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    Capture capture;
    EXPECT_EQ(acquire(daq, 1, capture), DAQ_ERROR);
    EXPECT_EQ(capture.calls.load(), 0u);
}

TEST_F(DaqTest, BreakloopFromTheCallbackReturnsAndKeepsTheRest)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    Capture capture;
    capture.module = daq.module;
    capture.handle = daq.handle;
    capture.break_after = 10;
    ASSERT_EQ(acquire(daq, 0, capture), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(capture.packets.size(), 10u) << "packets after the breakloop";
    capture.module = nullptr;
    ASSERT_EQ(acquire(daq, 5, capture), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(capture.packets.size(), 15u);
    for (std::size_t k = 0; k < capture.packets.size(); ++k)
        EXPECT_EQ(sequence_of(capture.packets[k].bytes), k) << "the burst the break cut short was not kept";
}

TEST_F(DaqTest, BreakloopFromAnotherThreadStopsABusyLoop)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    Capture capture;
    capture.keep = false;
    std::future<int> done = acquire_async(daq, 0, capture);
    while (capture.calls.load() < 1000 && done.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    }
    ASSERT_NE(done.wait_for(std::chrono::seconds(0)), std::future_status::ready)
        << "acquire(0) returned on its own: " << done.get() << " " << daq.error();
    EXPECT_EQ(daq_breakloop(daq.module, daq.handle), DAQ_SUCCESS);
    ASSERT_EQ(done.wait_for(kBreakBound), std::future_status::ready) << "acquire did not return after breakloop";
    EXPECT_EQ(done.get(), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(daq.stats().packets_received, capture.calls.load());
}

// ------------------------------------------------------------ zc:pcap:FILE

class DaqFileTest : public DaqTest {
protected:
    // `frames` into a capture file, and an instance that replays it at top
    // speed, started (with `filter` unless null, and Snort's `snaplen`).
    // ASSERT_NO_FATAL_FAILURE it, then use replaying().
    void replay(const std::vector<FileFrame>& frames, const char* filter = nullptr, int snaplen = 65535)
    {
        const std::string path = directory.file("frames.pcap");
        write_pcap(path, frames);
        config_ = std::make_unique<Config>("zc:pcap:" + path);
        config_->config.snaplen = snaplen;
        config_->set("replay_speed", "0");
        instance_ = std::make_unique<Instance>(*config_);
        Instance& daq = *instance_;
        ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
        if (filter) {
            ASSERT_EQ(daq_set_filter(daq.module, daq.handle, filter), DAQ_SUCCESS) << daq.error();
        }
        ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    }
    Instance& replaying() { return *instance_; }

    TempDirectory directory;

private:
    std::unique_ptr<Config> config_; // outlives the instance
    std::unique_ptr<Instance> instance_;
};

TEST_F(DaqFileTest, ReplayDeliversEveryFrameByteForByteThenEof)
{
    const std::vector<FileFrame> frames = file_frames(300);
    ASSERT_NO_FATAL_FAILURE(replay(frames));
    Instance& daq = replaying();
    Capture capture;
    ASSERT_EQ(acquire(daq, 0, capture), DAQ_READFILE_EOF) << daq.error();
    ASSERT_EQ(capture.packets.size(), frames.size());
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const Seen& seen = capture.packets[k];
        EXPECT_EQ(seen.bytes, frames[k].bytes) << "frame " << k;
        EXPECT_EQ(seen.header.pktlen, frames[k].bytes.size());
        EXPECT_EQ(static_cast<std::uint64_t>(seen.header.ts.tv_sec), frames[k].timestamp_ns / 1000000000u);
        EXPECT_EQ(static_cast<std::uint64_t>(seen.header.ts.tv_usec), frames[k].timestamp_ns % 1000000000u / 1000u);
    }
    // The end stays the end.
    EXPECT_EQ(acquire(daq, 0, capture), DAQ_READFILE_EOF);
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.hw_packets_received, frames.size());
    EXPECT_EQ(stats.packets_received, frames.size());
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_PASS], frames.size());
}

TEST_F(DaqFileTest, FilterAdmitsExactlyTheMatchingFrames)
{
    const std::vector<FileFrame> frames = file_frames(400);
    // Flow 1: client 198.18.0.1, server 198.19.0.1, both directions.
    std::vector<std::uint64_t> matching;
    for (std::uint64_t k = 0; k < frames.size(); ++k)
        if (frames::nth(k, kFileFlows).number == 1)
            matching.push_back(k);
    ASSERT_FALSE(matching.empty());
    ASSERT_LT(matching.size(), frames.size());

    ASSERT_NO_FATAL_FAILURE(replay(frames, "udp and (host 198.18.0.1 or host 198.19.0.1)"));
    Instance& daq = replaying();
    Capture capture;
    ASSERT_EQ(acquire(daq, 0, capture), DAQ_READFILE_EOF) << daq.error();
    ASSERT_EQ(capture.packets.size(), matching.size());
    for (std::size_t i = 0; i < matching.size(); ++i)
        EXPECT_EQ(capture.packets[i].bytes, frames[matching[i]].bytes) << "match " << i;
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.packets_received, matching.size());
    EXPECT_EQ(stats.packets_filtered, frames.size() - matching.size());
    EXPECT_EQ(stats.hw_packets_received, frames.size());
}

TEST_F(DaqFileTest, CountCountsOnlyWhatPassedTheFilter)
{
    const std::vector<FileFrame> frames = file_frames(200);
    ASSERT_NO_FATAL_FAILURE(replay(frames, "host 198.18.0.2"));
    Instance& daq = replaying();
    Capture capture;
    ASSERT_EQ(acquire(daq, 7, capture), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(capture.packets.size(), 7u);
    for (const Seen& seen : capture.packets)
        EXPECT_EQ(frames::nth(sequence_of(seen.bytes), kFileFlows).number, 2u);
}

TEST_F(DaqFileTest, SnaplenCutsCaplenNotPktlen)
{
    const std::vector<FileFrame> frames = file_frames(50);
    ASSERT_NO_FATAL_FAILURE(replay(frames, nullptr, 100));
    Instance& daq = replaying();
    EXPECT_EQ(daq_get_snaplen(daq.module, daq.handle), 100);
    Capture capture;
    ASSERT_EQ(acquire(daq, 0, capture), DAQ_READFILE_EOF) << daq.error();
    ASSERT_EQ(capture.packets.size(), frames.size());
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const std::size_t length = frames[k].bytes.size();
        EXPECT_EQ(capture.packets[k].header.caplen, std::min<std::size_t>(length, 100));
        EXPECT_EQ(capture.packets[k].header.pktlen, length);
    }
}

// Two frames an hour apart, played at the file's pace: after the first,
// acquire waits.
class DaqIdleTest : public DaqFileTest {
protected:
    void SetUp() override
    {
        DaqFileTest::SetUp();
        path = directory.file("idle.pcap");
        write_pcap(path, file_frames(2, 3600ull * 1000000000u));
    }
    std::string path;
};

TEST_F(DaqIdleTest, TimeoutReturnsZeroAfterAnIdleStretch)
{
    Config config("zc:pcap:" + path, 200);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    Capture capture;
    std::future<int> done = acquire_async(daq, 0, capture);
    ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the timeout never came";
    EXPECT_EQ(done.get(), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(capture.packets.size(), 1u);
}

TEST_F(DaqIdleTest, BreakloopFromAnotherThreadEndsAWait)
{
    Config config("zc:pcap:" + path); // timeout 0: wait forever
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    Capture capture;
    std::future<int> done = acquire_async(daq, 0, capture);
    while (capture.calls.load() < 1 && done.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    }
    ASSERT_EQ(capture.calls.load(), 1u);
    // Waiting for the second frame now (an hour away).
    EXPECT_NE(done.wait_for(std::chrono::milliseconds(50)), std::future_status::ready);
    EXPECT_EQ(daq_breakloop(daq.module, daq.handle), DAQ_SUCCESS);
    ASSERT_EQ(done.wait_for(kBreakBound), std::future_status::ready) << "acquire did not return after breakloop";
    EXPECT_EQ(done.get(), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(capture.packets.size(), 1u);
}

// ------------------------------------------------------------ errors

// libdaq 2's mode of that name (libdaq 2 has no "none" mode).
DAQ_Mode daq_mode(InitError::Mode mode)
{
    return mode == InitError::Mode::Inline ? DAQ_MODE_INLINE : DAQ_MODE_PASSIVE;
}

class DaqInitErrorTest : public DaqTest, public ::testing::WithParamInterface<InitError> {};

TEST_P(DaqInitErrorTest, FailsWithItsOwnSentence)
{
    const InitError& c = GetParam();
    Config config(c.name, 0, daq_mode(c.mode));
    for (const auto& [key, value] : c.values)
        config.set(key, value);
    Instance daq(config);
    EXPECT_NE(daq.rc, DAQ_SUCCESS);
    EXPECT_EQ(daq.handle, nullptr);
    std::printf("   %s: \"%s\"\n", c.title, daq.errbuf);
    for (const std::string& words : c.said)
        EXPECT_NE(std::string(daq.errbuf).find(words), std::string::npos)
            << "'" << words << "' is not in: " << daq.errbuf;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DaqInitErrorTest, ::testing::ValuesIn(init_errors()),
    [](const ::testing::TestParamInfo<InitError>& test) { return test.param.title; });

TEST_F(DaqTest, KnownVariablesAreAccepted)
{
    Config config("zc:synthetic");
    config.set("debug", "0").set("ring_size", "1024").set("frame_count", "4096").set("busy_poll", "0");
    config.set("copy_mode").set("skb_mode", "yes").set("no_promisc", "on").set("buffers", "4096");
    config.set("replay_speed", "2.5").set("replay_loops", "3");
    Instance daq(config);
    EXPECT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
}

TEST_F(DaqTest, BadFilterIsRefusedWithASentence)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    EXPECT_NE(daq_set_filter(daq.module, daq.handle, "host and and"), DAQ_SUCCESS);
    EXPECT_NE(daq.error().find("host and and"), std::string::npos) << daq.error();
}

TEST_F(DaqTest, InjectOnADeviceThatCannotSendSaysSo)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    DAQ_PktHdr_t header{};
    const Bytes frame = test_frame(1);
    EXPECT_EQ(daq_inject(daq.module, daq.handle, &header, frame.data(), static_cast<std::uint32_t>(frame.size()), 1),
              DAQ_ERROR_NOTSUP);
    EXPECT_NE(daq.error().find("cannot send"), std::string::npos) << daq.error();
    EXPECT_EQ(daq.stats().packets_injected, 0u);
}

// ------------------------------------------------------------ veth (root)

class DaqVethTest : public NetworkTest<Network> {};

TEST_F(DaqVethTest, PassiveCaptureCountsExactlyWhatWasSent)
{
    const Network& n = net();
    Child sender = start_sender(n.veth.a, kVethFrames, n.pair.a());
    Config config("zc:" + n.veth.b, 200);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    const int ifindex = static_cast<int>(::if_nametoindex(n.veth.b.c_str()));
    EXPECT_EQ(daq_get_device_index(daq.module, daq.handle, n.veth.b.c_str()), ifindex);
    EXPECT_TRUE(daq_get_capabilities(daq.module, daq.handle) & DAQ_CAPA_DEVICE_INDEX);
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();

    sender.go();
    Capture capture;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    while (capture.packets.size() < kVethFrames && Clock::now() < give_up) {
        int rc = acquire(daq, static_cast<int>(kVethFrames - capture.packets.size()), capture);
        ASSERT_EQ(rc, DAQ_SUCCESS) << daq.error();
    }
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    // Anything more would be a stranger or a duplicate: wait one timeout for it.
    ASSERT_EQ(acquire(daq, 0, capture), DAQ_SUCCESS) << daq.error();

    ASSERT_EQ(capture.packets.size(), kVethFrames) << "frames lost or extra";
    std::map<std::uint64_t, unsigned> seen;
    std::uint64_t bad = 0;
    for (const Seen& packet : capture.packets) {
        std::uint64_t sequence = sequence_of(packet.bytes);
        bool good = sequence < kVethFrames && packet.bytes == test_frame(sequence) &&
                    packet.header.pktlen == packet.bytes.size() && packet.header.ingress_index == ifindex;
        if (!good && bad++ < 5)
            ADD_FAILURE() << "sequence " << sequence << " length " << packet.bytes.size() << " ingress "
                          << packet.header.ingress_index;
        ++seen[sequence];
    }
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(seen.size(), kVethFrames) << "duplicates";
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.packets_received, kVethFrames);
    EXPECT_EQ(stats.hw_packets_received, kVethFrames);
    EXPECT_EQ(stats.hw_packets_dropped, 0u);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_PASS], kVethFrames);
}

TEST_F(DaqVethTest, FilterOnALiveInterface)
{
    const Network& n = net();
    Child sender = start_sender(n.veth.a, kVethFrames, n.pair.a());
    Config config("zc:" + n.veth.b, 200);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_set_filter(daq.module, daq.handle, "udp and host 198.18.0.3"), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    std::uint64_t matching = 0;
    for (std::uint64_t k = 0; k < kVethFrames; ++k)
        matching += frames::nth(k, 4).number == 3 ? 1 : 0;

    sender.go();
    Capture capture;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    while (daq.stats().hw_packets_received < kVethFrames && Clock::now() < give_up)
        ASSERT_EQ(acquire(daq, 0, capture), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.hw_packets_received, kVethFrames);
    EXPECT_EQ(stats.packets_received, matching);
    EXPECT_EQ(stats.packets_filtered, kVethFrames - matching);
    EXPECT_EQ(capture.packets.size(), matching);
    for (const Seen& packet : capture.packets)
        EXPECT_EQ(frames::nth(sequence_of(packet.bytes), 4).number, 3u);
}

TEST_F(DaqVethTest, InjectSendsOutTheCaptureInterface)
{
    const Network& n = net();
    const Bytes frame = test_frame(4242);
    Child receiver(
        [&] {
            RawSocket in(n.veth.a, RawSocket::Direction::Receive);
            Child::report('r');
            Bytes got;
            const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
            while (Clock::now() < give_up)
                if (in.receive(got, 1000) && got == frame)
                    return 0;
            return 1;
        },
        n.pair.a());
    ASSERT_EQ(receiver.wait_report(10000), 'r') << "the receiver did not start";
    Config config("zc:" + n.veth.b);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_TRUE(daq_get_capabilities(daq.module, daq.handle) & DAQ_CAPA_INJECT);
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    DAQ_PktHdr_t header{};
    header.ingress_index = static_cast<int>(::if_nametoindex(n.veth.b.c_str()));
    ASSERT_EQ(daq_inject(daq.module, daq.handle, &header, frame.data(), static_cast<std::uint32_t>(frame.size()), 1),
              DAQ_SUCCESS)
        << daq.error();
    EXPECT_EQ(receiver.join(), 0) << "the injected frame did not arrive";
    EXPECT_EQ(daq.stats().packets_injected, 1u);
}

// ------------------------------------------------------------ inline (root)

// Snort's verdicts by each frame's fate (daq_fixture.hpp); REPLACE after
// rewriting the frame in place, as Snort does.
DAQ_Verdict verdict_of(Fate fate)
{
    switch (fate) {
    case Fate::Block: return DAQ_VERDICT_BLOCK;
    case Fate::Pass: return DAQ_VERDICT_PASS;
    case Fate::Whitelist: return DAQ_VERDICT_WHITELIST;
    case Fate::Blacklist: return DAQ_VERDICT_BLACKLIST;
    case Fate::Replace: return DAQ_VERDICT_REPLACE;
    }
    return DAQ_VERDICT_PASS;
}

struct Bridge {
    std::vector<Seen> packets;
    static DAQ_Verdict callback(void* user, const DAQ_PktHdr_t* header, const std::uint8_t* data)
    {
        auto* bridge = static_cast<Bridge*>(user);
        bridge->packets.push_back(Seen{*header, Bytes(data, data + header->caplen)});
        const Fate fate = fate_of(sequence_of(bridge->packets.back().bytes));
        if (fate == Fate::Replace) // Snort 2 writes through the const pointer it is given
            rewrite_in_place(const_cast<std::uint8_t*>(data), header->caplen);
        return verdict_of(fate);
    }
};

struct Bridging {
    const char* title;
    bool from_second; // send into second.b, expect out of veth.b
    bool afpacket;    // -i zc:afpacket:A:B (AF_PACKET) rather than zc:A:B (AF_XDP)
};
void PrintTo(const Bridging& bridging, std::ostream* out) { *out << bridging.title; }

class DaqInlineTest : public DaqVethTest, public ::testing::WithParamInterface<Bridging> {};

// Every frame let through crosses byte for byte (REPLACE's as Snort left
// it), none blocked does; and nothing was copied in user space: every frame
// let through left from the buffer it arrived in (the debug line's
// forwarded count), none failed, nothing was injected, and the session has
// no packet socket beyond the aggregate's own.
TEST_P(DaqInlineTest, PassedFramesCrossTheBridgeFromTheirOwnBuffersAndBlockedOnesDoNot)
{
    const Network& n = net();
    const Bridging& bridging = GetParam();
    const bool reverse = bridging.from_second;
    const std::string send_a = reverse ? n.second.a : n.veth.a;
    const std::string receive_a = reverse ? n.veth.a : n.second.a;
    const std::string in_b = reverse ? n.second.b : n.veth.b;
    const std::string out_b = reverse ? n.veth.b : n.second.b;
    constexpr std::uint64_t kFrames = 1000;
    const std::uint64_t expected = crossing(kFrames);

    Child far_end = start_far_end(receive_a, kFrames, n.pair.a());
    ASSERT_EQ(far_end.wait_report(10000), 'r') << "the far end did not start";
    Child sender = start_sender(send_a, kFrames, n.pair.a());

    const std::string prefix = bridging.afpacket ? "zc:afpacket:" : "zc:";
    Config config(prefix + n.veth.b + ":" + n.second.b, 200, DAQ_MODE_INLINE);
    config.set("debug");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    // One per interface: AF_XDP's holds promiscuous mode, AF_PACKET's
    // receives and sends. No TX-only zc:afpacket: device beside them.
    EXPECT_EQ(packet_sockets_here(), 2u) << "a packet socket besides the aggregate's";
    const std::uint32_t capabilities = daq_get_capabilities(daq.module, daq.handle);
    EXPECT_TRUE(capabilities & DAQ_CAPA_BLOCK);
    EXPECT_TRUE(capabilities & DAQ_CAPA_REPLACE);
    EXPECT_TRUE(capabilities & DAQ_CAPA_INJECT);
    ASSERT_EQ(daq_start(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    sender.go();
    Bridge bridge;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    while (bridge.packets.size() < kFrames && Clock::now() < give_up)
        ASSERT_EQ(daq_acquire(daq.module, daq.handle, 0, Bridge::callback, &bridge), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    EXPECT_EQ(far_end.join(20), 0) << "the far end did not get exactly the frames let through";

    ASSERT_EQ(bridge.packets.size(), kFrames);
    const int in_index = static_cast<int>(::if_nametoindex(in_b.c_str()));
    const int out_index = static_cast<int>(::if_nametoindex(out_b.c_str()));
    std::uint64_t bad = 0;
    for (const Seen& packet : bridge.packets) {
        bool good = packet.header.ingress_index == in_index && packet.header.egress_index == out_index &&
                    !(packet.header.flags & DAQ_PKT_FLAG_NOT_FORWARDING);
        if (!good && bad++ < 5)
            ADD_FAILURE() << "ingress " << packet.header.ingress_index << " egress " << packet.header.egress_index
                          << " flags " << packet.header.flags;
    }
    EXPECT_EQ(bad, 0u);
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.packets_received, kFrames);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_BLOCK] + stats.verdicts[DAQ_VERDICT_BLACKLIST], kFrames - expected);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_PASS] + stats.verdicts[DAQ_VERDICT_WHITELIST] +
                  stats.verdicts[DAQ_VERDICT_REPLACE],
              expected);
    EXPECT_GT(stats.verdicts[DAQ_VERDICT_REPLACE], 0u);
    EXPECT_EQ(stats.hw_packets_dropped, 0u) << "failed forwards count there too";
    EXPECT_EQ(stats.packets_injected, 0u);

    StderrCapture captured;
    ASSERT_EQ(daq_stop(daq.module, daq.handle), DAQ_SUCCESS) << daq.error();
    const StopLine stop = parse_stop_line(captured.text());
    ASSERT_TRUE(stop.found) << "no counters in the debug line at stop";
    EXPECT_EQ(stop.forwarded, expected) << "forwarded from their own buffers";
    EXPECT_EQ(stop.forward_failed, 0u);
    EXPECT_EQ(stop.injected, 0u) << "nothing copied in user space";
    EXPECT_LE(stop.forward_copied, stop.forwarded);
    if (bridging.afpacket) {
        EXPECT_EQ(stop.forward_copied, stop.forwarded) << "the kernel copies each frame into an skb";
    }
}

INSTANTIATE_TEST_SUITE_P(Bridges, DaqInlineTest,
                         ::testing::Values(Bridging{"FirstToSecond", false, false},
                                           Bridging{"SecondToFirst", true, false},
                                           Bridging{"AfPacketFirstToSecond", false, true}),
                         [](const ::testing::TestParamInfo<Bridging>& test) { return test.param.title; });

} // namespace
} // namespace zc::test

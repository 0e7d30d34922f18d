// SPDX-License-Identifier: BSD-3-Clause
//
// The DAQ 3 module (daq-zc/daq3) loaded as Snort 3 loads it: through
// libdaq 3's own loader, daq_load_dynamic_modules on the build tree's
// daq-zc/daq3/.libs, daq_find_module("zc"), a daq_config with one module
// configuration, then daq_instance_instantiate / set_filter / start /
// msg_receive / msg_finalize / interrupt / get_stats / stop / destroy.
//
// zc:synthetic and zc:pcap:FILE run as any user: exact counts, headers and
// bytes, verdict and filter counters, the receive statuses (WOULD_BLOCK,
// TIMEOUT, EOF, NOBUF when every message is out, INTERRUPTED from another
// thread while blocked), the message pool, and every instantiate error
// with its own sentence. Veth pairs in network namespaces (root only):
// passive capture receives exactly what was sent, byte for byte; inject
// sends out; in inline mode exactly the frames whose verdict lets them
// through reach the far side, in either direction (and through
// zc:afpacket:), REPLACE's in-place change included, forwarded from their
// own buffers (the debug line's counts). What the DAQ 2 and DAQ 3 tests
// share is daq_fixture.hpp.
//
// Waits are bounded (5 s for an interrupt to take effect, 10 s for frames
// to arrive) only so that a broken module fails instead of hanging; nothing
// is asserted about how fast anything is.

extern "C" {
#include <daq.h>
#include <daq_module_api.h>
}

#if !defined(DAQ_MODULE_API_VERSION) || DAQ_MODULE_API_VERSION < 0x00030000
#error daq3_test must be compiled with libdaq 3's headers (LIBDAQ3_CFLAGS) first
#endif

#include <gtest/gtest.h>
#include <net/if.h>
#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <set>
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

constexpr auto kInterruptBound = std::chrono::seconds(5);

// ------------------------------------------------------------ libdaq 3

// The module, loaded once for the whole program as Snort 3 does.
class DaqModules : public ::testing::Environment {
public:
    void SetUp() override
    {
        // $ZC_DAQ3_DIR overrides the build tree's module directory (to test
        // an installed module).
        const char* override_dir = std::getenv("ZC_DAQ3_DIR");
        directory_ = override_dir ? override_dir : DAQ_ZC_MODULE_DIR;
        const char* directories[] = {directory_.c_str(), nullptr};
        load_rc_ = daq_load_dynamic_modules(directories);
        module_ = daq_find_module("zc");
    }
    void TearDown() override { daq_unload_modules(); }

    static inline DAQ_Module_h module_ = nullptr;
    static inline int load_rc_ = 0;
    static inline std::string directory_;
};
[[maybe_unused]] ::testing::Environment* const modules = ::testing::AddGlobalTestEnvironment(new DaqModules);

DAQ_Module_h zc_module() { return DaqModules::module_; }

// A daq_config with the zc module's configuration, destroyed with it.
struct Config {
    DAQ_Config_h config = nullptr;
    DAQ_ModuleConfig_h module = nullptr;

    explicit Config(const std::string& input, unsigned timeout_ms = 0, DAQ_Mode mode = DAQ_MODE_PASSIVE)
    {
        EXPECT_EQ(daq_config_new(&config), DAQ_SUCCESS);
        EXPECT_EQ(daq_module_config_new(&module, zc_module()), DAQ_SUCCESS);
        daq_module_config_set_mode(module, mode);
        daq_config_push_module_config(config, module);
        daq_config_set_input(config, input.c_str());
        daq_config_set_snaplen(config, 65535);
        daq_config_set_timeout(config, timeout_ms);
    }
    ~Config() { daq_config_destroy(config); } // and the module configuration
    Config(const Config&) = delete;
    Config& operator=(const Config&) = delete;

    Config& set(const char* key, const char* value = nullptr)
    {
        EXPECT_EQ(daq_module_config_set_variable(module, key, value), DAQ_SUCCESS) << key;
        return *this;
    }
};

// One instance: instantiated by the constructor (rc and errbuf say how it
// went), stopped if started and destroyed by the destructor.
struct Instance {
    DAQ_Instance_h handle = nullptr;
    int rc = DAQ_ERROR;
    char errbuf[256] = {};

    explicit Instance(Config& config) { rc = daq_instance_instantiate(config.config, &handle, errbuf, sizeof errbuf); }
    ~Instance()
    {
        if (!handle)
            return;
        if (daq_instance_check_status(handle) == DAQ_STATE_STARTED)
            daq_instance_stop(handle);
        daq_instance_destroy(handle);
    }
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    [[nodiscard]] std::string error() const { return daq_instance_get_error(handle); }
    DAQ_Stats_t stats()
    {
        DAQ_Stats_t stats{};
        EXPECT_EQ(daq_instance_get_stats(handle, &stats), DAQ_SUCCESS);
        return stats;
    }
    DAQ_MsgPoolInfo_t pool()
    {
        DAQ_MsgPoolInfo_t info{};
        EXPECT_EQ(daq_instance_get_msg_pool_info(handle, &info), DAQ_SUCCESS);
        return info;
    }
};

// What the application saw of one message.
struct Seen {
    DAQ_PktHdr_t header;
    Bytes bytes;
};

// Receives and finalizes (verdicts in turn, PASS when empty) until `count`
// messages were seen (0: until the status is not OK or WOULD_BLOCK), and
// returns the last status.
struct Receiver {
    std::vector<Seen> seen;
    std::vector<DAQ_Verdict> verdicts;
    std::map<DAQ_RecvStatus, unsigned> statuses;
    unsigned batch = 64;
    bool keep = true;

    DAQ_RecvStatus run(Instance& daq, std::size_t count = 0)
    {
        std::vector<DAQ_Msg_h> msgs(batch);
        for (;;) {
            unsigned want = batch;
            if (count > 0)
                want = static_cast<unsigned>(std::min<std::size_t>(batch, count - seen.size()));
            DAQ_RecvStatus status = DAQ_RSTAT_OK;
            unsigned got = daq_instance_msg_receive(daq.handle, want, msgs.data(), &status);
            ++statuses[status];
            for (unsigned i = 0; i < got; ++i) {
                const DAQ_Msg_h msg = msgs[i];
                EXPECT_EQ(daq_msg_get_type(msg), DAQ_MSG_TYPE_PACKET);
                const DAQ_PktHdr_t* header = daq_msg_get_pkthdr(msg);
                const std::size_t k = seen.size();
                if (keep)
                    seen.push_back(Seen{*header, Bytes(daq_msg_get_data(msg), daq_msg_get_data(msg) +
                                                                               daq_msg_get_data_len(msg))});
                else
                    seen.push_back(Seen{*header, {}});
                DAQ_Verdict verdict = verdicts.empty() ? DAQ_VERDICT_PASS : verdicts[k % verdicts.size()];
                EXPECT_EQ(daq_instance_msg_finalize(daq.handle, msg, verdict), DAQ_SUCCESS);
            }
            if (count > 0 && seen.size() >= count)
                return status;
            if (status != DAQ_RSTAT_OK && status != DAQ_RSTAT_WOULD_BLOCK)
                return status;
        }
    }
};

// ------------------------------------------------------------ loading

TEST(Daq3Module, LoadsAsSnort3LoadsIt)
{
    ASSERT_GE(DaqModules::load_rc_, 0) << "daq_load_dynamic_modules(" << DaqModules::directory_ << ")";
    DAQ_Module_h module = zc_module();
    ASSERT_NE(module, nullptr) << "no module named zc in " << DaqModules::directory_;
    EXPECT_STREQ(daq_module_get_name(module), "zc");
    EXPECT_EQ(module->api_version, static_cast<std::uint32_t>(DAQ_MODULE_API_VERSION));
    EXPECT_EQ(module->api_size, sizeof(DAQ_ModuleAPI_t));
    const std::uint32_t type = daq_module_get_type(module);
    EXPECT_EQ(type, static_cast<std::uint32_t>(DAQ_TYPE_INTF_CAPABLE | DAQ_TYPE_INLINE_CAPABLE |
                                               DAQ_TYPE_MULTI_INSTANCE));
    EXPECT_EQ(type & DAQ_TYPE_NO_UNPRIV, 0u);

    // The directory holds this module alone.
    std::vector<std::string> names;
    for (DAQ_Module_h m = daq_modules_first(); m; m = daq_modules_next())
        names.push_back(daq_module_get_name(m));
    EXPECT_EQ(names, std::vector<std::string>{"zc"});

    // Every variable of the DAQ 2 module, each with a description.
    const DAQ_VariableDesc_t* table = nullptr;
    int count = daq_module_get_variable_descs(module, &table);
    ASSERT_GT(count, 0);
    std::set<std::string> variables;
    for (int i = 0; i < count; ++i) {
        variables.insert(table[i].name);
        EXPECT_TRUE(table[i].description && *table[i].description) << table[i].name;
    }
    for (const char* name : {"debug", "ring_size", "frame_count", "buffers", "busy_poll", "copy_mode", "skb_mode",
                             "no_promisc", "replay_speed", "replay_loops"})
        EXPECT_TRUE(variables.count(name)) << name;
    EXPECT_EQ(variables.size(), static_cast<std::size_t>(count));
}

class Daq3Test : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!zc_module())
            GTEST_FAIL() << "the zc module did not load from " << DaqModules::directory_;
    }
};

// ------------------------------------------------------------ zc:synthetic

TEST_F(Daq3Test, SyntheticReceivesExactlyCountWithHeadersVerdictsAndStats)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    EXPECT_EQ(daq_instance_check_status(daq.handle), DAQ_STATE_INITIALIZED);
    EXPECT_EQ(daq_instance_get_datalink_type(daq.handle), DLT_EN10MB);
    EXPECT_EQ(daq_instance_get_snaplen(daq.handle), 65535);
    const std::uint32_t capabilities = daq_instance_get_capabilities(daq.handle);
    EXPECT_TRUE(capabilities & DAQ_CAPA_BPF);
    EXPECT_TRUE(capabilities & DAQ_CAPA_INTERRUPT);
    EXPECT_TRUE(capabilities & DAQ_CAPA_UNPRIV_START);
    EXPECT_FALSE(capabilities & DAQ_CAPA_INJECT) << "zc:synthetic cannot send";
    EXPECT_FALSE(capabilities & DAQ_CAPA_BLOCK) << "passive mode blocks nothing";
    const DAQ_MsgPoolInfo_t pool = daq.pool();
    EXPECT_GE(pool.size, 64u);
    EXPECT_EQ(pool.available, pool.size);
    EXPECT_GT(pool.mem_size, 0u);
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(daq_instance_check_status(daq.handle), DAQ_STATE_STARTED);

    Receiver receiver;
    receiver.verdicts = {DAQ_VERDICT_PASS, DAQ_VERDICT_BLOCK, DAQ_VERDICT_WHITELIST, DAQ_VERDICT_PASS};
    receiver.batch = 16; // Snort 3's default batch size
    constexpr std::size_t kFirst = 1000, kSecond = 37;
    receiver.run(daq, kFirst);
    ASSERT_EQ(receiver.seen.size(), kFirst);
    // The next calls go on where these stopped: no packet lost or repeated.
    receiver.run(daq, kFirst + kSecond);
    ASSERT_EQ(receiver.seen.size(), kFirst + kSecond);

    const std::uint32_t bytes = frames::frame_bytes(64); // the synthetic default size
    std::uint64_t bad = 0;
    for (std::size_t k = 0; k < receiver.seen.size(); ++k) {
        const Seen& seen = receiver.seen[k];
        const DAQ_PktHdr_t& h = seen.header;
        bool good = seen.bytes.size() == bytes && h.pktlen == bytes && sequence_of(seen.bytes) == k &&
                    h.ts.tv_sec > 0 && h.ts.tv_usec >= 0 && h.ts.tv_usec < 1000000 &&
                    h.ingress_index == DAQ_PKTHDR_UNKNOWN && h.egress_index == DAQ_PKTHDR_UNKNOWN &&
                    h.ingress_group == DAQ_PKTHDR_UNKNOWN && (h.flags & DAQ_PKT_FLAG_NOT_FORWARDING);
        if (!good && bad++ < 5)
            ADD_FAILURE() << "packet " << k << ": length " << seen.bytes.size() << " pktlen " << h.pktlen
                          << " sequence " << sequence_of(seen.bytes) << " ingress " << h.ingress_index << " flags "
                          << h.flags;
    }
    EXPECT_EQ(bad, 0u);

    const DAQ_Stats_t stats = daq.stats();
    const std::uint64_t total = kFirst + kSecond;
    EXPECT_EQ(stats.packets_received, total);
    EXPECT_EQ(stats.packets_filtered, 0u);
    EXPECT_EQ(stats.packets_injected, 0u);
    EXPECT_EQ(stats.packets_outstanding, 0u);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_PASS], (total + 1) / 2);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_BLOCK], (total + 2) / 4);
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_WHITELIST], (total + 1) / 4);
    // Only what was asked for is taken from the device.
    EXPECT_EQ(stats.hw_packets_received, total);
    EXPECT_EQ(stats.hw_packets_dropped, 0u);
    EXPECT_EQ(daq.pool().available, pool.size) << "every message finalized is free again";

    daq_instance_reset_stats(daq.handle);
    const DAQ_Stats_t reset = daq.stats();
    EXPECT_EQ(reset.packets_received, 0u);
    EXPECT_EQ(reset.verdicts[DAQ_VERDICT_PASS], 0u);
    EXPECT_EQ(reset.hw_packets_received, 0u);

    ASSERT_EQ(daq_instance_stop(daq.handle), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(daq_instance_check_status(daq.handle), DAQ_STATE_STOPPED);
    daq.stats(); // the counters outlive the device
}

TEST_F(Daq3Test, NameWithoutThePrefixOpensTheSameDevice)
{
    Config config("synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    Receiver receiver;
    receiver.run(daq, 10);
    EXPECT_EQ(receiver.seen.size(), 10u);
}

TEST_F(Daq3Test, MessagePoolRunsOutWithNobufAndFinalizingFreesIt)
{
    constexpr std::uint32_t kPool = 100;
    Config config("zc:synthetic");
    daq_config_set_msg_pool_size(config.config, kPool);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    EXPECT_EQ(daq.pool().size, kPool);
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();

    // Take every message without finalizing any.
    std::vector<DAQ_Msg_h> held;
    DAQ_Msg_h msgs[64];
    DAQ_RecvStatus status = DAQ_RSTAT_OK;
    for (int call = 0; call < 10 && status != DAQ_RSTAT_NOBUF; ++call) {
        unsigned got = daq_instance_msg_receive(daq.handle, 64, msgs, &status);
        held.insert(held.end(), msgs, msgs + got);
    }
    EXPECT_EQ(status, DAQ_RSTAT_NOBUF);
    EXPECT_EQ(held.size(), kPool);
    unsigned got = daq_instance_msg_receive(daq.handle, 64, msgs, &status);
    EXPECT_EQ(got, 0u);
    EXPECT_EQ(status, DAQ_RSTAT_NOBUF) << "no message left: NOBUF, and at once";
    EXPECT_EQ(daq.pool().available, 0u);
    EXPECT_EQ(daq.stats().packets_outstanding, kPool);
    for (std::size_t k = 0; k < held.size(); ++k)
        EXPECT_EQ(sequence_of(Bytes(daq_msg_get_data(held[k]), daq_msg_get_data(held[k]) +
                                                                 daq_msg_get_data_len(held[k]))),
                  k)
            << "a held message's data changed";

    // Finalizing frees them, in any order.
    for (std::size_t k = held.size(); k-- > 0;)
        ASSERT_EQ(daq_instance_msg_finalize(daq.handle, held[k], DAQ_VERDICT_PASS), DAQ_SUCCESS);
    EXPECT_EQ(daq.pool().available, kPool);
    EXPECT_EQ(daq.stats().packets_outstanding, 0u);
    Receiver receiver;
    EXPECT_EQ(receiver.run(daq, 300), DAQ_RSTAT_OK);
    ASSERT_EQ(receiver.seen.size(), 300u);
    EXPECT_EQ(sequence_of(receiver.seen.front().bytes), kPool) << "the stream goes on after the held ones";
    EXPECT_EQ(daq.stats().verdicts[DAQ_VERDICT_PASS], kPool + 300);
}

TEST_F(Daq3Test, InterruptBeforeReceiveMakesTheNextOneReturnAtOnce)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    EXPECT_EQ(daq_instance_interrupt(daq.handle), DAQ_SUCCESS);
    DAQ_Msg_h msgs[16];
    DAQ_RecvStatus status = DAQ_RSTAT_OK;
    EXPECT_EQ(daq_instance_msg_receive(daq.handle, 16, msgs, &status), 0u);
    EXPECT_EQ(status, DAQ_RSTAT_INTERRUPTED);
    // Once: the receive after that one works again.
    unsigned got = daq_instance_msg_receive(daq.handle, 16, msgs, &status);
    EXPECT_EQ(got, 16u);
    EXPECT_EQ(status, DAQ_RSTAT_OK);
    for (unsigned i = 0; i < got; ++i)
        daq_instance_msg_finalize(daq.handle, msgs[i], DAQ_VERDICT_PASS);
}

// ------------------------------------------------------------ zc:pcap:FILE

class Daq3FileTest : public Daq3Test {
protected:
    TempDirectory directory;
};

TEST_F(Daq3FileTest, ReplayDeliversEveryFrameByteForByteThenEof)
{
    const std::vector<FileFrame> frames = file_frames(300);
    const std::string path = directory.file("frames.pcap");
    write_pcap(path, frames);
    Config config("zc:pcap:" + path);
    config.set("replay_speed", "0");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    Receiver receiver;
    ASSERT_EQ(receiver.run(daq), DAQ_RSTAT_EOF) << daq.error();
    ASSERT_EQ(receiver.seen.size(), frames.size());
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const Seen& seen = receiver.seen[k];
        EXPECT_EQ(seen.bytes, frames[k].bytes) << "frame " << k;
        EXPECT_EQ(seen.header.pktlen, frames[k].bytes.size());
        EXPECT_EQ(static_cast<std::uint64_t>(seen.header.ts.tv_sec), frames[k].timestamp_ns / 1000000000u);
        EXPECT_EQ(static_cast<std::uint64_t>(seen.header.ts.tv_usec), frames[k].timestamp_ns % 1000000000u / 1000u);
    }
    // The end stays the end.
    DAQ_Msg_h msgs[4];
    DAQ_RecvStatus status = DAQ_RSTAT_OK;
    EXPECT_EQ(daq_instance_msg_receive(daq.handle, 4, msgs, &status), 0u);
    EXPECT_EQ(status, DAQ_RSTAT_EOF);
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.hw_packets_received, frames.size());
    EXPECT_EQ(stats.packets_received, frames.size());
    EXPECT_EQ(stats.verdicts[DAQ_VERDICT_PASS], frames.size());
}

TEST_F(Daq3FileTest, FilterAdmitsExactlyTheMatchingFrames)
{
    const std::vector<FileFrame> frames = file_frames(400);
    const std::string path = directory.file("frames.pcap");
    write_pcap(path, frames);
    std::vector<std::uint64_t> matching;
    for (std::uint64_t k = 0; k < frames.size(); ++k)
        if (frames::nth(k, kFileFlows).number == 1)
            matching.push_back(k);
    ASSERT_FALSE(matching.empty());
    ASSERT_LT(matching.size(), frames.size());

    Config config("zc:pcap:" + path);
    config.set("replay_speed", "0");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_set_filter(daq.handle, "udp and (host 198.18.0.1 or host 198.19.0.1)"), DAQ_SUCCESS)
        << daq.error();
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    Receiver receiver;
    ASSERT_EQ(receiver.run(daq), DAQ_RSTAT_EOF) << daq.error();
    ASSERT_EQ(receiver.seen.size(), matching.size());
    for (std::size_t i = 0; i < matching.size(); ++i)
        EXPECT_EQ(receiver.seen[i].bytes, frames[matching[i]].bytes) << "match " << i;
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.packets_received, matching.size());
    EXPECT_EQ(stats.packets_filtered, frames.size() - matching.size());
    EXPECT_EQ(stats.hw_packets_received, frames.size());
}

TEST_F(Daq3FileTest, SnaplenCutsTheDataNotPktlen)
{
    const std::vector<FileFrame> frames = file_frames(50);
    const std::string path = directory.file("frames.pcap");
    write_pcap(path, frames);
    Config config("zc:pcap:" + path);
    daq_config_set_snaplen(config.config, 100);
    config.set("replay_speed", "0");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    EXPECT_EQ(daq_instance_get_snaplen(daq.handle), 100);
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    Receiver receiver;
    ASSERT_EQ(receiver.run(daq), DAQ_RSTAT_EOF) << daq.error();
    ASSERT_EQ(receiver.seen.size(), frames.size());
    for (std::size_t k = 0; k < frames.size(); ++k) {
        const std::size_t length = frames[k].bytes.size();
        EXPECT_EQ(receiver.seen[k].bytes.size(), std::min<std::size_t>(length, 100));
        EXPECT_EQ(receiver.seen[k].header.pktlen, length);
    }
}

// Two frames an hour apart, played at the file's pace: after the first,
// a receive waits.
class Daq3IdleTest : public Daq3FileTest {
protected:
    void SetUp() override
    {
        Daq3FileTest::SetUp();
        path = directory.file("idle.pcap");
        write_pcap(path, file_frames(2, 3600ull * 1000000000u));
    }
    std::string path;
};

TEST_F(Daq3IdleTest, WouldBlockThenTimeoutAfterAnIdleStretch)
{
    Config config("zc:pcap:" + path, 200);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    DAQ_Msg_h msgs[16];
    DAQ_RecvStatus status = DAQ_RSTAT_OK;
    unsigned got = daq_instance_msg_receive(daq.handle, 16, msgs, &status);
    ASSERT_EQ(got, 1u);
    EXPECT_EQ(status, DAQ_RSTAT_WOULD_BLOCK) << "one message, and nothing more now";
    daq_instance_msg_finalize(daq.handle, msgs[0], DAQ_VERDICT_PASS);
    std::future<unsigned> done = std::async(std::launch::async, [&] {
        return daq_instance_msg_receive(daq.handle, 16, msgs, &status);
    });
    ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the timeout never came";
    EXPECT_EQ(done.get(), 0u);
    EXPECT_EQ(status, DAQ_RSTAT_TIMEOUT);
}

TEST_F(Daq3IdleTest, InterruptFromAnotherThreadEndsABlockedReceive)
{
    Config config("zc:pcap:" + path); // timeout 0: wait for ever
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    DAQ_Msg_h msgs[16];
    DAQ_RecvStatus status = DAQ_RSTAT_OK;
    ASSERT_EQ(daq_instance_msg_receive(daq.handle, 16, msgs, &status), 1u);
    daq_instance_msg_finalize(daq.handle, msgs[0], DAQ_VERDICT_PASS);
    std::atomic<bool> entered{false};
    std::future<unsigned> done = std::async(std::launch::async, [&] {
        entered = true;
        return daq_instance_msg_receive(daq.handle, 16, msgs, &status);
    });
    // Waiting for the second frame now (an hour away).
    while (!entered)
        std::this_thread::yield();
    EXPECT_NE(done.wait_for(std::chrono::milliseconds(50)), std::future_status::ready);
    EXPECT_EQ(daq_instance_interrupt(daq.handle), DAQ_SUCCESS);
    ASSERT_EQ(done.wait_for(kInterruptBound), std::future_status::ready) << "the receive did not return";
    EXPECT_EQ(done.get(), 0u);
    EXPECT_EQ(status, DAQ_RSTAT_INTERRUPTED);
    EXPECT_EQ(daq.stats().packets_received, 1u);
}

// ------------------------------------------------------------ errors

// libdaq 3's mode of that name.
DAQ_Mode daq_mode(InitError::Mode mode)
{
    switch (mode) {
    case InitError::Mode::Inline: return DAQ_MODE_INLINE;
    case InitError::Mode::None: return DAQ_MODE_NONE;
    default: return DAQ_MODE_PASSIVE;
    }
}

class Daq3InitErrorTest : public Daq3Test, public ::testing::WithParamInterface<InitError> {};

TEST_P(Daq3InitErrorTest, FailsWithItsOwnSentence)
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
    Cases, Daq3InitErrorTest,
    ::testing::ValuesIn([] {
        std::vector<InitError> cases = init_errors();
        // libdaq 3 hands a module the mode it was configured with, none included.
        cases.push_back({"NoMode", "zc:synthetic", {}, {"none mode", "zc:pcap:FILE"}, InitError::Mode::None});
        return cases;
    }()),
    [](const ::testing::TestParamInfo<InitError>& test) { return test.param.title; });

TEST_F(Daq3Test, ReadFileModeIsRefusedByLibdaq)
{
    // The module is not file-capable (replay with -i zc:pcap:FILE instead),
    // and libdaq 3 itself refuses the mode.
    Config config("zc:synthetic");
    EXPECT_EQ(daq_module_config_set_mode(config.module, DAQ_MODE_READ_FILE), DAQ_ERROR_INVAL);
}

TEST_F(Daq3Test, KnownVariablesAreAccepted)
{
    Config config("zc:synthetic");
    config.set("debug", "0").set("ring_size", "1024").set("frame_count", "4096").set("busy_poll", "0");
    config.set("copy_mode").set("skb_mode", "yes").set("no_promisc", "on").set("buffers", "4096");
    config.set("replay_speed", "2.5").set("replay_loops", "3");
    Instance daq(config);
    EXPECT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
}

TEST_F(Daq3Test, BadFilterIsRefusedWithASentence)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    EXPECT_NE(daq_instance_set_filter(daq.handle, "host and and"), DAQ_SUCCESS);
    EXPECT_NE(daq.error().find("host and and"), std::string::npos) << daq.error();
}

TEST_F(Daq3Test, InjectOnADeviceThatCannotSendSaysSo)
{
    Config config("zc:synthetic");
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    DAQ_PktHdr_t header{};
    const Bytes frame = test_frame(1);
    EXPECT_EQ(daq_instance_inject(daq.handle, DAQ_MSG_TYPE_PACKET, &header, frame.data(),
                                  static_cast<std::uint32_t>(frame.size())),
              DAQ_ERROR_NOTSUP);
    EXPECT_NE(daq.error().find("cannot send"), std::string::npos) << daq.error();
    EXPECT_EQ(daq.stats().packets_injected, 0u);
    DIOCTL_QueryDeviceIndex query{"eth0", 0};
    EXPECT_EQ(daq_instance_ioctl(daq.handle, DIOCTL_GET_DEVICE_INDEX, &query, sizeof query), DAQ_ERROR_NODEV);
    EXPECT_EQ(daq_instance_ioctl(daq.handle, DIOCTL_SET_FLOW_OPAQUE, nullptr, 0), DAQ_ERROR_NOTSUP);
}

// ------------------------------------------------------------ veth (root)

class Daq3VethTest : public NetworkTest<Network> {};

TEST_F(Daq3VethTest, PassiveCaptureCountsExactlyWhatWasSent)
{
    const Network& n = net();
    Child sender = start_sender(n.veth.a, kVethFrames, n.pair.a());
    Config config("zc:" + n.veth.b, 200);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    const int ifindex = static_cast<int>(::if_nametoindex(n.veth.b.c_str()));
    DIOCTL_QueryDeviceIndex query{n.veth.b.c_str(), 0};
    EXPECT_EQ(daq_instance_ioctl(daq.handle, DIOCTL_GET_DEVICE_INDEX, &query, sizeof query), DAQ_SUCCESS);
    EXPECT_EQ(query.index, ifindex);
    EXPECT_TRUE(daq_instance_get_capabilities(daq.handle) & DAQ_CAPA_DEVICE_INDEX);
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();

    sender.go();
    Receiver receiver;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    while (receiver.seen.size() < kVethFrames && Clock::now() < give_up) {
        DAQ_RecvStatus status = receiver.run(daq, kVethFrames);
        ASSERT_TRUE(status == DAQ_RSTAT_OK || status == DAQ_RSTAT_WOULD_BLOCK || status == DAQ_RSTAT_TIMEOUT)
            << status << " " << daq.error();
    }
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    // Anything more would be a stranger or a duplicate: wait one timeout for it.
    EXPECT_EQ(receiver.run(daq), DAQ_RSTAT_TIMEOUT);

    ASSERT_EQ(receiver.seen.size(), kVethFrames) << "frames lost or extra";
    std::map<std::uint64_t, unsigned> seen;
    std::uint64_t bad = 0;
    for (const Seen& packet : receiver.seen) {
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

TEST_F(Daq3VethTest, FilterOnALiveInterface)
{
    const Network& n = net();
    Child sender = start_sender(n.veth.a, kVethFrames, n.pair.a());
    Config config("zc:" + n.veth.b, 200);
    Instance daq(config);
    ASSERT_EQ(daq.rc, DAQ_SUCCESS) << daq.errbuf;
    ASSERT_EQ(daq_instance_set_filter(daq.handle, "udp and host 198.18.0.3"), DAQ_SUCCESS) << daq.error();
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    std::uint64_t matching = 0;
    for (std::uint64_t k = 0; k < kVethFrames; ++k)
        matching += frames::nth(k, 4).number == 3 ? 1 : 0;

    sender.go();
    Receiver receiver;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    while (daq.stats().hw_packets_received < kVethFrames && Clock::now() < give_up)
        receiver.run(daq);
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    const DAQ_Stats_t stats = daq.stats();
    EXPECT_EQ(stats.hw_packets_received, kVethFrames);
    EXPECT_EQ(stats.packets_received, matching);
    EXPECT_EQ(stats.packets_filtered, kVethFrames - matching);
    EXPECT_EQ(receiver.seen.size(), matching);
    for (const Seen& packet : receiver.seen)
        EXPECT_EQ(frames::nth(sequence_of(packet.bytes), 4).number, 3u);
}

TEST_F(Daq3VethTest, InjectSendsOutTheCaptureInterface)
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
    ASSERT_TRUE(daq_instance_get_capabilities(daq.handle) & DAQ_CAPA_INJECT);
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    DAQ_PktHdr_t header{};
    header.ingress_index = static_cast<int>(::if_nametoindex(n.veth.b.c_str()));
    ASSERT_EQ(daq_instance_inject(daq.handle, DAQ_MSG_TYPE_PACKET, &header, frame.data(),
                                  static_cast<std::uint32_t>(frame.size())),
              DAQ_SUCCESS)
        << daq.error();
    EXPECT_EQ(receiver.join(), 0) << "the injected frame did not arrive";
    EXPECT_EQ(daq.stats().packets_injected, 1u);
}

// ------------------------------------------------------------ inline (root)

// Snort's verdicts by each frame's fate (daq_fixture.hpp).
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

struct Bridging {
    const char* title;
    bool from_second; // send into second.b, expect out of veth.b
    bool afpacket;    // -i zc:afpacket:A:B (AF_PACKET) rather than zc:A:B (AF_XDP)
};
void PrintTo(const Bridging& bridging, std::ostream* out) { *out << bridging.title; }

class Daq3InlineTest : public Daq3VethTest, public ::testing::WithParamInterface<Bridging> {};

// Every frame let through crosses byte for byte (REPLACE's as Snort left
// it in the message's data), none blocked does; and nothing was copied in
// user space: every frame let through left from the buffer it arrived in
// (the debug line's forwarded count), none failed, nothing was injected,
// and the session has no packet socket beyond the aggregate's own.
TEST_P(Daq3InlineTest, PassedFramesCrossTheBridgeFromTheirOwnBuffersAndBlockedOnesDoNot)
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
    const std::uint32_t capabilities = daq_instance_get_capabilities(daq.handle);
    EXPECT_TRUE(capabilities & DAQ_CAPA_BLOCK);
    EXPECT_TRUE(capabilities & DAQ_CAPA_REPLACE);
    EXPECT_TRUE(capabilities & DAQ_CAPA_INJECT);
    ASSERT_EQ(daq_instance_start(daq.handle), DAQ_SUCCESS) << daq.error();
    sender.go();

    // Verdicts by each frame's own sequence number.
    std::vector<Seen> seen;
    DAQ_Msg_h msgs[64];
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
    while (seen.size() < kFrames && Clock::now() < give_up) {
        DAQ_RecvStatus status = DAQ_RSTAT_OK;
        unsigned got = daq_instance_msg_receive(daq.handle, 64, msgs, &status);
        ASSERT_TRUE(status == DAQ_RSTAT_OK || status == DAQ_RSTAT_WOULD_BLOCK || status == DAQ_RSTAT_TIMEOUT)
            << status << " " << daq.error();
        for (unsigned i = 0; i < got; ++i) {
            std::uint8_t* data = daq_msg_get_data(msgs[i]);
            const std::uint32_t length = daq_msg_get_data_len(msgs[i]);
            seen.push_back(Seen{*daq_msg_get_pkthdr(msgs[i]), Bytes(data, data + length)});
            const Fate fate = fate_of(sequence_of(seen.back().bytes));
            if (fate == Fate::Replace)
                rewrite_in_place(data, length);
            daq_instance_msg_finalize(daq.handle, msgs[i], verdict_of(fate));
        }
    }
    EXPECT_EQ(sender.join(), 0) << "the sender failed";
    // The last finalized frames go out (and the rest back) with the next receive.
    DAQ_RecvStatus status = DAQ_RSTAT_OK;
    daq_instance_msg_receive(daq.handle, 64, msgs, &status);
    EXPECT_EQ(status, DAQ_RSTAT_TIMEOUT);
    EXPECT_EQ(far_end.join(20), 0) << "the far end did not get exactly the frames let through";

    ASSERT_EQ(seen.size(), kFrames);
    const int in_index = static_cast<int>(::if_nametoindex(in_b.c_str()));
    const int out_index = static_cast<int>(::if_nametoindex(out_b.c_str()));
    std::uint64_t bad = 0;
    for (const Seen& packet : seen) {
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
    ASSERT_EQ(daq_instance_stop(daq.handle), DAQ_SUCCESS) << daq.error();
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

INSTANTIATE_TEST_SUITE_P(Bridges, Daq3InlineTest,
                         ::testing::Values(Bridging{"FirstToSecond", false, false},
                                           Bridging{"SecondToFirst", true, false},
                                           Bridging{"AfPacketFirstToSecond", false, true}),
                         [](const ::testing::TestParamInfo<Bridging>& test) { return test.param.title; });

} // namespace
} // namespace zc::test

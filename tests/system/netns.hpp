// SPDX-License-Identifier: BSD-3-Clause
//
// tests/system/netns.hpp — what the GoogleTest system tests share, written
// once: two network namespaces of this run joined by veth pairs (traffic
// goes only between them), entering one, child processes (in a namespace,
// as nobody), a raw AF_PACKET socket, the test frames, and opening a
// device. Everything is bounded in time: bound_each_test gives each test a
// deadline, children die with the test program, commands are killed after
// 10 s. Namespaces are removed when their owner goes out of scope, when a
// test times out or the program is interrupted, and — if a run crashed —
// by the next run (their names carry the pid of the run that made them).

#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../../drivers/unique_fd.hpp"
#include "zc/device.h"

namespace zc::test {

using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

// The reason given when a test needs root and does not have it.
inline constexpr const char* kNeedsRoot = "needs root (network namespaces, veth pairs, XDP)";
bool is_root() noexcept;

// Gives every test of this program `seconds` (re-armed at each test): past
// that it says which test hung, removes the namespaces and dies of SIGALRM.
// SIGINT, SIGTERM, SIGHUP and SIGABRT remove the namespaces too. Call once,
// before the tests run (a namespace-scope initializer does).
bool bound_each_test(unsigned seconds);

// libxdp (AF_XDP sockets) looks for bpffs at /sys/fs/bpf and warns without
// it, as lib.sh does for the shell tests: mounts it there if it is missing.
// Throws std::runtime_error when it cannot.
void mount_bpffs();

// Runs a program (no shell) and waits at most 10 s; its exit status, or -1
// when it could not run, was killed or died of a signal.
int run(const std::vector<std::string>& argv);

// ------------------------------------------------------------ namespaces

// Two network namespaces, TAG-a and TAG-b, where TAG is "zt" and this
// process's pid in hex (never a name lib.sh's "z%04x" makes). IPv6 is off in
// both, so the kernel sends nothing of its own. Removed on destruction.
class NetnsPair {
public:
    struct Veth {
        std::string a; // the end in namespace a
        std::string b; // the end in namespace b
    };

    NetnsPair(); // throws std::runtime_error naming the command that failed
    ~NetnsPair();
    NetnsPair(const NetnsPair&) = delete;
    NetnsPair& operator=(const NetnsPair&) = delete;

    [[nodiscard]] const std::string& a() const noexcept { return a_; }
    [[nodiscard]] const std::string& b() const noexcept { return b_; }
    // TAG + suffix, for an interface of this run: at most 15 bytes (throws).
    [[nodiscard]] std::string interface_name(const std::string& suffix) const;
    // Adds veth pair n (n counts from 0): TAG "a" n in a, TAG "b" n in b,
    // both up, with `queues` RX and TX queues each, and `mtu` when not 0.
    Veth add_veth(unsigned queues = 1, unsigned mtu = 0);

private:
    std::string tag_, a_, b_;
    unsigned veths_ = 0;
};

// Moves this thread into a named network namespace; back when destroyed.
class EnterNetns {
public:
    explicit EnterNetns(const std::string& name); // throws std::runtime_error
    ~EnterNetns();
    EnterNetns(const EnterNetns&) = delete;
    EnterNetns& operator=(const EnterNetns&) = delete;

private:
    UniqueFd home_;
};

// Sets an interface of this thread's namespace down, and up again when
// destroyed.
class InterfaceDown {
public:
    explicit InterfaceDown(const std::string& interface); // throws std::runtime_error
    ~InterfaceDown();
    InterfaceDown(const InterfaceDown&) = delete;
    InterfaceDown& operator=(const InterfaceDown&) = delete;

private:
    std::string interface_;
};

// The interface's promiscuity count in this thread's namespace, as
// `ip -d link` shows it (a packet-socket membership raises the count, not
// the IFF_PROMISC flag). ~0u when it cannot tell.
std::uint32_t promiscuity(const std::string& interface);

// ------------------------------------------------------------ children

// A forked child that runs `body` (in namespace `netns` unless empty) and
// exits with what it returns. It dies with this process (PDEATHSIG) and
// after 60 s at the most; the destructor kills one still running.
class Child {
public:
    enum class Start { Now, OnGo };
    explicit Child(const std::function<int()>& body, const std::string& netns = {}, Start start = Start::Now);
    ~Child();
    Child(Child&& other) noexcept;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    Child& operator=(Child&&) = delete;

    // Lets a child started with Start::OnGo run its body.
    void go();
    // In the child: sends one byte to the parent's wait_report.
    static void report(char byte) noexcept;
    // The byte the child reported, or 0 after `timeout_ms` without one.
    char wait_report(int timeout_ms);
    // Waits for the exit, at most `seconds`; the exit status, or -1 when
    // the child had to be killed or died of a signal.
    int join(int seconds = 10);

private:
    pid_t pid_ = -1;
    UniqueFd go_, report_;
};

// ------------------------------------------------------------ frames

// Test frame `sequence` over `flows` flows, size sweeping 64..1518 bytes on
// the wire (frame_bytes: 60..1514 here).
Bytes test_frame(std::uint64_t sequence, std::uint32_t flows = 4);
// A frame longer than a pool buffer: test frame `sequence` of 1514 bytes,
// then a byte pattern up to `length`.
Bytes jumbo_frame(std::uint64_t sequence, std::size_t length);

// A raw AF_PACKET socket bound to an interface of this thread's namespace.
class RawSocket {
public:
    enum class Direction {
        Send,   // protocol 0: receives nothing
        Receive // every frame (ETH_P_ALL), a 64 MiB buffer
    };
    RawSocket(const std::string& interface, Direction direction); // throws std::runtime_error
    // Sends one frame, retrying for up to a second while the kernel has no room.
    bool send(const Bytes& frame);
    // Waits up to `timeout_ms` for one frame; false on timeout or error.
    bool receive(Bytes& frame, int timeout_ms);

private:
    UniqueFd fd_;
};

// ------------------------------------------------------------ devices

struct DeviceCloser {
    void operator()(zc_device* device) const noexcept { zc_device_close(device); }
};
using DevicePtr = std::unique_ptr<zc_device, DeviceCloser>;

struct Opened {
    DevicePtr device; // null when the open failed
    int rc = 0;       // what zc_device_open returned
    int code = 0;     // zc_error.code
    std::string message;
};

zc_device_config device_config(std::uint32_t flags = 0);
Opened open_device(const std::string& name, const zc_device_config& config);
// Opens `name` in a child running as nobody (uid and gid 65534, no groups,
// no capabilities) in this namespace, and closes it again there. Root only.
Opened open_as_nobody(const std::string& name, const zc_device_config& config);
zc_device_stats stats_of(zc_device* device);
// Descriptors this process has open (to see that nothing leaks).
std::size_t open_descriptors();

// ------------------------------------------------------------ fixture

// A fixture for tests that need root and a Network: a type that builds the
// namespaces, veth pairs and whatever else its tests share (and enters one
// if its tests run inside), once per test suite, and takes it all down
// after the suite, passed or failed. Not root: every test is skipped. Each
// test must close every descriptor it opened.
template <typename Network>
class NetworkTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        if (!is_root())
            return;
        try {
            network_ = std::make_unique<Network>();
        } catch (const std::exception& e) {
            setup_error_ = e.what();
        }
    }
    static void TearDownTestSuite() { network_.reset(); }

    void SetUp() override
    {
        if (!is_root()) {
            GTEST_SKIP() << kNeedsRoot;
        }
        ASSERT_TRUE(network_) << setup_error_;
        descriptors_ = open_descriptors();
    }
    void TearDown() override
    {
        if (network_ && descriptors_ != 0) {
            EXPECT_EQ(open_descriptors(), descriptors_) << "descriptors opened by the test and not closed";
        }
    }

    static Network& net() { return *network_; }

private:
    static inline std::unique_ptr<Network> network_;
    static inline std::string setup_error_;
    std::size_t descriptors_ = 0;
};

} // namespace zc::test

// SPDX-License-Identifier: BSD-3-Clause

#include "netns.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "../../drivers/synthetic/frames.hpp"

namespace zc::test {

namespace {

// ------------------------------------------------------------ what a signal handler removes

// The namespaces this process made, as "/run/netns/NAME" ("" when free):
// plain arrays, since the signal handler may read them at any moment.
constexpr std::size_t kMaxNamespaces = 8;
constexpr std::size_t kPathBytes = 64;
char g_namespaces[kMaxNamespaces][kPathBytes];
char g_running_test[256]; // "Suite.Test", for the timeout message
constexpr int kDeadlySignals[] = {SIGALRM, SIGINT, SIGTERM, SIGHUP, SIGABRT};

// What `ip netns del` does; async-signal-safe.
void remove_namespace_path(const char* path) noexcept
{
    ::umount2(path, MNT_DETACH);
    ::unlink(path);
}

void remember_namespace(const std::string& path)
{
    for (auto& slot : g_namespaces)
        if (slot[0] == '\0') {
            std::snprintf(slot, kPathBytes, "%s", path.c_str());
            return;
        }
    throw std::runtime_error("more than " + std::to_string(kMaxNamespaces) + " namespaces at once");
}

void forget_and_remove_namespace(const std::string& path) noexcept
{
    remove_namespace_path(path.c_str());
    for (auto& slot : g_namespaces)
        if (path == slot)
            slot[0] = '\0';
}

void write_stderr(const char* text) noexcept
{
    ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
    (void)ignored;
}

extern "C" void on_deadly_signal(int number)
{
    if (number == SIGALRM) {
        write_stderr("\nFAIL: timed out in ");
        write_stderr(g_running_test);
        write_stderr(" (bound_each_test); removing the test's network namespaces\n");
    }
    for (const auto& slot : g_namespaces)
        if (slot[0] != '\0')
            remove_namespace_path(slot);
    ::signal(number, SIG_DFL);
    ::raise(number);
}

class Deadline : public ::testing::EmptyTestEventListener {
public:
    explicit Deadline(unsigned seconds) : seconds_(seconds) {}

private:
    // Armed from the first suite's set-up to the end: each test, and the
    // suite set-up and tear-down around it, get `seconds` from their start.
    void OnTestSuiteStart(const ::testing::TestSuite& suite) override
    {
        std::snprintf(g_running_test, sizeof g_running_test, "%s (set-up)", suite.name());
        ::alarm(seconds_);
    }
    void OnTestStart(const ::testing::TestInfo& test) override
    {
        std::snprintf(g_running_test, sizeof g_running_test, "%s.%s", test.test_suite_name(), test.name());
        ::alarm(seconds_);
    }
    void OnTestEnd(const ::testing::TestInfo& test) override
    {
        std::snprintf(g_running_test, sizeof g_running_test, "%s (tear-down)", test.test_suite_name());
        ::alarm(seconds_);
    }
    void OnTestProgramEnd(const ::testing::UnitTest&) override { ::alarm(0); }

    unsigned seconds_;
};

// Namespaces of earlier runs that died before removing them: "zt<pid>-a"
// or "-b" whose pid no longer exists.
void remove_stale_namespaces()
{
    DIR* directory = ::opendir("/run/netns");
    if (!directory)
        return;
    while (const dirent* entry = ::readdir(directory)) {
        unsigned pid = 0;
        char side = 0;
        int used = 0;
        if (std::sscanf(entry->d_name, "zt%x-%c%n", &pid, &side, &used) == 2 && entry->d_name[used] == '\0' &&
            (side == 'a' || side == 'b') && static_cast<pid_t>(pid) != ::getpid() &&
            ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
            remove_namespace_path((std::string("/run/netns/") + entry->d_name).c_str());
    }
    ::closedir(directory);
}

void run_or_throw(const std::vector<std::string>& argv)
{
    if (run(argv) == 0)
        return;
    std::string command;
    for (const std::string& word : argv)
        command += (command.empty() ? "" : " ") + word;
    throw std::runtime_error("'" + command + "' failed");
}

// Waits for `pid` at most until `deadline`, then kills it. Its exit status,
// or -1 when killed or dead of a signal.
int reap(pid_t pid, std::chrono::steady_clock::time_point deadline)
{
    for (;;) {
        int status = 0;
        pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (done < 0)
            return -1;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

bool read_all(int fd, void* data, std::size_t size)
{
    auto* at = static_cast<char*>(data);
    while (size > 0) {
        ssize_t n = ::read(fd, at, size);
        if (n <= 0)
            return false;
        at += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// The write end of the pipe a Child reports on (in the child only).
int g_report_fd = -1;

} // namespace

bool is_root() noexcept { return ::geteuid() == 0; }

bool bound_each_test(unsigned seconds)
{
    ::testing::UnitTest::GetInstance()->listeners().Append(new Deadline(seconds));
    for (int number : kDeadlySignals)
        ::signal(number, on_deadly_signal);
    return true;
}

int run(const std::vector<std::string>& argv)
{
    std::vector<char*> words;
    for (const std::string& word : argv)
        words.push_back(const_cast<char*>(word.c_str()));
    words.push_back(nullptr);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::execvp(words[0], words.data());
        _exit(127);
    }
    return reap(pid, std::chrono::steady_clock::now() + std::chrono::seconds(10));
}

// ------------------------------------------------------------ namespaces

NetnsPair::NetnsPair()
{
    char tag[16];
    std::snprintf(tag, sizeof tag, "zt%x", static_cast<unsigned>(::getpid()));
    tag_ = tag;
    a_ = tag_ + "-a";
    b_ = tag_ + "-b";
    remove_stale_namespaces();
    try {
        for (const std::string& name : {a_, b_}) {
            run_or_throw({"ip", "netns", "add", name});
            remember_namespace("/run/netns/" + name);
            // Before any link exists (default) and for all: no router or
            // neighbour solicitations, no MLD — the kernel stays quiet.
            run_or_throw({"ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1",
                          "net.ipv6.conf.all.disable_ipv6=1"});
            run_or_throw({"ip", "-n", name, "link", "set", "lo", "up"});
        }
    } catch (...) {
        forget_and_remove_namespace("/run/netns/" + a_);
        forget_and_remove_namespace("/run/netns/" + b_);
        throw;
    }
}

NetnsPair::~NetnsPair()
{
    // Removing a namespace removes its veth ends, and with them the pairs.
    forget_and_remove_namespace("/run/netns/" + a_);
    forget_and_remove_namespace("/run/netns/" + b_);
}

std::string NetnsPair::interface_name(const std::string& suffix) const
{
    std::string name = tag_ + suffix;
    if (name.size() >= IFNAMSIZ)
        throw std::runtime_error("interface name " + name + " is longer than " + std::to_string(IFNAMSIZ - 1) +
                                 " bytes");
    return name;
}

NetnsPair::Veth NetnsPair::add_veth(unsigned queues, unsigned mtu)
{
    const std::string n = std::to_string(veths_++);
    Veth veth{interface_name("a" + n), interface_name("b" + n)};
    const std::string count = std::to_string(queues);
    run_or_throw({"ip", "link", "add", veth.a, "netns", a_, "numtxqueues", count, "numrxqueues", count, "type",
                  "veth", "peer", "name", veth.b, "netns", b_, "numtxqueues", count, "numrxqueues", count});
    for (const auto& [ns, interface] : {std::pair{a_, veth.a}, std::pair{b_, veth.b}}) {
        if (mtu != 0)
            run_or_throw({"ip", "-n", ns, "link", "set", interface, "mtu", std::to_string(mtu)});
        run_or_throw({"ip", "-n", ns, "link", "set", interface, "up"});
    }
    return veth;
}

EnterNetns::EnterNetns(const std::string& name) : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC))
{
    UniqueFd target(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!home_ || !target || ::setns(target.get(), CLONE_NEWNET) != 0)
        throw std::runtime_error("cannot enter network namespace " + name + ": " + std::strerror(errno));
}

EnterNetns::~EnterNetns()
{
    if (::setns(home_.get(), CLONE_NEWNET) != 0)
        write_stderr("cannot go back to the original network namespace\n");
}

InterfaceDown::InterfaceDown(const std::string& interface) : interface_(interface)
{
    run_or_throw({"ip", "link", "set", interface_, "down"});
}

InterfaceDown::~InterfaceDown()
{
    if (run({"ip", "link", "set", interface_, "up"}) != 0)
        ADD_FAILURE() << "cannot set " << interface_ << " up again";
}

std::uint32_t promiscuity(const std::string& interface)
{
    std::string command = "ip -d link show dev " + interface + " 2>/dev/null";
    std::fflush(nullptr);
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe)
        return ~0u;
    char text[4096] = {};
    std::size_t used = std::fread(text, 1, sizeof text - 1, pipe);
    ::pclose(pipe);
    text[used] = '\0';
    const char* at = std::strstr(text, " promiscuity ");
    return at ? static_cast<std::uint32_t>(std::strtoul(at + 13, nullptr, 10)) : ~0u;
}

// ------------------------------------------------------------ children

Child::Child(const std::function<int()>& body, const std::string& netns, Start start)
{
    int go[2], report[2];
    if (::pipe2(go, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    if (::pipe2(report, O_CLOEXEC) != 0) {
        ::close(go[0]);
        ::close(go[1]);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
        // The namespaces are the parent's to remove, not the child's.
        std::memset(g_namespaces, 0, sizeof g_namespaces);
        for (int number : kDeadlySignals)
            ::signal(number, SIG_DFL);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::alarm(60);
        ::close(go[1]);
        ::close(report[0]);
        g_report_fd = report[1];
        char byte = 0;
        if (start == Start::OnGo && ::read(go[0], &byte, 1) != 1)
            _exit(120);
        int code = 121;
        try {
            std::optional<EnterNetns> enter;
            if (!netns.empty())
                enter.emplace(netns);
            code = body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
        }
        std::fflush(nullptr);
        _exit(code);
    }
    ::close(go[0]);
    ::close(report[1]);
    go_.reset(go[1]);
    report_.reset(report[0]);
    if (pid_ < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), go_(std::move(other.go_)), report_(std::move(other.report_))
{
}

Child::~Child()
{
    if (pid_ > 0)
        join(0);
}

void Child::go()
{
    char byte = 1;
    if (::write(go_.get(), &byte, 1) != 1)
        ADD_FAILURE() << "cannot start child " << pid_;
    go_.reset();
}

void Child::report(char byte) noexcept
{
    ssize_t ignored = ::write(g_report_fd, &byte, 1);
    (void)ignored;
}

char Child::wait_report(int timeout_ms)
{
    struct pollfd entry = {report_.get(), POLLIN, 0};
    char byte = 0;
    if (::poll(&entry, 1, timeout_ms) != 1 || ::read(report_.get(), &byte, 1) != 1)
        return 0;
    return byte;
}

int Child::join(int seconds)
{
    go_.reset(); // a child still waiting to go gives up
    int status = reap(pid_, std::chrono::steady_clock::now() + std::chrono::seconds(seconds));
    pid_ = -1;
    return status;
}

// ------------------------------------------------------------ frames

Bytes test_frame(std::uint64_t sequence, std::uint32_t flows)
{
    std::uint32_t size =
        frames::kMinSize + static_cast<std::uint32_t>((sequence * 97) % (frames::kMaxSize - frames::kMinSize + 1));
    Bytes frame(frames::frame_bytes(size));
    frames::build(reinterpret_cast<std::byte*>(frame.data()), size, frames::nth(sequence, flows), sequence);
    return frame;
}

Bytes jumbo_frame(std::uint64_t sequence, std::size_t length)
{
    Bytes frame(length);
    frames::build(reinterpret_cast<std::byte*>(frame.data()), frames::kMaxSize, frames::nth(sequence, 1), sequence);
    for (std::size_t b = frames::frame_bytes(frames::kMaxSize); b < length; ++b)
        frame[b] = static_cast<std::uint8_t>(b * 13);
    return frame;
}

RawSocket::RawSocket(const std::string& interface, Direction direction)
{
    const bool receives = direction == Direction::Receive;
    const std::uint16_t protocol = receives ? htons(ETH_P_ALL) : 0;
    fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, protocol));
    struct sockaddr_ll address {};
    address.sll_family = AF_PACKET;
    address.sll_protocol = protocol;
    address.sll_ifindex = static_cast<int>(::if_nametoindex(interface.c_str()));
    if (!fd_ || address.sll_ifindex == 0 ||
        ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("raw socket on " + interface + ": " + std::strerror(errno));
    if (receives) {
        int bytes = 64 << 20;
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
    }
}

bool RawSocket::send(const Bytes& frame)
{
    for (int attempt = 0; attempt < 10000; ++attempt) {
        if (::send(fd_.get(), frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size()))
            return true;
        if (errno != ENOBUFS && errno != EAGAIN)
            break;
        ::usleep(100);
    }
    std::fprintf(stderr, "send of %zu bytes: %s\n", frame.size(), std::strerror(errno));
    return false;
}

bool RawSocket::receive(Bytes& frame, int timeout_ms)
{
    struct pollfd entry = {fd_.get(), POLLIN, 0};
    if (::poll(&entry, 1, timeout_ms) != 1)
        return false;
    frame.resize(65536);
    ssize_t n = ::recv(fd_.get(), frame.data(), frame.size(), 0);
    frame.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return n > 0;
}

// ------------------------------------------------------------ devices

zc_device_config device_config(std::uint32_t flags)
{
    zc_device_config config;
    zc_device_config_init(&config);
    config.flags = flags;
    return config;
}

Opened open_device(const std::string& name, const zc_device_config& config)
{
    Opened opened;
    zc_device* device = nullptr;
    zc_error error{};
    opened.rc = zc_device_open(name.c_str(), &config, &device, &error);
    opened.device.reset(device);
    opened.code = error.code;
    opened.message = error.message;
    return opened;
}

Opened open_as_nobody(const std::string& name, const zc_device_config& config)
{
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    UniqueFd from_child(pipe_fds[0]), to_parent(pipe_fds[1]);
    Child child([&] {
        from_child.reset();
        // Groups first, then gid, then uid: after setuid from root to
        // another user no capability is left (no SECBIT_KEEP_CAPS).
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)
            return 2;
        Opened opened = open_device(name, config);
        int head[3] = {opened.rc, opened.code, static_cast<int>(opened.message.size())};
        bool sent = ::write(to_parent.get(), head, sizeof head) == sizeof head &&
                    ::write(to_parent.get(), opened.message.data(), opened.message.size()) ==
                        static_cast<ssize_t>(opened.message.size());
        return sent ? 0 : 3;
    });
    to_parent.reset();
    Opened opened;
    int head[3] = {};
    if (read_all(from_child.get(), head, sizeof head) && head[2] >= 0 && head[2] < 4096) {
        opened.rc = head[0];
        opened.code = head[1];
        opened.message.resize(static_cast<std::size_t>(head[2]));
        if (!read_all(from_child.get(), opened.message.data(), opened.message.size()))
            opened.message = "(the child's message was cut)";
    } else {
        opened.rc = 1; // not an errno: the child did not report
        opened.message = "(the child running as nobody reported nothing)";
    }
    child.join();
    return opened;
}

zc_device_stats stats_of(zc_device* device)
{
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    zc_device_get_stats(device, &stats);
    return stats;
}

std::size_t open_descriptors()
{
    std::size_t count = 0;
    DIR* directory = ::opendir("/proc/self/fd");
    if (!directory)
        return 0;
    while (const dirent* entry = ::readdir(directory))
        count += entry->d_name[0] != '.';
    ::closedir(directory);
    return count - 1; // the directory's own descriptor
}

void mount_bpffs()
{
    struct statfs info {};
    if (::statfs("/sys/fs/bpf", &info) == 0 && info.f_type == BPF_FS_MAGIC)
        return;
    if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0)
        throw std::runtime_error(std::string("cannot mount bpffs at /sys/fs/bpf: ") + std::strerror(errno));
}

} // namespace zc::test

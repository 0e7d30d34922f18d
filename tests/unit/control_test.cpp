// SPDX-License-Identifier: BSD-3-Clause
//
// Attaching through the owner's control socket (core/internal/control_socket,
// drivers/clusterq) with a real balancer as the owner: the region comes over
// SCM_RIGHTS (so the consumer needs no access to the region file), the
// packet pool is mapped read-only, a consumer outside the cluster's group is
// refused with a sentence (by the socket's mode, and by the owner's own
// credential check), a member is served, and the eventfd wake-up never loses
// a wake-up.
//
// Needs root (/run/zc, and dropping to user nobody in children): skipped
// otherwise. Children are forked while the test is single-threaded; the
// parent then runs the owner's loop until the child is done.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "internal/control_socket.hpp"
#include "zc/balance.h"
#include "zc/device.h"
#include "zc/zc.h"

namespace {

constexpr gid_t kClusterGroup = 4242; // a group nobody is in
constexpr uid_t kNobody = 65534;
constexpr int kFaulted = 42; // a child's exit code after SIGSEGV

bool contains(const char* text, const char* part) { return std::strstr(text, part) != nullptr; }
bool contains(const char* text, const std::string& part) { return contains(text, part.c_str()); }

class ControlSocketTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0)
            GTEST_SKIP() << "needs root: /run/zc and user nobody";
        std::random_device random;
        id = 3000000000u + static_cast<std::uint32_t>(random() % 1000000000u);
    }

    void TearDown() override
    {
        zc_balancer_close(balancer);
        if (device)
            zc_device_close(device);
        if (cluster)
            zc_cluster_close(cluster);
    }

    // A cluster of `queues` queues of `slots` slots in one group, fed by
    // zc:synthetic (with `frames` buffers), with its control socket
    // listening. `group`: the region's group, or -1.
    void start(std::uint32_t queues, std::int32_t group = -1, std::uint32_t slots = 256, std::uint32_t frames = 1024,
               zc_on_full on_full = ZC_ON_FULL_DROP)
    {
        zc_cluster_config cc;
        zc_cluster_config_init(&cc);
        cc.frame_count = frames + queues * slots + 256;
        cc.queue_count = queues;
        cc.queue_slots = slots;
        cc.flags = ZC_CLUSTER_NO_HUGEPAGES;
        cc.group = group;
        zc_error err{};
        ASSERT_EQ(zc_cluster_create(id, &cc, &cluster, &err), 0) << err.message;
        zc_device_config dc;
        zc_device_config_init(&dc);
        dc.pool = cluster;
        dc.frame_count = frames;
        dc.synthetic_flows = 8;
        ASSERT_EQ(zc_device_open("zc:synthetic", &dc, &device, &err), 0) << err.message;
        zc_balancer_config bc;
        zc_balancer_config_init(&bc);
        bc.groups[0].queues = queues;
        bc.groups[0].on_full = on_full;
        bc.group_count = 1;
        ASSERT_EQ(zc_balancer_create(cluster, &device, 1, &bc, &balancer, &err), 0) << err.message;
        ASSERT_EQ(zc_balancer_listen(balancer, &err), 0) << err.message;
    }

    std::string queue_name(std::uint32_t queue) const
    {
        return "zc:" + std::to_string(id) + "@" + std::to_string(queue);
    }
    std::string socket_path() const { return "/run/zc/cluster-" + std::to_string(id) + ".sock"; }

    // The owner's loop until child `pid` exits (10 s at most: then it is
    // killed); returns its wait status. With `produce`, packets flow.
    int serve_child(pid_t pid, bool produce)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (;;) {
            zc_balancer_event events[8];
            zc_balancer_control(balancer, events, 8);
            if (produce)
                zc_balancer_poll(balancer);
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid)
                return status;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, &status, 0);
                ADD_FAILURE() << "the child did not finish in 10 s";
                return status;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }

    // A raw connection to the control socket, as a buggy or hostile client
    // would make it.
    int connect_raw() const
    {
        int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path().c_str());
        if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    // Runs the owner's control loop until `fd` has an answer (or hung up),
    // 5 s at most; returns the bytes of the answer (0: closed without one,
    // -1: nothing came). Refusals are appended to `refused`.
    ssize_t answer(int fd, zc::control::Reply& reply)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            zc_balancer_event events[8];
            std::uint32_t n = zc_balancer_control(balancer, events, 8);
            for (std::uint32_t i = 0; i < n; ++i)
                if (events[i].kind == ZC_BALANCER_CONSUMER_REFUSED)
                    refused.push_back(events[i].text);
            pollfd entry{fd, POLLIN, 0};
            if (::poll(&entry, 1, 1) > 0)
                return ::recv(fd, &reply, sizeof reply, MSG_DONTWAIT);
        }
        return -1;
    }

    std::vector<std::string> refused;
    std::uint32_t id = 0;
    zc_cluster* cluster = nullptr;
    zc_device* device = nullptr;
    zc_balancer* balancer = nullptr;
};

// In a child: becomes user nobody, in `group` too when it is not -1.
bool become_nobody(std::int32_t group)
{
    gid_t groups[1] = {static_cast<gid_t>(group)};
    return ::setgroups(group < 0 ? 0 : 1, groups) == 0 && ::setgid(kNobody) == 0 && ::setuid(kNobody) == 0;
}

// In a child: opens queue `name`; exits 0 when the open's result is `want`
// and its message holds `said`, else prints what happened and exits 1. With
// want 0, it also waits for a packet and reads it.
[[noreturn]] void open_and_exit(const std::string& name, int want, const char* said)
{
    zc_device* consumer = nullptr;
    zc_error err{};
    int rc = zc_device_open(name.c_str(), nullptr, &consumer, &err);
    if (rc != want || (said && !contains(err.message, said))) {
        std::fprintf(stderr, "open %s: %d (wanted %d): %s\n", name.c_str(), rc, want, err.message);
        ::_exit(1);
    }
    if (rc == 0) {
        zc_packet packet;
        if (zc_device_wait(consumer, 5000) != 1 || zc_device_recv_burst(consumer, &packet, 1) != 1) {
            std::fprintf(stderr, "open %s: no packet came\n", name.c_str());
            ::_exit(1);
        }
        zc_device_release_burst(consumer, &packet, 1);
        zc_device_close(consumer);
    }
    ::_exit(0);
}

TEST_F(ControlSocketTest, PoolIsMappedReadOnly)
{
    start(1);
    pid_t child = ::fork();
    if (child == 0) {
        zc_device* consumer = nullptr;
        zc_packet packet;
        if (zc_device_open(queue_name(0).c_str(), nullptr, &consumer, nullptr) != 0 ||
            zc_device_wait(consumer, 5000) != 1 || zc_device_recv_burst(consumer, &packet, 1) != 1)
            ::_exit(3);
        // The fault ends the child with a code of its own (a sanitizer's
        // handler would exit 1, like anything else).
        struct sigaction on_fault {};
        on_fault.sa_handler = [](int) { ::_exit(kFaulted); };
        ::sigaction(SIGSEGV, &on_fault, nullptr);
        const_cast<std::uint8_t*>(packet.data)[0] ^= 0xff; // must fault
        ::_exit(0);
    }
    ASSERT_GT(child, 0);
    int status = serve_child(child, true);
    ASSERT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << "the child could not read a packet";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == kFaulted)
        << "a consumer wrote into the pool (status " << status << ")";
}

TEST_F(ControlSocketTest, UserOutsideTheGroupIsRefusedBySocketMode)
{
    start(1, kClusterGroup);
    struct stat st {};
    ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(st.st_gid, kClusterGroup);
    pid_t child = ::fork();
    if (child == 0) {
        if (!become_nobody(-1))
            ::_exit(2);
        open_and_exit(queue_name(0), -EACCES, "permission denied (consumers need root or the cluster's group)");
    }
    int status = serve_child(child, false);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(ControlSocketTest, UserOutsideTheGroupIsRefusedByTheOwner)
{
    start(1, kClusterGroup);
    // The socket open to all: the owner's own check (SO_PEERCRED) still holds.
    ASSERT_EQ(::chmod(socket_path().c_str(), 0666), 0);
    pid_t child = ::fork();
    if (child == 0) {
        if (!become_nobody(-1))
            ::_exit(2);
        open_and_exit(queue_name(0), -EACCES, "uid 65534 gid 65534 may not read it (root or group 4242 only)");
    }
    int status = serve_child(child, false);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(ControlSocketTest, MemberOfTheGroupIsServedWithoutAccessToTheRegionFile)
{
    start(1, kClusterGroup);
    // The region file closed to the group: the descriptor the owner hands
    // over is what the consumer maps.
    zc_cluster_info info;
    info.struct_size = sizeof info;
    ASSERT_EQ(zc_cluster_get_info(cluster, &info), 0);
    ASSERT_EQ(::chmod(info.path, 0600), 0);
    pid_t child = ::fork();
    if (child == 0) {
        if (!become_nobody(static_cast<std::int32_t>(kClusterGroup)))
            ::_exit(2);
        open_and_exit(queue_name(0), 0, nullptr);
    }
    int status = serve_child(child, true);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(ControlSocketTest, GarbageAndSilenceAreRefusedAndTheOwnerServesOn)
{
    start(2);
    using zc::control::Reply;
    using zc::control::Request;
    // Three bytes of nothing in particular.
    int junk = connect_raw();
    ASSERT_GE(junk, 0);
    ASSERT_EQ(::send(junk, "zc?", 3, 0), 3);
    Reply reply{};
    ASSERT_EQ(answer(junk, reply), static_cast<ssize_t>(sizeof reply));
    EXPECT_EQ(reply.status, -EPROTO);
    EXPECT_TRUE(contains(reply.text, "unknown request")) << reply.text;
    EXPECT_EQ(answer(junk, reply), 0) << "the owner kept a connection that spoke garbage";
    ::close(junk);
    // An older protocol.
    int old = connect_raw();
    ASSERT_GE(old, 0);
    Request request{zc::control::kMagic, 1, sizeof(Request), 0, 0};
    ASSERT_EQ(::send(old, &request, sizeof request, 0), static_cast<ssize_t>(sizeof request));
    ASSERT_EQ(answer(old, reply), static_cast<ssize_t>(sizeof reply));
    EXPECT_EQ(reply.status, -EPROTO);
    EXPECT_TRUE(contains(reply.text, ("this owner speaks version " + std::to_string(zc::control::kVersion)).c_str()))
        << reply.text;
    ::close(old);
    // A queue the cluster does not have.
    int wrong = connect_raw();
    ASSERT_GE(wrong, 0);
    request = Request{zc::control::kMagic, zc::control::kVersion, sizeof(Request), 7, 0};
    ASSERT_EQ(::send(wrong, &request, sizeof request, 0), static_cast<ssize_t>(sizeof request));
    ASSERT_EQ(answer(wrong, reply), static_cast<ssize_t>(sizeof reply));
    EXPECT_EQ(reply.status, -EINVAL);
    EXPECT_TRUE(contains(reply.text, "has no queue 7: it has queues 0 to 1")) << reply.text;
    ::close(wrong);
    EXPECT_EQ(refused.size(), 3u);
    // A connection that says nothing is closed after the request timeout.
    int silent = connect_raw();
    ASSERT_GE(silent, 0);
    const auto before = std::chrono::steady_clock::now();
    zc::control::Reply none{};
    ssize_t got = -1;
    for (int i = 0; i < 3 && got < 0; ++i) // answer() gives up after 5 s
        got = answer(silent, none);
    EXPECT_EQ(got, 0) << "a silent connection was kept";
    EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(1500));
    ::close(silent);
    // Meanwhile nothing broke: a consumer attaches and reads.
    pid_t child = ::fork();
    if (child == 0)
        open_and_exit(queue_name(1), 0, nullptr);
    int status = serve_child(child, true);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(ControlSocketTest, SecondConsumerOfAQueueIsRefusedWhileTheFirstIsConnected)
{
    start(1);
    using zc::control::Reply;
    using zc::control::Request;
    const Request request{zc::control::kMagic, zc::control::kVersion, sizeof(Request), 0, 0};
    int first = connect_raw();
    ASSERT_GE(first, 0);
    ASSERT_EQ(::send(first, &request, sizeof request, 0), static_cast<ssize_t>(sizeof request));
    Reply reply{};
    ASSERT_EQ(answer(first, reply), static_cast<ssize_t>(sizeof reply));
    EXPECT_EQ(reply.status, 0) << reply.text;
    int second = connect_raw();
    ASSERT_GE(second, 0);
    ASSERT_EQ(::send(second, &request, sizeof request, 0), static_cast<ssize_t>(sizeof request));
    ASSERT_EQ(answer(second, reply), static_cast<ssize_t>(sizeof reply));
    EXPECT_EQ(reply.status, -EBUSY);
    EXPECT_TRUE(contains(reply.text, "queue 0 is in use by pid " + std::to_string(::getpid()))) << reply.text;
    ::close(second);
    ::close(first);
}

// The wake-up descriptor a consumer gets is the read end of a pipe: it can
// neither write it nor change how the owner writes. (With an eventfd, one
// file description shared by both, a consumer could clear O_NONBLOCK and
// fill the count, and the owner's next wake-up write would block forever.)
TEST_F(ControlSocketTest, AConsumerCannotMakeTheOwnersWakeUpBlock)
{
    start(1);
    // Asked for as zc::control::attach does, on a raw connection.
    using zc::control::Reply;
    using zc::control::Request;
    const Request request{zc::control::kMagic, zc::control::kVersion, sizeof(Request), 0, 0};
    int connection = connect_raw();
    ASSERT_GE(connection, 0);
    ASSERT_EQ(::send(connection, &request, sizeof request, 0), static_cast<ssize_t>(sizeof request));
    for (int i = 0; i < 1000; ++i) {
        zc_balancer_event events[8];
        zc_balancer_control(balancer, events, 8);
        pollfd entry{connection, POLLIN, 0};
        if (::poll(&entry, 1, 5) > 0)
            break;
    }
    Reply reply{};
    iovec data{&reply, sizeof reply};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 3)];
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ASSERT_EQ(::recvmsg(connection, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC), static_cast<ssize_t>(sizeof reply));
    ASSERT_EQ(reply.status, 0) << reply.text;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    ASSERT_NE(header, nullptr);
    ASSERT_EQ(header->cmsg_len, CMSG_LEN(sizeof(int) * 3));
    int fds[3];
    std::memcpy(fds, CMSG_DATA(header), sizeof fds);
    zc::control::Attachment handed;
    handed.connection = connection;
    handed.region = fds[0];
    handed.side = fds[1];
    handed.wake = fds[2];
    struct stat handed_stat {};
    ASSERT_EQ(::fstat(handed.wake, &handed_stat), 0);
    EXPECT_TRUE(S_ISFIFO(handed_stat.st_mode));
    EXPECT_EQ(::fcntl(handed.wake, F_GETFL) & O_ACCMODE, O_RDONLY);
    const char byte = 1;
    EXPECT_EQ(::write(handed.wake, &byte, 1), -1) << "the consumer could write its own wake-ups";
    // What a hostile consumer would do: make its end blocking.
    ASSERT_EQ(::fcntl(handed.wake, F_SETFL, 0), 0);
    // The owner's write end (found among this process's descriptors by the
    // pipe's inode) is untouched: still non-blocking.
    int write_ends = 0;
    for (int fd = 0; fd < 1024; ++fd) {
        struct stat st {};
        if (fd == handed.wake || ::fstat(fd, &st) != 0 || st.st_ino != handed_stat.st_ino ||
            st.st_dev != handed_stat.st_dev)
            continue;
        const int flags = ::fcntl(fd, F_GETFL);
        if ((flags & O_ACCMODE) != O_WRONLY)
            continue;
        ++write_ends;
        EXPECT_NE(flags & O_NONBLOCK, 0) << "the owner's write end became blocking";
    }
    EXPECT_EQ(write_ends, 1);
    for (int fd : {handed.connection, handed.region, handed.side, handed.wake})
        ::close(fd);
}

// The consumer sleeps on an empty queue over and over; the owner puts
// packets on it at a random moment each time (before, during or after the
// consumer's announcement). A lost wake-up shows as a wait that sleeps its
// whole timeout (5 s; a woken one returns in microseconds) before it finds
// the packets. With `until_idle` the owner polls on after the first
// productive round until a round finds nothing, as zc-balance's loop does.
void run_wake_rounds(zc_balancer* balancer, const std::string& name, bool until_idle)
{
    constexpr int kRounds = 2000;
    constexpr int kTimeoutMs = 5000;
    std::atomic<int> opened{0}; // 1 opened, -1 failed
    std::atomic<int> rounds_done{0};
    std::atomic<int> timeouts{0};
    zc_error open_error{};
    std::thread consumer([&] {
        zc_device* d = nullptr;
        if (zc_device_open(name.c_str(), nullptr, &d, &open_error) != 0) {
            opened = -1;
            return;
        }
        opened = 1;
        zc_packet packets[64];
        for (int round = 0; round < kRounds; ++round) {
            const auto asleep = std::chrono::steady_clock::now();
            int rc = zc_device_wait(d, kTimeoutMs);
            if (rc != 1 || std::chrono::steady_clock::now() - asleep >= std::chrono::milliseconds(kTimeoutMs)) {
                ++timeouts;
                break;
            }
            // Everything the owner put on the ring this round, then empty.
            std::uint32_t n;
            while ((n = zc_device_recv_burst(d, packets, 64)) != 0)
                zc_device_release_burst(d, packets, n);
            rounds_done.store(round + 1, std::memory_order_release);
        }
        zc_device_close(d);
    });
    std::mt19937 random(12345);
    zc_balancer_event events[8];
    while (opened == 0)
        zc_balancer_control(balancer, events, 8);
    ASSERT_EQ(opened, 1) << open_error.message;
    for (int round = 0; round < kRounds && timeouts == 0; ++round) {
        // Wait until the consumer has emptied the queue of the last round.
        while (rounds_done.load(std::memory_order_acquire) < round && timeouts == 0)
            std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 200));
        while (zc_balancer_poll(balancer) == 0 && timeouts == 0) {
        }
        if (until_idle)
            while (zc_balancer_poll(balancer) != 0 && timeouts == 0) {
            }
    }
    consumer.join();
    EXPECT_EQ(timeouts, 0) << "a wait slept its whole timeout in round " << rounds_done
                           << " although the owner had put packets on the ring: a lost wake-up";
    EXPECT_EQ(rounds_done, kRounds);
}

TEST_F(ControlSocketTest, WakeUpsAreNeverLost)
{
    start(1);
    run_wake_rounds(balancer, queue_name(0), false);
}

TEST_F(ControlSocketTest, FewPacketsOnALargeRingWakeTheConsumer)
{
    // 4096 slots and a device of 16 buffers: every round delivers a few
    // packets, then the owner runs idle rounds — in wait mode, where the
    // device runs dry when the queue holds its 16 (in drop mode the queue's
    // limit, 8, would send the other 8 round and round as drops, and the
    // owner would never be idle).
    start(1, -1, 4096, 16, ZC_ON_FULL_WAIT);
    run_wake_rounds(balancer, queue_name(0), true);
}

} // namespace

// SPDX-License-Identifier: BSD-3-Clause
//
// Cluster regions: create, attach, close, and every attach error with its
// own errno and message.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <grp.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "region_fixture.hpp"
#include "zc/zc.hpp"

namespace {

using ClusterTest = RegionTest;

struct Attached {
    int rc;
    zc_error error;
    zc_cluster* cluster;
};

Attached attach(std::uint32_t id, const std::string& directory)
{
    Attached a{};
    a.rc = zc_cluster_attach(id, directory.c_str(), &a.cluster, &a.error);
    return a;
}

bool contains(const char* text, const char* part) { return std::strstr(text, part) != nullptr; }

void write_file(const std::string& path, const void* data, std::size_t bytes)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0660);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, data, bytes), static_cast<ssize_t>(bytes));
    ::close(fd);
}

TEST_F(ClusterTest, CreateAttachAndDestroy)
{
    zc_cluster_config c = config(512, 3, 128);
    zc::Cluster owner = zc::Cluster::create(id, c);
    zc_cluster_info info = owner.info();
    EXPECT_EQ(info.id, id);
    EXPECT_EQ(info.owner_pid, ::getpid());
    EXPECT_EQ(info.state, 1u);
    EXPECT_EQ(info.frame_count, 512u);
    EXPECT_EQ(info.queue_count, 3u);
    EXPECT_EQ(info.queue_slots, 128u);
    EXPECT_EQ(std::string(info.path), path());

    struct stat st {};
    ASSERT_EQ(::stat(path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660u);

    zc::Cluster consumer = zc::Cluster::attach(id, directory.c_str());
    EXPECT_EQ(consumer.info().frame_count, 512u);
    EXPECT_EQ(consumer.free_count(), 512u);
    EXPECT_EQ(zc_cluster_pool_bytes(consumer.get()), 512u * 2048u);

    // The two mappings are one memory.
    std::uint32_t buffer = 0;
    ASSERT_EQ(owner.alloc({&buffer, 1}, ZC_OWNER(ZC_OWNER_WORKER, 0)), 1u);
    std::memcpy(owner.data(buffer), "hello", 5);
    EXPECT_EQ(std::memcmp(consumer.data(buffer), "hello", 5), 0);
    EXPECT_EQ(consumer.free_count(), 511u);

    consumer.reset();
    owner.reset();
    EXPECT_FALSE(std::filesystem::exists(path()));
    Attached gone = attach(id, directory);
    EXPECT_EQ(gone.rc, -ENOENT);
}

TEST_F(ClusterTest, NoSuchClusterSaysWhatToStart)
{
    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -ENOENT);
    EXPECT_EQ(a.error.code, -ENOENT);
    EXPECT_EQ(a.cluster, nullptr);
    EXPECT_TRUE(contains(a.error.message, "no such cluster")) << a.error.message;
    EXPECT_TRUE(contains(a.error.message, "zc-balance -c")) << a.error.message;
}

TEST_F(ClusterTest, WrongMagicIsNotACluster)
{
    std::string junk(8192, 'x');
    write_file(path(), junk.data(), junk.size());
    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -EPROTO);
    EXPECT_TRUE(contains(a.error.message, "not a zc cluster region")) << a.error.message;
}

TEST_F(ClusterTest, OtherLayoutVersionIsRefused)
{
    zc_cluster_config c = config();
    zc::Cluster owner = zc::Cluster::create(id, c);
    int fd = ::open(path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    std::uint32_t version = ZC_LAYOUT_VERSION + 1;
    ASSERT_EQ(::pwrite(fd, &version, sizeof version, 8), 4);
    ::close(fd);
    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -EPROTONOSUPPORT);
    const std::string said = "layout version " + std::to_string(version);
    EXPECT_TRUE(contains(a.error.message, said.c_str())) << a.error.message;
}

TEST_F(ClusterTest, TooSmallFileIsRefused)
{
    // Right magic, but not even a whole header.
    write_file(path(), "ZCREGION", 8);
    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -EBADMSG);
    EXPECT_TRUE(contains(a.error.message, "too small")) << a.error.message;
    std::filesystem::remove(path());

    // A real region, cut short.
    zc_cluster_config c = config();
    zc::Cluster owner = zc::Cluster::create(id, c);
    ASSERT_EQ(::truncate(path().c_str(), 16384), 0);
    a = attach(id, directory);
    EXPECT_EQ(a.rc, -EBADMSG);
    EXPECT_TRUE(contains(a.error.message, "truncated")) << a.error.message;
}

TEST_F(ClusterTest, EmptyFileIsTooSmall)
{
    write_file(path(), "", 0);
    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -EBADMSG);
}

TEST_F(ClusterTest, CorruptOffsetsAreRefused)
{
    zc_cluster_config c = config();
    zc::Cluster owner = zc::Cluster::create(id, c);
    int fd = ::open(path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    std::uint64_t huge_offset = 1ull << 40;
    ASSERT_EQ(::pwrite(fd, &huge_offset, sizeof huge_offset, 72), 8); // pool_offset
    ::close(fd);
    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -EBADMSG);
    EXPECT_TRUE(contains(a.error.message, "inconsistent")) << a.error.message;
}

TEST_F(ClusterTest, NonRootUserIsRefusedWithEACCES)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to become user nobody";
    zc_cluster_config c = config();
    zc::Cluster owner = zc::Cluster::create(id, c);

    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Become nobody:nogroup with no supplementary groups.
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(3);
        Attached a = attach(id, directory);
        ssize_t unused = ::write(report[1], &a.error, sizeof a.error);
        (void)unused;
        ::_exit(a.rc == -EACCES ? 0 : 1);
    }
    ::close(report[1]);
    zc_error error{};
    ASSERT_EQ(::read(report[0], &error, sizeof error), static_cast<ssize_t>(sizeof error));
    ::close(report[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << error.message;
    EXPECT_EQ(error.code, -EACCES);
    EXPECT_TRUE(contains(error.message, "permission denied")) << error.message;
    EXPECT_TRUE(contains(error.message, "group")) << error.message;
}

TEST_F(ClusterTest, GroupOfTheRegionIsTheOneAskedFor)
{
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to give a file to another group";
    zc_cluster_config c = config();
    c.group = 65534;
    zc::Cluster owner = zc::Cluster::create(id, c);
    struct stat st {};
    ASSERT_EQ(::stat(path().c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, 65534u);
    EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(ClusterTest, DeadOwnerIsReportedAndItsRegionReplaced)
{
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        zc_cluster_config c = config();
        zc_cluster* cluster = nullptr;
        zc_error error{};
        ::_exit(zc_cluster_create(id, &c, &cluster, &error) == 0 ? 0 : 1); // exits without closing
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_TRUE(std::filesystem::exists(path()));

    Attached a = attach(id, directory);
    EXPECT_EQ(a.rc, -ESRCH);
    EXPECT_TRUE(contains(a.error.message, "is gone")) << a.error.message;

    zc_cluster_config c = config();
    zc::Cluster owner = zc::Cluster::create(id, c); // replaces the stale file
    zc::Cluster consumer = zc::Cluster::attach(id, directory.c_str());
    EXPECT_EQ(consumer.info().owner_pid, ::getpid());
}

TEST_F(ClusterTest, SecondOwnerIsRefusedWhileTheFirstRuns)
{
    zc_cluster_config c = config();
    zc::Cluster owner = zc::Cluster::create(id, c);
    zc_cluster* second = nullptr;
    zc_error error{};
    EXPECT_EQ(zc_cluster_create(id, &c, &second, &error), -EEXIST);
    EXPECT_TRUE(contains(error.message, "already exists")) << error.message;
    EXPECT_EQ(second, nullptr);
}

TEST_F(ClusterTest, BadConfigurationsAreRefusedWithAReason)
{
    zc_cluster* cluster = nullptr;
    zc_error error{};
    zc_cluster_config c = config();
    c.frame_size = 1000;
    EXPECT_EQ(zc_cluster_create(id, &c, &cluster, &error), -EINVAL);
    EXPECT_TRUE(contains(error.message, "frame size")) << error.message;
    c = config();
    c.queue_slots = 1000;
    EXPECT_EQ(zc_cluster_create(id, &c, &cluster, &error), -EINVAL);
    EXPECT_TRUE(contains(error.message, "power of two")) << error.message;
    c = config();
    c.frame_count = 0;
    EXPECT_EQ(zc_cluster_create(id, &c, &cluster, &error), -EINVAL);
    c = config();
    c.struct_size = 4;
    EXPECT_EQ(zc_cluster_create(id, &c, &cluster, &error), -EINVAL);
    EXPECT_FALSE(std::filesystem::exists(path()));
}

TEST_F(ClusterTest, DefaultLocationWorksAndSaysWhy)
{
    // No directory: hugetlbfs when it has room, else /dev/shm/zc with a
    // logged reason.
    std::string logged;
    zc_set_log_handler([](zc_log_level, const char* message, void* user) { *static_cast<std::string*>(user) += message; },
                       &logged);
    zc_cluster_config c = config();
    c.directory = nullptr;
    zc::Cluster owner = zc::Cluster::create(id, c);
    zc_set_log_handler(nullptr, nullptr);
    zc_cluster_info info = owner.info();
    if (info.hugepages) {
        EXPECT_EQ(std::string(info.path).rfind("/dev/hugepages/zc/", 0), 0u);
    } else {
        EXPECT_EQ(std::string(info.path).rfind("/dev/shm/zc/", 0), 0u);
        EXPECT_NE(logged.find("using /dev/shm/zc"), std::string::npos) << logged;
    }
    zc::Cluster consumer = zc::Cluster::attach(id);
    EXPECT_EQ(consumer.info().frame_count, c.frame_count);
}

TEST_F(ClusterTest, QueuesOutsideTheClusterAreRefused)
{
    zc_cluster_config c = config(256, 2, 256);
    zc::Cluster owner = zc::Cluster::create(id, c);
    zc_queue* queue = nullptr;
    zc_error error{};
    EXPECT_EQ(zc_queue_open(owner.get(), 2, ZC_QUEUE_CONSUMER, &queue, &error), -EINVAL);
    EXPECT_TRUE(contains(error.message, "queue 2 does not exist")) << error.message;
    EXPECT_THROW((void)owner.rx_consumer(7), zc::Error);
    EXPECT_EQ(zc_queue_open(owner.get(), 1, ZC_QUEUE_CONSUMER, &queue, &error), 0);
    zc_queue_close(queue);
}

TEST_F(ClusterTest, PrivatePoolHasNoFileAndWorks)
{
    zc_cluster_config c = config(64, 1, 64);
    c.flags = ZC_CLUSTER_PRIVATE;
    zc::Cluster owner = zc::Cluster::create(id, c);
    EXPECT_EQ(std::string(owner.info().path), "(private)");
    EXPECT_FALSE(std::filesystem::exists(path()));
    EXPECT_EQ(attach(id, directory).rc, -ENOENT);
    std::uint32_t buffer = 0;
    ASSERT_EQ(owner.alloc({&buffer, 1}, ZC_OWNER(ZC_OWNER_WORKER, 0)), 1u);
    EXPECT_EQ(owner.release({&buffer, 1}), 1u);
    EXPECT_EQ(owner.check().errors, 0u);
}

TEST(Api, VersionMatchesTheHeader) { EXPECT_EQ(zc_api_version(), static_cast<unsigned>(ZC_API_VERSION)); }

} // namespace

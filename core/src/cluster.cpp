// SPDX-License-Identifier: BSD-3-Clause
//
// Cluster regions: create, attach, close. Control path only.
//
// The owner builds the region in a temporary file and publishes it with
// link(2), so no attacher ever sees a half-written header, and two owners
// racing for one id cannot both win.

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <grp.h>
#include <linux/magic.h>
#include <memory>
#include <string>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <fcntl.h>

#include "internal/cluster.hpp"
#include "internal/control_socket.hpp"
#include "internal/error.hpp"
#include "internal/process.hpp"

namespace zc {

namespace {

constexpr const char* kHugeDir = "/dev/hugepages/zc";
constexpr const char* kShmDir = "/dev/shm/zc";
constexpr std::uint32_t kMaxQueues = 1024;
constexpr std::uint32_t kMaxFrames = 1u << 24;

std::uint64_t align_up(std::uint64_t value, std::uint64_t to) { return (value + to - 1) / to * to; }

std::string region_path(const char* directory, std::uint32_t id)
{
    return std::string(directory) + "/cluster-" + std::to_string(id);
}

bool owner_alive(const RegionHeader& header)
{
    return process_alive(header.owner_pid, header.owner_start_time);
}

std::uint32_t load_state(const RegionHeader& header)
{
    return std::atomic_ref<const std::uint32_t>(header.state).load(std::memory_order_acquire);
}

struct Layout {
    std::uint64_t queue_table_offset;
    std::uint64_t rule_table_offset;
    std::uint64_t queue_side_offset;
    std::uint64_t queue_side_bytes;
    std::uint64_t pool_offset;
    std::uint64_t pool_bytes;
    std::uint64_t total;
};

Layout compute_layout(std::uint32_t frame_size, std::uint32_t frame_count, std::uint32_t queue_count,
                      std::uint32_t queue_slots, std::uint32_t lanes, std::uint64_t page)
{
    Layout l{};
    l.queue_table_offset = kHeaderBytes;
    l.rule_table_offset = align_up(l.queue_table_offset + std::uint64_t{queue_count} * sizeof(QueueInfo), kCacheLine);
    l.queue_side_offset = align_up(l.rule_table_offset + sizeof(RuleTable), kCacheLine);
    l.queue_side_bytes = side_bytes(queue_slots, lanes);
    l.pool_offset = align_up(l.queue_side_offset + std::uint64_t{queue_count} * l.queue_side_bytes, page);
    l.pool_bytes = std::uint64_t{frame_count} * frame_size;
    l.total = align_up(l.pool_offset + l.pool_bytes, page);
    return l;
}

// Points the process-local view at the parts of a mapped, validated region.
// The in-region queue sides only when the region is writable here.
int bind_view(zc_cluster& c, const RegionHeader& h) noexcept
{
    c.queues = reinterpret_cast<QueueInfo*>(c.base + h.queue_table_offset);
    c.rules = reinterpret_cast<RuleTable*>(c.base + h.rule_table_offset);
    c.pool = c.base + h.pool_offset;
    c.frame_size = h.frame_size;
    c.frame_shift = static_cast<std::uint32_t>(__builtin_ctz(h.frame_size));
    c.frame_count = h.frame_count;
    c.data_offset = h.frame_headroom + kXdpHeadroom;
    c.queue_count = h.queue_count;
    c.queue_slots = h.queue_slots;
    c.lanes = h.queue_lanes;
    try {
        c.sides.assign(h.queue_count, nullptr);
        c.mappings.assign(h.queue_count, SideMapping{});
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    }
    // With a control socket the live sides are memory files of their own,
    // and the in-region ones are unused.
    const bool socket = (h.flags & control::kRegionControlSocket) != 0;
    if (!c.read_only && !socket)
        for (std::uint32_t q = 0; q < h.queue_count; ++q)
            c.sides[q] = reinterpret_cast<QueueSide*>(c.base + h.queue_side_offset + q * h.queue_side_bytes);
    return 0;
}

// Lays out a fresh queue side: zero counters, two empty rings per lane.
void init_side(void* memory, std::uint32_t slots, std::uint32_t lanes) noexcept
{
    auto* base = static_cast<std::byte*>(memory);
    new (base) QueueSide{};
    for (std::uint32_t lane = 0; lane < lanes; ++lane) {
        ring_init(base + side_ring_offset(slots, true, lane), slots, sizeof(zc_desc), nullptr);
        ring_init(base + side_ring_offset(slots, false, lane), slots, sizeof(zc_desc), nullptr);
    }
}

// Whether the rings of a side mapped at `side` are what `slots` and
// `lanes` say (another process laid them out); `why` when not.
bool side_rings_valid(const std::byte* side, std::uint32_t slots, std::uint32_t lanes, const char** why) noexcept
{
    const std::size_t space = ring_bytes(slots, sizeof(zc_desc));
    for (std::uint32_t lane = 0; lane < lanes; ++lane)
        for (bool rx : {true, false}) {
            const auto* ring = reinterpret_cast<const RingShared*>(side + side_ring_offset(slots, rx, lane));
            if (ring_validate(ring, space, sizeof(zc_desc), why) != 0)
                return false;
            if (ring->size != slots) {
                *why = "ring size";
                return false;
            }
        }
    return true;
}

std::size_t page_round(std::size_t bytes) noexcept { return (bytes + 4095) & ~std::size_t{4095}; }

void unmap_side(SideMapping& m) noexcept
{
    if (m.base)
        ::munmap(m.base, m.bytes);
    if (m.fd >= 0)
        ::close(m.fd);
    m = SideMapping{};
}

// A number in a sysfs file; false when it cannot be read.
bool read_sysfs_number(const std::string& path, std::uint64_t* value)
{
    FILE* file = std::fopen(path.c_str(), "re");
    if (file == nullptr)
        return false;
    unsigned long long number = 0;
    const bool ok = std::fscanf(file, "%llu", &number) == 1;
    std::fclose(file);
    *value = number;
    return ok;
}

// Huge pages a new region on the hugetlbfs at /dev/hugepages can have.
// The kernel's pool of the mount's page size bounds it: its free pages less
// those already promised to mappings that have not touched them yet
// (sysfs free_hugepages - resv_hugepages). A mount with a size= limit
// (statfs blocks != 0) bounds it too; one without (systemd's
// dev-hugepages.mount, a plain mount -t hugetlbfs) says 0 blocks, 0 free,
// which means "no limit of its own", not "full".
std::uint64_t usable_huge_pages(const struct statfs& fs)
{
    const std::string pool =
        "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(fs.f_bsize / 1024) + "kB/";
    std::uint64_t free = 0;
    std::uint64_t reserved = 0;
    std::uint64_t usable = 0;
    if (read_sysfs_number(pool + "free_hugepages", &free) && read_sysfs_number(pool + "resv_hugepages", &reserved))
        usable = free > reserved ? free - reserved : 0;
    else
        usable = fs.f_blocks != 0 ? static_cast<std::uint64_t>(fs.f_bfree) : 0; // no sysfs: the mount's word
    if (fs.f_blocks != 0 && static_cast<std::uint64_t>(fs.f_bfree) < usable)
        usable = fs.f_bfree;
    return usable;
}

// Decides where a new region goes: hugetlbfs when it is mounted and has the
// pages, else /dev/shm, saying why.
const char* choose_directory(const zc_cluster_config& config, std::uint64_t bytes_4k, bool* hugepages)
{
    *hugepages = false;
    if (config.directory)
        return config.directory;
    if (config.flags & ZC_CLUSTER_NO_HUGEPAGES) {
        log(ZC_LOG_INFO, "cluster: hugepages not requested; using %s", kShmDir);
        return kShmDir;
    }
    struct statfs fs {};
    if (::statfs("/dev/hugepages", &fs) != 0 || fs.f_type != HUGETLBFS_MAGIC) {
        log(ZC_LOG_INFO, "cluster: no hugetlbfs mounted at /dev/hugepages; using %s", kShmDir);
        return kShmDir;
    }
    std::uint64_t page = static_cast<std::uint64_t>(fs.f_bsize);
    std::uint64_t needed = align_up(bytes_4k, page) / page;
    const std::uint64_t usable = usable_huge_pages(fs);
    if (usable < needed) {
        log(ZC_LOG_INFO,
            "cluster: hugetlbfs has %" PRIu64 " free pages of %" PRIu64 " KiB, the region needs %" PRIu64
            "; using %s (raise /proc/sys/vm/nr_hugepages for huge pages)",
            usable, page / 1024, needed, kShmDir);
        return kShmDir;
    }
    *hugepages = true;
    return kHugeDir;
}

int validate_config(const zc_cluster_config& c, zc_error* err, std::uint32_t id)
{
    if (c.frame_size != 2048 && c.frame_size != 4096)
        return fail(err, -EINVAL, "cluster %u: frame size %u is not supported (use 2048 or 4096)", id, c.frame_size);
    if (c.frame_count == 0 || c.frame_count > kMaxFrames)
        return fail(err, -EINVAL, "cluster %u: frame count %u is out of range (1 to %u)", id, c.frame_count, kMaxFrames);
    if (c.queue_count > kMaxQueues)
        return fail(err, -EINVAL, "cluster %u: %u queues is more than the %u a cluster can hold", id, c.queue_count,
                    kMaxQueues);
    if (c.lanes > kMaxLanes)
        return fail(err, -EINVAL, "cluster %u: %u lanes (producers per queue); give 1 to %u", id, c.lanes, kMaxLanes);
    const char* why = nullptr;
    alignas(kCacheLine) std::byte probe[sizeof(RingShared)];
    if (ring_init(probe, c.queue_slots, sizeof(zc_desc), &why) != 0)
        return fail(err, -EINVAL, "cluster %u: queue slots %u: %s", id, c.queue_slots, why);
    return 0;
}

// Removes a region file whose owner is gone; -EEXIST if its owner lives.
int clear_stale(const std::string& path, std::uint32_t id, zc_error* err)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : fail(err, -errno, "cluster %u: cannot open existing %s: %s", id, path.c_str(), std::strerror(errno));
    RegionHeader header{};
    ssize_t got = ::pread(fd, &header, sizeof header, 0);
    ::close(fd);
    if (got == static_cast<ssize_t>(sizeof header) && header.magic == kRegionMagic &&
        load_state(header) != static_cast<std::uint32_t>(RegionState::Dead) && owner_alive(header))
        return fail(err, -EEXIST, "cluster %u already exists, owned by running pid %d (%s)", id, header.owner_pid,
                    path.c_str());
    log(ZC_LOG_WARNING, "cluster %u: removing stale region %s left by pid %d", id, path.c_str(),
        got == static_cast<ssize_t>(sizeof header) ? header.owner_pid : -1);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return fail(err, -errno, "cluster %u: cannot remove stale %s: %s", id, path.c_str(), std::strerror(errno));
    return 0;
}

void unmap(zc_cluster& c)
{
    for (SideMapping& m : c.mappings)
        unmap_side(m);
    if (c.base)
        ::munmap(c.base, c.size);
    if (c.fd >= 0)
        ::close(c.fd);
    c.base = nullptr;
    c.fd = -1;
}

std::string describe_access(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return {};
    const struct passwd* user = ::getpwuid(st.st_uid);
    const struct group* group = ::getgrgid(st.st_gid);
    char text[256];
    std::snprintf(text, sizeof text, " (mode %04o, owner %s, group %s): run as root or as a member of group '%s'",
                  st.st_mode & 07777, user ? user->pw_name : "?", group ? group->gr_name : "?",
                  group ? group->gr_name : "?");
    return text;
}

} // namespace

RingShared* queue_ring(zc_cluster* c, std::uint32_t queue, bool rx, std::uint32_t lane) noexcept
{
    if (queue >= c->queue_count || !c->sides[queue] || lane >= c->lanes)
        return nullptr;
    return reinterpret_cast<RingShared*>(reinterpret_cast<std::byte*>(c->sides[queue]) +
                                         side_ring_offset(c->queue_slots, rx, lane));
}

int renew_queue_side(zc_cluster& c, std::uint32_t queue, zc_error* err) noexcept
{
    if (!c.owner || queue >= c.queue_count)
        return fail(err, -EINVAL, "cluster %u: queue %u has no side this process may renew", c.id, queue);
    SideMapping fresh;
    fresh.bytes = page_round(side_bytes(c.queue_slots, c.lanes));
    fresh.fd = ::memfd_create("zc-queue", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fresh.fd < 0)
        return fail(err, -errno, "cluster %u queue %u: cannot create its consumer side: %s", c.id, queue,
                    std::strerror(errno));
    // 0600 and the owner's uid: a consumer cannot reopen it through
    // /proc/self/fd; it writes through the mapping it was given.
    // Sealed at its size: a consumer that truncates it would otherwise make
    // the owner's next access to it fault (SIGBUS).
    if (::fchmod(fresh.fd, 0600) != 0 || ::ftruncate(fresh.fd, static_cast<off_t>(fresh.bytes)) != 0 ||
        ::fcntl(fresh.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        int code = errno;
        unmap_side(fresh);
        return fail(err, -code, "cluster %u queue %u: cannot size its consumer side: %s", c.id, queue,
                    std::strerror(code));
    }
    void* base = ::mmap(nullptr, fresh.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fresh.fd, 0);
    if (base == MAP_FAILED) {
        int code = errno;
        unmap_side(fresh);
        return fail(err, -code, "cluster %u queue %u: cannot map its consumer side: %s", c.id, queue,
                    std::strerror(code));
    }
    fresh.base = base;
    init_side(base, c.queue_slots, c.lanes);
    unmap_side(c.mappings[queue]);
    c.mappings[queue] = fresh;
    c.sides[queue] = static_cast<QueueSide*>(base);
    return 0;
}

int map_queue_side(zc_cluster& c, std::uint32_t queue, int fd, zc_error* err) noexcept
{
    if (queue >= c.queue_count) {
        ::close(fd);
        return fail(err, -EINVAL, "cluster %u has no queue %u", c.id, queue);
    }
    struct stat st {};
    const std::size_t need = side_bytes(c.queue_slots, c.lanes);
    if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < need) {
        ::close(fd);
        return fail(err, -EPROTO, "cluster %u queue %u: the owner handed over a queue side of the wrong size",
                    c.id, queue);
    }
    SideMapping m;
    m.fd = fd;
    m.bytes = need;
    void* base = ::mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int code = errno;
        unmap_side(m);
        return fail(err, -code, "cluster %u queue %u: cannot map its queue side: %s", c.id, queue,
                    std::strerror(code));
    }
    m.base = base;
    const char* why = nullptr;
    auto* side = static_cast<std::byte*>(base);
    if (!side_rings_valid(side, c.queue_slots, c.lanes, &why)) {
        unmap_side(m);
        return fail(err, -EBADMSG, "cluster %u queue %u: the queue side the owner handed over is inconsistent (%s)",
                    c.id, queue, why);
    }
    unmap_side(c.mappings[queue]);
    c.mappings[queue] = m;
    c.sides[queue] = static_cast<QueueSide*>(base);
    return 0;
}

} // namespace zc

using namespace zc;

extern "C" unsigned zc_api_version(void) { return ZC_API_VERSION; }

extern "C" void zc_cluster_config_init(zc_cluster_config* config)
{
    *config = zc_cluster_config{};
    config->struct_size = sizeof *config;
    config->frame_size = 2048;
    config->frame_count = 4096;
    config->queue_count = 1;
    config->queue_slots = 4096;
    config->group = -1;
}

extern "C" int zc_cluster_create(std::uint32_t id, const zc_cluster_config* user_config, zc_cluster** out,
                                 zc_error* err)
{
    *out = nullptr;
    zc_cluster_config config;
    zc_cluster_config_init(&config);
    if (user_config) {
        if (user_config->struct_size < offsetof(zc_cluster_config, directory) + sizeof(const char*) ||
            user_config->struct_size > sizeof config)
            return fail(err, -EINVAL, "cluster %u: zc_cluster_config.struct_size %u is not one this library knows", id,
                        user_config->struct_size);
        std::memcpy(&config, user_config, user_config->struct_size);
    }
    if (config.lanes == 0)
        config.lanes = 1;
    if (int rc = validate_config(config, err, id); rc != 0)
        return rc;

    Layout layout = compute_layout(config.frame_size, config.frame_count, config.queue_count, config.queue_slots,
                                   config.lanes, 4096);
    auto cluster = std::make_unique<zc_cluster>();
    cluster->id = id;
    cluster->owner = true;
    std::string temp;
    if (config.flags & ZC_CLUSTER_PRIVATE) {
        // A private pool: no name, nothing to publish, gone with the last fd.
        cluster->path = "(private)";
        cluster->fd = ::memfd_create("zc-pool", MFD_CLOEXEC);
        if (cluster->fd < 0)
            return fail(err, -errno, "cluster %u: cannot create a private pool: %s", id, std::strerror(errno));
    } else {
        bool hugepages = false;
        const char* directory = choose_directory(config, layout.total, &hugepages);
        if (hugepages) {
            struct statfs fs {};
            ::statfs("/dev/hugepages", &fs);
            layout = compute_layout(config.frame_size, config.frame_count, config.queue_count, config.queue_slots,
                                    config.lanes, static_cast<std::uint64_t>(fs.f_bsize));
        }
        if (::mkdir(directory, 0755) != 0 && errno != EEXIST)
            return fail(err, -errno, "cluster %u: cannot create directory %s: %s", id, directory,
                        std::strerror(errno));
        cluster->hugepages = hugepages;
        cluster->path = region_path(directory, id);
        if (int rc = clear_stale(cluster->path, id, err); rc != 0)
            return rc;
        temp = std::string(directory) + "/.cluster-" + std::to_string(id) + "." + std::to_string(::getpid());
        ::unlink(temp.c_str());
        cluster->fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
        if (cluster->fd < 0)
            return fail(err, -errno, "cluster %u: cannot create %s: %s", id, temp.c_str(), std::strerror(errno));
        // The mode must not depend on the caller's umask.
        ::fchmod(cluster->fd, 0660);
    }
    auto abandon = [&](int code) {
        unmap(*cluster);
        if (!temp.empty())
            ::unlink(temp.c_str());
        return code;
    };
    if (config.group >= 0 && ::fchown(cluster->fd, static_cast<uid_t>(-1), static_cast<gid_t>(config.group)) != 0)
        return abandon(fail(err, -errno, "cluster %u: cannot give %s to group %d: %s", id, temp.c_str(),
                            config.group, std::strerror(errno)));
    if (::ftruncate(cluster->fd, static_cast<off_t>(layout.total)) != 0)
        return abandon(fail(err, -errno, "cluster %u: cannot size %s to %" PRIu64 " bytes: %s", id, temp.c_str(),
                            layout.total, std::strerror(errno)));
    void* base = ::mmap(nullptr, layout.total, PROT_READ | PROT_WRITE, MAP_SHARED, cluster->fd, 0);
    if (base == MAP_FAILED)
        return abandon(fail(err, -errno, "cluster %u: cannot map %" PRIu64 " bytes of %s: %s%s", id, layout.total,
                            temp.c_str(), std::strerror(errno),
                            cluster->hugepages ? " (too few huge pages?)" : ""));
    cluster->base = static_cast<std::byte*>(base);
    cluster->size = layout.total;

    auto* header = new (cluster->base) RegionHeader{};
    header->magic = kRegionMagic;
    header->layout_version = kLayoutVersion;
    header->header_size = sizeof(RegionHeader);
    header->total_size = layout.total;
    header->cluster_id = id;
    header->state = static_cast<std::uint32_t>(RegionState::Creating);
    header->owner_pid = ::getpid();
    header->owner_start_time = process_start_time(::getpid());
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    header->created_ns = static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
    header->frame_size = config.frame_size;
    header->frame_count = config.frame_count;
    header->frame_headroom = kMetaHeadroom;
    header->pool_offset = layout.pool_offset;
    header->pool_bytes = layout.pool_bytes;
    header->queue_side_offset = layout.queue_side_offset;
    header->queue_side_bytes = layout.queue_side_bytes;
    header->queue_count = config.queue_count;
    header->queue_slots = config.queue_slots;
    header->queue_lanes = config.lanes;
    header->queue_table_offset = layout.queue_table_offset;
    header->rule_table_offset = layout.rule_table_offset;
    cluster->header = header;
    try {
        // Every buffer starts free; the free list pops from the top, so push
        // them in reverse to hand out buffer 0 first.
        cluster->states.assign(config.frame_count, BufferState{0, ZC_OWNER(ZC_OWNER_FREE, 0)});
        cluster->free_list.resize(config.frame_count);
    } catch (const std::bad_alloc&) {
        return abandon(fail(err, -ENOMEM, "cluster %u: no memory for the records of %u buffers", id,
                            config.frame_count));
    }
    if (bind_view(*cluster, *header) != 0)
        return abandon(fail(err, -ENOMEM, "cluster %u: no memory", id));
    for (std::uint32_t i = 0; i < config.frame_count; ++i)
        cluster->free_list[i] = config.frame_count - 1 - i;
    cluster->free_count = config.frame_count;
    header->free_count = config.frame_count;
    for (std::uint32_t q = 0; q < config.queue_count; ++q) {
        new (&cluster->queues[q]) QueueInfo{};
        init_side(cluster->sides[q], config.queue_slots, config.lanes);
    }
    new (cluster->rules) RuleTable{};
    std::atomic_ref<std::uint32_t>(header->state)
        .store(static_cast<std::uint32_t>(RegionState::Running), std::memory_order_release);

    if (!temp.empty() && ::link(temp.c_str(), cluster->path.c_str()) != 0) {
        int code = -errno;
        return abandon(code == -EEXIST
                           ? fail(err, code, "cluster %u already exists (%s was created meanwhile)", id,
                                  cluster->path.c_str())
                           : fail(err, code, "cluster %u: cannot publish %s: %s", id, cluster->path.c_str(),
                                  std::strerror(-code)));
    }
    if (!temp.empty())
        ::unlink(temp.c_str());
    log(ZC_LOG_DEBUG, "cluster %u: created %s, %" PRIu64 " bytes", id, cluster->path.c_str(), layout.total);
    *out = cluster.release();
    return 0;
}

namespace {

// Checks every offset and size of a header another process wrote, before
// any of it is used.
int validate_header(const RegionHeader& h, std::uint64_t file_size, std::uint32_t id, const char* path,
                    zc_error* err)
{
    auto corrupt = [&](const char* what) {
        return fail(err, -EBADMSG, "cluster %u: %s is inconsistent (%s); remove it and restart its owner", id, path,
                    what);
    };
    if (h.header_size != sizeof(RegionHeader))
        return corrupt("header size");
    if (h.total_size > file_size)
        return fail(err, -EBADMSG,
                    "cluster %u: %s is %" PRIu64 " bytes but its header says %" PRIu64
                    " (truncated); remove it and restart its owner",
                    id, path, file_size, static_cast<std::uint64_t>(h.total_size));
    if (h.frame_size != 2048 && h.frame_size != 4096)
        return corrupt("frame size");
    if (h.frame_count == 0 || h.frame_count > kMaxFrames || h.queue_count > kMaxQueues)
        return corrupt("frame or queue count");
    if (h.frame_headroom != kMetaHeadroom)
        return corrupt("frame headroom");
    if (h.queue_slots == 0 || (h.queue_slots & (h.queue_slots - 1)) != 0)
        return corrupt("queue slots");
    if (h.queue_slots > (1u << 24))
        return corrupt("queue slots");
    if (h.queue_lanes == 0 || h.queue_lanes > kMaxLanes)
        return corrupt("queue lanes");
    Layout expect = compute_layout(h.frame_size, h.frame_count, h.queue_count, h.queue_slots, h.queue_lanes, 4096);
    if (h.queue_table_offset != expect.queue_table_offset || h.rule_table_offset != expect.rule_table_offset ||
        h.queue_side_offset != expect.queue_side_offset || h.queue_side_bytes != expect.queue_side_bytes)
        return corrupt("table offsets");
    if (h.pool_offset < expect.pool_offset || h.pool_offset % 4096 != 0 || h.pool_bytes != expect.pool_bytes ||
        h.pool_offset + h.pool_bytes > h.total_size)
        return corrupt("pool offset");
    return 0;
}

// Maps region file `fd` (taken over: closed on failure) as cluster `id`'s.
// `path` names it in messages. With read_only_pool, the packet pool is
// mapped read-only (a passive consumer's stray write faults instead of
// changing what other consumers see); the rest stays writable (rings,
// counters, claims).
int attach_fd(std::uint32_t id, int fd, const std::string& path, bool read_only, zc_cluster** out,
              zc_error* err)
{
    std::unique_ptr<zc_cluster> cluster;
    try {
        cluster = std::make_unique<zc_cluster>();
        cluster->path = path;
    } catch (const std::bad_alloc&) {
        ::close(fd);
        return fail(err, -ENOMEM, "cluster %u: no memory", id);
    }
    cluster->id = id;
    cluster->fd = fd;
    struct statfs fs {};
    cluster->hugepages = ::fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC;
    struct stat st {};
    if (::fstat(cluster->fd, &st) != 0) {
        int code = errno;
        unmap(*cluster);
        return fail(err, -code, "cluster %u: cannot stat %s: %s", id, path.c_str(), std::strerror(code));
    }
    auto file_size = static_cast<std::uint64_t>(st.st_size);

    RegionHeader header{};
    ssize_t got = ::pread(cluster->fd, &header, sizeof header, 0);
    if (got >= static_cast<ssize_t>(sizeof header.magic) && header.magic != kRegionMagic) {
        unmap(*cluster);
        return fail(err, -EPROTO, "cluster %u: %s is not a zc cluster region (wrong magic)", id, path.c_str());
    }
    if (got < static_cast<ssize_t>(sizeof header)) {
        unmap(*cluster);
        return fail(err, -EBADMSG,
                    "cluster %u: %s is %" PRIu64 " bytes, too small for a region header (%zu bytes); "
                    "remove it and restart its owner",
                    id, path.c_str(), file_size, sizeof header);
    }
    if (header.layout_version != kLayoutVersion) {
        unmap(*cluster);
        return fail(err, -EPROTONOSUPPORT,
                    "cluster %u: %s has layout version %u, this library speaks version %u; use the zc tools and "
                    "libraries of one release",
                    id, path.c_str(), header.layout_version, kLayoutVersion);
    }
    if (int rc = validate_header(header, file_size, id, path.c_str(), err); rc != 0) {
        unmap(*cluster);
        return rc;
    }
    if (header.cluster_id != id) {
        unmap(*cluster);
        return fail(err, -EBADMSG, "cluster %u: %s is the region of cluster %u", id, path.c_str(), header.cluster_id);
    }
    if (load_state(header) == static_cast<std::uint32_t>(RegionState::Dead) || !owner_alive(header)) {
        unmap(*cluster);
        return fail(err, -ESRCH,
                    "cluster %u: its owner (pid %d) is gone; restart it (zc-balance -c %u) or remove the stale %s", id,
                    header.owner_pid, id, path.c_str());
    }
    cluster->read_only = read_only;
    void* base = ::mmap(nullptr, header.total_size, read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                        cluster->fd, 0);
    if (base == MAP_FAILED) {
        int code = errno;
        unmap(*cluster);
        return fail(err, -code, "cluster %u: cannot map %s: %s", id, path.c_str(), std::strerror(code));
    }
    cluster->base = static_cast<std::byte*>(base);
    cluster->size = header.total_size;
    cluster->header = reinterpret_cast<RegionHeader*>(cluster->base);
    // From here on, use the copy we validated, not the live header: another
    // process could change it between check and use.
    if (bind_view(*cluster, header) != 0) {
        unmap(*cluster);
        return fail(err, -ENOMEM, "cluster %u: no memory", id);
    }
    for (std::uint32_t q = 0; q < cluster->queue_count && cluster->sides[q]; ++q) {
        const char* why = nullptr;
        if (!side_rings_valid(reinterpret_cast<const std::byte*>(cluster->sides[q]), header.queue_slots,
                              header.queue_lanes, &why)) {
            unmap(*cluster);
            return fail(err, -EBADMSG, "cluster %u: queue %u of %s is inconsistent (%s)", id, q, path.c_str(), why);
        }
    }
    *out = cluster.release();
    return 0;
}

int attach_path(std::uint32_t id, const std::string& path, zc_cluster** out, zc_error* err)
{
    bool read_only = false;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
        // A group member of an owner that serves a control socket (mode
        // 0640): it may read the region (zc-stat), not write it.
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        read_only = fd >= 0;
        if (fd < 0)
            errno = EACCES;
    }
    if (fd < 0) {
        int code = errno;
        if (code == ENOENT)
            return fail(err, -ENOENT, "cluster %u: no such cluster (is zc-balance -c %u running?)", id, id);
        if (code == EACCES || code == EPERM)
            return fail(err, -EACCES, "cluster %u: permission denied on %s%s", id, path.c_str(),
                        describe_access(path).c_str());
        return fail(err, -code, "cluster %u: cannot open %s: %s", id, path.c_str(), std::strerror(code));
    }
    return attach_fd(id, fd, path, read_only, out, err);
}

} // namespace

int zc::protect_pool(zc_cluster& c, zc_error* err) noexcept
{
    // The pool starts on a page boundary (a huge page's on hugetlbfs) and
    // runs to the region's end, so it can be protected on its own.
    const auto length = static_cast<std::size_t>(c.base + c.size - c.pool);
    if (::mprotect(c.pool, length, PROT_READ) != 0)
        return fail(err, -errno, "cluster %u: cannot map its packet pool read-only: %s", c.id, std::strerror(errno));
    return 0;
}

int zc::attach_region_fd(std::uint32_t id, int fd, zc_cluster** out, zc_error* err) noexcept
{
    *out = nullptr;
    try {
        // The descriptor's own name is the owner's temporary file, deleted
        // when the region was published: name the region by its cluster.
        return attach_fd(id, fd, "the region its owner handed over", true, out, err);
    } catch (const std::bad_alloc&) {
        ::close(fd);
        return fail(err, -ENOMEM, "cluster %u: no memory", id);
    }
}

extern "C" int zc_cluster_attach(std::uint32_t id, const char* directory, zc_cluster** out, zc_error* err)
{
    *out = nullptr;
    if (directory)
        return attach_path(id, region_path(directory, id), out, err);
    std::string huge = region_path(kHugeDir, id);
    if (::access(huge.c_str(), F_OK) == 0)
        return attach_path(id, huge, out, err);
    return attach_path(id, region_path(kShmDir, id), out, err);
}

extern "C" void zc_cluster_close(zc_cluster* cluster)
{
    if (!cluster)
        return;
    if (cluster->owner && cluster->header && cluster->path != "(private)") {
        std::atomic_ref<std::uint32_t>(cluster->header->state)
            .store(static_cast<std::uint32_t>(RegionState::Dead), std::memory_order_release);
        ::unlink(cluster->path.c_str());
    }
    unmap(*cluster);
    delete cluster;
}

extern "C" int zc_cluster_get_info(const zc_cluster* c, zc_cluster_info* info)
{
    // The struct as this library knows it, or as a caller built against
    // ZC_1.2 knows it (without lanes): filled up to its size.
    constexpr std::uint32_t kBeforeLanes = offsetof(zc_cluster_info, lanes);
    const std::uint32_t size = info->struct_size;
    if (size != sizeof *info && size != kBeforeLanes)
        return -EINVAL;
    zc_cluster_info full{};
    full.struct_size = size;
    full.id = c->id;
    full.owner_pid = c->header->owner_pid;
    full.state = load_state(*c->header);
    full.frame_size = c->frame_size;
    full.frame_count = c->frame_count;
    full.data_offset = c->data_offset;
    full.queue_count = c->queue_count;
    full.queue_slots = c->queue_slots;
    full.hugepages = c->hugepages;
    full.region_bytes = c->size;
    std::snprintf(full.path, sizeof full.path, "%s", c->path.c_str());
    full.lanes = c->lanes;
    std::memcpy(info, &full, size);
    return 0;
}

extern "C" void* zc_cluster_pool_base(zc_cluster* c) { return c->pool; }

extern "C" std::uint64_t zc_cluster_pool_bytes(const zc_cluster* c)
{
    return std::uint64_t{c->frame_count} * c->frame_size;
}

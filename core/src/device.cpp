// SPDX-License-Identifier: BSD-3-Clause
//
// The C API of zc/device.h in front of the drivers, and what the drivers
// share: private pools, interface lookup, the clock.

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <new>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/counter.hpp"
#include "internal/driver.hpp"
#include "internal/error.hpp"
#include "user_filter.hpp"

struct zc_device {
    std::string name; // as given, without "zc:"
    std::unique_ptr<zc::Driver> driver;

    // The filter (zc_device_set_filter). user_filter holds the program
    // whenever there is one: it filters every packet in ZC_FILTER_USER
    // mode, and in the kernel modes those the kernel queued before the
    // filter changed, until the driver says they are all read (settling).
    zc::UserFilter user_filter;
    int filter_mode = ZC_FILTER_NONE;
    bool settling = false;
    zc::Counter filtered;       // refused in user space (the driver counted them as received)
    zc::Counter filtered_bytes; // and their bytes on the wire
};

namespace zc {

int create_private_pool(std::uint32_t frames, Cluster& out, zc_error* err)
{
    zc_cluster_config config;
    zc_cluster_config_init(&config);
    config.frame_count = frames;
    config.queue_count = 0;
    config.flags = ZC_CLUSTER_PRIVATE;
    zc_cluster* cluster = nullptr;
    if (int rc = zc_cluster_create(0, &config, &cluster, err); rc != 0)
        return rc;
    out = Cluster(cluster);
    return 0;
}

int interface_index(const std::string& interface, unsigned* index, zc_error* err)
{
    *index = ::if_nametoindex(interface.c_str());
    if (*index == 0)
        return fail(err, -ENODEV, "%s: no such interface (ip link lists the interfaces)", interface.c_str());
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, -errno, "%s: cannot open a socket to query the interface: %s", interface.c_str(),
                    std::strerror(errno));
    struct ifreq request {};
    std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
    int rc = ::ioctl(fd, SIOCGIFFLAGS, &request);
    int saved = errno;
    ::close(fd);
    if (rc != 0)
        return fail(err, -saved, "%s: cannot read the interface flags: %s", interface.c_str(), std::strerror(saved));
    if (!(request.ifr_flags & IFF_UP))
        return fail(err, -ENETDOWN, "%s: interface is down (ip link set %s up)", interface.c_str(),
                    interface.c_str());
    return 0;
}

} // namespace zc

using namespace zc;

extern "C" void zc_device_config_init(zc_device_config* config)
{
    *config = zc_device_config{};
    config->struct_size = sizeof *config;
    config->flags = ZC_DEVICE_RX;
    config->frame_count = 0; // the driver's default
    config->ring_size = 2048;
    config->busy_poll_usec = 20;
    config->snaplen = 0;
    config->replay_speed = 1.0;
    config->replay_loops = 1;
    config->synthetic_size = 64;
    config->synthetic_flows = 1;
}

extern "C" int zc_device_open(const char* name, const zc_device_config* user_config, zc_device** out, zc_error* err)
{
    *out = nullptr;
    zc_device_config config;
    zc_device_config_init(&config);
    if (user_config) {
        if (user_config->struct_size != sizeof config)
            return fail(err, -EINVAL, "%s: zc_device_config.struct_size %u is not one this library knows",
                        name ? name : "(null)", user_config->struct_size);
        config = *user_config;
    }
    if (!(config.flags & (ZC_DEVICE_RX | ZC_DEVICE_TX)))
        config.flags |= ZC_DEVICE_RX;
    if (config.ring_size == 0 || (config.ring_size & (config.ring_size - 1)) != 0)
        return fail(err, -EINVAL, "%s: ring size %u is not a power of two", name, config.ring_size);

    DeviceName parsed;
    if (int rc = parse_device_name(name, parsed, err); rc != 0)
        return rc;
    std::unique_ptr<Driver> driver;
    int rc = 0;
    switch (parsed.kind) {
    case DeviceName::Kind::AfXdp: rc = open_afxdp(parsed, config, driver, err); break;
    case DeviceName::Kind::AfPacket: rc = open_afpacket(parsed, config, driver, err); break;
    case DeviceName::Kind::PcapFile: rc = open_pcapfile(parsed, config, driver, err); break;
    case DeviceName::Kind::Synthetic: rc = open_synthetic(parsed, config, driver, err); break;
    case DeviceName::Kind::ClusterQueue: rc = open_cluster_queue(parsed, config, driver, err); break;
    }
    if (rc != 0)
        return rc;
    *out = new zc_device{std::strncmp(name, "zc:", 3) == 0 ? name + 3 : name, std::move(driver)};
    return 0;
}

extern "C" void zc_device_close(zc_device* device) { delete device; }

extern "C" const char* zc_device_mode(const zc_device* device) { return device->driver->mode(); }
extern "C" const char* zc_device_name(const zc_device* device) { return device->name.c_str(); }
extern "C" zc_cluster* zc_device_cluster(zc_device* device) { return device->driver->pool(); }

std::uint32_t zc::device_buffer_budget(zc_device* device) noexcept { return device->driver->buffer_budget(); }

// The packets of a burst the filter refuses go straight back to the driver,
// in one release; the others close up, in order.
static std::uint32_t filter_burst(zc_device* device, zc_packet* packets, std::uint32_t got) noexcept
{
    zc_packet refused[64];
    std::uint32_t kept = 0, count = 0, total = 0;
    std::uint64_t bytes = 0;
    for (std::uint32_t i = 0; i < got; ++i) {
        if (device->user_filter.matches(packets[i])) {
            packets[kept++] = packets[i];
            continue;
        }
        bytes += packets[i].len;
        refused[count++] = packets[i];
        if (count == std::size(refused)) {
            device->driver->release_burst(refused, count);
            total += count;
            count = 0;
        }
    }
    if (count > 0)
        device->driver->release_burst(refused, count);
    total += count;
    if (total > 0) {
        device->filtered_bytes.add(bytes);
        device->filtered.add(total);
    }
    return kept;
}

extern "C" std::uint32_t zc_device_recv_burst(zc_device* device, zc_packet* packets, std::uint32_t n)
{
    // Decided before receiving: a burst taken while the kernel's old
    // packets were still queued may hold some of them.
    const bool check = device->filter_mode == ZC_FILTER_USER || device->settling;
    std::uint32_t got = device->driver->recv_burst(packets, n);
    if (!check || got == 0 || got == ZC_DEVICE_END)
        return got;
    if (device->settling && device->driver->kernel_filter_settled())
        device->settling = false; // from the next burst on, the kernel's verdict stands
    return filter_burst(device, packets, got);
}

extern "C" void zc_device_release_burst(zc_device* device, const zc_packet* packets, std::uint32_t n)
{
    device->driver->release_burst(packets, n);
}

extern "C" std::uint32_t zc_device_tx_alloc(zc_device* device, std::uint32_t* buffers, std::uint32_t n)
{
    return device->driver->tx_alloc(buffers, n);
}

extern "C" std::uint32_t zc_device_send_burst(zc_device* device, const std::uint32_t* buffers,
                                              const std::uint32_t* lengths, std::uint32_t n)
{
    return device->driver->send_burst(buffers, lengths, n);
}

extern "C" int zc_device_inject(zc_device* device, const void* frame, std::uint32_t length)
{
    zc_cluster* pool = device->driver->pool();
    if (length > zc_buffer_capacity(pool))
        return -EMSGSIZE;
    std::uint32_t buffer = 0;
    if (device->driver->tx_alloc(&buffer, 1) != 1)
        return -EAGAIN;
    std::memcpy(zc_buffer_data(pool, buffer), frame, length); // the explicit copy inject promises
    if (device->driver->send_burst(&buffer, &length, 1) != 1) {
        zc_pool_release_burst(pool, &buffer, 1);
        return -EAGAIN;
    }
    return 0;
}

extern "C" std::uint32_t zc_device_forward_burst(zc_device* device, const zc_packet* packets,
                                                 const std::uint16_t* ports, std::uint32_t n)
{
    return device->driver->forward_burst(packets, ports, n);
}

extern "C" std::uint32_t zc_device_capabilities(const zc_device* device) { return device->driver->capabilities(); }

extern "C" int zc_device_wait(zc_device* device, int timeout_ms) { return device->driver->wait(timeout_ms); }

extern "C" int zc_device_selectable_fd(const zc_device* device) { return device->driver->selectable_fd(); }

// The first release's zc_device_stats ended with `truncated`: a caller built
// then passes that size and gets those fields. Fields are only ever added at
// the end, so any size from that one up is a prefix of the current struct.
static_assert(offsetof(zc_device_stats, forwarded) == 72, "the first release's zc_device_stats was 72 bytes");
static_assert(offsetof(zc_device_stats, filtered) == 96, "ZC_1.1's zc_device_stats was 96 bytes");
constexpr std::uint32_t kFirstDeviceStatsSize = offsetof(zc_device_stats, forwarded);

extern "C" int zc_device_get_stats(zc_device* device, zc_device_stats* stats)
{
    if (stats->struct_size < kFirstDeviceStatsSize)
        return -EINVAL;
    const std::uint32_t filled = std::min<std::uint32_t>(stats->struct_size, sizeof(zc_device_stats));
    zc_device_stats all{};
    all.struct_size = filled;
    // What the filter refused here the driver counted as received: it
    // moves from packets to filtered (read first, so never more than the
    // driver has counted).
    const std::uint64_t refused = device->filtered.get();
    const std::uint64_t refused_bytes = device->filtered_bytes.get();
    device->driver->stats(all);
    device->driver->forward_stats(all);
    all.packets -= std::min(refused, all.packets);
    all.bytes -= std::min(refused_bytes, all.bytes);
    all.filtered += refused;
    std::memcpy(stats, &all, filled);
    return 0;
}

// ------------------------------------------------------------------ filters

extern "C" const char* zc_device_filter_mode_name(int mode)
{
    switch (mode) {
    case ZC_FILTER_NONE: return "none";
    case ZC_FILTER_USER: return "user";
    case ZC_FILTER_KERNEL_INTERPRETED: return "kernel-interpreted";
    case ZC_FILTER_KERNEL_TRANSLATED: return "kernel-translated";
    case ZC_FILTER_KERNEL_SOCKET: return "kernel-socket";
    default: return "unknown";
    }
}

extern "C" int zc_device_filter_mode(const zc_device* device) { return device->filter_mode; }

extern "C" int zc_device_set_filter(zc_device* device, const zc_filter_insn* insns, std::uint32_t count,
                                    std::uint32_t flags, zc_error* err)
{
    const char* name = device->name.c_str();
    if (insns == nullptr)
        count = 0;
    // "Return true" (what libpcap compiles from an empty expression, and
    // tcpdump sets when given none) is no filter: nothing to run anywhere.
    constexpr std::uint16_t kReturnConstant = 0x06; // BPF_RET | BPF_K
    if (count == 1 && insns[0].code == kReturnConstant && insns[0].k != 0)
        count = 0;
    if (count > 0 && !UserFilter::valid(insns, count))
        return fail(err, -EINVAL, "%s: the filter is not a valid BPF program (libpcap's bpf_validate refuses it)",
                    name);
    if (flags & ~(ZC_FILTER_DROP | ZC_FILTER_USER_SPACE | ZC_FILTER_INTERPRETED))
        return fail(err, -EINVAL, "%s: unknown filter flags 0x%x", name, flags);
    UserFilter next;
    try {
        next.set(insns, count);
    } catch (const std::bad_alloc&) {
        return fail(err, -ENOMEM, "%s: out of memory for the filter", name);
    }

    std::string why;
    int mode;
    if (count > 0 && (flags & ZC_FILTER_USER_SPACE)) {
        mode = device->driver->set_kernel_filter(nullptr, 0, 0, &why); // nothing of ours left in the kernel
        if (mode >= 0) {
            mode = ZC_FILTER_USER;
            why.clear(); // asked for: nothing to report
        }
    } else {
        mode = device->driver->set_kernel_filter(insns, count, flags, &why);
    }
    if (mode < 0)
        return fail(err, mode, "%s: cannot change the filter: %s", name, why.c_str());
    if (mode == ZC_FILTER_USER && !why.empty())
        log(ZC_LOG_WARNING, "%s: the filter runs in user space, so every packet of the captured queues reaches zc and none the host: %s",
            name, why.c_str());
    else if (mode == ZC_FILTER_KERNEL_INTERPRETED && !why.empty())
        log(ZC_LOG_INFO, "%s: the filter runs in zc's in-kernel interpreter: %s", name, why.c_str());
    device->user_filter = std::move(next);
    device->filter_mode = mode;
    // From the kernel modes on, the packets already queued may be the old
    // filter's: user space checks them with the new one until they are read.
    device->settling = mode != ZC_FILTER_USER && mode != ZC_FILTER_NONE && !device->user_filter.empty() &&
                       !device->driver->kernel_filter_settled();
    return mode;
}

extern "C" int zc_device_host_traffic(const zc_device* device, char* sentence, std::uint32_t size)
{
    if (sentence && size > 0)
        sentence[0] = '\0';
    switch (device->filter_mode) {
    case ZC_FILTER_KERNEL_INTERPRETED:
    case ZC_FILTER_KERNEL_TRANSLATED:
        return 0; // what the filter refuses, the host's stack gets
    default:
        return device->driver->host_traffic(sentence, size);
    }
}

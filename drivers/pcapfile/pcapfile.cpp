// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/pcapfile — `zc:pcap:/path/file.pcap`: replays a pcap or pcapng
// file, read with libpcap at nanosecond precision, at its original pace
// (zc_device_config.replay_speed: 1.0 as captured, 2.0 twice as fast, 0 top
// speed) and replay_loops times (0: forever). See replay_clock.hpp for the
// timestamps the packets carry and when each is due.
//
// recv_burst never sleeps: it hands out the packets whose time has come,
// each copied once from libpcap's read buffer into a pool buffer (the copy
// of this mode, counted in zc_device_stats.copied), and ZC_DEVICE_END after
// the last loop. wait() sleeps until the next packet is due, on a timerfd
// that is also the selectable fd: readable exactly when a packet is due (or
// the replay has ended), so poll() works as it does for a live device.
//
// The fast path does no allocation, logging or exceptions. Reading the file
// is the exception to "no system call per packet": libpcap reads through a
// stdio stream this driver gives a 1 MiB buffer, so read() runs once per
// MiB; and at a paced speed the timer is re-armed once per burst that
// leaves a packet waiting (the pacing itself: at low rates, once a packet).
//
// A replay loses nothing: when the pool is empty the due packet waits for a
// buffer (dropped stays 0). Threading as for every driver: recv_burst and
// release_burst on one thread.

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "internal/error.hpp"
#include "internal/counter.hpp"
#include "internal/driver.hpp"
#include "../spare_buffers.hpp"
#include "../unique_fd.hpp"
#include "replay_clock.hpp"

namespace zc {

namespace {

using pcapfile::ReplayClock;

constexpr std::uint32_t kDefaultFrames = 4096;
constexpr std::size_t kReadBufferBytes = 1 << 20;

// The file, opened once; each pass reads it from the start through libpcap.
class Capture {
public:
    Capture(std::string path, UniqueFd file) : path_(std::move(path)), file_(std::move(file)),
                                                     read_buffer_(kReadBufferBytes) {}
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;
    ~Capture() { close(); }

    // From the first byte of the file: a new stdio stream over a dup of the
    // fd (so a pass works even if the file was renamed or removed), with our
    // buffer, handed to libpcap. 0 or -EPROTO with libpcap's sentence.
    int rewind(zc_error* err) noexcept
    {
        close();
        if (::lseek(file_.get(), 0, SEEK_SET) != 0)
            return fail(err, -errno, "%s: cannot go back to the start of the file: %s", path_.c_str(),
                        std::strerror(errno));
        int copy = ::fcntl(file_.get(), F_DUPFD_CLOEXEC, 0);
        if (copy < 0)
            return fail(err, -errno, "%s: cannot duplicate the file descriptor: %s", path_.c_str(),
                        std::strerror(errno));
        FILE* stream = ::fdopen(copy, "rb");
        if (!stream) {
            int e = errno;
            ::close(copy);
            return fail(err, -e, "%s: cannot read the file: %s", path_.c_str(), std::strerror(e));
        }
        std::setvbuf(stream, read_buffer_.data(), _IOFBF, read_buffer_.size());
        char message[PCAP_ERRBUF_SIZE] = {};
        pcap_ = ::pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, message);
        if (!pcap_) {
            std::fclose(stream); // libpcap leaves the stream to its caller when it fails
            return fail(err, -EPROTO, "%s: not a capture file libpcap can read: %s", path_.c_str(), message);
        }
        return 0;
    }

    void close() noexcept
    {
        if (pcap_)
            ::pcap_close(pcap_); // closes the stream (and the dup), before read_buffer_ goes
        pcap_ = nullptr;
    }

    [[nodiscard]] pcap_t* get() const noexcept { return pcap_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    UniqueFd file_;
    std::vector<char> read_buffer_;
    pcap_t* pcap_ = nullptr;
};

class PcapFileDriver final : public Driver {
public:
    PcapFileDriver(DevicePool pool, std::unique_ptr<Capture> capture, UniqueFd timer, double speed,
                   std::uint32_t loops, std::uint32_t snap_limit)
        : pool_(std::move(pool)), capture_(std::move(capture)), timer_(std::move(timer)), clock_(speed),
          loops_(loops), capacity_(zc_buffer_capacity(pool_.get())), snap_limit_(snap_limit),
          count_truncation_(snap_limit == capacity_)
    {
        arm_timer(kNow); // the first packet is due at the first read
    }

    const char* mode() const noexcept override { return "pcap"; }
    zc_cluster* pool() noexcept override { return pool_.get(); }

    std::uint32_t recv_burst(zc_packet* packets, std::uint32_t n) noexcept override
    {
        if (ended_)
            return ZC_DEVICE_END;
        if (n == 0)
            return 0;
        if (!pending_ && !read_next()) {
            arm_timer(kNow);
            return ZC_DEVICE_END;
        }
        const bool paced = !clock_.top_speed();
        std::uint64_t now = 0;
        if (paced) {
            now = monotonic_ns(); // once per burst
            if (!clock_.started())
                clock_.start(now);
        }

        std::uint32_t got = 0;
        std::uint64_t bytes = 0, truncated = 0;
        while (got < n) {
            if (paced && clock_.due_ns(pending_timestamp_) > now)
                break;
            std::uint32_t buffer = 0;
            if (!take_buffer(n - got, &buffer))
                break; // pool empty: the packet waits for a buffer, nothing is lost
            std::uint32_t caplen = std::min(pending_header_->caplen, snap_limit_);
            std::uint32_t wire = std::max(pending_header_->len, caplen); // a broken record may claim len < caplen
            if (pending_header_->caplen > caplen && count_truncation_)
                ++truncated; // larger than a pool buffer: kept up to zc_buffer_capacity
            auto* out = static_cast<std::uint8_t*>(zc_buffer_data(pool_.get(), buffer));
            std::memcpy(out, pending_data_, caplen); // the copy of this mode: libpcap's buffer to the pool
            fill_meta(*zc_buffer_meta_of(pool_.get(), buffer), pending_timestamp_, wire, 0);
            packets[got] = zc_packet{out, caplen, wire, pending_timestamp_, buffer, 0, 0};
            ++got;
            bytes += wire;
            if (!read_next())
                break; // that was the last packet of the last loop
        }
        if (got != 0) {
            packets_.add(got);
            copied_.add(got);
            bytes_.add(bytes);
            truncated_.add(truncated);
        }
        // The timer tells poll() when the next packet is due.
        if (ended_)
            arm_timer(kNow);
        else if (paced)
            arm_timer(clock_.due_ns(pending_timestamp_));
        return got;
    }

    void release_burst(const zc_packet* packets, std::uint32_t n) noexcept override
    {
        release_packets(pool_.get(), packets, n);
    }

    // A file is not a link: nothing to send on.
    std::uint32_t tx_alloc(std::uint32_t*, std::uint32_t) noexcept override { return 0; }
    std::uint32_t send_burst(const std::uint32_t*, const std::uint32_t*, std::uint32_t) noexcept override
    {
        return 0;
    }

    int wait(int timeout_ms) noexcept override
    {
        if (ended_ || clock_.top_speed() || !clock_.started())
            return 1; // the end, or a packet, is there to take now
        if (!pending_ && !read_next())
            return 1; // the end
        std::uint64_t due = clock_.due_ns(pending_timestamp_);
        if (due <= monotonic_ns())
            return 1;
        arm_timer(due);
        struct pollfd entry = {timer_.get(), POLLIN, 0};
        int ready = ::poll(&entry, 1, timeout_ms);
        if (ready < 0)
            return -errno;
        return ready;
    }

    int selectable_fd() const noexcept override { return timer_.get(); }

    void stats(zc_device_stats& stats) noexcept override
    {
        stats.packets = packets_.get();
        stats.bytes = bytes_.get();
        stats.copied = copied_.get();
        stats.truncated = truncated_.get();
        stats.dropped = 0; // see the top of this file
    }

private:
    static constexpr std::uint64_t kNow = 1; // an absolute time long past: readable at once

    // Makes the next packet of the replay pending; false at the end of the
    // last loop. Starts the next loop when the file ends.
    bool read_next() noexcept
    {
        pending_ = false;
        for (;;) {
            pcap_t* pcap = capture_->get();
            struct pcap_pkthdr* header = nullptr;
            const u_char* data = nullptr;
            int rc = pcap ? ::pcap_next_ex(pcap, &header, &data) : -2;
            if (rc == 1) {
                // With PCAP_TSTAMP_PRECISION_NANO, tv_usec holds nanoseconds.
                std::uint64_t file_ns = static_cast<std::uint64_t>(header->ts.tv_sec) * 1000000000u +
                                        static_cast<std::uint64_t>(header->ts.tv_usec);
                pending_timestamp_ = clock_.on_packet(file_ns);
                pending_header_ = header;
                pending_data_ = data;
                pending_ = true;
                return true;
            }
            // -2: end of file. -1: a read error, in practice a record cut
            // short at the end of the file: the pass ends there, as tcpdump's
            // does. Either way the file may play again.
            const bool last_loop = loops_ != 0 && clock_.loop() + 1 >= loops_;
            if (last_loop || clock_.packets_per_loop() == 0 || capture_->rewind(nullptr) != 0) {
                ended_ = true;
                capture_->close();
                return false;
            }
            clock_.next_loop();
        }
    }

    bool take_buffer(std::uint32_t wanted, std::uint32_t* buffer) noexcept { return spares_.take(wanted, buffer); }

    void arm_timer(std::uint64_t due_ns) noexcept
    {
        if (due_ns == armed_ns_)
            return;
        struct itimerspec when {};
        when.it_value.tv_sec = static_cast<time_t>(due_ns / 1000000000u);
        when.it_value.tv_nsec = static_cast<long>(due_ns % 1000000000u);
        ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &when, nullptr);
        armed_ns_ = due_ns;
    }

    DevicePool pool_;
    std::unique_ptr<Capture> capture_;
    UniqueFd timer_;
    ReplayClock clock_;
    std::uint32_t loops_;
    std::uint32_t capacity_;
    std::uint32_t snap_limit_;
    bool count_truncation_;

    bool ended_ = false;
    bool pending_ = false; // a packet read from the file and not yet handed out
    const struct pcap_pkthdr* pending_header_ = nullptr; // valid until the next pcap_next_ex
    const u_char* pending_data_ = nullptr;
    std::uint64_t pending_timestamp_ = 0;
    std::uint64_t armed_ns_ = 0;

    SpareBuffers spares_{pool_.get()}; // after pool_: destroyed before it

    Counter packets_, bytes_, copied_, truncated_;
};

} // namespace

int open_pcapfile(const DeviceName& name, const zc_device_config& config, std::unique_ptr<Driver>& out,
                  zc_error* err)
{
    const char* path = name.path.c_str();
    if (!(config.replay_speed >= 0) || std::isinf(config.replay_speed))
        return fail(err, -EINVAL, "%s: replay speed %g is not a number from 0 (top speed) up", path,
                    config.replay_speed);

    UniqueFd file(::open(path, O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        int e = errno;
        if (e == ENOENT)
            return fail(err, -ENOENT, "%s: no such file", path);
        if (e == EACCES)
            return fail(err, -EACCES, "%s: permission denied (the file must be readable by this user)", path);
        return fail(err, -e, "%s: cannot open: %s", path, std::strerror(e));
    }
    struct stat status {};
    if (::fstat(file.get(), &status) != 0)
        return fail(err, -errno, "%s: cannot stat: %s", path, std::strerror(errno));
    if (S_ISDIR(status.st_mode))
        return fail(err, -EISDIR, "%s: is a directory, not a capture file", path);
    if (config.replay_loops != 1 && ::lseek(file.get(), 0, SEEK_CUR) < 0)
        return fail(err, -ESPIPE, "%s: cannot play a pipe more than once (replay_loops is %u)", path,
                    config.replay_loops);

    auto capture = std::make_unique<Capture>(name.path, std::move(file));
    if (int rc = capture->rewind(err); rc != 0)
        return rc;
    int link = ::pcap_datalink(capture->get());
    if (link != DLT_EN10MB) {
        const char* link_name = ::pcap_datalink_val_to_name(link);
        return fail(err, -EPROTO, "%s: link type %s is not Ethernet (zc devices deliver Ethernet frames)", path,
                    link_name ? link_name : "unknown");
    }

    DevicePool pool;
    if (int rc = open_device_pool(config, config.frame_count != 0 ? config.frame_count : kDefaultFrames, pool, err);
        rc != 0)
        return rc;
    const std::uint32_t capacity = zc_buffer_capacity(pool.get());
    const std::uint32_t snap_limit = config.snaplen != 0 && config.snaplen < capacity ? config.snaplen : capacity;

    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (timer.get() < 0)
        return fail(err, -errno, "%s: cannot create the replay timer: %s", path, std::strerror(errno));

    out = std::make_unique<PcapFileDriver>(std::move(pool), std::move(capture), std::move(timer),
                                           config.replay_speed, config.replay_loops, snap_limit);
    return 0;
}

} // namespace zc

// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/session.cpp — the control path of a session: open (passive and
// inline), close, filter, counters, inject (see session.hpp). The fast path
// is in session_receive.cpp, the wait in session_wait.cpp.

#include "session.hpp"

#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

namespace daqzc {
namespace {

constexpr int kInjectAttempts = 2000; // 50 us apart: 100 ms for a full TX ring to drain

// Refusals that asking for no TX ring would not change.
bool clear_refusal(int rc) noexcept
{
    return rc == -ENODEV || rc == -ENOENT || rc == -EPERM || rc == -EACCES || rc == -ENETDOWN || rc == -EPROTO ||
           rc == -EBUSY || rc == -EINVAL;
}

// libbpf writes its diagnostics to stderr; zc's own sentence says what went
// wrong, so they are shown only with the debug variable.
int quiet_libbpf(enum libbpf_print_level, const char*, va_list) { return 0; }

int open_device(const std::string& name, const zc_device_config& config, bool debug, zc_device** device,
                zc_error* error) noexcept
{
    libbpf_print_fn_t previous = debug ? nullptr : libbpf_set_print(quiet_libbpf);
    int rc = zc_device_open(name.c_str(), &config, device, error);
    if (!debug)
        libbpf_set_print(previous);
    return rc;
}

const char* message_of(const zc_error& error, int rc) noexcept
{
    return error.message[0] ? error.message : std::strerror(-rc);
}

} // namespace

int Session::fail(int rc, const char* format, ...) noexcept
{
    va_list args;
    va_start(args, format);
    std::vsnprintf(error_, sizeof error_, format, args);
    va_end(args);
    return rc;
}

int Session::open(const char* snort_name, bool inline_mode, const Options& options, bool promisc) noexcept
{
    try {
        close();
        options_ = options;
        ended_ = false;
        inline_ = false;
        peer_.clear();
        interfaces_.clear();
        if (int rc = interrupt_.open(); rc != 0)
            return fail(rc, "cannot create the eventfd that interrupts a wait: %s", std::strerror(-rc));
        zc_device_config config = options.device;
        if (!promisc)
            config.flags |= ZC_DEVICE_NO_PROMISC;
        name_ = device_name(snort_name); // inline: replaced by the aggregate's name
        int rc = inline_mode ? open_inline(snort_name, config) : open_passive(config);
        if (rc != 0)
            close();
        return rc;
    } catch (const std::bad_alloc&) {
        close();
        return fail(-ENOMEM, "%s: out of memory while opening the device", snort_name ? snort_name : "zc");
    }
}

// Any zc(7) name; with a TX ring for inject when the device can have one.
int Session::open_passive(zc_device_config config) noexcept
{
    zc_error error{};
    config.flags |= ZC_DEVICE_RX | ZC_DEVICE_TX;
    int rc = open_device(name_, config, options_.debug, &device_, &error);
    if (rc != 0 && !clear_refusal(rc)) {
        config.flags &= ~ZC_DEVICE_TX;
        error = zc_error{};
        rc = open_device(name_, config, options_.debug, &device_, &error);
    }
    if (rc != 0)
        return fail(rc, "%s", message_of(error, rc));
    const char* mode = zc_device_mode(device_);
    can_send_ = (config.flags & ZC_DEVICE_TX) &&
                (std::strncmp(mode, "afxdp", 5) == 0 || std::strcmp(mode, "afpacket") == 0);
    interfaces_ = device_interfaces(device_);
    return 0;
}

// Pairs A:B: the aggregate zc:A,B receives from and forwards out of every
// interface of the pairs (see session.hpp).
int Session::open_inline(const char* snort_name, zc_device_config config) noexcept
{
    InlinePairs pairs;
    std::string message;
    if (!parse_inline_pairs(snort_name, pairs, message))
        return fail(-EINVAL, "%s", message.c_str());
    inline_ = true;
    peer_.assign(pairs.peer.begin(), pairs.peer.end());
    name_ = aggregate_name(pairs);
    zc_error error{};
    config.flags |= ZC_DEVICE_RX | ZC_DEVICE_TX;
    if (int rc = open_device(name_, config, options_.debug, &device_, &error); rc != 0)
        return fail(rc, "%s", message_of(error, rc));
    const std::uint32_t capabilities = zc_device_capabilities(device_);
    if (!(capabilities & ZC_DEVICE_CAN_FORWARD))
        return fail(-ENOTSUP, "%s: this device cannot forward (%s), which inline mode needs", name_.c_str(),
                    zc_device_mode(device_));
    // The pool is the device's own (AF_XDP: its UMEM; AF_PACKET: its
    // private pool), mapped read-write: Snort's in-place changes (REPLACE)
    // are in the buffer that goes out. Only a cluster queue's pool is
    // read-only, and a cluster queue cannot be an inline pair.
    forward_zero_copy_ = (capabilities & ZC_DEVICE_FORWARD_ZEROCOPY) != 0;
    can_send_ = (capabilities & ZC_DEVICE_CAN_SEND) != 0;
    interfaces_ = device_interfaces(device_);
    return 0;
}

void Session::close() noexcept
{
    if (device_) {
        flush();
        last_device_ = read_device_counters();
        zc_device_close(device_); // an AF_XDP device detaches its XDP program here
        device_ = nullptr;
    }
    release_count_ = 0;
    forward_count_ = 0;
    can_send_ = false;
    forward_zero_copy_ = false;
}

const char* Session::mode() const noexcept { return device_ ? zc_device_mode(device_) : "closed"; }

std::uint32_t Session::pool_buffers() const noexcept
{
    if (!device_)
        return 0;
    zc_cluster_info info{};
    info.struct_size = sizeof info;
    if (zc_cluster_get_info(zc_device_cluster(device_), &info) != 0)
        return 0;
    return info.frame_count;
}

int Session::device_index(const char* name) const noexcept
{
    if (!name)
        return -1;
    if (std::strncmp(name, "zc:", 3) == 0)
        name += 3;
    for (const Interface& interface : interfaces_)
        if (interface.name == name)
            return interface.index;
    return -1;
}

int Session::port_of(int ifindex) const noexcept
{
    for (std::size_t port = 0; port < interfaces_.size(); ++port)
        if (interfaces_[port].index == ifindex && ifindex >= 0)
            return static_cast<int>(port);
    return -1;
}

std::string Session::description() const
{
    std::string text = name_ + " opened (" + mode() + "), " + (can_send_ ? "can inject" : "receive only") + ", " +
                       std::to_string(interfaces_.size()) + " interface(s):";
    for (std::size_t port = 0; port < interfaces_.size(); ++port) {
        text += " " + interfaces_[port].name + " (ifindex " + std::to_string(interfaces_[port].index) + ")";
        if (inline_)
            text += " -> " + interfaces_[peer_[port]].name;
    }
    return text;
}

int Session::set_filter(const char* expression, int snaplen) noexcept
{
    try {
        std::string error;
        if (!filter_.compile(expression, snaplen, error))
            return fail(-EINVAL, "%s", error.c_str());
        // Passive: the device filters (in the kernel where it can, and
        // what it refuses stays with the host), counting what it refused;
        // where it cannot take the program, the filter runs here.
        if (!inline_ && device_ && filter_.active()) {
            zc_error err{};
            if (zc_device_set_filter(device_, static_cast<const zc_filter_insn*>(filter_.instructions()),
                                     filter_.length(), 0, &err) >= 0)
                filter_.reset();
            else // an earlier program the device took must not stay in front of this one
                zc_device_set_filter(device_, nullptr, 0, 0, &err);
        }
        return 0;
    } catch (const std::bad_alloc&) {
        return fail(-ENOMEM, "out of memory while compiling the BPF filter");
    }
}

zc_device_stats Session::read_device_counters() noexcept
{
    if (!device_)
        return last_device_;
    zc_device_stats stats{};
    stats.struct_size = sizeof stats;
    if (zc_device_get_stats(device_, &stats) != 0)
        return last_device_; // only a struct_size mismatch fails, and this one is right
    return stats;
}

void Session::reset_counters() noexcept
{
    counters_ = SessionCounters{};
    baseline_ = read_device_counters();
}

zc_device_stats Session::device_counters() noexcept
{
    const zc_device_stats now = read_device_counters();
    zc_device_stats since = now;
    since.packets = now.packets - baseline_.packets;
    since.bytes = now.bytes - baseline_.bytes;
    since.dropped = now.dropped - baseline_.dropped;
    since.if_dropped = now.if_dropped - baseline_.if_dropped;
    since.copied = now.copied - baseline_.copied;
    since.sent = now.sent - baseline_.sent;
    since.send_failed = now.send_failed - baseline_.send_failed;
    since.truncated = now.truncated - baseline_.truncated;
    since.forwarded = now.forwarded - baseline_.forwarded;
    since.forward_copied = now.forward_copied - baseline_.forward_copied;
    since.forward_failed = now.forward_failed - baseline_.forward_failed;
    return since;
}

int Session::inject(int port, bool reverse, const std::uint8_t* data, std::uint32_t length) noexcept
{
    if (!device_)
        return fail(-EBADF, "%s: cannot inject: the device is closed", name_.c_str());
    if (!can_send_)
        return fail(-ENOTSUP,
                    "%s: this zc device cannot send (zc:IFACE and zc:afpacket:IFACE can; cluster queues, replays "
                    "and zc:synthetic cannot)",
                    name_.c_str());
    if (inline_) {
        if (port < 0 || static_cast<std::size_t>(port) >= interfaces_.size())
            return fail(-EINVAL, "%s: cannot inject: the packet came in on none of this instance's interfaces",
                        name_.c_str());
        const auto in = static_cast<std::size_t>(port);
        return inject_out_of(reverse ? in : peer_[in], data, length);
    }
    if (interfaces_.size() > 1 && port != 0) {
        // Passive mode has one way out: the interface the device sends on
        // (the first of an aggregate). Both directions leave through it,
        // which on the capture interface reaches both ends of the flow.
        return fail(-EINVAL,
                    "%s: cannot inject: an aggregate sends only out of its first interface, %s, and the packet "
                    "came in on another",
                    name_.c_str(), interfaces_[0].name.c_str());
    }
    // A full TX ring: wait for the kernel to complete frames, 100 ms at most.
    // zc_device_inject copies the frame into a pool buffer (counted in the
    // device's sent frames).
    int rc = -EAGAIN;
    for (int attempt = 0; attempt < kInjectAttempts && rc == -EAGAIN; ++attempt) {
        rc = zc_device_inject(device_, data, length);
        if (rc == -EAGAIN)
            pause_for_tx();
    }
    return injected(rc, length);
}

// Inline: out of one interface of the aggregate. zc_device_inject sends out
// of the first only, so the frame is copied (the explicit copy of inject)
// into a buffer taken for transmit, and that buffer goes out of `port` with
// zc_device_forward_burst (which the device counts among its forwarded
// frames; the session counts it as injected).
int Session::inject_out_of(std::size_t port, const std::uint8_t* data, std::uint32_t length) noexcept
{
    zc_cluster* pool = zc_device_cluster(device_);
    if (length == 0 || length > zc_buffer_capacity(pool))
        return injected(-EMSGSIZE, length);
    int rc = -EAGAIN;
    for (int attempt = 0; attempt < kInjectAttempts && rc == -EAGAIN; ++attempt) {
        std::uint32_t buffer = 0;
        if (zc_device_tx_alloc(device_, &buffer, 1) == 1) {
            auto* frame = static_cast<std::uint8_t*>(zc_buffer_data(pool, buffer));
            std::memcpy(frame, data, length); // the explicit copy inject promises
            zc_packet packet{};
            packet.data = frame;
            packet.caplen = length;
            packet.len = length;
            packet.buffer = buffer;
            const auto out = static_cast<std::uint16_t>(port);
            // The buffer passes to the device, sent or not (TX ring full: try again).
            if (zc_device_forward_burst(device_, &packet, &out, 1) == 1)
                rc = 0;
        }
        if (rc == -EAGAIN)
            pause_for_tx();
    }
    return injected(rc, length);
}

void Session::pause_for_tx() noexcept
{
    struct timespec pause = {0, 50000};
    ::nanosleep(&pause, nullptr);
}

int Session::injected(int rc, std::uint32_t length) noexcept
{
    if (rc == 0) {
        ++counters_.injected;
        return 0;
    }
    if (rc == -EMSGSIZE)
        return fail(rc, "%s: cannot inject a frame of %u bytes: it does not fit a zc buffer", name_.c_str(), length);
    if (rc == -EAGAIN)
        return fail(rc, "%s: cannot inject: the TX ring stayed full for 100 ms", name_.c_str());
    return fail(rc, "%s: cannot inject: %s", name_.c_str(), std::strerror(-rc));
}

} // namespace daqzc

// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/options.cpp — see options.hpp.

#include "options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace daqzc {
namespace {

constexpr std::uint64_t kMinRing = 64;
constexpr std::uint64_t kMaxRing = 65536;
constexpr std::uint64_t kMaxFrames = 1u << 24;
constexpr std::uint64_t kMaxBusyPollUsec = 1000000;
constexpr std::uint64_t kMaxLoops = 1000000;
constexpr double kMaxReplaySpeed = 1000.0;

// A decimal number in [low, high], nothing else around it.
bool parse_number(const char* text, std::uint64_t low, std::uint64_t high, std::uint64_t& out) noexcept
{
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char* end = nullptr;
    unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < low || value > high)
        return false;
    out = value;
    return true;
}

// No value (the variable alone) means on.
bool parse_switch(const char* text, bool& out) noexcept
{
    if (!text || !*text) {
        out = true;
        return true;
    }
    for (const char* on : {"1", "yes", "true", "on"})
        if (std::strcmp(text, on) == 0) {
            out = true;
            return true;
        }
    for (const char* off : {"0", "no", "false", "off"})
        if (std::strcmp(text, off) == 0) {
            out = false;
            return true;
        }
    return false;
}

std::string shown(const char* value) { return value ? std::string("'") + value + "'" : std::string("no value"); }

bool bad_value(std::string& error, const char* key, const char* value, const char* accepted)
{
    error = std::string("DAQ variable ") + key + ": " + shown(value) + " is not " + accepted;
    return false;
}

bool set_flag(Options& options, std::uint32_t flag, const char* key, const char* value, std::string& error)
{
    bool on = false;
    if (!parse_switch(value, on))
        return bad_value(error, key, value, "a switch (no value, or 1/0, yes/no, true/false, on/off)");
    if (on)
        options.device.flags |= flag;
    else
        options.device.flags &= ~flag;
    return true;
}

} // namespace

Options default_options() noexcept
{
    Options options;
    zc_device_config_init(&options.device);
    options.device.flags = 0; // the module decides RX/TX
    return options;
}

const char* known_options() noexcept
{
    return "debug, ring_size, frame_count (or buffers), busy_poll, copy_mode, skb_mode, no_promisc, replay_speed, "
           "replay_loops";
}

const OptionDescription* option_descriptions(std::size_t& count) noexcept
{
    static constexpr OptionDescription kTable[] = {
        {"debug", "Print what was opened and, at stop, the counters on stderr; show libbpf's diagnostics", false},
        {"ring_size", "AF_XDP and AF_PACKET ring slots, a power of two from 64 to 65536 (default 2048)", true},
        {"frame_count", "Buffers in the device's pool, 1 to 16777216 (default: what the device needs)", true},
        {"buffers", "The same as frame_count", true},
        {"busy_poll", "Busy polling for this many microseconds per poll, 0 (default) to 1000000", true},
        {"copy_mode", "AF_XDP: do not try zero-copy (a switch)", false},
        {"skb_mode", "AF_XDP: attach the XDP program in generic (skb) mode (a switch)", false},
        {"no_promisc", "Leave promiscuous mode alone (a switch)", false},
        {"replay_speed", "zc:pcap: only: 1 the file's pace (default), 2 twice as fast, 0 top speed, up to 1000", true},
        {"replay_loops", "zc:pcap: only: times to play the file, 0 (forever) to 1000000 (default 1)", true},
    };
    count = sizeof kTable / sizeof kTable[0];
    return kTable;
}

bool apply_option(Options& options, const char* key, const char* value, std::string& error)
{
    std::uint64_t number = 0;
    if (std::strcmp(key, "debug") == 0) {
        if (!parse_switch(value, options.debug))
            return bad_value(error, key, value, "a switch (no value, or 1/0, yes/no, true/false, on/off)");
        return true;
    }
    if (std::strcmp(key, "ring_size") == 0) {
        if (!parse_number(value, kMinRing, kMaxRing, number) || (number & (number - 1)) != 0)
            return bad_value(error, key, value, "a power of two from 64 to 65536 (ring slots)");
        options.device.ring_size = static_cast<std::uint32_t>(number);
        return true;
    }
    if (std::strcmp(key, "frame_count") == 0 || std::strcmp(key, "buffers") == 0) {
        if (!parse_number(value, 1, kMaxFrames, number))
            return bad_value(error, key, value, "a number of pool buffers from 1 to 16777216");
        options.device.frame_count = static_cast<std::uint32_t>(number);
        return true;
    }
    if (std::strcmp(key, "busy_poll") == 0) {
        if (!parse_number(value, 0, kMaxBusyPollUsec, number))
            return bad_value(error, key, value, "a busy-poll time in microseconds from 0 (off) to 1000000");
        if (number == 0) {
            options.device.flags &= ~ZC_DEVICE_BUSY_POLL;
        } else {
            options.device.flags |= ZC_DEVICE_BUSY_POLL;
            options.device.busy_poll_usec = static_cast<std::uint32_t>(number);
        }
        return true;
    }
    if (std::strcmp(key, "copy_mode") == 0)
        return set_flag(options, ZC_DEVICE_COPY_MODE, key, value, error);
    if (std::strcmp(key, "skb_mode") == 0)
        return set_flag(options, ZC_DEVICE_SKB_MODE, key, value, error);
    if (std::strcmp(key, "no_promisc") == 0)
        return set_flag(options, ZC_DEVICE_NO_PROMISC, key, value, error);
    if (std::strcmp(key, "replay_speed") == 0) {
        char* end = nullptr;
        double speed = value && *value ? std::strtod(value, &end) : -1.0;
        if (!value || !*value || *end != '\0' || !std::isfinite(speed) || speed < 0.0 || speed > kMaxReplaySpeed)
            return bad_value(error, key, value, "a replay speed from 0 (top speed) to 1000 (1 is the file's pace)");
        options.device.replay_speed = speed;
        return true;
    }
    if (std::strcmp(key, "replay_loops") == 0) {
        if (!parse_number(value, 0, kMaxLoops, number))
            return bad_value(error, key, value, "a number of times to play the file from 0 (forever) to 1000000");
        options.device.replay_loops = static_cast<std::uint32_t>(number);
        return true;
    }
    error = std::string("unknown DAQ variable '") + key + "' (the zc DAQ module knows " + known_options() + ")";
    return false;
}

} // namespace daqzc

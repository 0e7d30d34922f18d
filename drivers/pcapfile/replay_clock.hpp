// SPDX-License-Identifier: BSD-3-Clause
//
// drivers/pcapfile/replay_clock.hpp — when each packet of a replayed file is
// due, and the timestamps it carries across loops.
//
// Timestamps: a replayed packet carries the file's own timestamp, not the
// time it was replayed, so that what a consumer computes from time (flow
// timeouts, rates, Zeek's and Suricata's logs) matches the original capture.
// Loop k (0-based) adds k * period to every timestamp, where
//
//     period = (latest - first timestamp of the file) + mean gap of the file
//
// so each loop starts one typical gap after the previous one ended and the
// stream stays increasing across loops (within a loop, the file's order is
// kept even where the file goes back in time). A file that gives no gap (one
// packet, or all timestamps equal) gets 1 µs.
//
// Pacing follows those same timestamps: a packet is due at
//
//     start + (timestamp - first timestamp) / speed
//
// on CLOCK_MONOTONIC, start being the first read. A consumer that falls
// behind gets what is overdue at once and catches up: the schedule is never
// re-based, so the average rate stays the file's times speed. speed 0: every
// packet is due at once (top speed).

#pragma once

#include <cstdint>

namespace zc::pcapfile {

class ReplayClock {
public:
    explicit ReplayClock(double speed) noexcept : top_speed_(speed == 0), inverse_speed_(top_speed_ ? 0 : 1 / speed) {}

    [[nodiscard]] bool top_speed() const noexcept { return top_speed_; }
    [[nodiscard]] bool started() const noexcept { return started_; }
    void start(std::uint64_t now_ns) noexcept
    {
        start_ns_ = now_ns;
        started_ = true;
    }

    // A packet read from the file, with the file's timestamp: returns the
    // timestamp it carries in this loop. The first loop learns the file's
    // span and packet count as it goes (no pass over the file at open).
    std::uint64_t on_packet(std::uint64_t file_ns) noexcept
    {
        if (loop_ == 0) {
            if (packets_ == 0)
                first_ns_ = latest_ns_ = file_ns;
            else if (file_ns > latest_ns_)
                latest_ns_ = file_ns;
            ++packets_;
        }
        return file_ns + shift_ns_;
    }

    // The file ended and plays again.
    void next_loop() noexcept
    {
        if (loop_ == 0) {
            std::uint64_t span = latest_ns_ - first_ns_;
            std::uint64_t gap = packets_ > 1 ? span / (packets_ - 1) : 0;
            period_ns_ = span + (gap != 0 ? gap : kMinimumGapNs);
        }
        ++loop_;
        shift_ns_ += period_ns_;
    }

    [[nodiscard]] std::uint64_t packets_per_loop() const noexcept { return packets_; }
    [[nodiscard]] std::uint32_t loop() const noexcept { return loop_; }

    // CLOCK_MONOTONIC time at which a packet carrying `timestamp_ns` (as
    // on_packet returned it) is due. Only when started and not top speed.
    [[nodiscard]] std::uint64_t due_ns(std::uint64_t timestamp_ns) const noexcept
    {
        if (timestamp_ns <= first_ns_)
            return start_ns_; // the file went back in time: due at once
        // A double holds 2^53 ns (104 days) exactly; past that the error is
        // a few ns, well under the scheduler's resolution.
        double offset = static_cast<double>(timestamp_ns - first_ns_) * inverse_speed_;
        constexpr double kLatest = 9.0e18; // keeps the sum inside uint64_t for absurd speeds
        return start_ns_ + static_cast<std::uint64_t>(offset < kLatest ? offset : kLatest);
    }

private:
    static constexpr std::uint64_t kMinimumGapNs = 1000;

    bool top_speed_;
    double inverse_speed_;
    bool started_ = false;
    std::uint64_t start_ns_ = 0;
    std::uint64_t first_ns_ = 0;
    std::uint64_t latest_ns_ = 0;
    std::uint64_t packets_ = 0;
    std::uint64_t period_ns_ = 0;
    std::uint64_t shift_ns_ = 0;
    std::uint32_t loop_ = 0;
};

} // namespace zc::pcapfile

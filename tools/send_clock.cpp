// SPDX-License-Identifier: BSD-3-Clause

#include "send_clock.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <sys/signalfd.h>
#include <unistd.h>

namespace zc::send {

namespace {

timespec to_timespec(std::uint64_t ns) noexcept
{
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / kNanosPerSecond);
    ts.tv_nsec = static_cast<long>(ns % kNanosPerSecond);
    return ts;
}

// Frames per tick at `rate`: the batch that keeps a paced stream smooth.
std::uint32_t paced_batch(std::uint64_t rate, std::uint64_t tick_ns, std::uint32_t max_batch) noexcept
{
    if (rate == 0)
        return max_batch;
    auto per_tick = static_cast<std::uint64_t>(static_cast<Wide>(rate) * tick_ns / kNanosPerSecond);
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(per_tick, 1, max_batch));
}

} // namespace

std::uint64_t monotonic_ns() noexcept
{
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * kNanosPerSecond + static_cast<std::uint64_t>(now.tv_nsec);
}

void sleep_until(std::uint64_t deadline_ns) noexcept
{
    timespec deadline = to_timespec(deadline_ns);
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
    }
}

RatePacer::RatePacer(std::uint64_t rate_pps, std::uint64_t tick_ns, std::uint32_t max_batch) noexcept
    : rate_(rate_pps), batch_(paced_batch(rate_pps, tick_ns, max_batch))
{
}

std::uint64_t RatePacer::due_time(std::uint64_t position) const noexcept
{
    if (rate_ == 0)
        return 0;
    // position * 1e9 / rate, without overflowing at 1.8e10 frames.
    std::uint64_t seconds = position / rate_;
    std::uint64_t rest = position % rate_;
    return seconds * kNanosPerSecond + static_cast<std::uint64_t>((static_cast<Wide>(rest) * kNanosPerSecond) / rate_);
}

std::uint64_t RatePacer::due(std::uint64_t elapsed_ns, std::uint64_t position, std::uint64_t limit,
                             std::uint64_t* wake_ns) const noexcept
{
    limit = std::min<std::uint64_t>(limit, batch_);
    if (rate_ == 0)
        return limit;
    // Frames 0 .. owed-1 are due by now (frame 0 at time 0).
    Wide owed = static_cast<Wide>(elapsed_ns) * rate_ / kNanosPerSecond + 1;
    if (owed > position)
        return static_cast<std::uint64_t>(std::min<Wide>(owed - position, limit));
    *wake_ns = due_time(position);
    return 0;
}

StopSignals::StopSignals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        throw std::runtime_error(std::string("cannot block SIGINT/SIGTERM: ") + std::strerror(errno));
    fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0)
        throw std::runtime_error(std::string("cannot create a signalfd: ") + std::strerror(errno));
}

StopSignals::~StopSignals()
{
    if (fd_ >= 0)
        ::close(fd_);
}

bool StopSignals::stopped() noexcept
{
    if (signal_ != 0)
        return true;
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        signal_ = static_cast<int>(info.ssi_signo);
    return signal_ != 0;
}

bool StopSignals::wait_until(std::uint64_t deadline_ns) noexcept
{
    // Long waits sleep in poll() on the signalfd, so that Ctrl-C is
    // immediate; the last millisecond is an absolute clock_nanosleep, whose
    // precision poll's relative timeout does not have.
    constexpr std::uint64_t kFine = 1'000'000;
    for (;;) {
        if (stopped())
            return true;
        std::uint64_t now = monotonic_ns();
        if (now >= deadline_ns)
            return false;
        if (deadline_ns - now <= kFine) {
            sleep_until(deadline_ns);
            return stopped();
        }
        timespec timeout = to_timespec(deadline_ns - now - kFine);
        pollfd pfd{fd_, POLLIN, 0};
        ::ppoll(&pfd, 1, &timeout, nullptr);
    }
}

} // namespace zc::send

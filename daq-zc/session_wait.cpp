// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/session_wait.cpp — waiting for packets, interruptibly (see
// session.hpp and interrupt.hpp).
//
// One round: zc_device_wait(device, 0) first — it never sleeps, and it is
// where a device gets ready to be slept on (a replay arms its timer for
// the next packet's time, a cluster queue empties its wake-up fd and tells
// the owner it is about to sleep, AF_XDP kicks a zero-copy driver) — then
// poll() on the device's selectable fd and the interrupt's eventfd until
// either is readable or the deadline passes. A signal (EINTR) starts a new
// round; the caller looks at the interrupt flag between rounds.

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "session.hpp"

namespace daqzc {

std::uint64_t Session::now_ms() noexcept
{
    struct timespec now {};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000000u;
}

Session::Wait Session::wait_until(std::uint64_t deadline_ms) noexcept
{
    if (!device_) {
        fail(-EBADF, "%s: cannot wait for packets: the device is closed", name_.c_str());
        return Wait::Failed;
    }
    for (;;) {
        if (interrupt_.take())
            return Wait::Interrupted;
        // Before the device's answer: a device that keeps saying "ready"
        // while giving nothing (zc:synthetic whose next buffer the caller
        // still holds) must not keep the caller past its deadline.
        if (deadline_ms != 0 && now_ms() >= deadline_ms)
            return Wait::Timeout;
        int rc = zc_device_wait(device_, 0);
        if (rc > 0)
            return Wait::Ready;
        if (rc < 0 && rc != -EINTR) {
            if (rc == -EPIPE)
                fail(rc, "%s: the cluster's owner (zc-balance) is gone; no more packets will come", name_.c_str());
            else
                fail(rc, "%s: waiting for packets failed: %s", name_.c_str(), std::strerror(-rc));
            return Wait::Failed;
        }
        int timeout = -1;
        if (deadline_ms != 0) {
            std::uint64_t now = now_ms();
            if (now >= deadline_ms)
                return Wait::Timeout;
            timeout = static_cast<int>(std::min<std::uint64_t>(deadline_ms - now, INT_MAX));
        }
        struct pollfd fds[2] = {
            {zc_device_selectable_fd(device_), POLLIN, 0},
            {interrupt_.fd(), POLLIN, 0},
        };
        int ready = ::poll(fds, 2, timeout);
        if (ready < 0 && errno != EINTR) {
            fail(-errno, "%s: waiting for packets failed: %s", name_.c_str(), std::strerror(errno));
            return Wait::Failed;
        }
        if (ready > 0 && (fds[1].revents & POLLIN) && !interrupt_.take())
            interrupt_.drain(); // a raise already taken left the fd readable: empty it, sleep again
        else if (ready > 0 && (fds[1].revents & POLLIN))
            return Wait::Interrupted;
        if (ready > 0 && fds[0].revents != 0)
            return Wait::Ready;
    }
}

} // namespace daqzc

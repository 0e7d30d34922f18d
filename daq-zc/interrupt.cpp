// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/interrupt.cpp — see interrupt.hpp.

#include "interrupt.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace daqzc {

Interrupt::~Interrupt()
{
    if (fd_ >= 0)
        ::close(fd_);
}

int Interrupt::open() noexcept
{
    if (fd_ >= 0)
        return 0;
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd_ >= 0 ? 0 : -errno;
}

void Interrupt::raise() noexcept
{
    // release: pairs with the acquire exchange in take().
    raised_.store(true, std::memory_order_release);
    if (fd_ >= 0) {
        const std::uint64_t one = 1;
        // A full counter (2^64 - 2 raises unread) or EAGAIN: the fd is
        // readable already, which is all a raise needs.
        [[maybe_unused]] ssize_t written = ::write(fd_, &one, sizeof one);
    }
}

bool Interrupt::take() noexcept
{
    // Cheap test first: the fast path looks between packets.
    if (!raised_.load(std::memory_order_relaxed))
        return false;
    // acquire: pairs with the release store in raise().
    if (!raised_.exchange(false, std::memory_order_acquire))
        return false;
    drain();
    return true;
}

void Interrupt::drain() noexcept
{
    if (fd_ < 0)
        return;
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t got = ::read(fd_, &count, sizeof count); // EAGAIN: already empty
}

} // namespace daqzc

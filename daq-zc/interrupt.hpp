// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/interrupt.hpp — how another thread (or a signal handler) stops a
// receive that is waiting: DAQ 2's breakloop, DAQ 3's interrupt.
//
// A flag and an eventfd. raise() sets the flag, then writes the eventfd;
// the receiving thread polls the eventfd together with the device's
// selectable fd (session_wait.cpp), so a blocked wait ends at once, and it
// looks at the flag between packets. take() consumes one raise: it clears
// the flag and empties the eventfd. A raise whose write lands after take()
// emptied the fd leaves the fd readable with the flag clear: the next wait
// wakes once, finds no flag, empties the fd and sleeps again.
//
// raise() is async-signal-safe (an atomic store and a write(2)).
#ifndef DAQZC_INTERRUPT_HPP
#define DAQZC_INTERRUPT_HPP

#include <atomic>

namespace daqzc {

class Interrupt {
public:
    Interrupt() noexcept = default;
    ~Interrupt();
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;

    // Control path: creates the eventfd. 0, or a negative errno.
    int open() noexcept;
    [[nodiscard]] int fd() const noexcept { return fd_; }

    // Any thread, or a signal handler.
    void raise() noexcept;
    // The receiving thread: true once per raise (or per several raises
    // that came before it looked).
    [[nodiscard]] bool take() noexcept;
    // Empties the eventfd (the flag is left alone).
    void drain() noexcept;

private:
    std::atomic<bool> raised_{false};
    int fd_ = -1;
};

} // namespace daqzc

#endif // DAQZC_INTERRUPT_HPP

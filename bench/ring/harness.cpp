// SPDX-License-Identifier: BSD-3-Clause
//
// bench/ring/harness.cpp — launching, pinning and timing the two sides of a
// ring benchmark. The protocol is described in harness.hpp.

#include "harness.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <thread>

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace zc_bench {

namespace {

// How long the sides may take to start, or to drain the ring after `stop`,
// before the run is declared hung (a lost descriptor leaves the consumer
// waiting for ever).
constexpr double kHangTimeoutSeconds = 10.0;

[[noreturn]] void die(const char* what)
{
    std::fprintf(stderr, "zc-bench-ring: %s\n", what);
    std::exit(1);
}

void sleep_seconds(double seconds)
{
    struct timespec left;
    left.tv_sec = static_cast<time_t>(seconds);
    left.tv_nsec = static_cast<long>((seconds - static_cast<double>(left.tv_sec)) * 1e9);
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

bool pin_to(int cpu)
{
    if (cpu < 0)
        return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    // pid 0 is the calling thread, which is what both settings want.
    if (sched_setaffinity(0, sizeof(set), &set) == 0)
        return true;
    std::fprintf(stderr, "zc-bench-ring: cannot pin to CPU %d: %s\n", cpu, std::strerror(errno));
    return false;
}

void run_thread(Side side, Job job, int cpu)
{
    if (!pin_to(cpu))
        std::_Exit(1);
    side(job);
}

pid_t fork_side(Side side, const Job& job, int cpu)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        // _exit: no atexit handlers, no second flush of the parent's stdio.
        if (!pin_to(cpu))
            _exit(1);
        side(job);
        _exit(0);
    }
    return pid;
}

// A forked side, and whether it has been waited for.
struct Child {
    pid_t pid = -1;
    bool reaped = false;
    int status = 0;

    // Collects the child's status if it has ended (blocking when `wait`).
    // Returns false when it ended badly: killed, or a non-zero exit.
    bool poll(bool wait)
    {
        if (pid < 0)
            return true;
        if (!reaped) {
            pid_t got;
            while ((got = waitpid(pid, &status, wait ? 0 : WNOHANG)) < 0 && errno == EINTR) {
            }
            if (got != pid)
                return true;
            reaped = true;
        }
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
};

} // namespace

std::int64_t now_ns() noexcept
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

Placement choose_placement() noexcept
{
    Placement placement;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return placement;
    int found[2] = {-1, -1};
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < 2; ++cpu)
        if (CPU_ISSET(cpu, &allowed))
            found[count++] = cpu;
    if (count < 2)
        return placement;
    placement.pinned = true;
    placement.producer_cpu = found[0];
    placement.consumer_cpu = found[1];
    return placement;
}

SharedMapping::SharedMapping(std::size_t ring_bytes) : bytes_(ring_offset + ring_bytes)
{
    static_assert(sizeof(Control) <= ring_offset);
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED)
        die("cannot map shared memory for the ring");
    new (base_) Control{};
}

SharedMapping::~SharedMapping() { munmap(base_, bytes_); }

Outcome run_pair(Setting setting, const Placement& placement, const Job& job, Side producer,
                 Side consumer, double seconds)
{
    Control& control = *job.control;
    std::thread producer_thread;
    std::thread consumer_thread;
    Child producer_child;
    Child consumer_child;

    if (setting == Setting::Threads) {
        producer_thread = std::thread(run_thread, producer, job, placement.producer_cpu);
        consumer_thread = std::thread(run_thread, consumer, job, placement.consumer_cpu);
    } else {
        producer_child.pid = fork_side(producer, job, placement.producer_cpu);
        consumer_child.pid = fork_side(consumer, job, placement.consumer_cpu);
    }

    auto abandon = [&](const char* why) {
        for (Child* child : {&producer_child, &consumer_child}) {
            if (child->pid > 0 && !child->reaped) {
                kill(child->pid, SIGKILL);
                child->poll(true);
            }
        }
        // Threads cannot be stopped from outside; leaving the process is the
        // only way out of a hung thread.
        std::fprintf(stderr, "zc-bench-ring: %s\n", why);
        std::fflush(stderr);
        std::_Exit(1);
    };

    std::int64_t deadline = now_ns() + static_cast<std::int64_t>(kHangTimeoutSeconds * 1e9);
    while (load_relaxed(control.ready) < 2) {
        if (now_ns() > deadline)
            abandon("the two sides did not start");
        if (!producer_child.poll(false) || !consumer_child.poll(false))
            abandon("a benchmark process failed while starting");
        sleep_seconds(1e-4);
    }
    store_relaxed(control.go, 1);
    sleep_seconds(seconds);
    store_relaxed(control.stop, 1);

    deadline = now_ns() + static_cast<std::int64_t>(kHangTimeoutSeconds * 1e9);
    while (load_acquire(control.consumer_done) == 0) { /* H, matches G */
        if (now_ns() > deadline)
            abandon("the consumer never received every descriptor: the ring lost some");
        if (!producer_child.poll(false) || !consumer_child.poll(false))
            abandon("a benchmark process failed before the run was over");
        sleep_seconds(1e-3);
    }

    if (setting == Setting::Threads) {
        producer_thread.join();
        consumer_thread.join();
    } else {
        if (!producer_child.poll(true) || !consumer_child.poll(true))
            abandon("a benchmark process failed");
    }

    Outcome outcome;
    outcome.produced = control.produced;
    outcome.consumed = control.consumed;
    outcome.mismatches = control.mismatches;
    double elapsed = static_cast<double>(control.end_ns - control.start_ns) * 1e-9;
    outcome.desc_per_second = elapsed > 0 ? static_cast<double>(control.consumed) / elapsed : 0;
    return outcome;
}

} // namespace zc_bench

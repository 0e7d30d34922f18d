// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_interpreter_runner.cpp — see filter_interpreter_runner.hpp.

#include "filter_interpreter_runner.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "../../kmod/zc_xdp.h"

namespace zc::filter::test {

namespace {

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

constexpr std::uint32_t kMatch = XDP_TX, kNoMatch = XDP_PASS; // filter_interpreter.bpf.c

} // namespace

InterpretedFilter::~InterpretedFilter()
{
    if (area_)
        ::munmap(area_, bytes_);
    if (object_)
        bpf_object__close(object_);
}

bool InterpretedFilter::open(const char* path, std::string* why)
{
    libbpf_print_fn_t previous = libbpf_set_print(quiet);
    object_ = bpf_object__open_file(path, nullptr);
    if (libbpf_get_error(object_) != 0) // null, or (before libbpf 1.0) an error in a pointer
        object_ = nullptr;
    const int loaded = object_ ? bpf_object__load(object_) : -1;
    libbpf_set_print(previous);
    if (!object_ || loaded != 0) {
        *why = std::string("cannot load ") + path + (object_ ? " (the verifier refused it?)" : " (is it built?)");
        return false;
    }
    bpf_program* program = bpf_object__find_program_by_name(object_, "zc_filter_test");
    bpf_map* map = bpf_object__find_map_by_name(object_, ZC_XDP_FILTER_MAP);
    if (!program || !map) {
        *why = std::string(path) + " lacks zc_filter_test or " + ZC_XDP_FILTER_MAP;
        return false;
    }
    program_fd_ = bpf_program__fd(program);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (sizeof(zc_filter_area) + page - 1) / page * page;
    void* area = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
    if (area == MAP_FAILED) {
        *why = std::string("cannot map ") + ZC_XDP_FILTER_MAP + ": " + std::strerror(errno);
        return false;
    }
    area_ = static_cast<zc_filter_area*>(area);
    bytes_ = bytes;
    return true;
}

bool InterpretedFilter::set(const sock_filter* insns, std::size_t count, std::string* why)
{
    if (count > ZC_FILTER_MAX_INSNS) {
        *why = std::to_string(count) + " instructions: the interpreter takes " + std::to_string(ZC_FILTER_MAX_INSNS) +
               " at most";
        return false;
    }
    std::atomic_ref<std::uint32_t> active(area_->active);
    const std::uint32_t slot = active.load(std::memory_order_relaxed) == 1 ? 1 : 0;
    area_->start = 0;
    area_->slots[slot].length = static_cast<std::uint32_t>(count);
    area_->slots[slot].no_match_verdict = XDP_PASS;
    if (count > 0)
        std::memcpy(area_->slots[slot].insns, insns, count * sizeof(sock_filter));
    active.store(slot + 1, std::memory_order_release); // the slot before the word (zc_xdp.h)
    return true;
}

int InterpretedFilter::run(const std::uint8_t* frame, std::uint32_t length, std::string* why) const
{
    LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame, .data_size_in = length, .repeat = 1);
    if (bpf_prog_test_run_opts(program_fd_, &options) != 0) {
        *why = std::string("BPF_PROG_TEST_RUN failed: ") + std::strerror(errno);
        return -1;
    }
    if (options.retval != kMatch && options.retval != kNoMatch) {
        *why = "the interpreter returned " + std::to_string(options.retval);
        return -1;
    }
    return options.retval == kMatch ? 1 : 0;
}

} // namespace zc::filter::test

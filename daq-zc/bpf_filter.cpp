// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/bpf_filter.cpp — see bpf_filter.hpp.

#include "bpf_filter.hpp"

#include <pcap/pcap.h>

#include <memory>
#include <mutex>

namespace daqzc {
namespace {

// libpcap's compiler was not reentrant before 1.8, and Snort 3 sets the
// filter of every packet thread's instance at once: one compile at a time
// costs nothing on the control path.
std::mutex compile_mutex;

struct PcapCloser {
    void operator()(pcap_t* pcap) const noexcept { pcap_close(pcap); }
};

} // namespace

bool BpfFilter::compile(const char* expression, int snaplen, std::string& error)
{
    const std::string text = expression ? expression : "";
    std::unique_ptr<pcap_t, PcapCloser> dead(pcap_open_dead(DLT_EN10MB, snaplen > 0 ? snaplen : 65535));
    if (!dead) {
        error = "cannot compile the BPF filter '" + text + "': libpcap is out of memory";
        return false;
    }
    struct bpf_program compiled {};
    {
        std::lock_guard<std::mutex> lock(compile_mutex);
        if (pcap_compile(dead.get(), &compiled, text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            error = "cannot compile the BPF filter '" + text + "': " + pcap_geterr(dead.get());
            return false;
        }
    }
    reset();
    instructions_ = compiled.bf_insns;
    length_ = compiled.bf_len;
    return true;
}

void BpfFilter::reset() noexcept
{
    if (instructions_) {
        struct bpf_program program {};
        program.bf_insns = static_cast<struct bpf_insn*>(instructions_);
        program.bf_len = length_;
        pcap_freecode(&program);
    }
    instructions_ = nullptr;
    length_ = 0;
}

bool BpfFilter::run(const std::uint8_t* data, std::uint32_t wire_length, std::uint32_t captured) const noexcept
{
    return ::bpf_filter(static_cast<const struct bpf_insn*>(instructions_), data, wire_length, captured) != 0;
}

} // namespace daqzc

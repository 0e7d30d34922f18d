// SPDX-License-Identifier: BSD-3-Clause
//
// daq-zc/bpf_filter.hpp — the BPF filter of a DAQ instance, compiled and
// run with libpcap (the same compiler as tcpdump's and pcap-zc's): Snort
// hands set_filter the expression, the module compiles it for Ethernet
// (DLT_EN10MB) and runs it in user space on every packet before Snort sees
// it. Shared by the DAQ 2 and DAQ 3 modules (libdaq 3 has no sfbpf; libdaq
// 2's sfbpf is an older copy of the same compiler). A passive session
// hands the compiled program to its device instead (Session::set_filter,
// zc_device_set_filter: in the kernel on zc:IFACE, so that what Snort does
// not want stays with the host); inline, the refused packets must still
// cross the bridge, so the filter runs here.
//
// libpcap's types stay in bpf_filter.cpp: its struct bpf_insn and the
// kernel's (linux/bpf.h, through libbpf) cannot meet in one file.
#ifndef DAQZC_BPF_FILTER_HPP
#define DAQZC_BPF_FILTER_HPP

#include <cstdint>
#include <string>

namespace daqzc {

class BpfFilter {
public:
    BpfFilter() noexcept = default;
    ~BpfFilter() { reset(); }
    BpfFilter(const BpfFilter&) = delete;
    BpfFilter& operator=(const BpfFilter&) = delete;

    // Compiles `expression` (replacing the filter only when it compiles).
    // false with a sentence in `error` otherwise. Safe to call from several
    // instances' threads at once (control path).
    bool compile(const char* expression, int snaplen, std::string& error);
    void reset() noexcept;

    [[nodiscard]] bool active() const noexcept { return instructions_ != nullptr; }
    // The compiled program (libpcap's struct bpf_insn, the layout of
    // zc_filter_insn) and its length; null and 0 without a filter.
    [[nodiscard]] const void* instructions() const noexcept { return instructions_; }
    [[nodiscard]] unsigned length() const noexcept { return length_; }
    // True when the packet passes (or there is no filter). Fast path.
    [[nodiscard]] bool passes(const std::uint8_t* data, std::uint32_t wire_length,
                              std::uint32_t captured) const noexcept
    {
        return instructions_ == nullptr || run(data, wire_length, captured);
    }

private:
    [[nodiscard]] bool run(const std::uint8_t* data, std::uint32_t wire_length, std::uint32_t captured) const noexcept;

    void* instructions_ = nullptr; // libpcap's struct bpf_insn[length_]
    unsigned length_ = 0;
};

} // namespace daqzc

#endif // DAQZC_BPF_FILTER_HPP

// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_reference.cpp — see filter_reference.hpp.

#include "filter_reference.hpp"

#include <pcap/pcap.h>

#include <memory>

namespace zc::filter::test {

static_assert(sizeof(struct bpf_insn) == sizeof(sock_filter));

namespace {

struct PcapCloser {
    void operator()(pcap_t* pcap) const noexcept { pcap_close(pcap); }
};

} // namespace

bool compile(const std::string& expression, bool optimize, Program* out, std::string* error)
{
    std::unique_ptr<pcap_t, PcapCloser> dead(pcap_open_dead(DLT_EN10MB, 262144));
    if (!dead) {
        *error = "pcap_open_dead failed";
        return false;
    }
    struct bpf_program compiled {};
    if (pcap_compile(dead.get(), &compiled, expression.c_str(), optimize ? 1 : 0, PCAP_NETMASK_UNKNOWN) != 0) {
        *error = pcap_geterr(dead.get());
        return false;
    }
    out->resize(compiled.bf_len);
    for (unsigned i = 0; i < compiled.bf_len; ++i) {
        const struct bpf_insn& insn = compiled.bf_insns[i];
        (*out)[i] = sock_filter{insn.code, insn.jt, insn.jf, insn.k};
    }
    pcap_freecode(&compiled);
    return true;
}

bool pcap_matches(const Program& program, const std::uint8_t* frame, std::uint32_t length)
{
    std::vector<struct bpf_insn> insns(program.size());
    for (std::size_t i = 0; i < program.size(); ++i)
        insns[i] = bpf_insn{program[i].code, program[i].jt, program[i].jf, program[i].k};
    struct bpf_program compiled {};
    compiled.bf_len = static_cast<unsigned>(insns.size());
    compiled.bf_insns = insns.data();
    struct pcap_pkthdr header {};
    header.caplen = length;
    header.len = length;
    static const std::uint8_t kNothing = 0; // libpcap never reads it at length 0
    return pcap_offline_filter(&compiled, &header, length != 0 ? frame : &kNothing) != 0;
}

} // namespace zc::filter::test

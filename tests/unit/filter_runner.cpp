// SPDX-License-Identifier: BSD-3-Clause
//
// tests/unit/filter_runner.cpp — see filter_runner.hpp.

#include "filter_runner.hpp"

#include <bpf/bpf.h>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace zc::filter::test {

namespace {

int run_program(int fd, const std::uint8_t* data, std::uint32_t size, std::uint32_t* retval)
{
    LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = data, .data_size_in = size, .repeat = 1);
    const int rc = bpf_prog_test_run_opts(fd, &options);
    *retval = options.retval;
    return rc < 0 ? -errno : 0;
}

// The XDP program's context loads, pointed at __sk_buff; false when its
// first two instructions are not what filter_translate.hpp promises.
bool make_twin(std::vector<bpf_insn>* program)
{
    if (program->size() < 2)
        return false;
    const std::uint8_t load = BPF_LDX | BPF_MEM | BPF_W;
    bpf_insn& data = (*program)[0];
    bpf_insn& data_end = (*program)[1];
    if (data.code != load || data.src_reg != BPF_REG_1 || data.off != offsetof(xdp_md, data) ||
        data_end.code != load || data_end.src_reg != BPF_REG_1 || data_end.off != offsetof(xdp_md, data_end))
        return false;
    data.off = offsetof(__sk_buff, data);
    data_end.off = offsetof(__sk_buff, data_end);
    return true;
}

} // namespace

bool LoadedFilter::load(const Program& program, std::string* why)
{
    TranslateOptions options;
    options.on_match = MatchAction::Verdict;
    options.match_verdict = kMatchVerdict;
    options.no_match_verdict = kNoMatchVerdict;
    std::vector<bpf_insn> xdp;
    if (!translate(program.data(), program.size(), options, &xdp, why))
        return false;
    instructions_ = xdp.size();
    const int fd = load_xdp_program(xdp, "zc_filter_test", why);
    if (fd < 0)
        return false;
    xdp_.reset(fd);

    std::vector<bpf_insn> twin = xdp;
    if (!make_twin(&twin)) {
        *why = "the translated program does not start with the loads of ctx->data and ctx->data_end";
        return false;
    }
    LIBBPF_OPTS(bpf_prog_load_opts, quiet);
    const int twin_fd = bpf_prog_load(BPF_PROG_TYPE_LWT_IN, "zc_filter_twin", "Dual BSD/GPL", twin.data(),
                                      twin.size(), &quiet);
    if (twin_fd < 0) {
        *why = std::string("the LWT_IN twin does not load: ") + std::strerror(-twin_fd);
        return false;
    }
    twin_.reset(twin_fd);
    return true;
}

int LoadedFilter::run(const std::uint8_t* frame, std::uint32_t length, std::string* why) const
{
    std::uint32_t verdict = 0;
    int rc;
    if (length >= kShortestXdpFrame) {
        rc = run_program(xdp_.get(), frame, length, &verdict);
    } else {
        // The twin's test run takes an Ethernet header off the front.
        std::uint8_t data[kShortestXdpFrame + kShortestXdpFrame] = {};
        if (length != 0)
            std::memcpy(data + kShortestXdpFrame, frame, length);
        rc = run_program(twin_.get(), data, kShortestXdpFrame + length, &verdict);
    }
    if (rc != 0) {
        *why = std::string("BPF_PROG_TEST_RUN failed: ") + std::strerror(-rc);
        return -1;
    }
    if (verdict != kMatchVerdict && verdict != kNoMatchVerdict) {
        *why = "the program returned " + std::to_string(verdict) + ", neither verdict";
        return -1;
    }
    return verdict == kMatchVerdict ? 1 : 0;
}

bool can_load_programs()
{
    static const bool can = [] {
        TranslateOptions options;
        options.on_match = MatchAction::Verdict;
        const sock_filter accept{BPF_RET | BPF_K, 0, 0, 1};
        std::string why;
        const int fd = load_filter(&accept, 1, options, &why);
        if (fd < 0)
            return false;
        ::close(fd);
        return true;
    }();
    return can;
}

Program shape_program(const std::uint8_t* bytes, std::size_t size)
{
    static constexpr std::uint16_t kOpcodes[] = {
        BPF_LD | BPF_W | BPF_ABS,     BPF_LD | BPF_H | BPF_ABS,     BPF_LD | BPF_B | BPF_ABS,
        BPF_LD | BPF_H | BPF_ABS,     BPF_LD | BPF_B | BPF_ABS,     BPF_LD | BPF_W | BPF_IND,
        BPF_LD | BPF_H | BPF_IND,     BPF_LD | BPF_B | BPF_IND,     BPF_LDX | BPF_MSH | BPF_B,
        BPF_LDX | BPF_MSH | BPF_B,    BPF_LD | BPF_W | BPF_LEN,     BPF_LDX | BPF_W | BPF_LEN,
        BPF_LD | BPF_IMM,             BPF_LDX | BPF_IMM,            BPF_LD | BPF_MEM,
        BPF_LDX | BPF_MEM,            BPF_ST,                       BPF_STX,
        BPF_ST,                       BPF_JMP | BPF_JA,             BPF_JMP | BPF_JGT | BPF_K,
        BPF_JMP | BPF_JGE | BPF_K,    BPF_JMP | BPF_JEQ | BPF_K,    BPF_JMP | BPF_JSET | BPF_K,
        BPF_JMP | BPF_JGT | BPF_X,    BPF_JMP | BPF_JGE | BPF_X,    BPF_JMP | BPF_JEQ | BPF_X,
        BPF_JMP | BPF_JSET | BPF_X,   BPF_JMP | BPF_JEQ | BPF_K,    BPF_ALU | BPF_ADD | BPF_X,
        BPF_ALU | BPF_SUB | BPF_X,    BPF_ALU | BPF_MUL | BPF_X,    BPF_ALU | BPF_DIV | BPF_X,
        BPF_ALU | BPF_MOD | BPF_X,    BPF_ALU | BPF_AND | BPF_X,    BPF_ALU | BPF_OR | BPF_X,
        BPF_ALU | BPF_XOR | BPF_X,    BPF_ALU | BPF_LSH | BPF_X,    BPF_ALU | BPF_RSH | BPF_X,
        BPF_ALU | BPF_ADD | BPF_K,    BPF_ALU | BPF_SUB | BPF_K,    BPF_ALU | BPF_MUL | BPF_K,
        BPF_ALU | BPF_DIV | BPF_K,    BPF_ALU | BPF_MOD | BPF_K,    BPF_ALU | BPF_AND | BPF_K,
        BPF_ALU | BPF_OR | BPF_K,     BPF_ALU | BPF_XOR | BPF_K,    BPF_ALU | BPF_LSH | BPF_K,
        BPF_ALU | BPF_RSH | BPF_K,    BPF_ALU | BPF_NEG,            BPF_MISC | BPF_TAX,
        BPF_MISC | BPF_TXA,           BPF_RET | BPF_K,              BPF_RET | BPF_A,
    };
    constexpr std::size_t kOpcodeCount = sizeof kOpcodes / sizeof kOpcodes[0];
    const std::size_t count = size / 8 + 1;
    Program program(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t b[8] = {};
        if (i * 8 + 8 <= size)
            std::memcpy(b, bytes + i * 8, 8);
        const std::uint32_t word =
            static_cast<std::uint32_t>(b[2] | b[3] << 8 | b[4] << 16) | std::uint32_t{b[5]} << 24;
        const std::size_t remaining = count - i - 1;
        std::uint16_t code = kOpcodes[b[0] % kOpcodeCount];
        if (remaining == 0 || (BPF_CLASS(code) == BPF_JMP && remaining < 2))
            code = b[1] & 1 ? BPF_RET | BPF_A : BPF_RET | BPF_K;
        std::uint32_t k = 0;
        const unsigned choice = b[1] % 16;
        switch (BPF_CLASS(code)) {
        case BPF_LD:
        case BPF_LDX:
            if (BPF_MODE(code) == BPF_MEM)
                k = choice == 0 ? 16u + b[2] % 4 : b[2] % 16u; // now and then out of range
            else if (BPF_MODE(code) == BPF_IMM)
                k = choice < 8 ? b[2] % 80u : word;
            else if (choice == 0) // far away, ancillary, or at the end of the offsets
                k = b[2] % 3 == 0 ? 0xfffff000u + b[3] % 64u : b[2] % 3 == 1 ? 0xfff0u + b[3] % 32u : word;
            else
                k = b[2] % 90u;
            break;
        case BPF_ST:
        case BPF_STX:
            k = choice == 0 ? 16u + b[2] % 4 : b[2] % 16u;
            break;
        case BPF_ALU:
            if (BPF_OP(code) == BPF_LSH || BPF_OP(code) == BPF_RSH)
                k = b[2] % 34u; // 32 and 33 are invalid
            else if (BPF_OP(code) == BPF_DIV || BPF_OP(code) == BPF_MOD)
                k = choice == 0 ? 0u : choice < 8 ? b[2] % 17u : word;
            else
                k = choice < 8 ? b[2] % 64u : word;
            break;
        case BPF_JMP:
            if (BPF_OP(code) == BPF_JA)
                k = b[2] % remaining;
            else
                k = choice < 4 ? b[2] : choice < 8 ? 0x0800u + b[2] % 8 : choice < 12 ? b[2] % 16u : word;
            break;
        case BPF_RET:
            k = b[2] & 1 ? 0u : 262144u;
            break;
        default:
            break;
        }
        std::uint8_t jt = 0, jf = 0;
        if (BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA) {
            const std::size_t reach = remaining < 256 ? remaining : 256;
            jt = static_cast<std::uint8_t>(b[6] % reach);
            jf = static_cast<std::uint8_t>(b[7] % reach);
        }
        program[i] = sock_filter{code, jt, jf, k};
    }
    return program;
}

} // namespace zc::filter::test

// SPDX-License-Identifier: BSD-3-Clause
//
// kmod/filter_translate.cpp — classic BPF to an XDP program (see
// filter_translate.hpp).
//
// The generated program, register by register:
//
//   r1 ctx on entry; then scratch (and a helper's first argument)
//   r2 ctx->data, r3 ctx->data_end (packet pointers; the bounds checks use them)
//   r4, r5 scratch: the end of each load, checked against r3
//   r6 ctx, kept for rx_queue_index
//   r7 A, r8 X: 32-bit values, upper halves always zero (every ALU op on
//      them is a 32-bit one, every load zero-extends)
//   r9 the frame's length (only when the program uses BPF_LEN)
//   r10 frame pointer: M[k] at r10 - 64 + 4k, the counter map's key at r10 - 68
//
// The body is one block per reachable cBPF instruction, in order (cBPF only
// jumps forward, so eBPF does too), then the exits that something jumps to:
// "match", "no match", and the counter update both end in. The verifier
// rejects unreachable instructions, so neither an unreachable cBPF
// instruction nor an unused exit is emitted.

#include "filter_translate.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>

#include "zc_xdp.h"

namespace zc::filter {
namespace {

// The largest offset + size a load may reach: beyond it, every frame XDP
// holds linearly is shorter, and the verifier's packet ranges end there
// (MAX_PACKET_OFF in kernel/bpf/verifier.c).
constexpr std::uint64_t kMaxPacketEnd = 0xffff;
// Offsets from here up are negative for the kernel: SKF_LL_OFF, SKF_NET_OFF
// and SKF_AD_OFF (ancillary data), the lowest first.
constexpr std::uint32_t kNegativeOffsets = static_cast<std::uint32_t>(SKF_LL_OFF); // 0xffe00000

constexpr int kMemoryBase = -64; // M[k] at r10 + kMemoryBase + 4k
constexpr int kCounterKey = -68;
static_assert(BPF_MEMWORDS * 4 == -kMemoryBase);

enum Register : std::uint8_t {
    R0 = BPF_REG_0,
    R1 = BPF_REG_1,
    R2 = BPF_REG_2,
    R3 = BPF_REG_3,
    R4 = BPF_REG_4,
    R5 = BPF_REG_5,
    R6 = BPF_REG_6,
    R7 = BPF_REG_7,
    R8 = BPF_REG_8,
    R9 = BPF_REG_9,
    R10 = BPF_REG_10,
};
constexpr Register kData = R2, kDataEnd = R3, kContext = R6, kA = R7, kX = R8, kLength = R9;

bool set_why(std::string* why, const std::string& text)
{
    if (why)
        *why = text;
    return false;
}

std::string describe(const sock_filter& insn, std::size_t at)
{
    char text[96];
    std::snprintf(text, sizeof text, "instruction %zu (code 0x%02x, jt %u, jf %u, k 0x%x)", at, insn.code, insn.jt,
                  insn.jf, insn.k);
    return text;
}

bool is_conditional_jump(std::uint16_t code)
{
    return BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA;
}

// The opcodes libpcap's interpreter (bpf_filter.c) knows, with the checks on
// k that make their meaning defined; nullptr when fine, else what is wrong.
const char* check_opcode(const sock_filter& insn)
{
    switch (insn.code) {
    case BPF_RET | BPF_K:
    case BPF_RET | BPF_A:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_W | BPF_LEN:
    case BPF_LD | BPF_IMM:
    case BPF_LDX | BPF_IMM:
    case BPF_MISC | BPF_TAX:
    case BPF_MISC | BPF_TXA:
    case BPF_ALU | BPF_NEG:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JGT | BPF_K:
    case BPF_JMP | BPF_JGE | BPF_K:
    case BPF_JMP | BPF_JEQ | BPF_K:
    case BPF_JMP | BPF_JSET | BPF_K:
    case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_X:
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_K:
        return nullptr;
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_H | BPF_ABS:
    case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_IND:
    case BPF_LD | BPF_H | BPF_IND:
    case BPF_LD | BPF_B | BPF_IND:
    case BPF_LDX | BPF_MSH | BPF_B:
        return nullptr; // ancillary offsets are refused by translate(), not here: they are valid cBPF
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
        return insn.k < BPF_MEMWORDS ? nullptr : "a scratch memory index above 15";
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_MOD | BPF_K:
        return insn.k != 0 ? nullptr : "a division by the constant 0";
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_K:
        return insn.k < 32 ? nullptr : "a shift by 32 bits or more";
    default:
        return "an opcode that is not classic BPF";
    }
}

// The flow facts translate() needs beyond validity: which instructions run
// at all. Filled by analyse(), which also makes validate()'s flow checks.
struct Flow {
    std::vector<bool> reachable;
};

std::uint8_t load_size(std::uint16_t code)
{
    switch (BPF_SIZE(code)) {
    case BPF_W:
        return 4;
    case BPF_H:
        return 2;
    default:
        return 1;
    }
}

// A packet load whose end lies past kMaxPacketEnd whatever X is: in eBPF,
// a jump to "no match", so that what follows it is reached only if
// something else jumps there.
bool load_always_fails(const sock_filter& insn)
{
    const std::uint16_t mode = BPF_MODE(insn.code);
    const bool packet = (BPF_CLASS(insn.code) == BPF_LD && (mode == BPF_ABS || mode == BPF_IND)) ||
                        insn.code == (BPF_LDX | BPF_MSH | BPF_B);
    return packet && std::uint64_t{insn.k} + load_size(insn.code) > kMaxPacketEnd;
}

bool analyse(const sock_filter* insns, std::size_t count, Flow* flow, std::string* why)
{
    if (insns == nullptr || count == 0)
        return set_why(why, "the filter program is empty");
    if (count > BPF_MAXINSNS)
        return set_why(why, "the filter program has " + std::to_string(count) + " instructions, more than " +
                                std::to_string(BPF_MAXINSNS));
    for (std::size_t i = 0; i < count; ++i) {
        const sock_filter& insn = insns[i];
        if (const char* wrong = check_opcode(insn))
            return set_why(why, describe(insn, i) + ": " + wrong);
        const std::size_t remaining = count - i - 1; // instructions after this one
        if (insn.code == (BPF_JMP | BPF_JA) && insn.k >= remaining)
            return set_why(why, describe(insn, i) + ": a jump that is not forward into the program");
        if (is_conditional_jump(insn.code) && (insn.jt >= remaining || insn.jf >= remaining))
            return set_why(why, describe(insn, i) + ": a jump past the end of the program");
    }
    if (BPF_CLASS(insns[count - 1].code) != BPF_RET)
        return set_why(why, describe(insns[count - 1], count - 1) + ": the last instruction is not a return");

    // Forward data flow in one pass (every edge goes forward): which
    // instructions are reached, and which scratch words are written on
    // every path into each (as the kernel's check_load_and_stores()).
    // The scratch check follows every edge of the program, the reachability
    // for translate() only those eBPF will take: libpcap could continue past
    // a load at offset 65535 or more on a frame that long.
    constexpr std::uint16_t kAll = 0xffff;
    std::vector<std::uint16_t> written(count, kAll); // AND over the paths seen so far
    std::vector<bool> seen(count, false);
    flow->reachable.assign(count, false);
    seen[0] = flow->reachable[0] = true;
    written[0] = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (!seen[i])
            continue;
        const sock_filter& insn = insns[i];
        std::uint16_t valid = written[i];
        const bool emitted = flow->reachable[i] && !load_always_fails(insn);
        auto reach = [&](std::size_t target) {
            seen[target] = true;
            flow->reachable[target] = flow->reachable[target] || emitted;
            written[target] &= valid;
        };
        switch (BPF_CLASS(insn.code)) {
        case BPF_ST:
        case BPF_STX:
            valid |= static_cast<std::uint16_t>(1u << insn.k);
            reach(i + 1);
            break;
        case BPF_LD:
        case BPF_LDX:
            if (BPF_MODE(insn.code) == BPF_MEM && !(valid & (1u << insn.k)))
                return set_why(why, describe(insn, i) + ": reads scratch word M[" + std::to_string(insn.k) +
                                        "] before any write on some path");
            reach(i + 1);
            break;
        case BPF_JMP:
            if (BPF_OP(insn.code) == BPF_JA) {
                reach(i + 1 + insn.k);
            } else {
                reach(i + 1 + insn.jt);
                reach(i + 1 + insn.jf);
            }
            break;
        case BPF_RET:
            break;
        default: // ALU, MISC
            reach(i + 1);
            break;
        }
    }
    return true;
}

// ------------------------------------------------------------------ emitting

bpf_insn make(std::uint8_t code, Register dst, Register src, std::int16_t off, std::int32_t imm)
{
    bpf_insn insn{};
    insn.code = code;
    insn.dst_reg = dst;
    insn.src_reg = src;
    insn.off = off;
    insn.imm = imm;
    return insn;
}

enum class Label { Instruction, Match, NoMatch, Tail };

class Emitter {
public:
    explicit Emitter(std::size_t cbpf_count) : starts_(cbpf_count, kNone) {}

    std::vector<bpf_insn> code;

    void add(std::uint8_t code_, Register dst, Register src, std::int16_t off, std::int32_t imm)
    {
        code.push_back(make(code_, dst, src, off, imm));
    }
    void mov32(Register dst, Register src) { add(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
    void mov32(Register dst, std::int32_t imm) { add(BPF_ALU | BPF_MOV | BPF_K, dst, R0, 0, imm); }
    void mov64(Register dst, Register src) { add(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
    void add64(Register dst, std::int32_t imm) { add(BPF_ALU64 | BPF_ADD | BPF_K, dst, R0, 0, imm); }
    void load(std::uint8_t size, Register dst, Register base, std::int16_t off)
    {
        add(BPF_LDX | BPF_MEM | size, dst, base, off, 0);
    }
    void store(std::uint8_t size, Register base, std::int16_t off, Register src)
    {
        add(BPF_STX | BPF_MEM | size, base, src, off, 0);
    }
    void map_fd(Register dst, int fd)
    {
        add(BPF_LD | BPF_DW | BPF_IMM, dst, static_cast<Register>(BPF_PSEUDO_MAP_FD), 0, fd);
        add(0, R0, R0, 0, 0);
    }
    void call(int helper) { add(BPF_JMP | BPF_CALL, R0, R0, 0, helper); }
    void exit() { add(BPF_JMP | BPF_EXIT, R0, R0, 0, 0); }

    // A jump (any class and op; `code_` includes BPF_K or BPF_X) to a label
    // placed later.
    void jump(std::uint8_t code_, Register dst, Register src, std::int32_t imm, Label label, std::size_t cbpf = 0)
    {
        fixups_.push_back({code.size(), label, cbpf});
        referenced_[static_cast<int>(label)] = true;
        add(code_, dst, src, 0, imm);
    }
    void jump_always(Label label, std::size_t cbpf = 0) { jump(BPF_JMP | BPF_JA, R0, R0, 0, label, cbpf); }

    void start_instruction(std::size_t cbpf) { starts_[cbpf] = code.size(); }
    void place(Label label) { places_[static_cast<int>(label)] = code.size(); }
    [[nodiscard]] bool referenced(Label label) const { return referenced_[static_cast<int>(label)]; }

    // Fills in every jump's offset; false when one does not fit in 16 bits.
    bool resolve(std::string* why)
    {
        for (const Fixup& f : fixups_) {
            const std::size_t target =
                f.label == Label::Instruction ? starts_[f.cbpf] : places_[static_cast<int>(f.label)];
            if (target == kNone || target <= f.at)
                return set_why(why, "internal error: a jump to a place that was not emitted");
            const std::size_t distance = target - f.at - 1;
            if (distance > static_cast<std::size_t>(std::numeric_limits<std::int16_t>::max()))
                return set_why(why, "the filter program is too long: a jump spans " + std::to_string(distance) +
                                        " eBPF instructions, more than 32767");
            code[f.at].off = static_cast<std::int16_t>(distance);
        }
        return true;
    }

private:
    static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
    struct Fixup {
        std::size_t at;
        Label label;
        std::size_t cbpf;
    };
    std::vector<std::size_t> starts_;
    std::size_t places_[4] = {kNone, kNone, kNone, kNone};
    bool referenced_[4] = {};
    std::vector<Fixup> fixups_;
};

// A = big-endian load of `size` bytes at data + `end` - `size`, after the
// check that `pointer` (data + end) is inside the frame. `pointer` holds a
// packet pointer `size` bytes past the load.
void load_checked(Emitter& e, Register dst, std::uint16_t code, Register pointer)
{
    const std::uint8_t size = load_size(code);
    e.jump(BPF_JMP | BPF_JGT | BPF_X, pointer, kDataEnd, 0, Label::NoMatch);
    e.load(static_cast<std::uint8_t>(BPF_SIZE(code)), dst, pointer, static_cast<std::int16_t>(-size));
    if (size > 1)
        e.add(BPF_ALU | BPF_END | BPF_TO_BE, dst, R0, 0, size * 8);
}

// Loads at a constant offset, k + size <= kMaxPacketEnd: LD ABS, LDX MSH.
void emit_absolute_load(Emitter& e, Register dst, std::uint16_t code, std::uint32_t k)
{
    const std::uint8_t size = load_size(code);
    e.mov64(R4, kData);
    e.add64(R4, static_cast<std::int32_t>(k + size));
    load_checked(e, dst, code, R4);
}

// LD IND, k + size <= kMaxPacketEnd: at X + k, computed in 64 bits (so it
// cannot wrap, as libpcap's checks make sure it does not), bounded for the
// verifier, then checked.
void emit_indirect_load(Emitter& e, std::uint16_t code, std::uint32_t k)
{
    const std::uint8_t size = load_size(code);
    e.mov64(R4, kX);
    e.add64(R4, static_cast<std::int32_t>(k));
    e.jump(BPF_JMP | BPF_JGT | BPF_K, R4, R0, static_cast<std::int32_t>(kMaxPacketEnd - size), Label::NoMatch);
    e.mov64(R5, kData);
    e.add(BPF_ALU64 | BPF_ADD | BPF_X, R5, R4, 0, 0); // R5: packet pointer at X + k
    e.mov64(R4, R5);
    e.add64(R4, size);
    load_checked(e, kA, code, R4);
}

void emit_conditional(Emitter& e, const sock_filter& insn, std::size_t at)
{
    const std::size_t on_true = at + 1 + insn.jt, on_false = at + 1 + insn.jf;
    if (on_true == on_false) {
        if (insn.jt != 0)
            e.jump_always(Label::Instruction, on_true);
        return;
    }
    const bool with_x = BPF_SRC(insn.code) == BPF_X;
    const Register src = with_x ? kX : R0;
    const std::int32_t imm = with_x ? 0 : static_cast<std::int32_t>(insn.k);
    const std::uint8_t source = with_x ? BPF_X : BPF_K;
    std::uint8_t op = static_cast<std::uint8_t>(BPF_OP(insn.code));
    if (insn.jt == 0 && op != BPF_JSET) { // jump on the negated condition only
        op = op == BPF_JEQ ? BPF_JNE : op == BPF_JGT ? BPF_JLE : BPF_JLT;
        e.jump(BPF_JMP32 | op | source, kA, src, imm, Label::Instruction, on_false);
        return;
    }
    e.jump(BPF_JMP32 | op | source, kA, src, imm, Label::Instruction, on_true);
    if (insn.jf != 0)
        e.jump_always(Label::Instruction, on_false);
}

void emit_alu(Emitter& e, const sock_filter& insn)
{
    const std::uint8_t op = static_cast<std::uint8_t>(BPF_OP(insn.code));
    if (op == BPF_NEG) {
        e.add(BPF_ALU | BPF_NEG, kA, R0, 0, 0);
        return;
    }
    if (BPF_SRC(insn.code) == BPF_K) {
        e.add(static_cast<std::uint8_t>(BPF_ALU | op | BPF_K), kA, R0, 0, static_cast<std::int32_t>(insn.k));
        return;
    }
    if (op == BPF_DIV || op == BPF_MOD) {
        e.jump(BPF_JMP32 | BPF_JEQ | BPF_K, kX, R0, 0, Label::NoMatch);
    } else if (op == BPF_LSH || op == BPF_RSH) {
        // eBPF shifts by X & 31; cBPF (libpcap) gives 0 for X >= 32.
        e.add(BPF_JMP32 | BPF_JLT | BPF_K, kX, R0, 2, 32);
        e.mov32(kA, 0);
        e.add(BPF_JMP | BPF_JA, R0, R0, 1, 0);
    }
    e.add(static_cast<std::uint8_t>(BPF_ALU | op | BPF_X), kA, kX, 0, 0);
}

// One cBPF instruction; false (with *why) when it cannot be translated.
bool emit_instruction(Emitter& e, const sock_filter& insn, std::size_t at, std::string* why)
{
    const std::uint16_t code = insn.code;
    switch (BPF_CLASS(code)) {
    case BPF_RET:
        if (BPF_RVAL(code) == BPF_A) {
            e.jump(BPF_JMP32 | BPF_JNE | BPF_K, kA, R0, 0, Label::Match);
            e.jump_always(Label::NoMatch);
        } else {
            e.jump_always(insn.k != 0 ? Label::Match : Label::NoMatch);
        }
        return true;
    case BPF_LD:
    case BPF_LDX: {
        const Register dst = BPF_CLASS(code) == BPF_LD ? kA : kX;
        switch (BPF_MODE(code)) {
        case BPF_IMM:
            e.mov32(dst, static_cast<std::int32_t>(insn.k));
            return true;
        case BPF_MEM:
            e.load(BPF_W, dst, R10, static_cast<std::int16_t>(kMemoryBase + 4 * static_cast<int>(insn.k)));
            return true;
        case BPF_LEN:
            e.mov32(dst, kLength);
            return true;
        default:
            break;
        }
        if (insn.k >= kNegativeOffsets)
            return set_why(why, describe(insn, at) +
                                    ": a load at a negative offset: Linux ancillary data (SKF_AD_*) or SKF_NET_OFF or "
                                    "SKF_LL_OFF, which libpcap emits only for a live socket; compile with "
                                    "pcap_open_dead()");
        if (load_always_fails(insn)) { // nothing after it is emitted unless another jump reaches it
            e.jump_always(Label::NoMatch);
            return true;
        }
        if (BPF_MODE(code) == BPF_IND) {
            emit_indirect_load(e, code, insn.k);
        } else if (BPF_MODE(code) == BPF_MSH) {
            emit_absolute_load(e, kX, code, insn.k);
            e.add(BPF_ALU | BPF_AND | BPF_K, kX, R0, 0, 0xf);
            e.add(BPF_ALU | BPF_LSH | BPF_K, kX, R0, 0, 2);
        } else {
            emit_absolute_load(e, kA, code, insn.k);
        }
        return true;
    }
    case BPF_ST:
    case BPF_STX:
        e.store(BPF_W, R10, static_cast<std::int16_t>(kMemoryBase + 4 * static_cast<int>(insn.k)),
                BPF_CLASS(code) == BPF_ST ? kA : kX);
        return true;
    case BPF_JMP:
        if (BPF_OP(code) == BPF_JA) {
            if (insn.k != 0)
                e.jump_always(Label::Instruction, at + 1 + insn.k);
        } else {
            emit_conditional(e, insn, at);
        }
        return true;
    case BPF_ALU:
        emit_alu(e, insn);
        return true;
    case BPF_MISC:
        if (BPF_MISCOP(code) == BPF_TAX)
            e.mov32(kX, kA);
        else
            e.mov32(kA, kX);
        return true;
    default:
        return set_why(why, describe(insn, at) + ": not translated"); // validate() let it through: a bug
    }
}

// The exits: "match" and "no match" set r0; with a counter map both go
// through the counter update.
// r0 = bpf_map_lookup_elem(map, &this packet's RX queue), through the
// stack slot kCounterKey. The call takes r1 to r5.
void emit_queue_lookup(Emitter& e, int map_fd)
{
    e.load(BPF_W, R1, kContext, offsetof(xdp_md, rx_queue_index));
    e.store(BPF_W, R10, kCounterKey, R1);
    e.mov64(R2, R10);
    e.add64(R2, kCounterKey);
    e.map_fd(R1, map_fd);
    e.call(BPF_FUNC_map_lookup_elem);
}

void emit_exits(Emitter& e, const TranslateOptions& options)
{
    const bool counters = options.counter_map_fd >= 0;
    const bool match = e.referenced(Label::Match), no_match = e.referenced(Label::NoMatch);
    if (match) {
        e.place(Label::Match);
        if (options.on_match == MatchAction::RedirectToSocket) {
            e.map_fd(R1, options.socket_map_fd);
            e.load(BPF_W, R2, kContext, offsetof(xdp_md, rx_queue_index));
            e.mov32(R3, XDP_PASS); // when the queue has no socket
            e.call(BPF_FUNC_redirect_map);
        } else {
            e.mov32(R0, static_cast<std::int32_t>(options.match_verdict));
        }
        if (!counters) {
            e.exit();
        } else {
            e.mov32(kX, 0); // not refused by the filter (the tail counts it)
            if (no_match)
                e.jump_always(Label::Tail);
        }
    }
    if (no_match) {
        e.place(Label::NoMatch);
        e.mov32(R0, static_cast<std::int32_t>(options.no_match_verdict));
        if (!counters)
            e.exit();
        else
            e.mov32(kX, 1); // refused by the filter
    }
    if (!counters)
        return;

    // As zc_redirect: packets always, then redirected or passed.
    e.place(Label::Tail);
    e.mov64(kA, R0); // the verdict; A is no longer needed
    emit_queue_lookup(e, options.counter_map_fd);
    auto bump = [&](int field) {
        e.load(BPF_DW, R1, R0, static_cast<std::int16_t>(field));
        e.add64(R1, 1);
        e.store(BPF_DW, R0, static_cast<std::int16_t>(field), R1);
    };
    // X says whether the filter refused the packet (set by the exits).
    e.add(BPF_JMP | BPF_JEQ | BPF_K, R0, R0, 15, 0); // no entry for this queue: to the exit
    bump(offsetof(zc_xdp_counters, packets));
    e.add(BPF_JMP | BPF_JEQ | BPF_K, kA, R0, 8, XDP_REDIRECT);
    bump(offsetof(zc_xdp_counters, passed));
    e.add(BPF_JMP | BPF_JEQ | BPF_K, kX, R0, 7, 0);
    bump(offsetof(zc_xdp_counters, filtered));
    e.add(BPF_JMP | BPF_JA, R0, R0, 3, 0);
    bump(offsetof(zc_xdp_counters, redirected));
    e.mov64(R0, kA);
    e.exit();
}

bool check_options(const TranslateOptions& options, std::string* why)
{
    if (options.no_match_verdict > XDP_REDIRECT || options.match_verdict > XDP_REDIRECT)
        return set_why(why, "a verdict that is not an XDP action");
    if (options.on_match == MatchAction::RedirectToSocket && options.socket_map_fd < 0)
        return set_why(why, "redirecting to AF_XDP sockets needs the socket map (XSKMAP)");
    return true;
}

// The last `lines` lines of a verifier log.
std::string log_tail(const char* log, int lines)
{
    std::string text(log);
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    std::size_t at = text.size();
    for (int i = 0; i < lines && at != std::string::npos && at > 0; ++i)
        at = text.rfind('\n', at - 1);
    return at == std::string::npos ? text : text.substr(at + 1);
}

} // namespace

bool validate(const sock_filter* insns, std::size_t count, std::string* why)
{
    Flow flow;
    return analyse(insns, count, &flow, why);
}

bool translate(const sock_filter* insns, std::size_t count, const TranslateOptions& options,
               std::vector<bpf_insn>* out, std::string* why)
{
    if (!check_options(options, why))
        return false;
    Flow flow;
    if (!analyse(insns, count, &flow, why))
        return false;

    bool uses_length = false;
    for (std::size_t i = 0; i < count; ++i)
        uses_length = uses_length || (flow.reachable[i] && BPF_MODE(insns[i].code) == BPF_LEN &&
                                      (BPF_CLASS(insns[i].code) == BPF_LD || BPF_CLASS(insns[i].code) == BPF_LDX));

    Emitter e(count);
    // The first two instructions read the context (see the header).
    e.load(BPF_W, kData, R1, offsetof(xdp_md, data));
    e.load(BPF_W, kDataEnd, R1, offsetof(xdp_md, data_end));
    e.mov64(kContext, R1);
    if (options.on_match == MatchAction::RedirectToSocket) {
        // Only queues with a socket are filtered: a packet of any other
        // queue goes to "match", where bpf_redirect_map passes it (as
        // zc_redirect does), whatever the no-match verdict.
        emit_queue_lookup(e, options.socket_map_fd);
        e.jump(BPF_JMP | BPF_JEQ | BPF_K, R0, R0, 0, Label::Match);
        e.load(BPF_W, kData, kContext, offsetof(xdp_md, data)); // the call took r2 and r3
        e.load(BPF_W, kDataEnd, kContext, offsetof(xdp_md, data_end));
    }
    e.mov32(kA, 0);
    e.mov32(kX, 0);
    if (uses_length) {
        e.mov64(kLength, kDataEnd);
        e.add(BPF_ALU64 | BPF_SUB | BPF_X, kLength, kData, 0, 0);
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (!flow.reachable[i])
            continue;
        e.start_instruction(i);
        if (!emit_instruction(e, insns[i], i, why))
            return false;
    }
    emit_exits(e, options);
    if (!e.resolve(why))
        return false;
    *out = std::move(e.code);
    return true;
}

int load_xdp_program(const std::vector<bpf_insn>& program, const char* name, std::string* why)
{
    char short_name[16] = {};
    std::snprintf(short_name, sizeof short_name, "%s", name ? name : "zc_filter");
    // Attach type BPF_XDP, as libbpf gives SEC("xdp") programs: a bpf_link
    // takes a new program only of its own program's attach type.
    LIBBPF_OPTS(bpf_prog_load_opts, quiet, .expected_attach_type = BPF_XDP);
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, short_name, "Dual BSD/GPL", program.data(), program.size(), &quiet);
    if (fd >= 0)
        return fd;
    const int rc = fd;
    if (rc == -EPERM) { // the verifier's refusals are EACCES or EINVAL
        set_why(why, std::string("cannot load the filter as an XDP program: ") + std::strerror(-rc) +
                         " (needs CAP_BPF and CAP_PERFMON, or root)");
        return rc;
    }
    // Again with the verifier's log, for the sentence. The kernel keeps the
    // log's end when it does not fit, and the end is what says why.
    std::vector<char> log(256 * 1024);
    LIBBPF_OPTS(bpf_prog_load_opts, verbose, .expected_attach_type = BPF_XDP, .log_level = 1, .log_size = static_cast<__u32>(log.size()),
                .log_buf = log.data());
    fd = bpf_prog_load(BPF_PROG_TYPE_XDP, short_name, "Dual BSD/GPL", program.data(), program.size(), &verbose);
    if (fd >= 0) // loads with a log, not without: take it
        return fd;
    log.back() = '\0';
    set_why(why, std::string("the kernel's verifier refused the translated filter (") + std::strerror(-rc) +
                     "): " + log_tail(log.data(), 3));
    return rc;
}

int load_filter(const sock_filter* insns, std::size_t count, const TranslateOptions& options, std::string* why)
{
    std::vector<bpf_insn> program;
    if (!translate(insns, count, options, &program, why))
        return -EINVAL;
    return load_xdp_program(program, "zc_filter", why);
}

} // namespace zc::filter

// SPDX-License-Identifier: BSD-3-Clause

#include "send_live.hpp"

#include <algorithm>
#include <atomic>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdexcept>
#include <system_error>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

#include "../drivers/synthetic/frames.hpp"

// kmod/send_object.S: the compiled kmod/zc_send.bpf.c, linked in.
extern "C" {
extern const unsigned char zc_send_object[] __attribute__((visibility("hidden")));
extern const unsigned char zc_send_object_end[] __attribute__((visibility("hidden")));
}

namespace zc::send {

namespace {

// Pages in the kernel's page_pool per BPF_PROG_RUN call, and frames it runs
// before it flushes them to the driver (NAPI's usual budget; at most 256).
constexpr std::uint32_t kKernelBatch = 64;
// Slot layout, as in kmod/zc_send.bpf.c: length, 4 spare bytes, frame.
constexpr std::uint32_t kSlotHeader = 8;
// Capture replay: slots in the ring, and the longest frame live mode takes
// (a live-mode packet lives in one 4 KiB page next to the kernel's
// bookkeeping, headroom and skb_shared_info: about 3.3 KiB are left).
constexpr std::uint32_t kPcapSlots = 1024;
constexpr std::uint32_t kPcapMaxFrame = 3000;
// The kernel needs at least an Ethernet header as data_in.
constexpr std::uint32_t kPcapDataIn = 60;
// Calls to BPF_PROG_RUN. Paced: a call per 100 us worth of frames, at most
// kMaxPacedBatch frames. Unpaced: calls sized to take about 10 ms, so that
// per-second lines, -d and signals stay prompt, within these bounds.
constexpr std::uint64_t kPaceTickNs = 100'000;
constexpr std::uint32_t kMaxPacedBatch = 1024;
constexpr std::uint64_t kUnpacedTargetNs = 10'000'000;
constexpr std::uint64_t kUnpacedMin = 256;
constexpr std::uint64_t kUnpacedMax = 1u << 22;
constexpr std::uint64_t kUnpacedStart = 4096;
// Without the dispatcher pin every call sleeps through two RCU grace periods
// (tens of ms), so calls must be long: paced batches of 50 ms worth of
// frames, unpaced calls of about 250 ms.
constexpr std::uint64_t kCoarsePaceTickNs = 50'000'000;
constexpr std::uint32_t kCoarseMaxPacedBatch = 1u << 22;
constexpr std::uint64_t kCoarseUnpacedTargetNs = 250'000'000;

// The offset of global variable `name` (of `size` bytes) in the data section
// `section` of the object, from its BTF.
std::size_t variable_offset(bpf_object* object, const char* section, const char* name, std::size_t size)
{
    const btf* types = bpf_object__btf(object);
    int id = types ? btf__find_by_name_kind(types, section, BTF_KIND_DATASEC) : -1;
    if (id > 0) {
        const btf_type* datasec = btf__type_by_id(types, static_cast<__u32>(id));
        const btf_var_secinfo* var = btf_var_secinfos(datasec);
        for (unsigned i = 0; i < btf_vlen(datasec); ++i, ++var) {
            const btf_type* type = btf__type_by_id(types, var->type);
            if (std::strcmp(btf__name_by_offset(types, type->name_off), name) == 0 && var->size == size)
                return var->offset;
        }
    }
    throw std::runtime_error(std::string("the embedded XDP program has no ") + std::to_string(size) + "-byte " +
                             name + " in " + section + " (zc-send and kmod/zc_send.bpf.c are out of step: rebuild)");
}

bpf_map* internal_map(bpf_object* object, const char* section)
{
    bpf_map* map = bpf_object__find_map_by_name(object, section);
    if (!map)
        throw std::runtime_error(std::string("the embedded XDP program has no ") + section + " map (rebuild zc-send)");
    return map;
}

std::size_t page_round(std::size_t bytes)
{
    std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (bytes + page - 1) / page * page;
}

std::string privileges_message()
{
    return "live mode needs CAP_BPF and CAP_NET_ADMIN (run as root)";
}

int quiet_libbpf(libbpf_print_level, const char*, va_list) { return 0; }

// Whether the kernel runs XDP programs with live frames for us: one run of
// a two-instruction program that drops its frame (nothing is sent). 0, or
// the negative errno BPF_PROG_RUN gave.
int probe_live_frames(int ifindex)
{
    const bpf_insn drop[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_DROP}, // r0 = XDP_DROP
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                        // return r0
    };
    int program = bpf_prog_load(BPF_PROG_TYPE_XDP, "zc_send_probe", "Dual BSD/GPL", drop, 2, nullptr);
    if (program < 0)
        return program;
    std::byte frame[60] = {};
    xdp_md context{};
    context.data_end = sizeof frame;
    context.ingress_ifindex = static_cast<__u32>(ifindex);
    LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame, .data_size_in = sizeof frame, .ctx_in = &context,
                .ctx_size_in = sizeof context, .repeat = 1, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
    int rc = bpf_prog_test_run_opts(program, &options);
    ::close(program);
    return rc;
}

} // namespace

LiveSender::Mapping::~Mapping()
{
    if (address)
        ::munmap(address, bytes);
}

LiveSender::FdCloser::~FdCloser()
{
    if (fd >= 0)
        ::close(fd);
}

LiveSender::LiveSender(const Plan& plan)
    : interface_(plan.interface), pacer_(plan.rate, kPaceTickNs, kMaxPacedBatch), paced_(plan.rate != 0),
      speed_(plan.speed), unpaced_batch_(kUnpacedStart)
{
    if (plan.pcap.empty()) {
        frame_length_ = frames::frame_bytes(plan.size);
        std::uint32_t ip_bytes = frame_length_ - 14;
        if (interface_.mtu() != 0 && ip_bytes > interface_.mtu())
            throw std::runtime_error(interface_.name() + ": -s " + std::to_string(plan.size) + " makes " +
                                     std::to_string(ip_bytes) + "-byte IP packets, more than its MTU of " +
                                     std::to_string(interface_.mtu()) + " (use a smaller -s, or ip link set " +
                                     interface_.name() + " mtu " + std::to_string(ip_bytes) + ")");
        slot_count_ = 2 * plan.flows;
        frame_max_ = (frame_length_ + 7) / 8 * 8;
    } else {
        pcap_ = std::make_unique<PcapReader>(plan.pcap, plan.loops, kPcapMaxFrame);
        slot_count_ = kPcapSlots;
        frame_max_ = kPcapMaxFrame;
        due_.assign(slot_count_, 0);
        wire_.assign(slot_count_, 0);
    }
    slot_bytes_ = kSlotHeader + frame_max_;
    load();
    if (int rc = probe_live_frames(static_cast<int>(interface_.index())); rc == -EPERM || rc == -EACCES)
        throw LiveFramesRefused("this kernel loads XDP programs for zc-send but refuses to run them with live "
                                "frames (BPF_PROG_RUN: " + std::string(std::strerror(-rc)) +
                                ", as root: a hardened or sandboxed kernel)");
    pin_in_dispatcher();
    if (!pinned_)
        pacer_ = RatePacer(plan.rate, kCoarsePaceTickNs, kCoarseMaxPacedBatch);
    if (pcap_) {
        data_in_.assign(kPcapDataIn, std::byte{0});
    } else {
        write_generated_frames(plan);
        const std::byte* first = slot(0) + kSlotHeader;
        data_in_.assign(first, first + frame_length_);
    }
    start_counters_ = interface_.counters();
}

void LiveSender::ObjectCloser::operator()(bpf_object* object) const noexcept { bpf_object__close(object); }

void LiveSender::load()
{
    libbpf_set_print(quiet_libbpf); // our messages say what failed; libbpf's would repeat it at length

    LIBBPF_OPTS(bpf_object_open_opts, open_options, .object_name = "zc_send");
    object_.reset(bpf_object__open_mem(zc_send_object,
                                       static_cast<std::size_t>(zc_send_object_end - zc_send_object), &open_options));
    if (!object_)
        throw std::runtime_error(std::string("cannot open the embedded XDP program: ") + std::strerror(errno) +
                                 " (rebuild zc-send)");

    // Constants the program sees as such (.rodata is frozen at load).
    bpf_map* rodata = internal_map(object_.get(), ".rodata");
    std::size_t rodata_size = 0;
    const void* initial = bpf_map__initial_value(rodata, &rodata_size);
    if (!initial)
        throw std::runtime_error("the embedded XDP program's .rodata has no initial value (rebuild zc-send)");
    std::vector<std::byte> constants(static_cast<const std::byte*>(initial),
                                     static_cast<const std::byte*>(initial) + rodata_size);
    auto set = [&](const char* name, std::uint32_t value) {
        std::size_t offset = variable_offset(object_.get(), ".rodata", name, sizeof value);
        std::memcpy(constants.data() + offset, &value, sizeof value);
    };
    set("slot_count", slot_count_);
    set("frame_max", frame_max_);
    set("stamp_sequence", pcap_ ? 0 : 1);
    set("target_ifindex", interface_.index());
    if (int rc = bpf_map__set_initial_value(rodata, constants.data(), constants.size()); rc != 0)
        throw std::runtime_error(std::string("cannot set the XDP program's constants: ") + std::strerror(-rc));

    bpf_map* frames = bpf_object__find_map_by_name(object_.get(), "frames");
    if (!frames)
        throw std::runtime_error("the embedded XDP program has no frames map (rebuild zc-send)");
    if (bpf_map__set_value_size(frames, slot_bytes_) != 0 || bpf_map__set_max_entries(frames, slot_count_) != 0)
        throw std::runtime_error("cannot size the XDP program's frames map");
    runs_offset_ = variable_offset(object_.get(), ".bss", "runs", sizeof(std::uint64_t));
    bad_frames_offset_ = variable_offset(object_.get(), ".bss", "bad_frames", sizeof(std::uint64_t));

    if (int rc = bpf_object__load(object_.get()); rc != 0) {
        if (rc == -EPERM || rc == -EACCES)
            throw std::runtime_error(privileges_message());
        if (rc == -ENOMEM || rc == -E2BIG)
            throw std::runtime_error("cannot create the frame table (" + std::to_string(slot_count_) + " frames of " +
                                     std::to_string(slot_bytes_) + " bytes): " + std::strerror(-rc) +
                                     " (use fewer --flows or a smaller -s)");
        throw std::runtime_error(std::string("cannot load the XDP program: ") + std::strerror(-rc) +
                                 " (live mode needs Linux 5.18 or newer, with BPF and XDP enabled)");
    }
    bpf_program* program = bpf_object__find_program_by_name(object_.get(), "zc_send");
    program_fd_ = program ? bpf_program__fd(program) : -1;
    if (program_fd_ < 0)
        throw std::runtime_error("the embedded XDP program has no zc_send function (rebuild zc-send)");

    frames_.bytes = page_round(static_cast<std::size_t>(slot_count_) * slot_bytes_);
    frames_.address = ::mmap(nullptr, frames_.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(frames), 0);
    if (frames_.address == MAP_FAILED) {
        frames_.address = nullptr;
        throw std::runtime_error(std::string("cannot map the frame table: ") + std::strerror(errno));
    }
    bpf_map* bss = internal_map(object_.get(), ".bss");
    bss_.bytes = page_round(bpf_map__value_size(bss));
    bss_.address = ::mmap(nullptr, bss_.bytes, PROT_READ, MAP_SHARED, bpf_map__fd(bss), 0);
    if (bss_.address == MAP_FAILED) {
        bss_.address = nullptr;
        throw std::runtime_error(std::string("cannot map the XDP program's counters: ") + std::strerror(errno));
    }
}

void LiveSender::pin_in_dispatcher()
{
    // See "Why the program is also attached somewhere" in kmod/zc_send.bpf.c.
    // A thread of our own enters a new network namespace (unshare affects the
    // calling thread only), attaches the program to its loopback, and leaves
    // us a file descriptor of the namespace, which keeps it alive.
    int result = -EINVAL;
    const char* step = "unshare(CLONE_NEWNET)";
    try {
        std::thread helper([&] {
            if (::unshare(CLONE_NEWNET) != 0) {
                result = -errno;
                return;
            }
            step = "attaching to the private loopback";
            unsigned loopback = ::if_nametoindex("lo");
            if (loopback == 0) {
                result = -ENODEV;
                return;
            }
            if (int rc = bpf_xdp_attach(static_cast<int>(loopback), program_fd_, XDP_FLAGS_SKB_MODE, nullptr);
                rc != 0) {
                result = rc;
                return;
            }
            step = "opening the private namespace";
            int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
            result = fd >= 0 ? fd : -errno;
        });
        helper.join();
    } catch (const std::system_error& e) {
        result = -e.code().value();
        step = "starting a thread";
    }
    if (result >= 0) {
        pin_namespace_.fd = result;
        pinned_ = true;
        return;
    }
    warning_ = std::string("cannot keep the XDP program in the kernel's XDP dispatcher (") + step + ": " +
               std::strerror(-result) +
               "; it needs CAP_SYS_ADMIN), so every BPF_PROG_RUN call waits for two RCU grace periods: "
               "zc-send makes its calls long, and --rate is paced in 50 ms steps";
}

std::byte* LiveSender::slot(std::uint64_t position) noexcept
{
    return static_cast<std::byte*>(frames_.address) + (position % slot_count_) * slot_bytes_;
}

void LiveSender::write_generated_frames(const Plan& plan)
{
    // Slot i holds the i-th frame of the stream; the program sends slot
    // n % (2 x flows) at run n, which is frame nth(n, flows) (see frames.hpp),
    // and writes n over the sequence number build() put there.
    for (std::uint32_t i = 0; i < slot_count_; ++i) {
        std::byte* at = slot(i);
        std::memcpy(at, &frame_length_, sizeof frame_length_);
        frames::build(at + kSlotHeader, plan.size, frames::nth(i, plan.flows), i);
    }
}

std::uint64_t LiveSender::runs() const noexcept
{
    // The kernel wrote it during our own BPF_PROG_RUN call, which returned
    // before this load: the syscall orders them, relaxed is enough.
    auto* counter = reinterpret_cast<std::uint64_t*>(static_cast<std::byte*>(bss_.address) + runs_offset_);
    return std::atomic_ref<std::uint64_t>(*counter).load(std::memory_order_relaxed);
}

std::uint64_t LiveSender::bad_frames() const noexcept
{
    auto* counter = reinterpret_cast<std::uint64_t*>(static_cast<std::byte*>(bss_.address) + bad_frames_offset_);
    return std::atomic_ref<std::uint64_t>(*counter).load(std::memory_order_relaxed);
}

void LiveSender::fill_ring()
{
    PcapReader::Frame frame;
    while (filled_ - position_ < slot_count_ && pcap_->peek(&frame)) {
        std::byte* at = slot(filled_);
        std::memcpy(at, &frame.length, sizeof frame.length);
        std::memcpy(at + kSlotHeader, frame.data, frame.length); // the replay's one copy: file to frame table
        std::size_t index = filled_ % slot_count_;
        due_[index] = speed_ > 0 ? static_cast<std::uint64_t>(static_cast<double>(frame.offset_ns) / speed_) : 0;
        wire_[index] = static_cast<std::uint32_t>(wire_bytes(frame.length));
        pcap_->advance();
        ++filled_;
    }
}

std::uint64_t LiveSender::due(std::uint64_t elapsed_ns, std::uint64_t limit, std::uint64_t* wake_ns)
{
    if (!pcap_) {
        if (paced_)
            return pacer_.due(elapsed_ns, position_, limit, wake_ns);
        return std::min(limit, unpaced_batch_);
    }
    fill_ring();
    std::uint64_t available = filled_ - position_;
    if (available == 0)
        return kEnd;
    limit = std::min(limit, available);
    if (paced_)
        return pacer_.due(elapsed_ns, position_, limit, wake_ns);
    if (speed_ == 0)
        return std::min(limit, unpaced_batch_);
    // The capture's own timing: every frame whose time has come.
    std::uint64_t cap = std::min<std::uint64_t>(limit, kMaxPacedBatch);
    std::uint64_t n = 0;
    while (n < cap && due_[(position_ + n) % slot_count_] <= elapsed_ns)
        ++n;
    if (n == 0)
        *wake_ns = due_[position_ % slot_count_];
    return n;
}

std::int64_t LiveSender::send(std::uint64_t n, std::uint64_t /*elapsed_ns*/)
{
    if (pcap_)
        n = std::min(n, filled_ - position_);
    if (n == 0)
        return 0;
    xdp_md context{};
    context.data_end = static_cast<__u32>(data_in_.size());
    context.ingress_ifindex = interface_.index();
    LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = data_in_.data(),
                .data_size_in = static_cast<__u32>(data_in_.size()), .ctx_in = &context,
                .ctx_size_in = sizeof context, .repeat = static_cast<int>(std::min<std::uint64_t>(n, INT32_MAX)),
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = kKernelBatch);

    std::uint64_t started = paced_ ? 0 : monotonic_ns();
    int rc = bpf_prog_test_run_opts(program_fd_, &options);
    std::uint64_t now_runs = runs();
    std::uint64_t handed = now_runs - position_;
    std::uint64_t now_bad = bad_frames();
    std::uint64_t bad = now_bad - bad_frames_seen_;
    bad_frames_seen_ = now_bad;

    if (pcap_) {
        std::uint64_t bytes = 0;
        for (std::uint64_t p = position_; p < now_runs; ++p)
            bytes += wire_[p % slot_count_];
        totals_.bytes += bytes;
    } else {
        totals_.bytes += (handed - bad) * wire_bytes(frame_length_);
    }
    totals_.packets += handed - bad;
    position_ = now_runs;

    if (!paced_ && handed > 0) {
        std::uint64_t took = monotonic_ns() - started;
        if (took > 0) {
            std::uint64_t target = pinned_ ? kUnpacedTargetNs : kCoarseUnpacedTargetNs;
            Wide next = static_cast<Wide>(handed) * target / took;
            unpaced_batch_ = static_cast<std::uint64_t>(
                std::clamp<Wide>(next, kUnpacedMin, pcap_ ? slot_count_ : kUnpacedMax));
        }
    }

    if (bad > 0) {
        error_ = "the XDP program refused " + std::to_string(bad) +
                 " frames (a frame too long for a live-mode page?); they were not sent";
        return -EPROTO;
    }
    if (rc != 0 && rc != -EINTR) {
        if (rc == -EPERM || rc == -EACCES)
            error_ = privileges_message();
        else if (rc == -ENODEV || rc == -ENXIO)
            error_ = interface_.name() + ": the interface went away";
        else
            error_ = "BPF_PROG_RUN on " + interface_.name() + " failed: " + std::strerror(-rc) +
                     (rc == -EINVAL ? " (live frames need Linux 5.18 or newer)" : "");
        return rc;
    }
    return static_cast<std::int64_t>(handed);
}

Losses LiveSender::losses()
{
    InterfaceCounters now = interface_.counters();
    Losses losses;
    std::uint64_t counted_drops = now.tx_dropped - start_counters_.tx_dropped;
    std::uint64_t sent = totals_.packets;

    if (!interface_.is_veth()) {
        // Physical drivers count XDP transmit failures in different places
        // (tx_dropped, or only ethtool -S): report what tx_dropped says.
        losses.known = counted_drops > 0;
        losses.dropped = counted_drops;
        if (counted_drops > 0)
            losses.reason = interface_.name() + " counted " + std::to_string(counted_drops) +
                            " transmit drops while zc-send ran (TX ring full, or frames its driver refused; "
                            "ethtool -S " + interface_.name() + " may say more)";
        return losses;
    }

    // A veth counts, as its tx_packets, every frame its peer took off its
    // ring, and as tx_dropped every frame that found the peer's ring full.
    // A frame the peer cannot take at all (no NAPI there: neither GRO nor an
    // XDP program) is dropped without any counter moving: what the peer never
    // took is lost, and tx_packets is the only witness.
    std::uint64_t delivered = now.tx_packets - start_counters_.tx_packets;
    losses.known = true;
    losses.dropped = counted_drops;
    std::uint64_t unaccounted = sent > delivered + counted_drops ? sent - delivered - counted_drops : 0;
    constexpr std::uint64_t kWarnAfter = 1000; // frames sent, before concluding nothing arrives
    if (delivered == 0 && sent >= kWarnAfter && !warned_no_delivery_) {
        warned_no_delivery_ = true;
        warning_ = interface_.name() + ": none of the " + std::to_string(sent) +
                         " frames sent so far reached the veth peer: XDP frames reach a veth peer only when "
                         "it has GRO on or an XDP program (ethtool -K PEER gro on, in the peer's namespace)";
    }
    if (finished_) {
        losses.dropped = counted_drops + unaccounted;
        std::string reason;
        if (counted_drops > 0)
            reason = std::to_string(counted_drops) +
                     " found the veth peer's receive ring full (the receiver is slower than the sender: "
                     "try a lower --rate)";
        if (unaccounted > 0) {
            if (!reason.empty())
                reason += "; ";
            reason += std::to_string(unaccounted) +
                      " never reached the peer (XDP frames reach a veth peer only when it has GRO on or an "
                      "XDP program: ethtool -K PEER gro on, in the peer's namespace)";
        }
        losses.reason = reason;
    } else if (counted_drops > 0) {
        losses.reason = "the veth peer's receive ring was full (the receiver is slower than the sender: "
                        "try a lower --rate)";
    }
    return losses;
}

void LiveSender::finish()
{
    // The frames are on the driver's (or the veth peer's) ring when
    // BPF_PROG_RUN returns; a veth peer counts them as it processes them.
    // Wait until its count settles, for at most a second.
    if (interface_.is_veth()) {
        std::uint64_t deadline = monotonic_ns() + kNanosPerSecond;
        std::uint64_t last = UINT64_MAX;
        int unchanged = 0;
        while (monotonic_ns() < deadline) {
            InterfaceCounters now = interface_.counters();
            std::uint64_t accounted = (now.tx_packets - start_counters_.tx_packets) +
                                      (now.tx_dropped - start_counters_.tx_dropped);
            if (accounted >= totals_.packets)
                break;
            unchanged = accounted == last ? unchanged + 1 : 0;
            if (unchanged >= 10) // 50 ms without progress: it is not coming
                break;
            last = accounted;
            sleep_until(monotonic_ns() + 5'000'000);
        }
    }
    finished_ = true;
}

std::vector<std::string> LiveSender::notes()
{
    std::vector<std::string> notes;
    if (pcap_) {
        if (pcap_->skipped_long() > 0)
            notes.push_back(pcap_->path() + ": " + std::to_string(pcap_->skipped_long()) +
                            " frames of the capture were skipped in every loop: longer than " +
                            std::to_string(kPcapMaxFrame) +
                            " bytes, the most live mode can send (device mode takes up to a pool buffer)");
        if (pcap_->truncated() > 0)
            notes.push_back(pcap_->path() + ": " + std::to_string(pcap_->truncated()) +
                            " frames of the capture are truncated (snap length); they are sent as captured");
    }
    if (!interface_.is_veth() && totals_.packets > 0) {
        InterfaceCounters now = interface_.counters();
        if (now.tx_packets == start_counters_.tx_packets)
            notes.push_back(interface_.name() + ": its tx_packets counter did not move; if its driver (" +
                            (interface_.driver().empty() ? std::string("unknown") : interface_.driver()) +
                            ") cannot transmit XDP frames (ndo_xdp_xmit), the kernel drops them without "
                            "counting them: check the receiver, or use --mode device");
    }
    return notes;
}

} // namespace zc::send

// SPDX-License-Identifier: BSD-3-Clause
//
// bench/send/bare_send — the reference for what the kernel lets a sender
// offer: a bare transmit loop with nothing of zc-send (no pacing, no
// per-second reports, no sequence numbers, no pool), the frames built once
// (drivers/synthetic/frames.hpp, the same flows zc-send sends) and handed to
// the kernel again and again. What zc-send offers is judged against it, as
// bench/capture/xdp_rxdrop judges the receivers.
//
// One loop per kernel path:
//   live      BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on a program that
//             only returns XDP_TX: the kernel sends the first frame (data_in)
//             over and over (zc-send's live mode without its frame table,
//             its flows and its sequence numbers);
//   tx-ring   AF_PACKET, a TPACKET_V2 TX ring and PACKET_QDISC_BYPASS: frames
//             written once into the ring, one sendto() per quarter ring;
//   sendmmsg  AF_PACKET, PACKET_QDISC_BYPASS, one sendmmsg() per batch;
//   afxdp     an AF_XDP socket's TX ring (copy mode where the driver has no
//             zero-copy), one wake-up per batch.
// auto (the default) is live when the kernel allows it, else afxdp: of the
// other three the fastest on a veth (bench/send/run measures all of them),
// and the path zc-send falls back to.
//
// It prints what it handed to the kernel and what the interface counted as
// sent (tx_packets): on a veth the latter is what reached the peer.
//
//   bare-send -i IFACE [-m auto|live|tx-ring|sendmmsg|afxdp] [-s BYTES]
//             [-f FLOWS] [-b BATCH] [-d SECONDS] [--json]

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "../../drivers/synthetic/frames.hpp"

namespace {

std::uint64_t now_ns()
{
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(now.tv_nsec);
}

std::uint64_t read_counter(const std::string& interface, const char* counter)
{
    std::ifstream file("/sys/class/net/" + interface + "/statistics/" + counter);
    std::uint64_t value = 0;
    file >> value;
    return value;
}

[[noreturn]] void die(const char* format, ...)
{
    va_list args;
    va_start(args, format);
    std::fputs("bare-send: ", stderr);
    std::vfprintf(stderr, format, args);
    std::fputc('\n', stderr);
    va_end(args);
    std::exit(1);
}

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }
int quiet_xdp(enum libxdp_print_level, const char*, va_list) { return 0; }

struct Run {
    std::string interface;
    unsigned ifindex = 0;
    std::vector<std::vector<std::byte>> frames; // 2 x flows, built once
    std::uint32_t batch = 0;                    // 0: the mode's default
    std::uint64_t end_ns = 0;
};

// The loops return the frames they handed to the kernel.

// ------------------------------------------------------------------ live

// -EPERM/-EACCES when the kernel refuses live frames (a sandboxed kernel).
int live(const Run& run, std::uint64_t* sent)
{
    const bpf_insn transmit[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_TX}, // r0 = XDP_TX
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                      // return r0
    };
    int program = bpf_prog_load(BPF_PROG_TYPE_XDP, "bare_send", "Dual BSD/GPL", transmit, 2, nullptr);
    if (program < 0)
        die("cannot load a two-instruction XDP program: %s (run as root)", std::strerror(-program));
    std::vector<std::byte> frame = run.frames[0];
    xdp_md context{};
    context.data_end = static_cast<__u32>(frame.size());
    context.ingress_ifindex = run.ifindex;
    // Each call changes the kernel's XDP dispatcher twice (an RCU grace
    // period each): calls of ~250 ms make that a few per cent at most.
    std::uint64_t repeat = 1u << 16;
    while (now_ns() < run.end_ns) {
        LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame.data(),
                    .data_size_in = static_cast<__u32>(frame.size()), .ctx_in = &context,
                    .ctx_size_in = sizeof context, .repeat = static_cast<int>(repeat),
                    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = run.batch ? run.batch : 64);
        std::uint64_t start = now_ns();
        int rc = bpf_prog_test_run_opts(program, &options);
        if (rc != 0) {
            close(program);
            return rc;
        }
        *sent += repeat;
        std::uint64_t took = now_ns() - start;
        if (took > 0)
            repeat = std::clamp<std::uint64_t>(repeat * 250'000'000u / took, 1u << 12, 1u << 24);
    }
    close(program);
    return 0;
}

// ------------------------------------------------------------------ AF_PACKET

int packet_socket()
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("AF_PACKET socket: %s (run as root)", std::strerror(errno));
    int bypass = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass, sizeof bypass) != 0)
        die("PACKET_QDISC_BYPASS: %s", std::strerror(errno));
    return fd;
}

void bind_packet_socket(int fd, const Run& run)
{
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = 0; // send only
    address.sll_ifindex = static_cast<int>(run.ifindex);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        die("bind to %s: %s", run.interface.c_str(), std::strerror(errno));
}

// The ring protocol (packet_mmap.rst): a slot whose tp_status is AVAILABLE
// is ours; we write it and store SEND_REQUEST (release: the frame before the
// status); sendto() makes the kernel send every SEND_REQUEST slot from where
// it stands, in ring order; the slot turns AVAILABLE again once its skb is
// freed (acquire: the kernel is done with the frame). Slot i always carries
// frame i % frames (the ring is a multiple of 2 x flows slots when flows is
// a power of two; else the frame is rewritten), so most of the time only
// length and status are written.
std::uint64_t tx_ring(const Run& run)
{
    constexpr std::uint32_t kSlotBytes = 128; // tpacket2_hdr + sockaddr_ll pad + a 64-byte frame
    constexpr std::uint32_t kBlockBytes = 1u << 16;
    constexpr std::uint32_t kBlocks = 32;
    constexpr std::uint32_t kSlots = kBlockBytes / kSlotBytes * kBlocks; // 16384
    const std::uint32_t data_offset = TPACKET_ALIGN(sizeof(tpacket2_hdr));
    if (run.frames[0].size() + data_offset > kSlotBytes)
        die("tx-ring mode takes frames of at most %u bytes", kSlotBytes - data_offset);
    const std::uint32_t batch = run.batch ? run.batch : kSlots / 4;

    int fd = packet_socket();
    int version = TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
        die("TPACKET_V2: %s", std::strerror(errno));
    tpacket_req request{kBlockBytes, kBlocks, kSlotBytes, kSlots};
    if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &request, sizeof request) != 0)
        die("PACKET_TX_RING: %s", std::strerror(errno));
    auto* ring = static_cast<std::byte*>(
        mmap(nullptr, std::size_t{kBlockBytes} * kBlocks, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0));
    if (ring == MAP_FAILED)
        die("mmap of the TX ring: %s", std::strerror(errno));
    bind_packet_socket(fd, run);

    const auto count = static_cast<std::uint32_t>(run.frames.size());
    for (std::uint32_t i = 0; i < kSlots; ++i)
        std::memcpy(ring + std::size_t{i} * kSlotBytes + data_offset, run.frames[i % count].data(),
                    run.frames[i % count].size());
    const bool fixed = kSlots % count == 0;

    std::uint64_t sent = 0;
    std::uint32_t slot = 0;
    for (;;) {
        std::uint32_t queued = 0;
        for (; queued < batch; ++queued) {
            auto* header = reinterpret_cast<tpacket2_hdr*>(ring + std::size_t{slot} * kSlotBytes);
            std::atomic_ref<std::uint32_t> status(header->tp_status);
            if (status.load(std::memory_order_acquire) != TP_STATUS_AVAILABLE)
                break; // the kernel still holds it: send what we have
            const auto& frame = run.frames[(sent + queued) % count];
            if (!fixed)
                std::memcpy(reinterpret_cast<std::byte*>(header) + data_offset, frame.data(), frame.size());
            header->tp_len = static_cast<std::uint32_t>(frame.size());
            status.store(TP_STATUS_SEND_REQUEST, std::memory_order_release);
            slot = slot + 1 == kSlots ? 0 : slot + 1;
        }
        if (sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN &&
            errno != ENOBUFS && errno != EINTR)
            die("sendto on the TX ring: %s", std::strerror(errno));
        sent += queued;
        if (now_ns() >= run.end_ns) // vDSO, a few ns: nothing next to a batch
            break;
    }
    close(fd);
    return sent;
}

std::uint64_t send_mmsg(const Run& run)
{
    const std::uint32_t batch = run.batch ? run.batch : 1024;
    int fd = packet_socket();
    bind_packet_socket(fd, run);
    const auto count = static_cast<std::uint32_t>(run.frames.size());
    // Batches start at a multiple of `batch` in the stream: with batch a
    // multiple of 2 x flows every batch is the same, else rotate.
    std::vector<iovec> iovecs(std::size_t{batch} * count);
    std::vector<mmsghdr> messages(std::size_t{batch} * count);
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& frame = run.frames[i % count];
        iovecs[i] = iovec{const_cast<std::byte*>(frame.data()), frame.size()};
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    std::uint64_t sent = 0;
    for (;;) {
        int taken = sendmmsg(fd, messages.data() + sent % count, batch, MSG_DONTWAIT);
        if (taken > 0)
            sent += static_cast<std::uint64_t>(taken);
        else if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
            die("sendmmsg: %s", std::strerror(errno));
        if (now_ns() >= run.end_ns) // vDSO, a few ns: nothing next to a batch
            break;
    }
    close(fd);
    return sent;
}

// ------------------------------------------------------------------ AF_XDP

// An AF_XDP socket with a TX ring only, bound to queue 0, no XDP program
// (nothing is received). The UMEM holds each of the 2 x flows frames once,
// written at the start: a descriptor names frame n % frames, and the same
// frame may be on the ring many times over (the kernel only reads it), so
// the frames stay in the cache, and nothing is written per frame but the
// descriptor. Completions are only counted, to know how much the
// completion ring (the ring's size) still has room for.
std::uint64_t afxdp(const Run& run)
{
    constexpr std::uint32_t kFrameSize = 2048;
    constexpr std::uint32_t kRing = 2048;
    const std::uint32_t batch = run.batch ? run.batch : 256;
    const auto count = static_cast<std::uint32_t>(run.frames.size());
    if (run.frames[0].size() > kFrameSize)
        die("afxdp mode takes frames of at most %u bytes", kFrameSize);
    const std::size_t bytes = std::max<std::size_t>(std::size_t{count} * kFrameSize, 1u << 16);
    auto* area = static_cast<std::byte*>(
        mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    if (area == MAP_FAILED)
        die("mmap: %s", std::strerror(errno));
    for (std::uint32_t i = 0; i < count; ++i)
        std::memcpy(area + std::size_t{i} * kFrameSize, run.frames[i].data(), run.frames[i].size());

    xsk_ring_prod fill{};
    xsk_ring_cons completion{};
    xsk_umem_config umem_config{kRing, kRing, kFrameSize, 0, 0};
    xsk_umem* umem = nullptr;
    if (int rc = xsk_umem__create(&umem, area, bytes, &fill, &completion, &umem_config); rc != 0)
        die("xsk_umem__create: %s", std::strerror(-rc));
    xsk_ring_prod tx{};
    xsk_socket_config config{};
    config.rx_size = 0;
    config.tx_size = kRing;
    config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD; // TX only: no XDP program
    config.bind_flags = XDP_USE_NEED_WAKEUP;
    xsk_socket* socket = nullptr;
    if (int rc = xsk_socket__create(&socket, run.interface.c_str(), 0, umem, nullptr, &tx, &config); rc != 0)
        die("xsk_socket__create on %s queue 0: %s", run.interface.c_str(), std::strerror(-rc));
    int fd = xsk_socket__fd(socket);
    // Linux 6.17+: frames per wake-up in copy mode (32 before, and where
    // the option is missing).
    constexpr int kMaxTxSkbBudget = 9; // XDP_MAX_TX_SKB_BUDGET
    unsigned budget = std::max(batch, 32u);
    if (setsockopt(fd, SOL_XDP, kMaxTxSkbBudget, &budget, sizeof budget) != 0)
        std::fprintf(stderr, "bare-send: this kernel sends at most 32 frames per wake-up (XDP_MAX_TX_SKB_BUDGET: %s)\n",
                     std::strerror(errno));

    std::uint64_t sent = 0;
    std::uint32_t outstanding = 0; // on the TX ring or not yet completed
    std::uint32_t next = 0;        // frame of the next descriptor
    for (;;) {
        std::uint32_t index = 0;
        std::uint32_t done = xsk_ring_cons__peek(&completion, kRing, &index);
        if (done) {
            xsk_ring_cons__release(&completion, done);
            outstanding -= done;
        }
        std::uint32_t room = std::min(batch, kRing - outstanding);
        std::uint32_t got = room ? xsk_ring_prod__reserve(&tx, room, &index) : 0;
        for (std::uint32_t i = 0; i < got; ++i) {
            xdp_desc* desc = xsk_ring_prod__tx_desc(&tx, index + i);
            desc->addr = std::uint64_t{next} * kFrameSize;
            desc->len = static_cast<std::uint32_t>(run.frames[next].size());
            next = next + 1 == count ? 0 : next + 1;
        }
        if (got) {
            xsk_ring_prod__submit(&tx, got);
            outstanding += got;
            sent += got;
        }
        if (xsk_ring_prod__needs_wakeup(&tx))
            sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
        if (now_ns() >= run.end_ns) // vDSO, a few ns: nothing next to a batch
            break;
    }
    // Frames still on the TX ring are not counted as sent by the interface.
    xsk_socket__delete(socket);
    xsk_umem__delete(umem);
    munmap(area, bytes);
    return sent;
}

int usage()
{
    std::fputs("usage: bare-send -i IFACE [-m auto|live|tx-ring|sendmmsg|afxdp] [-s BYTES] [-f FLOWS]\n"
               "                 [-b BATCH (1 to 65536; 0: the mode's own)] [-d SECONDS] [--json]\n",
               stderr);
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    Run run;
    std::string mode = "auto";
    std::uint32_t size = 64;
    std::uint32_t flows = 64;
    double duration = 5;
    bool json = false;
    static const option longs[] = {{"interface", required_argument, nullptr, 'i'},
                                   {"mode", required_argument, nullptr, 'm'},
                                   {"size", required_argument, nullptr, 's'},
                                   {"flows", required_argument, nullptr, 'f'},
                                   {"batch", required_argument, nullptr, 'b'},
                                   {"duration", required_argument, nullptr, 'd'},
                                   {"json", no_argument, nullptr, 'j'},
                                   {nullptr, 0, nullptr, 0}};
    int option = 0;
    while ((option = getopt_long(argc, argv, "i:m:s:f:b:d:", longs, nullptr)) != -1) {
        switch (option) {
        case 'i': run.interface = optarg; break;
        case 'm': mode = optarg; break;
        case 's': size = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); break;
        case 'f': flows = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); break;
        case 'b': run.batch = static_cast<std::uint32_t>(std::strtoul(optarg, nullptr, 10)); break;
        case 'd': duration = std::strtod(optarg, nullptr); break;
        case 'j': json = true; break;
        default: return usage();
        }
    }
    if (run.interface.empty() || duration <= 0 || size < zc::frames::kMinSize || size > zc::frames::kMaxSize ||
        flows == 0 || flows > 65536 || run.batch > 65536 ||
        (mode != "auto" && mode != "live" && mode != "tx-ring" && mode != "sendmmsg" && mode != "afxdp"))
        return usage();
    run.ifindex = if_nametoindex(run.interface.c_str());
    if (run.ifindex == 0)
        die("%s: no such interface", run.interface.c_str());
    libbpf_set_print(quiet);
    libxdp_set_print(quiet_xdp);
    for (std::uint64_t n = 0; n < 2ull * flows; ++n) {
        std::vector<std::byte> frame(zc::frames::frame_bytes(size));
        zc::frames::build(frame.data(), size, zc::frames::nth(n, flows), n);
        run.frames.push_back(std::move(frame));
    }

    const std::uint64_t tx_before = read_counter(run.interface, "tx_packets");
    const std::uint64_t dropped_before = read_counter(run.interface, "tx_dropped");
    const std::uint64_t start = now_ns();
    run.end_ns = start + static_cast<std::uint64_t>(duration * 1e9);
    std::uint64_t sent = 0;
    std::string note;
    if (mode == "auto" || mode == "live") {
        int rc = live(run, &sent);
        if (rc != 0) {
            if (mode == "live")
                die("BPF_PROG_RUN with live frames: %s", std::strerror(-rc));
            note = std::string("live frames refused (") + std::strerror(-rc) + "): afxdp";
            mode = "afxdp";
        }
    }
    if (mode == "tx-ring")
        sent = tx_ring(run);
    else if (mode == "sendmmsg")
        sent = send_mmsg(run);
    else if (mode == "afxdp")
        sent = afxdp(run);
    const double seconds = static_cast<double>(now_ns() - start) / 1e9;
    usleep(100'000); // frames still in flight reach the counters
    const std::uint64_t tx = read_counter(run.interface, "tx_packets") - tx_before;
    const std::uint64_t dropped = read_counter(run.interface, "tx_dropped") - dropped_before;

    if (json)
        std::printf("{\"mode\":\"%s\",\"packets\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"tx_packets\":%llu,"
                    "\"tx_pps\":%.0f,\"tx_dropped\":%llu}\n",
                    mode.c_str(), static_cast<unsigned long long>(sent), seconds, static_cast<double>(sent) / seconds,
                    static_cast<unsigned long long>(tx), static_cast<double>(tx) / seconds,
                    static_cast<unsigned long long>(dropped));
    else
        std::printf("bare-send: %s on %s: %llu frames handed over in %.3f s: %.3f Mpps; the interface sent %.3f Mpps, "
                    "dropped %llu\n",
                    mode.c_str(), run.interface.c_str(), static_cast<unsigned long long>(sent), seconds,
                    static_cast<double>(sent) / seconds / 1e6, static_cast<double>(tx) / seconds / 1e6,
                    static_cast<unsigned long long>(dropped));
    if (!note.empty())
        std::fprintf(stderr, "bare-send: %s\n", note.c_str());
    return 0;
}

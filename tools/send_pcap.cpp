// SPDX-License-Identifier: BSD-3-Clause

#include "send_pcap.hpp"

#include <pcap/pcap.h>
#include <stdexcept>

namespace zc::send {

namespace {

constexpr std::size_t kCacheLimit = 64u << 20;

} // namespace

PcapReader::PcapReader(std::string path, std::uint64_t loops, std::uint32_t max_length)
    : path_(std::move(path)), loops_(loops), max_length_(max_length)
{
    open();
    have_frame_ = read_next();
    if (!have_frame_) {
        if (skipped_long_ > 0)
            throw std::runtime_error(path_ + ": every frame is longer than " + std::to_string(max_length_) +
                                     " bytes, the most this mode can send");
        throw std::runtime_error(path_ + ": the capture holds no frames");
    }
}

PcapReader::~PcapReader()
{
    if (pcap_)
        pcap_close(pcap_);
}

void PcapReader::open()
{
    if (pcap_)
        pcap_close(pcap_);
    char message[PCAP_ERRBUF_SIZE] = "";
    pcap_ = pcap_open_offline_with_tstamp_precision(path_.c_str(), PCAP_TSTAMP_PRECISION_NANO, message);
    if (!pcap_) {
        // libpcap names the file in some messages ("F: No such file or
        // directory") and not in others ("unknown file format").
        std::string text = message;
        if (text.rfind(path_, 0) != 0)
            text = path_ + ": " + text + " (zc-send replays pcap and pcapng captures)";
        throw std::runtime_error(text);
    }
    if (pcap_datalink(pcap_) != DLT_EN10MB)
        throw std::runtime_error(path_ + ": link type " + pcap_datalink_val_to_name(pcap_datalink(pcap_)) +
                                 " is not Ethernet; zc-send replays Ethernet captures only");
    first_in_loop_ = true;
}

bool PcapReader::read_next()
{
    for (;;) {
        pcap_pkthdr* header = nullptr;
        const u_char* data = nullptr;
        int rc = pcap_next_ex(pcap_, &header, &data);
        if (rc == PCAP_ERROR_BREAK)
            return false;
        if (rc != 1)
            throw std::runtime_error(path_ + ": " + pcap_geterr(pcap_));
        // Counted in the first loop only: they are frames of the capture.
        if (header->caplen > max_length_) {
            skipped_long_ += loop_ == 0;
            continue;
        }
        truncated_ += loop_ == 0 && header->caplen < header->len;
        std::uint64_t ts = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000'000u +
                           static_cast<std::uint64_t>(header->ts.tv_usec); // nanoseconds: opened with NANO precision
        if (first_in_loop_) {
            loop_first_ts_ = ts;
            first_in_loop_ = false;
        }
        std::uint64_t gap = ts > loop_first_ts_ ? ts - loop_first_ts_ : 0;
        const auto* bytes = reinterpret_cast<const std::byte*>(data);
        if (caching_ && loop_ == 0) {
            if (cache_bytes_.size() + header->caplen <= kCacheLimit) {
                cache_.push_back(Cached{cache_bytes_.size(), header->caplen, gap});
                cache_bytes_.insert(cache_bytes_.end(), bytes, bytes + header->caplen);
            } else {
                caching_ = false; // too big: read the file again for each loop
                std::vector<std::byte>().swap(cache_bytes_);
                std::vector<Cached>().swap(cache_);
            }
        }
        place(bytes, header->caplen, gap);
        return true;
    }
}

void PcapReader::place(const std::byte* data, std::uint32_t length, std::uint64_t gap_ns) noexcept
{
    // A capture whose clock steps back keeps the previous frame's time.
    std::uint64_t offset = loop_base_ns_ + gap_ns;
    if (offset < last_offset_ns_)
        offset = last_offset_ns_;
    last_offset_ns_ = offset;
    frame_.data = data;
    frame_.length = length;
    frame_.offset_ns = offset;
}

bool PcapReader::peek(Frame* frame) const noexcept
{
    if (!have_frame_)
        return false;
    *frame = frame_;
    return true;
}

void PcapReader::advance()
{
    if (!have_frame_)
        return;
    if (from_cache_) {
        if (cache_next_ < cache_.size()) {
            const Cached& next = cache_[cache_next_++];
            place(cache_bytes_.data() + next.offset, next.length, next.gap_ns);
            return;
        }
    } else if (read_next()) {
        return;
    }
    ++loop_;
    if (loops_ != 0 && loop_ >= loops_) {
        have_frame_ = false;
        return;
    }
    // The next loop starts where this one ended: its first frame is due
    // together with this loop's last one.
    loop_base_ns_ = last_offset_ns_;
    if (caching_ && !cache_.empty()) {
        if (!from_cache_) { // the file is read in full: done with it
            pcap_close(pcap_);
            pcap_ = nullptr;
            from_cache_ = true;
        }
        place(cache_bytes_.data() + cache_[0].offset, cache_[0].length, cache_[0].gap_ns);
        cache_next_ = 1;
        return;
    }
    open();
    have_frame_ = read_next();
}

} // namespace zc::send

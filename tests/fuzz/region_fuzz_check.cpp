// SPDX-License-Identifier: BSD-3-Clause
//
// region_fuzz in make check: a fixed set of inputs (a seeded generator, so
// every run and every machine runs the same ones) through region_fuzz.cpp's
// LLVMFuzzerTestOneInput, built with the normal compiler and linked with
// libzc (in the sanitizer build both have ASan and UBSan). At most kInputs
// inputs and about kSeconds seconds: a slow machine runs fewer, never
// longer. A failing input is kept in region_fuzz-failure.bin, to replay
// with the libFuzzer build: tests/fuzz/region_fuzz region_fuzz-failure.bin.
//
//   tests/fuzz/region_fuzz_check [INPUTS [SEED]]

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

constexpr std::uint64_t kInputs = 2000;
constexpr double kSeconds = 20;
constexpr std::uint64_t kSeed = 0x7a63'5f72'6567'696full; // "zc_regio"
constexpr std::size_t kMaxSize = 1200;

std::uint64_t g_current = 0;

// splitmix64: small, and the same everywhere.
std::uint64_t next(std::uint64_t& state)
{
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

} // namespace

void region_fuzz_on_failure(const std::uint8_t* data, std::size_t size)
{
    std::FILE* out = std::fopen("region_fuzz-failure.bin", "wb");
    if (out) {
        std::fwrite(data, 1, size, out);
        std::fclose(out);
    }
    std::fprintf(stderr, "region_fuzz_check: input %llu (%zu bytes) failed; kept in region_fuzz-failure.bin\n",
                 static_cast<unsigned long long>(g_current), size);
}

int main(int argc, char** argv)
{
    const std::uint64_t inputs = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : kInputs;
    std::uint64_t state = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : kSeed;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::uint8_t> input;
    std::uint64_t bytes = 0;
    for (g_current = 0; g_current < inputs; ++g_current) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > kSeconds)
            break;
        // Sizes from a few steps to a thousand, most of them short.
        std::uint64_t r = next(state);
        std::size_t size = 1 + static_cast<std::size_t>(r % (r & 0x100 ? kMaxSize : 120));
        input.resize(size);
        for (std::size_t i = 0; i < size; i += 8) {
            std::uint64_t word = next(state);
            for (std::size_t j = i; j < size && j < i + 8; ++j, word >>= 8)
                input[j] = static_cast<std::uint8_t>(word);
        }
        bytes += size;
        LLVMFuzzerTestOneInput(input.data(), input.size());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("region_fuzz_check: %llu inputs (%llu bytes of steps) in %.1f s, every invariant held\n",
                static_cast<unsigned long long>(g_current), static_cast<unsigned long long>(bytes), seconds);
    return g_current > 0 ? 0 : 1;
}

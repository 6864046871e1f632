#include "chunker/fastcdc.h"

#include <algorithm>
#include <bit>
#include <string>

namespace pgdedup::chunker {

namespace {

// Bytes hashed (without testing) before the first cut test of a chunk: the gear hash window.
constexpr uint64_t kWindow = 64;
constexpr uint32_t kMinMinSize = kWindow;
constexpr uint32_t kMaxMaxSize = 16u << 20;

// The splitmix64 output function: a bijective 64-bit mixer (Steele, Lea, Flood 2014).
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Folds the seed bytes, 8 at a time, into a 64-bit PRNG state. Not a cryptographic hash: the
// seed is already a random secret, and the state only needs to depend on every byte of it.
uint64_t SeedState(std::string_view seed) {
  uint64_t state = 0x70676465647570ULL;  // "pgdedup": separates this use of the seed
  size_t i = 0;
  for (; i + 8 <= seed.size(); i += 8) {
    uint64_t block = 0;
    for (int b = 0; b < 8; ++b) block |= uint64_t{static_cast<uint8_t>(seed[i + b])} << (8 * b);
    state = Mix64(state ^ block) + 0x9e3779b97f4a7c15ULL;
  }
  uint64_t tail = 0;
  for (int b = 0; i < seed.size(); ++i, ++b) {
    tail |= uint64_t{static_cast<uint8_t>(seed[i])} << (8 * b);
  }
  state = Mix64(state ^ tail) + 0x9e3779b97f4a7c15ULL;
  return Mix64(state ^ seed.size());
}

// A mask with `bits` one-bits spread evenly over bits 16..63 (bits >= 1, <= 48). High bits of
// the gear hash depend on more bytes than low ones (bit i on the last i + 1), and spreading
// them, as the FastCDC paper's masks do, mixes bytes from across the whole 64-byte window.
uint64_t SpreadMask(int bits) {
  uint64_t mask = 0;
  for (int i = 0; i < bits; ++i) mask |= uint64_t{1} << (63 - (i * 48) / bits);
  return mask;
}

std::string Kib(uint32_t v) {
  return (v % 1024 == 0) ? std::to_string(v / 1024) + " KiB" : std::to_string(v) + " bytes";
}

}  // namespace

// Measured with bench/chunker_bench on bench/gen_dump output (--rows 1000000, ~245 MB; night 1
// deduplicated against night 0) on a 2-core AMD EPYC VM:
//   avg  4 KiB: 52320 chunks, 15.8 MB new per night
//   avg 16 KiB: 13006 chunks, 18.8 MB new
//   avg 64 KiB:  3297 chunks, 21.6 MB new   <- default
//   avg 128 KiB: 1649 chunks, 23.8 MB new
// Scattered row updates (2% of customers a night) touch nearly every chunk of their table at any
// practical size, so 16x more chunks (index entries, per-chunk overhead) buy only ~27% less new
// data; 64 KiB keeps metadata small at a modest dedup cost. Throughput is 1.7-2.5 GB/s at every
// size (memory-bound).
ChunkerParams ChunkerParams::Default() { return ChunkerParams{16u << 10, 64u << 10, 256u << 10}; }

Status ChunkerParams::Validate() const {
  if (min_size < kMinMinSize) {
    return Status::InvalidArgument("chunker: min_size " + std::to_string(min_size) + " is below " +
                                   std::to_string(kMinMinSize) + " bytes");
  }
  if (!(min_size < avg_size)) {
    return Status::InvalidArgument("chunker: min_size " + Kib(min_size) +
                                   " is not below avg_size " + Kib(avg_size));
  }
  if (!(avg_size < max_size)) {
    return Status::InvalidArgument("chunker: avg_size " + Kib(avg_size) +
                                   " is not below max_size " + Kib(max_size));
  }
  if (max_size > kMaxMaxSize) {
    return Status::InvalidArgument("chunker: max_size " + Kib(max_size) + " is above 16 MiB");
  }
  if (!std::has_single_bit(avg_size)) {
    return Status::InvalidArgument("chunker: avg_size " + std::to_string(avg_size) +
                                   " is not a power of two");
  }
  return Status::OK();
}

FastCdc::FastCdc(const ChunkerParams& params, std::string_view seed)
    : params_(params), hash_(0), len_(0) {
  // Normalized chunking level 2: log2(avg) +- 2 bits. With avg in [128, 8 MiB] (Validate()),
  // that is 5..25 bits, which SpreadMask accepts.
  const int avg_bits = std::countr_zero(params.avg_size);
  mask_hard_ = SpreadMask(avg_bits + 2);
  mask_easy_ = SpreadMask(avg_bits - 2);
  uint64_t state = SeedState(seed);
  for (uint64_t& g : gear_) {
    state += 0x9e3779b97f4a7c15ULL;  // splitmix64
    g = Mix64(state);
  }
}

void FastCdc::Reset() {
  hash_ = 0;
  len_ = 0;
}

// The chunk is split into phases by its length `len` before the byte at hand:
//   [0, min - 64)           skipped, not hashed
//   [min - 64, min - 1)     hashed, not tested (warm-up: fills the 64-byte window)
//   [min - 1, avg - 1)      hashed, cut if (h & mask_hard_) == 0   (chunk length min..avg-1)
//   [avg - 1, max - 1)      hashed, cut if (h & mask_easy_) == 0   (chunk length avg..max-1)
//   max - 1                 cut: the chunk has max bytes
// Each phase runs as a tight loop over the part of `data` that falls into it, so the position
// bookkeeping is per phase, not per byte, and a stream split anywhere resumes in the same phase
// with the same hash.
size_t FastCdc::Scan(const uint8_t* data, size_t n) {
  const uint64_t min = params_.min_size;
  const uint64_t avg = params_.avg_size;
  const uint64_t max = params_.max_size;
  const uint64_t* const gear = gear_;
  uint64_t len = len_;
  uint64_t h = hash_;
  const uint8_t* p = data;
  const uint8_t* const end = data + n;

  // Bytes of `data` left, capped at the bytes that remain before chunk length `phase_end`.
  auto phase_stop = [&](uint64_t phase_end) -> const uint8_t* {
    uint64_t room = phase_end > len ? phase_end - len : 0;
    return p + std::min<uint64_t>(room, static_cast<uint64_t>(end - p));
  };
  auto cut = [&](const uint8_t* after) -> size_t {
    hash_ = 0;
    len_ = 0;
    return static_cast<size_t>(after - data);
  };

  // Skip.
  const uint8_t* stop = phase_stop(min - kWindow);
  len += stop - p;
  p = stop;

  // Warm-up.
  stop = phase_stop(min - 1);
  len += stop - p;
  for (; p < stop; ++p) h = (h << 1) + gear[*p];

  // Before avg: the hard mask.
  stop = phase_stop(avg - 1);
  len += stop - p;
  const uint64_t mask_hard = mask_hard_;
  for (; p < stop; ++p) {
    h = (h << 1) + gear[*p];
    if ((h & mask_hard) == 0) return cut(p + 1);
  }

  // From avg: the easy mask.
  stop = phase_stop(max - 1);
  len += stop - p;
  const uint64_t mask_easy = mask_easy_;
  for (; p < stop; ++p) {
    h = (h << 1) + gear[*p];
    if ((h & mask_easy) == 0) return cut(p + 1);
  }

  // Here either all the data is consumed or len == max - 1 and *p is the last byte of a chunk.
  if (p < end) return cut(p + 1);
  len_ = len;
  hash_ = h;
  return kNeedMore;
}

}  // namespace pgdedup::chunker

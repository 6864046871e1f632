// chunker_bench: throughput and chunk statistics of chunker::FastCdc on a file.
//
//   chunker_bench FILE [--min LIST] [--avg LIST] [--max LIST] [--against OLD_FILE]
//                      [--piece BYTES] [--seed STRING]
//
// Reads FILE into memory and chunks it with the default parameters, then with each alternative
// given by --avg (a comma-separated list of sizes; K/M suffixes accepted, e.g. --avg 16K,256K).
// --min and --max give the matching lists; where absent, min = avg / 4 and max = avg * 4.
// For each set it prints the best of 5 runs of Scan() in MB/s (10^6 bytes per second), the chunk
// count, mean and the smallest / largest chunk. With --against, it also chunks OLD_FILE and
// reports which share of FILE's bytes are in chunks that OLD_FILE already has (the dedup a
// backup of FILE would get after a backup of OLD_FILE). --piece feeds Scan() in pieces of that
// many bytes, as a streaming reader would (default: the whole file in one call).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "chunker/fastcdc.h"

namespace pgdedup::chunker {
namespace {

struct ChunkStats {
  size_t count = 0;
  size_t smallest = SIZE_MAX;
  size_t largest = 0;
};

bool ReadFile(const char* path, std::string* out) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    std::perror(path);
    return false;
  }
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  const bool ok = !std::ferror(f);
  if (!ok) std::perror(path);
  std::fclose(f);
  return ok;
}

// Parses "65536", "64K", "64KiB", "1M". Returns 0 on error.
uint64_t ParseSize(std::string_view s) {
  char* end = nullptr;
  const std::string str(s);
  uint64_t v = std::strtoull(str.c_str(), &end, 10);
  std::string_view suffix(end);
  if (end == str.c_str()) return 0;
  if (suffix.empty()) return v;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") return v << 10;
  if (suffix == "M" || suffix == "m" || suffix == "MiB") return v << 20;
  return 0;
}

bool ParseSizeList(std::string_view s, std::vector<uint64_t>* out) {
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const uint64_t v = ParseSize(s.substr(0, comma));
    if (v == 0 || v > UINT32_MAX) return false;
    out->push_back(v);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return true;
}

// Chunks `data`, calling on_chunk(offset, length) for each chunk (including the final one).
template <typename OnChunk>
void ChunkAll(FastCdc* cdc, std::string_view data, size_t piece, OnChunk&& on_chunk) {
  cdc->Reset();
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  size_t chunk_start = 0;
  for (size_t off = 0; off < data.size(); off += piece) {
    const size_t end = std::min(off + piece, data.size());
    size_t pos = off;
    while (pos < end) {
      const size_t k = cdc->Scan(bytes + pos, end - pos);
      if (k == FastCdc::kNeedMore) break;
      pos += k;
      on_chunk(chunk_start, pos - chunk_start);
      chunk_start = pos;
    }
  }
  if (chunk_start < data.size()) on_chunk(chunk_start, data.size() - chunk_start);
}

void Run(const ChunkerParams& params, std::string_view seed, std::string_view data,
         std::string_view old_data, size_t piece) {
  FastCdc cdc(params, seed);
  double best_seconds = 1e30;
  ChunkStats stats;
  for (int run = 0; run < 5; ++run) {
    ChunkStats s;
    const auto t0 = std::chrono::steady_clock::now();
    ChunkAll(&cdc, data, piece, [&s](size_t, size_t len) {
      ++s.count;
      s.smallest = std::min(s.smallest, len);
      s.largest = std::max(s.largest, len);
    });
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    best_seconds = std::min(best_seconds, dt.count());
    stats = s;
  }
  std::printf(
      "min %7u avg %7u max %8u: %8.1f MB/s  %8zu chunks  mean %9.0f  smallest %8zu  "
      "largest %8zu",
      params.min_size, params.avg_size, params.max_size, data.size() / best_seconds / 1e6,
      stats.count, stats.count ? static_cast<double>(data.size()) / stats.count : 0.0,
      stats.count ? stats.smallest : 0, stats.largest);
  if (!old_data.empty()) {
    // A 64-bit std::hash stands in for the chunk id: collisions are negligible at bench sizes.
    std::unordered_set<size_t> known;
    std::hash<std::string_view> hasher;
    ChunkAll(&cdc, old_data, piece,
             [&](size_t off, size_t len) { known.insert(hasher(old_data.substr(off, len))); });
    size_t dup_bytes = 0;
    ChunkAll(&cdc, data, piece, [&](size_t off, size_t len) {
      if (known.count(hasher(data.substr(off, len)))) dup_bytes += len;
    });
    std::printf("  dedup %5.1f%% (new %.1f MB)", 100.0 * dup_bytes / data.size(),
                (data.size() - dup_bytes) / 1e6);
  }
  std::printf("\n");
}

int Usage() {
  std::fprintf(stderr,
               "usage: chunker_bench FILE [--min LIST] [--avg LIST] [--max LIST] "
               "[--against OLD_FILE] [--piece BYTES] [--seed STRING]\n");
  return 2;
}

int Main(int argc, char** argv) {
  const char* path = nullptr;
  const char* against = nullptr;
  std::vector<uint64_t> mins, avgs, maxs;
  size_t piece = 0;
  std::string seed(32, '\x42');
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--min" && has_value) {
      if (!ParseSizeList(argv[++i], &mins)) return Usage();
    } else if (arg == "--avg" && has_value) {
      if (!ParseSizeList(argv[++i], &avgs)) return Usage();
    } else if (arg == "--max" && has_value) {
      if (!ParseSizeList(argv[++i], &maxs)) return Usage();
    } else if (arg == "--against" && has_value) {
      against = argv[++i];
    } else if (arg == "--piece" && has_value) {
      piece = ParseSize(argv[++i]);
      if (piece == 0) return Usage();
    } else if (arg == "--seed" && has_value) {
      seed = argv[++i];
    } else if (!arg.starts_with("--") && path == nullptr) {
      path = argv[i];
    } else {
      return Usage();
    }
  }
  if (path == nullptr) return Usage();
  if ((!mins.empty() && mins.size() != avgs.size()) ||
      (!maxs.empty() && maxs.size() != avgs.size())) {
    std::fprintf(stderr, "chunker_bench: --min and --max need as many entries as --avg\n");
    return 2;
  }

  std::string data, old_data;
  if (!ReadFile(path, &data)) return 1;
  if (against != nullptr && !ReadFile(against, &old_data)) return 1;
  if (piece == 0) piece = std::max<size_t>(data.size(), 1);
  std::printf("%s: %.1f MB, Scan() in pieces of %zu bytes\n", path, data.size() / 1e6, piece);

  std::vector<ChunkerParams> sets = {ChunkerParams::Default()};
  for (size_t i = 0; i < avgs.size(); ++i) {
    ChunkerParams p;
    p.avg_size = static_cast<uint32_t>(avgs[i]);
    p.min_size = static_cast<uint32_t>(mins.empty() ? avgs[i] / 4 : mins[i]);
    p.max_size =
        static_cast<uint32_t>(maxs.empty() ? std::min<uint64_t>(avgs[i] * 4, 16 << 20) : maxs[i]);
    const Status st = p.Validate();
    if (!st.ok()) {
      std::fprintf(stderr, "chunker_bench: %s\n", st.ToString().c_str());
      return 2;
    }
    sets.push_back(p);
  }
  for (const ChunkerParams& p : sets) Run(p, seed, data, old_data, piece);
  return 0;
}

}  // namespace
}  // namespace pgdedup::chunker

int main(int argc, char** argv) { return pgdedup::chunker::Main(argc, argv); }

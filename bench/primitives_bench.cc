// Single-core throughput of each stage of the backup and restore pipelines, on one input file
// (normally a generated dump): the figures that say which stage bounds the whole.
//
//   primitives_bench FILE
//
// Prints MB/s (best of 3) for: the FastCDC chunker, the keyed chunk-id candidates (HMAC-SHA-256
// via libcrypto, keyed BLAKE2b via libsodium), plain SHA-256, zstd compression at levels 1 and
// 3 and decompression on the chunks, and XChaCha20-Poly1305 sealing.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "chunker/fastcdc.h"

namespace {

double BestMBps(size_t bytes, const std::function<void()>& fn) {
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  return static_cast<double>(bytes) / best / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: primitives_bench FILE\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.empty() || sodium_init() < 0) {
    std::fprintf(stderr, "empty input or libsodium failed\n");
    return 1;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  std::string seed(32, 's');
  auto params = pgdedup::chunker::ChunkerParams::Default();

  std::vector<std::pair<size_t, size_t>> chunks;  // offset, length
  double chunk_mbps = BestMBps(data.size(), [&] {
    chunks.clear();
    pgdedup::chunker::FastCdc cdc(params, seed);
    size_t start = 0, pos = 0;
    while (pos < data.size()) {
      size_t k = cdc.Scan(p + pos, data.size() - pos);
      if (k == pgdedup::chunker::FastCdc::kNeedMore) break;
      pos += k;
      chunks.push_back({start, pos - start});
      start = pos;
    }
    if (start < data.size()) chunks.push_back({start, data.size() - start});
  });
  std::printf("input: %zu bytes, %zu chunks (mean %zu)\n", data.size(), chunks.size(),
              data.size() / chunks.size());
  std::printf("%-34s %8.0f MB/s\n", "FastCDC chunker", chunk_mbps);

  unsigned char key[32] = {1};
  unsigned char out[64];
  std::printf("%-34s %8.0f MB/s\n", "HMAC-SHA-256 (libcrypto) per chunk",
              BestMBps(data.size(), [&] {
                unsigned int len;
                for (auto [o, n] : chunks) HMAC(EVP_sha256(), key, 32, p + o, n, out, &len);
              }));
  std::printf("%-34s %8.0f MB/s\n", "keyed BLAKE2b-256 (libsodium)", BestMBps(data.size(), [&] {
                for (auto [o, n] : chunks) crypto_generichash(out, 32, p + o, n, key, 32);
              }));
  std::printf("%-34s %8.0f MB/s\n", "SHA-256 (libcrypto), whole input", BestMBps(data.size(), [&] {
                unsigned int len;
                EVP_Digest(p, data.size(), out, &len, EVP_sha256(), nullptr);
              }));

  std::vector<std::string> compressed(chunks.size());
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  size_t csize = 0;
  for (int level : {1, 3}) {
    double mbps = BestMBps(data.size(), [&] {
      csize = 0;
      for (size_t i = 0; i < chunks.size(); ++i) {
        auto [o, n] = chunks[i];
        compressed[i].resize(ZSTD_compressBound(n));
        size_t c =
            ZSTD_compressCCtx(cctx, compressed[i].data(), compressed[i].size(), p + o, n, level);
        compressed[i].resize(c);
        csize += c;
      }
    });
    std::printf("zstd level %d compress %15s %8.0f MB/s (ratio %.2f)\n", level, "", mbps,
                static_cast<double>(data.size()) / csize);
  }
  ZSTD_freeCCtx(cctx);
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::string plain(params.max_size, '\0');
  std::printf("%-34s %8.0f MB/s (of output)\n", "zstd decompress", BestMBps(data.size(), [&] {
                for (auto& c : compressed) {
                  ZSTD_decompressDCtx(dctx, plain.data(), plain.size(), c.data(), c.size());
                }
              }));
  ZSTD_freeDCtx(dctx);
  std::string sealed(params.max_size + 64, '\0');
  unsigned char nonce[24] = {0};
  std::printf("%-34s %8.0f MB/s\n", "XChaCha20-Poly1305 seal", BestMBps(data.size(), [&] {
                unsigned long long clen;
                for (auto [o, n] : chunks) {
                  crypto_aead_xchacha20poly1305_ietf_encrypt(
                      reinterpret_cast<unsigned char*>(sealed.data()), &clen, p + o, n, nullptr, 0,
                      nullptr, nonce, key);
                }
              }));
  return 0;
}

// Cryptographic primitives of the repository, in one place:
//  - MasterKeys: the repository's random secrets (encryption key, id key, chunker seed), held in
//    sodium_malloc'ed memory that is locked, guarded and wiped on release.
//  - Seal/Open: XChaCha20-Poly1305 with a random 192-bit nonce; the associated data binds a
//    ciphertext to what it is (type and id), so a blob cannot be swapped for another.
//  - BlobIdOf: the keyed hash that names a blob (HMAC-SHA-256 under the id key; chosen by
//    measurement, see docs/BENCHMARKS.md: with SHA extensions it is ~2x libsodium's BLAKE2b).
//  - Sha256 / Sha256Hasher: names objects by their stored bytes and hashes whole streams.
//
// Thread safety: MasterKeys is immutable after creation and may be shared; the free functions
// are thread-safe; a Sha256Hasher is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "repo/id.h"

namespace pgdedup::repo {

// Initialises libsodium once per process. Every function below calls it; it is public so a
// program can fail early with a clear message.
Status InitCrypto();

// A fixed-size secret buffer in sodium_malloc'ed memory (guard pages, mlock, wiped on free).
class SecretBytes {
 public:
  // REQUIRES: InitCrypto().ok(). Aborts the process if secure memory cannot be had.
  explicit SecretBytes(size_t size);
  ~SecretBytes();
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_;
  size_t size_;
};

class MasterKeys {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kSerializedSize = 3 * kKeySize;

  // Fresh random keys for a new repository.
  static Result<std::unique_ptr<MasterKeys>> Generate();
  // Keys from their serialized form (encryption key | id key | chunker seed).
  static Result<std::unique_ptr<MasterKeys>> FromSerialized(const SecretBytes& raw);
  // REQUIRES: out->size() == kSerializedSize.
  void Serialize(SecretBytes* out) const;

  const uint8_t* encryption_key() const { return keys_.data(); }
  const uint8_t* id_key() const { return keys_.data() + kKeySize; }
  std::string_view chunker_seed() const {
    return {reinterpret_cast<const char*>(keys_.data() + 2 * kKeySize), kKeySize};
  }

 private:
  MasterKeys() : keys_(kSerializedSize) {}
  SecretBytes keys_;
};

// Sizes added by Seal: nonce in front, authentication tag behind.
constexpr size_t kNonceSize = 24;
constexpr size_t kTagSize = 16;
constexpr size_t kSealOverhead = kNonceSize + kTagSize;

// Encrypts and authenticates `plaintext` under `key` (32 bytes) with a random nonce, binding
// `associated_data`. Appends nonce | ciphertext | tag to *out.
void Seal(const uint8_t* key, std::string_view associated_data, std::string_view plaintext,
          std::string* out);
// The inverse of Seal. Returns Corruption when the ciphertext, tag or associated data do not
// authenticate (tampered, truncated, or sealed under another key or for another purpose).
Result<std::string> Open(const uint8_t* key, std::string_view associated_data,
                         std::string_view sealed);
// Open without a copy: decrypts *sealed where it lies and returns the plaintext, a view into
// *sealed (valid while *sealed is neither changed nor destroyed). On failure *sealed is left
// as it was (the tag is checked before anything is decrypted).
Result<std::string_view> OpenInPlace(const uint8_t* key, std::string_view associated_data,
                                     std::string* sealed);

// The id of a blob: HMAC-SHA-256 of its plaintext under the id key.
Id BlobIdOf(const MasterKeys& keys, std::string_view plaintext);

// SHA-256 of `data`.
Id Sha256(std::string_view data);

// Incremental SHA-256 over a stream.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view data);
  // The digest of everything passed to Update. REQUIRES: called once.
  Id Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Random bytes from the operating system's CSPRNG.
std::string RandomBytes(size_t n);

// The largest Argon2id parameters a key file may ask for: 4 times the passes and memory of
// libsodium's "sensitive" preset. Beyond them a damaged key file would tie up a repository's
// every open in a key derivation that does not end, or fail for want of memory, before the
// unwrap could say it is damaged.
inline constexpr uint64_t kMaxArgonOpslimit = 16;
inline constexpr uint64_t kMaxArgonMemlimit = uint64_t{4} << 30;

// Derives a 32-byte key from a password with Argon2id (crypto_pwhash). Corruption for
// parameters outside libsodium's minimums and the maximums above; IOError when they need more
// memory than the machine can give.
Status DeriveKey(std::string_view password, std::string_view salt, uint64_t opslimit,
                 uint64_t memlimit, SecretBytes* key);

}  // namespace pgdedup::repo

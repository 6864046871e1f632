#include "repo/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <cstdlib>
#include <mutex>

namespace pgdedup::repo {

Status InitCrypto() {
  static int rc = [] { return sodium_init(); }();
  if (rc < 0) return Status::IOError("libsodium failed to initialise");
  return Status::OK();
}

SecretBytes::SecretBytes(size_t size) : size_(size) {
  InitCrypto().PermitUncheckedError();  // sodium_malloc checks for itself; abort below if unusable
  data_ = static_cast<uint8_t*>(sodium_malloc(size == 0 ? 1 : size));
  if (data_ == nullptr) std::abort();  // no secure memory: refusing to hold keys elsewhere
}

SecretBytes::~SecretBytes() { sodium_free(data_); }

Result<std::unique_ptr<MasterKeys>> MasterKeys::Generate() {
  PGDEDUP_RETURN_IF_ERROR(InitCrypto());
  std::unique_ptr<MasterKeys> keys(new MasterKeys());
  randombytes_buf(keys->keys_.data(), kSerializedSize);
  return keys;
}

Result<std::unique_ptr<MasterKeys>> MasterKeys::FromSerialized(const SecretBytes& raw) {
  PGDEDUP_RETURN_IF_ERROR(InitCrypto());
  if (raw.size() != kSerializedSize) return Status::Corruption("master keys: wrong size");
  std::unique_ptr<MasterKeys> keys(new MasterKeys());
  std::memcpy(keys->keys_.data(), raw.data(), kSerializedSize);
  return keys;
}

void MasterKeys::Serialize(SecretBytes* out) const {
  std::memcpy(out->data(), keys_.data(), kSerializedSize);
}

void Seal(const uint8_t* key, std::string_view associated_data, std::string_view plaintext,
          std::string* out) {
  InitCrypto().PermitUncheckedError();
  size_t start = out->size();
  out->resize(start + kNonceSize + plaintext.size() + kTagSize);
  auto* nonce = reinterpret_cast<uint8_t*>(out->data() + start);
  randombytes_buf(nonce, kNonceSize);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceSize, &clen, reinterpret_cast<const uint8_t*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const uint8_t*>(associated_data.data()),
      associated_data.size(), nullptr, nonce, key);
}

Result<std::string> Open(const uint8_t* key, std::string_view associated_data,
                         std::string_view sealed) {
  PGDEDUP_RETURN_IF_ERROR(InitCrypto());
  if (sealed.size() < kSealOverhead) return Status::Corruption("ciphertext too short");
  std::string plain(sealed.size() - kSealOverhead, '\0');
  const auto* nonce = reinterpret_cast<const uint8_t*>(sealed.data());
  unsigned long long plen = 0;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<uint8_t*>(plain.data()), &plen, nullptr, nonce + kNonceSize,
      sealed.size() - kNonceSize, reinterpret_cast<const uint8_t*>(associated_data.data()),
      associated_data.size(), nonce, key);
  if (rc != 0) return Status::Corruption("authentication failed (tampered or wrong key)");
  plain.resize(plen);
  return plain;
}

Result<std::string_view> OpenInPlace(const uint8_t* key, std::string_view associated_data,
                                     std::string* sealed) {
  PGDEDUP_RETURN_IF_ERROR(InitCrypto());
  if (sealed->size() < kSealOverhead) return Status::Corruption("ciphertext too short");
  auto* nonce = reinterpret_cast<uint8_t*>(sealed->data());
  uint8_t* text = nonce + kNonceSize;
  unsigned long long plen = 0;
  // libsodium decrypts in place when the message and the ciphertext are one address.
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      text, &plen, nullptr, text, sealed->size() - kNonceSize,
      reinterpret_cast<const uint8_t*>(associated_data.data()), associated_data.size(), nonce, key);
  if (rc != 0) return Status::Corruption("authentication failed (tampered or wrong key)");
  return std::string_view(sealed->data() + kNonceSize, plen);
}

Id BlobIdOf(const MasterKeys& keys, std::string_view plaintext) {
  Id id;
  unsigned int len = 0;
  HMAC(EVP_sha256(), keys.id_key(), MasterKeys::kKeySize,
       reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(), id.bytes.data(),
       &len);
  return id;
}

Id Sha256(std::string_view data) {
  Id id;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), id.bytes.data());
  return id;
}

struct Sha256Hasher::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256Hasher::Sha256Hasher() : ctx_(new Ctx) {
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    std::abort();  // only on allocation failure inside libcrypto
  }
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::string_view data) {
  EVP_DigestUpdate(ctx_->md, data.data(), data.size());
}

Id Sha256Hasher::Finish() {
  Id id;
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, id.bytes.data(), &len);
  return id;
}

std::string RandomBytes(size_t n) {
  InitCrypto().PermitUncheckedError();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

Status DeriveKey(std::string_view password, std::string_view salt, uint64_t opslimit,
                 uint64_t memlimit, SecretBytes* key) {
  PGDEDUP_RETURN_IF_ERROR(InitCrypto());
  if (salt.size() != crypto_pwhash_SALTBYTES) return Status::Corruption("key file: bad salt size");
  if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > kMaxArgonOpslimit ||
      memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > kMaxArgonMemlimit) {
    return Status::Corruption("key file: implausible Argon2id parameters");
  }
  if (crypto_pwhash(key->data(), key->size(), password.data(), password.size(),
                    reinterpret_cast<const uint8_t*>(salt.data()), opslimit, memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::IOError("Argon2id: out of memory deriving the key");
  }
  return Status::OK();
}

}  // namespace pgdedup::repo

#include "repo/key_file.h"

#include <sodium.h>
#include <unistd.h>

#include <ctime>

#include "common/coding.h"
#include "common/system.h"

namespace pgdedup::repo {

namespace {

constexpr uint8_t kKeyFileVersion = 1;
constexpr uint8_t kKdfArgon2id13 = 1;

struct Parsed {
  KeyFileInfo info;
  std::string_view salt;
  std::string_view associated;  // every byte before the sealed keys
  std::string_view sealed;
};

Result<Parsed> Parse(std::string_view bytes) {
  Reader in(bytes);
  std::string_view magic, salt, host, user;
  uint8_t version, kdf;
  Parsed p;
  if (!in.GetBytes(4, &magic) || magic != "PGDK") {
    return Status::Corruption("not a pgdedup key file (bad magic)");
  }
  if (!in.GetFixed8(&version) || version != kKeyFileVersion) {
    return Status::Corruption("unsupported key file version");
  }
  if (!in.GetFixed8(&kdf) || kdf != kKdfArgon2id13) {
    return Status::Corruption("key file: unknown key derivation function");
  }
  if (!in.GetFixed64(&p.info.opslimit) || !in.GetFixed64(&p.info.memlimit) ||
      !in.GetBytes(crypto_pwhash_SALTBYTES, &salt) || !in.GetFixed64(&p.info.created) ||
      !in.GetLengthPrefixed(&host) || !in.GetLengthPrefixed(&user)) {
    return Status::Corruption("key file truncated");
  }
  p.info.hostname = std::string(host);
  p.info.username = std::string(user);
  p.salt = salt;
  p.associated = bytes.substr(0, bytes.size() - in.remaining());
  p.sealed = bytes.substr(p.associated.size());
  if (p.sealed.size() != MasterKeys::kSerializedSize + kSealOverhead) {
    return Status::Corruption("key file: wrapped keys have the wrong size");
  }
  return p;
}

}  // namespace

Result<std::string> MakeKeyFile(const MasterKeys& keys, std::string_view password,
                                KdfStrength strength) {
  PGDEDUP_RETURN_IF_ERROR(InitCrypto());
  uint64_t ops, mem;
  switch (strength) {
    case KdfStrength::kInteractive:
      ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
      mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
      break;
    case KdfStrength::kSensitive:
      ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
      mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
      break;
    case KdfStrength::kModerate:
    default:
      ops = crypto_pwhash_OPSLIMIT_MODERATE;
      mem = crypto_pwhash_MEMLIMIT_MODERATE;
      break;
  }
  std::string salt = RandomBytes(crypto_pwhash_SALTBYTES);
  std::string out = "PGDK";
  out.push_back(static_cast<char>(kKeyFileVersion));
  out.push_back(static_cast<char>(kKdfArgon2id13));
  PutFixed64(&out, ops);
  PutFixed64(&out, mem);
  out.append(salt);
  PutFixed64(&out, static_cast<uint64_t>(std::time(nullptr)));
  PutLengthPrefixed(&out, Hostname());
  PutLengthPrefixed(&out, Username());

  SecretBytes wrap_key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  PGDEDUP_RETURN_IF_ERROR(DeriveKey(password, salt, ops, mem, &wrap_key));
  SecretBytes raw(MasterKeys::kSerializedSize);
  keys.Serialize(&raw);
  std::string associated = out;
  Seal(wrap_key.data(), associated,
       std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()), &out);
  return out;
}

Result<KeyFileInfo> ParseKeyFile(std::string_view bytes) {
  auto p = Parse(bytes);
  if (!p.ok()) return p.status();
  return p->info;
}

Result<std::unique_ptr<MasterKeys>> UnwrapKeyFile(std::string_view bytes,
                                                  std::string_view password) {
  auto p = Parse(bytes);
  if (!p.ok()) return p.status();
  SecretBytes wrap_key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  PGDEDUP_RETURN_IF_ERROR(
      DeriveKey(password, p->salt, p->info.opslimit, p->info.memlimit, &wrap_key));
  SecretBytes raw(MasterKeys::kSerializedSize);
  const auto* nonce = reinterpret_cast<const uint8_t*>(p->sealed.data());
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          raw.data(), &len, nullptr, nonce + kNonceSize, p->sealed.size() - kNonceSize,
          reinterpret_cast<const uint8_t*>(p->associated.data()), p->associated.size(), nonce,
          wrap_key.data()) != 0) {
    return Status::Permission("wrong password for this key");
  }
  return MasterKeys::FromSerialized(raw);
}

}  // namespace pgdedup::repo

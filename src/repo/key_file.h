// Key files: each "keys/<id>" object wraps the repository's master keys under a key derived
// from one password with Argon2id, so several passwords (people, machines) can open the same
// repository and a password can change without re-encrypting anything.
//
//   key_file := "PGDK" | version:u8 | kdf:u8 (1 = Argon2id v1.3) | opslimit:u64 | memlimit:u64 |
//               salt[16] | created:u64 (unix seconds) | hostname:lp | username:lp |
//               Seal(AD = every byte before this field, master keys[96])
//
// The id is the SHA-256 of the file's bytes (hex). Byte layout: docs/FORMAT.md.
//
// Thread safety: pure functions.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "repo/crypto.h"

namespace pgdedup::repo {

// Argon2id cost (libsodium's presets). kInteractive: 64 MiB, 2 passes (~0.1 s here), about the
// memory restic's scrypt uses, and small enough that opening a repository does not dominate a
// backup's peak memory; kModerate: 256 MiB; kSensitive: 1 GiB. Default: kInteractive.
enum class KdfStrength { kInteractive, kModerate, kSensitive };

struct KeyFileInfo {
  std::string id;  // hex, the object name under keys/
  uint64_t created = 0;
  std::string hostname;
  std::string username;
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;
  // Why the file under keys/ cannot be a key (its name is not a hash, its content does not
  // match its name, or does not parse); empty for a sound one. Only ListKeys sets it.
  std::string problem;
};

// Builds a key file wrapping `keys` under `password`. Returns the bytes; the id is their hash.
Result<std::string> MakeKeyFile(const MasterKeys& keys, std::string_view password,
                                KdfStrength strength);

// Parses the public fields of a key file (no password needed).
Result<KeyFileInfo> ParseKeyFile(std::string_view bytes);

// Unwraps the master keys. Permission when the password does not open this key file;
// Corruption when the file is malformed.
Result<std::unique_ptr<MasterKeys>> UnwrapKeyFile(std::string_view bytes,
                                                  std::string_view password);

}  // namespace pgdedup::repo

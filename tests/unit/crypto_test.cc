#include "repo/crypto.h"

#include <catch2/catch.hpp>

#include "repo/key_file.h"
#include "repo/object.h"

using namespace pgdedup;
using namespace pgdedup::repo;

TEST_CASE("seal and open round-trip; any change is rejected", "[crypto]") {
  auto keys = MasterKeys::Generate();
  REQUIRE(keys.ok());
  std::string sealed;
  Seal((*keys)->encryption_key(), "ad", "secret data", &sealed);
  CHECK(sealed.size() == 11 + kSealOverhead);
  CHECK(sealed.find("secret") == std::string::npos);
  auto plain = Open((*keys)->encryption_key(), "ad", sealed);
  REQUIRE(plain.ok());
  CHECK(*plain == "secret data");

  CHECK(Open((*keys)->encryption_key(), "other ad", sealed).status().IsCorruption());
  for (size_t i = 0; i < sealed.size(); i += 7) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    CHECK(Open((*keys)->encryption_key(), "ad", bad).status().IsCorruption());
  }
  CHECK(Open((*keys)->encryption_key(), "ad", sealed.substr(0, 30)).status().IsCorruption());
  auto other = MasterKeys::Generate();
  CHECK(Open((*other)->encryption_key(), "ad", sealed).status().IsCorruption());
}

TEST_CASE("blob ids are keyed and deterministic", "[crypto]") {
  auto a = MasterKeys::Generate();
  auto b = MasterKeys::Generate();
  CHECK(BlobIdOf(**a, "chunk") == BlobIdOf(**a, "chunk"));
  CHECK(BlobIdOf(**a, "chunk") != BlobIdOf(**a, "chunk2"));
  CHECK(BlobIdOf(**a, "chunk") != BlobIdOf(**b, "chunk"));
  // SHA-256 of "abc" (FIPS 180-2 test vector).
  CHECK(Sha256("abc").Hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Hasher h;
  h.Update("a");
  h.Update("bc");
  CHECK(h.Finish() == Sha256("abc"));
}

TEST_CASE("key files wrap the master keys under a password", "[crypto][keys]") {
  auto keys = MasterKeys::Generate();
  REQUIRE(keys.ok());
  auto file = MakeKeyFile(**keys, "correct horse", KdfStrength::kInteractive);
  REQUIRE(file.ok());
  auto info = ParseKeyFile(*file);
  REQUIRE(info.ok());
  CHECK(info->opslimit > 0);

  auto unwrapped = UnwrapKeyFile(*file, "correct horse");
  REQUIRE(unwrapped.ok());
  CHECK(BlobIdOf(**unwrapped, "x") == BlobIdOf(**keys, "x"));
  CHECK((*unwrapped)->chunker_seed() == (*keys)->chunker_seed());

  auto wrong = UnwrapKeyFile(*file, "wrong");
  CHECK(wrong.status().code() == StatusCode::kPermission);

  std::string tampered = *file;
  tampered[30] ^= 1;  // inside the Argon2 parameters or salt: bound by the associated data
  CHECK_FALSE(UnwrapKeyFile(tampered, "correct horse").ok());
  CHECK(ParseKeyFile("PGDK").status().IsCorruption());

  // Parameters no preset makes are refused before any key derivation (which, with a damaged
  // opslimit, would not end): Corruption, not the wrong password an unwrap would report.
  std::string slow = *file;
  slow[13] ^= 0x01;  // the top byte of opslimit: 2^56 more passes
  CHECK(UnwrapKeyFile(slow, "correct horse").status().IsCorruption());
  std::string big = *file;
  big[21] ^= 0x01;  // the top byte of memlimit
  CHECK(UnwrapKeyFile(big, "correct horse").status().IsCorruption());
}

TEST_CASE("sealed objects are bound to their type", "[crypto][object]") {
  auto keys = MasterKeys::Generate();
  std::string obj = SealObject(**keys, ObjectType::kIndex, "payload");
  auto back = OpenObject(**keys, ObjectType::kIndex, obj);
  REQUIRE(back.ok());
  CHECK(*back == "payload");
  CHECK(OpenObject(**keys, ObjectType::kSnapshot, obj).status().IsCorruption());
  std::string relabelled = obj;
  relabelled[5] = static_cast<char>(ObjectType::kSnapshot);
  CHECK(OpenObject(**keys, ObjectType::kSnapshot, relabelled).status().IsCorruption());
}

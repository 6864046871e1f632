#include "support/test_repo.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

#include "repo/backup.h"
#include "repo/restore.h"

namespace pgdedup::testing {

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/pgdedup-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<repo::Repository> MakeRepo(const TempDir& dir, uint32_t pack_size,
                                           const chunker::ChunkerParams* chunker) {
  auto backend = repo::OpenBackend(dir.path() + "/repo", /*create=*/true);
  REQUIRE(backend.ok());
  repo::InitOptions options;
  options.kdf = repo::KdfStrength::kInteractive;
  options.config.pack_size = pack_size;
  if (chunker != nullptr) options.config.chunker = *chunker;
  Status s = repo::Repository::Init(backend->get(), kTestPassword, options);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return OpenRepo(dir);
}

namespace {

std::unique_ptr<repo::Repository> Open(const TempDir& dir, std::unique_ptr<repo::Backend> backend,
                                       const std::string& cache_root) {
  if (!backend) {
    auto b = repo::OpenBackend(dir.path() + "/repo");
    REQUIRE(b.ok());
    backend = std::move(*b);
  }
  auto repo = repo::Repository::Open(std::move(backend), kTestPassword, {cache_root});
  INFO(repo.status().ToString());
  REQUIRE(repo.ok());
  return std::move(*repo);
}

}  // namespace

std::unique_ptr<repo::Repository> OpenRepo(const TempDir& dir,
                                           std::unique_ptr<repo::Backend> backend) {
  return Open(dir, std::move(backend), dir.path() + "/cache");
}

std::unique_ptr<repo::Repository> OpenRepoWithCache(const TempDir& dir,
                                                    const std::string& cache_root) {
  return Open(dir, nullptr, cache_root);
}

repo::ReadFn StringReader(const std::string& data) {
  auto pos = std::make_shared<size_t>(0);
  return [&data, pos](char* buf, size_t n) -> Result<size_t> {
    size_t k = std::min(n, data.size() - *pos);
    std::memcpy(buf, data.data() + *pos, k);
    *pos += k;
    return k;
  };
}

Result<repo::Id> BackupBytes(repo::Repository* repo, const std::string& name,
                             const std::string& data, int64_t time) {
  repo::BackupOptions options;
  options.threads = 2;
  auto session = repo::BackupSession::Start(repo, options);
  if (!session.ok()) return session.status();
  auto stream = (*session)->AddStream(name, StringReader(data));
  if (!stream.ok()) return stream.status();
  repo::Manifest m;
  m.time = time;
  m.hostname = "test-host";
  m.source = "stdin";
  return (*session)->Commit(m);
}

Result<std::string> RestoreBytes(repo::Repository* repo, const repo::Id& snapshot,
                                 const std::string& name) {
  auto snap = repo->FindSnapshot(snapshot.Hex());
  if (!snap.ok()) return snap.status();
  PGDEDUP_RETURN_IF_ERROR(repo->SyncIndex());
  for (const auto& s : snap->manifest.streams) {
    if (s.name != name) continue;
    std::string out;
    repo::RestoreOptions options;
    options.threads = 2;
    Status st = repo::RestoreStream(
        repo, s,
        [&](std::string_view d) {
          out.append(d);
          return Status::OK();
        },
        options);
    if (!st.ok()) return st;
    return out;
  }
  return Status::NotFound("no stream " + name);
}

std::string TestData(size_t n, uint64_t seed, bool text) {
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(n + 64);
  if (!text) {
    while (out.size() < n) {
      uint64_t v = rng();
      out.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
  } else {
    static const char* kWords[] = {"alpha", "beta",  "gamma", "delta", "shipped",
                                   "paid",  "Paris", "Oslo",  "\\N",   "2026-11-23"};
    uint64_t row = seed * 1000000;
    while (out.size() < n) {
      out += std::to_string(row++);
      for (int i = 0; i < 5; ++i) {
        out += '\t';
        out += kWords[rng() % 10];
        out += std::to_string(rng() % 1000);
      }
      out += '\n';
    }
  }
  out.resize(n);
  return out;
}

}  // namespace pgdedup::testing

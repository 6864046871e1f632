#include "repo/check.h"

#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>

#include "common/log.h"
#include "common/thread_pool.h"
#include "repo/index_object.h"
#include "repo/pack.h"
#include "repo/restore.h"

namespace pgdedup::repo {

namespace {

struct PackRecord {
  Id index_id;            // an index object that lists it
  uint64_t blob_end = 0;  // end of the furthest blob
  bool present = false;
  uint64_t size = 0;
};

// A temporary directory removed on scope exit.
class TempDir {
 public:
  static Result<std::unique_ptr<TempDir>> Make() {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/pgdedup-check-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno("mkdtemp", errno);
    return std::unique_ptr<TempDir>(new TempDir(tmpl));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

class Checker {
 public:
  Checker(Repository* repo, const CheckOptions& options) : repo_(repo), options_(options) {}

  Result<CheckReport> Run() {
    auto tmp = TempDir::Make();
    if (!tmp.ok()) return tmp.status();
    auto index = IndexCache::Open((*tmp)->path() + "/index");
    if (!index.ok()) return index.status();
    index_ = std::move(*index);

    Phase("key files");
    PGDEDUP_RETURN_IF_ERROR(CheckKeyFiles());
    Phase("index objects");
    PGDEDUP_RETURN_IF_ERROR(WarnAboutStrayObjects("index/"));
    PGDEDUP_RETURN_IF_ERROR(WarnAboutStrayObjects("snapshots/"));
    PGDEDUP_RETURN_IF_ERROR(LoadIndexObjects());
    Phase("packs");
    PGDEDUP_RETURN_IF_ERROR(ListPacks());
    if (options_.read_data) {
      Phase("reading all data");
      PGDEDUP_RETURN_IF_ERROR(ReadAllPacks());
    }
    Phase("snapshots");
    PGDEDUP_RETURN_IF_ERROR(CheckSnapshots());
    return std::move(report_);
  }

 private:
  void Phase(const std::string& p) {
    if (options_.progress) options_.progress(p);
  }
  void Error(std::string e) {
    std::lock_guard<std::mutex> l(mu_);
    report_.errors.push_back(std::move(e));
  }
  void Warning(std::string w) {
    std::lock_guard<std::mutex> l(mu_);
    report_.warnings.push_back(std::move(w));
  }

  // Every key file matches its name and parses: one that does not opens with no password, and
  // may have been somebody's only key. Other names under keys/ are ignored by every command.
  Status CheckKeyFiles() {
    auto keys = ListKeys(repo_);
    if (!keys.ok()) return keys.status();
    for (const KeyFileInfo& k : *keys) {
      if (k.problem.empty()) continue;
      if (!Id::FromHex(k.id)) {
        Warning("unexpected object keys/" + k.id + " (not a pgdedup object name; ignored)");
      } else {
        Error("key file keys/" + k.id + ": " + k.problem +
              " (no password opens it; `pgdedup key remove` deletes it)");
      }
    }
    return Status::OK();
  }

  // Objects in a content-named directory whose names are not ids are ignored by every command;
  // say so, since they may be something an operator copied in by mistake.
  Status WarnAboutStrayObjects(const std::string& dir) {
    auto objects = repo_->backend()->List(dir);
    if (!objects.ok()) return objects.status();
    for (const auto& o : *objects) {
      if (!Id::FromHex(std::string_view(o.name).substr(dir.size()))) {
        Warning("unexpected object " + o.name + " (not a pgdedup object name; ignored)");
      }
    }
    return Status::OK();
  }

  Status LoadIndexObjects() {
    auto ids = repo_->ListObjects(ObjectType::kIndex);
    if (!ids.ok()) return ids.status();
    for (const Id& id : *ids) {
      report_.index_objects++;
      auto decoded = repo_->LoadIndexObject(id);
      if (!decoded.ok()) {
        Error("index object " + id.Hex() + ": " + decoded.status().message());
        continue;
      }
      for (const auto& pack : decoded->packs) {
        PackRecord& rec = packs_[pack.pack_id];
        rec.index_id = id;
        for (const auto& b : pack.blobs) {
          rec.blob_end = std::max(rec.blob_end, b.offset + b.stored_length);
        }
      }
      PGDEDUP_RETURN_IF_ERROR(index_->Merge(id, *decoded));
    }
    return Status::OK();
  }

  Status ListPacks() {
    auto objects = repo_->backend()->List("data/");
    if (!objects.ok()) return objects.status();
    for (const auto& o : *objects) {
      auto id = PackIdFromName(o.name);
      if (!id) {
        Warning("unexpected object " + o.name + " in data/");
        continue;
      }
      report_.packs++;
      auto it = packs_.find(*id);
      if (it == packs_.end()) {
        Warning("pack " + id->Hex() +
                " is not listed in any index object (left by an interrupted backup, or its "
                "index object is lost)");
        continue;
      }
      it->second.present = true;
      it->second.size = o.size;
    }
    for (const auto& [id, rec] : packs_) {
      if (!rec.present) {
        Error("pack " + id.Hex() + " is missing (listed in index object " + rec.index_id.Hex() +
              ")");
        missing_packs_.insert(id);
      } else if (rec.size < rec.blob_end + kPackTrailerSize + kSealOverhead) {
        Error("pack " + id.Hex() + " is truncated (" + std::to_string(rec.size) +
              " bytes; its blobs alone need " + std::to_string(rec.blob_end) + ")");
        damaged_packs_.insert(id);
      }
    }
    return Status::OK();
  }

  // Reads one pack and verifies everything in it. Returns errors as report entries.
  void ReadPack(const std::string& name, const Id& pack_id) {
    auto bytes = repo_->backend()->Get(name);
    if (!bytes.ok()) {
      Error("pack " + pack_id.Hex() + ": " + bytes.status().message());
      MarkDamaged(pack_id);
      return;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      report_.packs_read++;
      report_.bytes_read += bytes->size();
    }
    if (Sha256(*bytes) != pack_id) {
      // Which blobs suffered is found below; the pack as a whole is damaged only if its header
      // is unreadable too.
      Error("pack " + pack_id.Hex() + ": content does not match its name (damaged bytes)");
    }
    auto entries = ParsePackHeader(repo_->keys(), *bytes);
    if (!entries.ok()) {
      Error("pack " + pack_id.Hex() + ": " + entries.status().message());
      MarkDamaged(pack_id);
      return;
    }
    for (const auto& e : *entries) {
      std::string_view sealed = std::string_view(*bytes).substr(e.offset, e.stored_length);
      // A delta decodes only with its base (read through the check's own index): decoding it
      // to its id proves the base too.
      if (std::optional<Id> gone = UnindexedBase(e)) {
        // Prune removes bases no live blob needs and leaves dead deltas in the packs it keeps,
        // like any unused blob: such a delta cannot be decoded, and need not be. A live delta
        // whose chain is broken is reported with its snapshot below.
        LogDebug("pack " + pack_id.Hex() + ": blob " + e.id.Hex() + " is a delta whose base " +
                 gone->Hex() + " is gone (unused data, unless a snapshot below needs it)");
        continue;
      }
      auto blob = repo_->OpenSealedBlob(e, sealed, index_.get());
      if (!blob.ok()) {
        Error("pack " + pack_id.Hex() + ": " + blob.status().message());
        std::lock_guard<std::mutex> l(mu_);
        damaged_blobs_.insert(e.id);
      }
      auto loc = index_->Lookup(e.id);
      if (loc.ok() && loc->has_value() && (*loc)->pack_id == pack_id &&
          ((*loc)->entry.offset != e.offset || (*loc)->entry.stored_length != e.stored_length)) {
        Error("pack " + pack_id.Hex() + ": blob " + e.id.Hex() +
              " is at a different place than the index says");
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    report_.blobs += entries->size();
  }

  void MarkDamaged(const Id& pack_id) {
    std::lock_guard<std::mutex> l(mu_);
    damaged_packs_.insert(pack_id);
  }

  Status ReadAllPacks() {
    int threads = options_.threads > 0 ? options_.threads : ThreadPool::DefaultThreads();
    ThreadPool pool(threads);
    std::vector<std::future<void>> done;
    for (const auto& [id, rec] : packs_) {
      if (!rec.present) continue;
      Id pack_id = id;
      done.push_back(pool.Submit([this, pack_id] { ReadPack(PackObjectName(pack_id), pack_id); }));
    }
    for (auto& f : done) f.get();
    return Status::OK();
  }

  Status CheckSnapshots() {
    auto ids = repo_->ListObjects(ObjectType::kSnapshot);
    if (!ids.ok()) return ids.status();
    for (const Id& id : *ids) {
      report_.snapshots++;
      std::string where = "snapshot " + id.ShortHex();
      auto plain = repo_->LoadObject(ObjectType::kSnapshot, id);
      if (!plain.ok()) {
        Error(where + ": " + plain.status().message());
        continue;
      }
      auto m = DecodeManifest(*plain);
      if (!m.ok()) {
        Error(where + ": " + m.status().message());
        continue;
      }
      for (const auto& stream : m->streams) CheckStream(id, where, stream);
    }
    return Status::OK();
  }

  // The first base in a delta's chain that no index object lists, if any.
  std::optional<Id> UnindexedBase(BlobEntry e) {
    for (int depth = 0; e.is_delta() && depth <= kMaxDeltaDepth; ++depth) {
      auto base = index_->Lookup(e.base);
      if (!base.ok()) return std::nullopt;  // the read below reports it
      if (!base->has_value()) return e.base;
      e = (*base)->entry;
    }
    return std::nullopt;
  }

  // What is wrong with the chain of bases of a delta (empty when nothing is): every base must
  // be indexed, in a pack that is present and undamaged, and not damaged itself.
  std::string BaseProblem(const BlobLocation& loc) {
    BlobEntry e = loc.entry;
    for (int depth = 0; e.is_delta(); ++depth) {
      std::string name = "base " + e.base.Hex();
      auto base = index_->Lookup(e.base);
      if (!base.ok() || !base->has_value()) return name + " is not in any index object";
      const BlobLocation& b = **base;
      if (missing_packs_.count(b.pack_id)) return name + " is in missing pack " + b.pack_id.Hex();
      if (damaged_blobs_.count(e.base) || damaged_packs_.count(b.pack_id)) {
        return name + " is damaged (pack " + b.pack_id.Hex() + ")";
      }
      if (depth > 2 * kMaxDeltaDepth) return name + ": the chain is too long (a damaged index)";
      e = b.entry;
    }
    return std::string();
  }

  // Reads a blob through the check's own index.
  Result<std::string> ReadListBlob(const Id& id) {
    auto loc = index_->Lookup(id);
    if (!loc.ok()) return loc.status();
    if (!loc->has_value())
      return Status::Corruption("blob " + id.Hex() + " is not in any index object");
    return repo_->ReadBlob(**loc, index_.get());
  }

  void CheckStream(const Id& snapshot_id, const std::string& snapshot, const StreamInfo& stream) {
    std::string where = snapshot + " stream '" + stream.name + "'";
    uint64_t problems = 0;
    uint64_t chunks = 0;
    auto problem = [&](const std::string& what) {
      if (++problems <= kMaxErrorsPerStream) Error(where + ": " + what);
    };
    // A chunk's problem: an error line (while the stream has few), and listed in the report
    // (once per stream, however often the stream repeats the chunk).
    std::set<Id> listed;
    auto damaged = [&](const Id& chunk, const std::string& what) {
      if (!listed.insert(chunk).second) return;
      problem("chunk " + chunk.Hex() + " " + what);
      std::lock_guard<std::mutex> l(mu_);
      if (report_.damaged_chunks_total++ < kMaxDamagedChunks) {
        report_.damaged_chunks.push_back({snapshot_id, stream.name, chunk, what});
      }
    };
    std::string carry;
    for (const Id& list_id : stream.chunk_lists) {
      auto list = ReadListBlob(list_id);
      if (!list.ok()) {
        // The chunks it names are unknown: the list blob itself is what the stream lacks.
        damaged(list_id, "(a chunk list) cannot be read: " + list.status().message());
        carry.clear();
        continue;
      }
      carry.append(*list);
      size_t whole = carry.size() / Id::kSize * Id::kSize;
      for (size_t off = 0; off < whole; off += Id::kSize) {
        Id chunk = Id::FromBytes(std::string_view(carry).substr(off, Id::kSize));
        chunks++;
        auto loc = index_->Lookup(chunk);
        if (!loc.ok() || !loc->has_value()) {
          damaged(chunk, "is not in any index object");
        } else if (missing_packs_.count((*loc)->pack_id)) {
          damaged(chunk, "is in missing pack " + (*loc)->pack_id.Hex());
        } else if (std::string base = BaseProblem(**loc); !base.empty()) {
          // First: a delta that cannot be decoded for want of its base is marked damaged too
          // by --read-data, and the base is the cause to name.
          damaged(chunk, "is a delta whose " + base);
        } else if (damaged_blobs_.count(chunk) || damaged_packs_.count((*loc)->pack_id)) {
          damaged(chunk, "is damaged (pack " + (*loc)->pack_id.Hex() + ")");
        }
      }
      carry.erase(0, whole);
    }
    if (problems == 0 && chunks != stream.chunk_count) {
      problem("has " + std::to_string(chunks) + " chunks, its manifest says " +
              std::to_string(stream.chunk_count));
    }
    if (problems > kMaxErrorsPerStream) {
      Error(where + ": ... and " + std::to_string(problems - kMaxErrorsPerStream) +
            " more damaged or missing chunks (`pgdedup repo check --json` lists them)");
    }
  }

  Repository* repo_;
  CheckOptions options_;
  CheckReport report_;
  std::unique_ptr<IndexCache> index_;
  std::map<Id, PackRecord> packs_;
  std::mutex mu_;
  std::set<Id> missing_packs_;
  std::set<Id> damaged_packs_;  // truncated or unreadable: none of their blobs can be trusted
  std::unordered_set<Id, IdHash> damaged_blobs_;
};

}  // namespace

Result<CheckReport> CheckRepository(Repository* repo, const CheckOptions& options) {
  Checker checker(repo, options);
  return checker.Run();
}

}  // namespace pgdedup::repo

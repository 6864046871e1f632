#include "repo/prune.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <set>

#include "common/coding.h"
#include "common/log.h"
#include "common/thread_pool.h"
#include "repo/index_object.h"
#include "repo/live_blobs.h"
#include "repo/mark_set.h"
#include "repo/pack.h"

namespace pgdedup::repo {

namespace {

// Index objects written by prune hold at most this many blob entries (~2.5 MiB), so neither
// prune nor a reader holds more than that of one in memory.
constexpr size_t kMaxBlobsPerIndexObject = 40000;

// Deletes in flight at once.
constexpr size_t kDeleteThreads = 8;

enum class PackFate {
  kKeep,       // stays as it is
  kRepack,     // live blobs copied into new packs, then deleted
  kDelete,     // nothing live: deleted
  kUnindexed,  // in no index object (an interrupted backup or prune wrote it): deleted
  kMissing,    // listed by an index object but absent: dropped from the index
};

struct PackRecord {
  bool present = false;  // in data/
  bool indexed = false;  // listed by an index object (the first one read counts)
  uint64_t size = 0;     // object size, when present
  uint64_t blobs = 0;
  uint64_t blob_bytes = 0;
  // The live blobs whose home this pack is: what a repack copies.
  uint64_t live_blobs = 0;
  uint64_t live_bytes = 0;
  PackFate fate = PackFate::kKeep;
};

// The share of a pack's blob bytes that no snapshot needs (or that is a copy kept elsewhere).
double UnusedPercent(const PackRecord& p) {
  if (p.blob_bytes == 0) return 0;
  return 100.0 * static_cast<double>(p.blob_bytes - p.live_bytes) /
         static_cast<double>(p.blob_bytes);
}

// A live blob's home, as stored in its mark: the pack id and the sealed length of the copy there.
std::string EncodeHome(const Id& pack, uint32_t stored_length) {
  std::string v(pack.view());
  PutFixed32(&v, stored_length);
  return v;
}

struct Home {
  Id pack;
  uint32_t stored_length = 0;
};

Result<Home> DecodeHome(std::string_view v) {
  Reader in(v);
  std::string_view pack;
  Home h;
  if (!in.GetBytes(Id::kSize, &pack) || !in.GetFixed32(&h.stored_length) || !in.empty()) {
    return Status::Corruption("prune: bad mark value (a bug)");
  }
  h.pack = Id::FromBytes(pack);
  return h;
}

struct IndexRecord {
  Id id;
  std::vector<Id> packs;  // as listed
  bool retained = false;  // every pack it lists is kept and listed by no other retained object
};

class Pruner {
 public:
  Pruner(Repository* repo, const PruneOptions& options) : repo_(repo), options_(options) {}

  Result<PruneStats> Run() {
    work_dir_ = options_.work_dir.empty()
                    ? repo_->cache_root() + "/prune-" + repo_->config().repository_id.Hex()
                    : options_.work_dir;
    // Only this repository's prunes use the work directory, and under the exclusive lock no
    // other one runs: whatever is there is a killed run's mark set.
    if (!options_.dry_run) RemoveLeftovers(work_dir_);
    auto marks = MarkSet::Create(work_dir_);
    if (!marks.ok()) return marks.status();
    marks_ = std::move(*marks);

    PGDEDUP_RETURN_IF_ERROR(repo_->SyncIndex());
    Phase("marking the blobs of the remaining snapshots");
    PGDEDUP_RETURN_IF_ERROR(Mark());
    Phase("planning");
    PGDEDUP_RETURN_IF_ERROR(ListPacks());
    PGDEDUP_RETURN_IF_ERROR(ReadIndexObjects());
    PGDEDUP_RETURN_IF_ERROR(CheckEveryLiveBlobPlaced());
    DecideFates();
    PGDEDUP_RETURN_IF_ERROR(ChooseHomes());
    CountUnusedKept();
    DecideRetainedIndexObjects();
    if (options_.dry_run) {
      stats_.bytes_after = PredictBytesAfter();
      return stats_;
    }
    if (stats_.packs_repacked + stats_.packs_deleted + stats_.packs_unindexed +
            stats_.packs_missing + stats_.index_objects_deleted ==
        0) {
      stats_.bytes_after = stats_.bytes_before;
      return stats_;  // nothing to do
    }
    Phase("repacking");
    PGDEDUP_RETURN_IF_ERROR(Repack());
    Phase("writing the new index");
    PGDEDUP_RETURN_IF_ERROR(RelistKeptPacks());
    PGDEDUP_RETURN_IF_ERROR(FlushIndex());
    Phase("deleting superseded index objects and unused packs");
    PGDEDUP_RETURN_IF_ERROR(DeleteOld());
    // The job is done; a cache that fails to resync now rebuilds itself at its next use.
    if (Status s = repo_->SyncIndex(); !s.ok()) {
      LogWarning(s.WithContext("prune finished, but resyncing the local index cache").ToString());
    }
    return stats_;
  }

 private:
  static void RemoveLeftovers(const std::string& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::filesystem::remove_all(e.path(), ec);
    }
  }

  void Phase(const std::string& p) {
    if (options_.phase) options_.phase(p);
  }

  // ---- 1. mark -----------------------------------------------------------------------------

  Status Mark() {
    auto snapshots = repo_->ListSnapshots();  // an unreadable manifest is an error: stop
    if (!snapshots.ok()) {
      return snapshots.status().WithContext("prune needs every snapshot; nothing was deleted");
    }
    LiveBlobMarker marker(repo_, marks_.get());
    for (const SnapshotRef& s : *snapshots) {
      if (options_.assume_forgotten.count(s.id)) continue;
      if (Status st = marker.MarkSnapshot(s); !st.ok()) {
        return st.WithContext("prune stopped, nothing was deleted");
      }
      stats_.snapshots++;
    }
    stats_.live_blobs = marker.marked();
    return Status::OK();
  }

  // ---- 2. plan -----------------------------------------------------------------------------

  Status ListPacks() {
    auto objects = repo_->backend()->List("data/");
    if (!objects.ok()) return objects.status();
    for (const auto& o : *objects) {
      auto id = PackIdFromName(o.name);
      if (!id) {
        LogWarning("ignoring unexpected object " + o.name);
        continue;
      }
      PackRecord& rec = packs_[*id];
      rec.present = true;
      rec.size = o.size;
      stats_.packs_before++;
      stats_.bytes_before += o.size;
    }
    return Status::OK();
  }

  Result<IndexObject> LoadIndex(const Id& id) {
    auto plain = repo_->LoadObject(ObjectType::kIndex, id);
    if (!plain.ok()) {
      return plain.status().WithContext("prune needs every index object; nothing was deleted");
    }
    auto index = DecodeIndexObject(*plain);
    if (!index.ok()) {
      return index.status().WithContext("index/" + id.Hex() +
                                        " (prune needs every index object; nothing was deleted)");
    }
    return index;
  }

  // Reads every index object and gives each live blob a home: of its copies in present packs,
  // the one in the pack with the smallest id. That choice depends on what the packs hold, not on
  // the order index objects are read in (their ids change with every prune), so a prune that
  // follows a finished one plans nothing (see ChooseHomes for the other half).
  //
  // A copy counts only in the form the index cache holds for the blob (a whole copy over a
  // delta, IndexCache::Merge): marking followed that form's base, so a delta of another form may
  // lack its base, and keeping only that form makes the next prune mark alike. Blobs with more
  // than one such copy are recorded in dups_. A pack listed by several index objects (a prune was
  // interrupted after writing its new index) is counted once.
  Status ReadIndexObjects() {
    auto ids = repo_->ListObjects(ObjectType::kIndex);
    if (!ids.ok()) return ids.status();
    std::sort(ids->begin(), ids->end());
    stats_.index_objects_before = ids->size();
    for (const Id& index_id : *ids) {
      auto index = LoadIndex(index_id);
      if (!index.ok()) return index.status();
      IndexRecord rec{index_id, {}, false};
      for (const PackContents& pack : index->packs) {
        rec.packs.push_back(pack.pack_id);
        PackRecord& p = packs_[pack.pack_id];
        if (p.indexed) continue;
        p.indexed = true;
        if (!p.present) continue;
        for (const BlobEntry& b : pack.blobs) {
          p.blobs++;
          p.blob_bytes += b.stored_length;
          auto mark = marks_->Get(b.id);
          if (!mark.ok()) return mark.status();
          if (!mark->has_value()) continue;  // not live
          auto form = repo_->index()->Lookup(b.id);
          if (!form.ok()) return form.status();
          if (!form->has_value() || (*form)->entry.is_delta() != b.is_delta() ||
              (b.is_delta() && (*form)->entry.base != b.base)) {
            continue;  // another form of a live blob: unused
          }
          if (!(*mark)->empty()) {
            auto home = DecodeHome(**mark);
            if (!home.ok()) return home.status();
            PGDEDUP_RETURN_IF_ERROR(RecordDuplicate(b.id, **mark, pack.pack_id, b.stored_length));
            if (!(pack.pack_id < home->pack)) continue;
            PackRecord& was = packs_[home->pack];
            was.live_blobs--;
            was.live_bytes -= home->stored_length;
          }
          PGDEDUP_RETURN_IF_ERROR(marks_->Put(b.id, EncodeHome(pack.pack_id, b.stored_length)));
          p.live_blobs++;
          p.live_bytes += b.stored_length;
        }
      }
      index_objects_.push_back(std::move(rec));
    }
    return Status::OK();
  }

  // Adds a second (third, ...) copy of a live blob to dups_: blob id -> every copy's home
  // encoding, the first one (from its mark) included.
  Status RecordDuplicate(const Id& blob, const std::string& first_home, const Id& pack,
                         uint32_t stored_length) {
    if (!dups_) {
      auto dups = MarkSet::Create(work_dir_);
      if (!dups.ok()) return dups.status();
      dups_ = std::move(*dups);
    }
    auto known = dups_->Get(blob);
    if (!known.ok()) return known.status();
    std::string homes = known->has_value() ? **known : first_home;  // every copy met so far
    homes += EncodeHome(pack, stored_length);
    return dups_->Put(blob, homes);
  }

  // Once the fates are known, moves the home of each blob stored more than once to the kept
  // pack with the smallest id that holds it, if any (else the pack to repack with the smallest
  // id): a blob is copied only when no kept pack holds it, and only once. Kept packs only gain
  // homes here, so they stay below max_unused; and the next prune, seeing only the kept copies
  // (and single copies in new packs), picks these same homes by smallest id, and keeps everything.
  Status ChooseHomes() {
    if (!dups_) return Status::OK();
    constexpr size_t kHomeSize = Id::kSize + 4;
    return dups_->ForEach([&](const Id& blob, std::string_view homes) -> Status {
      if (homes.empty() || homes.size() % kHomeSize != 0) {
        return Status::Corruption("prune: bad duplicate record (a bug)");
      }
      auto mark = marks_->Get(blob);
      if (!mark.ok()) return mark.status();
      if (!mark->has_value()) return Status::Corruption("prune: a duplicate is unmarked (a bug)");
      auto current = DecodeHome(**mark);
      if (!current.ok()) return current.status();
      std::optional<Home> best;
      auto rank = [&](const Home& h) {
        const PackFate fate = packs_[h.pack].fate;
        return std::make_pair(fate == PackFate::kKeep     ? 0
                              : fate == PackFate::kRepack ? 1
                                                          : 2,
                              h.pack);
      };
      for (size_t at = 0; at < homes.size(); at += kHomeSize) {
        auto h = DecodeHome(homes.substr(at, kHomeSize));
        if (!h.ok()) return h.status();
        if (!best || rank(*h) < rank(*best)) best = *h;
      }
      if (best->pack == current->pack) return Status::OK();
      PackRecord& from = packs_[current->pack];
      from.live_blobs--;
      from.live_bytes -= current->stored_length;
      PackRecord& to = packs_[best->pack];
      to.live_blobs++;
      to.live_bytes += best->stored_length;
      return marks_->Put(blob, EncodeHome(best->pack, best->stored_length));
    });
  }

  Status CheckEveryLiveBlobPlaced() {
    std::vector<Id> homeless;
    uint64_t count = 0;
    PGDEDUP_RETURN_IF_ERROR(marks_->ForEach([&](const Id& id, std::string_view pack) {
      if (pack.empty() && count++ < 5) homeless.push_back(id);
      return Status::OK();
    }));
    if (count == 0) return Status::OK();
    std::string ids;
    for (const Id& id : homeless) ids += (ids.empty() ? "" : ", ") + id.Hex();
    return Status::Corruption(std::to_string(count) +
                              " blobs needed by snapshots are in no pack that exists (" + ids +
                              (count > homeless.size() ? ", ..." : "") +
                              "); the repository is damaged (run `pgdedup repo check`), and "
                              "nothing was deleted");
  }

  void DecideFates() {
    for (auto& [id, p] : packs_) {
      if (!p.present) {
        p.fate = PackFate::kMissing;
        stats_.packs_missing++;
        LogWarning("pack " + id.Hex() +
                   " is listed in the index but missing; no snapshot needs it alone, so it is "
                   "dropped from the index");
      } else if (!p.indexed) {
        p.fate = PackFate::kUnindexed;
        stats_.packs_unindexed++;
      } else if (p.live_blobs == 0) {
        p.fate = PackFate::kDelete;
        stats_.packs_deleted++;
      } else if (UnusedPercent(p) > options_.max_unused_percent) {
        p.fate = PackFate::kRepack;
        stats_.packs_repacked++;
      } else {
        p.fate = PackFate::kKeep;
        stats_.packs_kept++;
      }
    }
  }

  // Bytes that kept packs hold but no snapshot reads from them: blobs nobody needs, and copies
  // of blobs whose home is another pack.
  void CountUnusedKept() {
    for (const auto& [id, p] : packs_) {
      if (p.fate == PackFate::kKeep) stats_.bytes_unused_kept += p.blob_bytes - p.live_bytes;
    }
  }

  // An index object stays when every pack it lists is kept and no index object kept before
  // lists one of them; the others are superseded, and their kept packs re-listed.
  void DecideRetainedIndexObjects() {
    for (IndexRecord& rec : index_objects_) {
      bool all_kept = std::all_of(rec.packs.begin(), rec.packs.end(), [&](const Id& pack) {
        return packs_[pack].fate == PackFate::kKeep && covered_.count(pack) == 0;
      });
      std::set<Id> distinct(rec.packs.begin(), rec.packs.end());
      if (!all_kept || distinct.size() != rec.packs.size()) continue;
      rec.retained = true;
      covered_.insert(rec.packs.begin(), rec.packs.end());
    }
    for (const IndexRecord& rec : index_objects_) {
      if (!rec.retained) stats_.index_objects_deleted++;
    }
  }

  uint64_t PredictBytesAfter() const {
    uint64_t after = 0;
    uint64_t repacked_live = 0;
    for (const auto& [id, p] : packs_) {
      if (p.fate == PackFate::kKeep) after += p.size;
      if (p.fate == PackFate::kRepack) repacked_live += p.live_bytes;
    }
    // New packs: the live bytes plus, per pack, a header of ~50 bytes a blob and a trailer.
    return after + repacked_live + repacked_live / 1000;
  }

  // ---- 3. repack ---------------------------------------------------------------------------

  Status Repack() {
    uint64_t total = 0, done = 0;
    for (const auto& [id, p] : packs_) {
      if (p.fate == PackFate::kRepack) total += p.size;
    }
    PackBuilder builder(&repo_->keys(), repo_->config().pack_size + (1u << 20));
    for (const auto& [pack_id, p] : packs_) {
      if (p.fate != PackFate::kRepack) continue;
      // A pack whose live blobs all live in kept packs too has nothing to copy.
      if (p.live_blobs > 0) PGDEDUP_RETURN_IF_ERROR(RepackOne(pack_id, p, &builder));
      done += p.size;
      if (options_.progress) options_.progress(done, total);
    }
    if (builder.count() > 0) PGDEDUP_RETURN_IF_ERROR(WritePack(&builder));
    return Status::OK();
  }

  // Copies the blobs whose home is `pack_id` into `builder`. Reads the pack's header and then
  // only those blobs: a pack is repacked because most of it is unused, so reading it whole
  // would mostly read garbage. Blobs less than kMaxReadGap apart share one range read.
  Status RepackOne(const Id& pack_id, const PackRecord& p, PackBuilder* builder) {
    constexpr uint64_t kMaxReadGap = 64 << 10;
    constexpr uint64_t kMaxRead = 8 << 20;
    const std::string name = PackObjectName(pack_id);
    auto entries = ReadPackHeader(repo_->keys(), repo_->backend(), name, p.size);
    if (!entries.ok()) return entries.status().WithContext("repacking");
    std::vector<BlobEntry> live;
    std::set<Id> seen;
    for (const BlobEntry& e : *entries) {
      auto home = marks_->Get(e.id);
      if (!home.ok()) return home.status();
      if (!home->has_value()) continue;
      auto h = DecodeHome(**home);
      if (!h.ok()) return h.status();
      if (h->pack != pack_id) continue;
      if (seen.insert(e.id).second) live.push_back(e);  // (a header could list a blob twice)
    }
    // The index placed these blobs here; the header must hold every one, or they would be lost
    // with the pack.
    if (live.size() != p.live_blobs) {
      return Status::Corruption(name + ": its header lacks " +
                                std::to_string(p.live_blobs - live.size()) +
                                " live blobs the index lists in it; the repository is damaged "
                                "(run `pgdedup repo check`), and nothing was deleted");
    }
    std::sort(live.begin(), live.end(),
              [](const BlobEntry& a, const BlobEntry& b) { return a.offset < b.offset; });
    for (size_t i = 0; i < live.size();) {
      const uint64_t start = live[i].offset;
      uint64_t end = start + live[i].stored_length;
      size_t j = i + 1;
      while (j < live.size() && live[j].offset <= end + kMaxReadGap &&
             live[j].offset + live[j].stored_length - start <= kMaxRead) {
        end = std::max<uint64_t>(end, live[j].offset + live[j].stored_length);
        ++j;
      }
      auto range = repo_->backend()->Get(name, start, end - start);
      if (!range.ok()) return range.status().WithContext("repacking");
      for (; i < j; ++i) {
        const BlobEntry& e = live[i];
        std::string_view sealed =
            std::string_view(*range).substr(e.offset - start, e.stored_length);
        // Copy only what verifies: a damaged live blob must stop prune, not travel on.
        auto plain = repo_->OpenSealedBlob(e, sealed);
        if (!plain.ok()) {
          return plain.status().WithContext("repacking " + name +
                                            " (a live blob is damaged; nothing was deleted)");
        }
        builder->Add(e, sealed);  // the entry whole: only its offset changes
        stats_.blobs_repacked++;
        stats_.bytes_repacked += e.stored_length;
        if (builder->size() >= repo_->config().pack_size) {
          PGDEDUP_RETURN_IF_ERROR(WritePack(builder));
        }
      }
    }
    return Status::OK();
  }

  Status WritePack(PackBuilder* builder) {
    std::vector<BlobEntry> entries = builder->entries();
    std::string pack = builder->Finish();
    Id id = Sha256(pack);
    PGDEDUP_RETURN_IF_ERROR(repo_->backend()->Put(PackObjectName(id), pack));
    stats_.packs_written++;
    new_bytes_ += pack.size();
    return AddToIndex(PackContents{id, std::move(entries)});
  }

  // ---- 4. index ----------------------------------------------------------------------------

  Status AddToIndex(PackContents pack) {
    batch_blobs_ += pack.blobs.size();
    batch_.packs.push_back(std::move(pack));
    if (batch_blobs_ >= kMaxBlobsPerIndexObject) return FlushIndex();
    return Status::OK();
  }

  Status FlushIndex() {
    if (batch_.packs.empty()) return Status::OK();
    auto id = repo_->SaveObject(ObjectType::kIndex, EncodeIndexObject(batch_));
    if (!id.ok()) return id.status();
    stats_.index_objects_written++;
    batch_.packs.clear();
    batch_blobs_ = 0;
    return Status::OK();
  }

  // Re-lists, whole, every kept pack that no retained index object lists.
  Status RelistKeptPacks() {
    for (const IndexRecord& rec : index_objects_) {
      if (rec.retained) continue;
      auto index = LoadIndex(rec.id);
      if (!index.ok()) return index.status();
      for (PackContents& pack : index->packs) {
        if (packs_[pack.pack_id].fate != PackFate::kKeep) continue;
        if (!covered_.insert(pack.pack_id).second) continue;
        PGDEDUP_RETURN_IF_ERROR(AddToIndex(std::move(pack)));
      }
    }
    return Status::OK();
  }

  // ---- 5. delete ---------------------------------------------------------------------------

  Status DeleteOld() {
    // Every kept pack is listed by a retained or a new index object (covered_), and the new
    // packs by new ones: the superseded index objects can go, and then the packs they alone
    // listed.
    for (const auto& [id, p] : packs_) {
      if (p.fate == PackFate::kKeep && covered_.count(id) == 0) {
        return Status::Corruption("prune: kept pack " + id.Hex() +
                                  " is not covered by the new index (a bug); nothing deleted");
      }
    }
    std::vector<std::string> index_names;
    for (const IndexRecord& rec : index_objects_) {
      if (!rec.retained) index_names.push_back(ObjectDir(ObjectType::kIndex) + rec.id.Hex());
    }
    PGDEDUP_RETURN_IF_ERROR(DeleteAll(index_names));
    uint64_t after = new_bytes_;
    std::vector<std::string> pack_names;
    for (const auto& [id, p] : packs_) {
      switch (p.fate) {
        case PackFate::kKeep:
          after += p.size;
          break;
        case PackFate::kRepack:
        case PackFate::kDelete:
        case PackFate::kUnindexed:
          pack_names.push_back(PackObjectName(id));
          break;
        case PackFate::kMissing:
          break;
      }
    }
    PGDEDUP_RETURN_IF_ERROR(DeleteAll(pack_names));
    stats_.bytes_after = after;
    return Status::OK();
  }

  // Deletes the objects, several at once (each delete of a durable backend waits for the disk
  // or a round trip), and returns only once every one has finished: the first failure, or OK
  // when all are gone. Callers rely on that to order whole phases.
  Status DeleteAll(const std::vector<std::string>& names) {
    if (names.empty()) return Status::OK();
    // On S3, DeleteObjects: a request per 1000 objects instead of one each.
    if (repo_->backend()->HasBatchDelete()) return repo_->backend()->DeleteAll(names);
    ThreadPool pool(static_cast<int>(std::min<size_t>(kDeleteThreads, names.size())));
    std::vector<std::future<Status>> done;
    done.reserve(names.size());
    for (const std::string& name : names) {
      done.push_back(pool.Submit([this, &name] { return repo_->backend()->Delete(name); }));
    }
    Status first;
    for (auto& f : done) {
      Status s = f.get();
      if (first.ok() && !s.ok()) first = s;
    }
    return first;
  }

  Repository* repo_;
  PruneOptions options_;
  PruneStats stats_;
  std::string work_dir_;
  std::unique_ptr<MarkSet> marks_;
  std::unique_ptr<MarkSet> dups_;  // live blobs met more than once (created when one is)
  std::map<Id, PackRecord> packs_;
  std::vector<IndexRecord> index_objects_;
  std::set<Id> covered_;  // kept packs listed by a retained or newly written index object
  IndexObject batch_;     // the next index object to write
  size_t batch_blobs_ = 0;
  uint64_t new_bytes_ = 0;
};

}  // namespace

Result<PruneStats> Prune(Repository* repo, const RepoLock& lock, const PruneOptions& options) {
  if (!lock.exclusive() && !options.dry_run) {
    return Status::InvalidArgument("prune needs an exclusive lock");
  }
  if (options.max_unused_percent < 0 || options.max_unused_percent > 100) {
    return Status::InvalidArgument("--max-unused must be a percentage from 0 to 100");
  }
  Pruner pruner(repo, options);
  return pruner.Run();
}

Status ForgetSnapshots(Repository* repo, const RepoLock& lock, const std::vector<Id>& snapshots) {
  if (!lock.exclusive()) return Status::InvalidArgument("forget needs an exclusive lock");
  for (const Id& id : snapshots) {
    PGDEDUP_RETURN_IF_ERROR(repo->backend()->Delete(ObjectDir(ObjectType::kSnapshot) + id.Hex()));
  }
  return Status::OK();
}

}  // namespace pgdedup::repo

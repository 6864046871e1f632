#include "repo/prune.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>

#include "common/log.h"
#include "common/thread_pool.h"
#include "repo/index_object.h"
#include "repo/index_writer.h"
#include "repo/live_blobs.h"
#include "repo/mark_set.h"
#include "repo/pack.h"
#include "repo/prune_plan.h"

namespace pgdedup::repo {

namespace {

// Deletes in flight at once.
constexpr size_t kDeleteThreads = 8;

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
    plan_ = std::make_unique<PrunePlan>(repo_, marks_.get(), work_dir_, options_.max_unused_percent,
                                        &stats_);
    PGDEDUP_RETURN_IF_ERROR(plan_->Build());
    if (options_.dry_run) {
      stats_.bytes_after = plan_->PredictBytesAfter();
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
    PGDEDUP_RETURN_IF_ERROR(index_.Flush());
    stats_.index_objects_written = index_.objects_written();
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

  // ---- 3. repack ---------------------------------------------------------------------------

  Status Repack() {
    uint64_t total = 0, done = 0;
    for (const auto& [id, p] : plan_->packs()) {
      if (p.fate == PackFate::kRepack) total += p.size;
    }
    PackBuilder builder(&repo_->keys(), PackBufferSize(repo_->config()));
    for (const auto& [pack_id, p] : plan_->packs()) {
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
      auto home = plan_->HomeOf(e.id);
      if (!home.ok()) return home.status();
      if (*home != pack_id) continue;
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
    (void)builder->Recycle(std::move(pack));  // the next pack is built in its mapped pages
    return index_.Add(PackContents{id, std::move(entries)});
  }

  // ---- 4. index ----------------------------------------------------------------------------

  // Re-lists, whole, every kept pack that no retained index object lists.
  Status RelistKeptPacks() {
    for (const IndexRecord& rec : plan_->index_objects()) {
      if (rec.retained) continue;
      auto index = plan_->LoadIndex(rec.id);
      if (!index.ok()) return index.status();
      for (PackContents& pack : index->packs) {
        if (plan_->packs()[pack.pack_id].fate != PackFate::kKeep) continue;
        if (!plan_->covered().insert(pack.pack_id).second) continue;
        PGDEDUP_RETURN_IF_ERROR(index_.Add(std::move(pack)));
      }
    }
    return Status::OK();
  }

  // ---- 5. delete ---------------------------------------------------------------------------

  Status DeleteOld() {
    // Every kept pack is listed by a retained or a new index object (plan_->covered()), and the new
    // packs by new ones: the superseded index objects can go, and then the packs they alone
    // listed.
    for (const auto& [id, p] : plan_->packs()) {
      if (p.fate == PackFate::kKeep && plan_->covered().count(id) == 0) {
        return Status::Corruption("prune: kept pack " + id.Hex() +
                                  " is not covered by the new index (a bug); nothing deleted");
      }
    }
    std::vector<std::string> index_names;
    for (const IndexRecord& rec : plan_->index_objects()) {
      if (!rec.retained) index_names.push_back(ObjectDir(ObjectType::kIndex) + rec.id.Hex());
    }
    PGDEDUP_RETURN_IF_ERROR(DeleteAll(index_names));
    uint64_t after = new_bytes_;
    std::vector<std::string> pack_names;
    for (const auto& [id, p] : plan_->packs()) {
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
  std::unique_ptr<PrunePlan> plan_;
  IndexWriter index_{repo_};  // the new index objects
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

#include "repo/index_repair.h"

#include <deque>
#include <future>
#include <map>
#include <set>
#include <utility>

#include "common/log.h"
#include "common/thread_pool.h"
#include "repo/index_object.h"
#include "repo/index_writer.h"
#include "repo/object.h"
#include "repo/pack.h"

namespace pgdedup::repo {

namespace {

// Pack headers read at once (two small range reads each; on S3 each is a request).
constexpr int kHeaderThreads = 8;
// Packs whose headers are read ahead of the one being listed.
constexpr size_t kHeaderWindow = 64;

class IndexRepair {
 public:
  IndexRepair(Repository* repo, const IndexRepairOptions& options)
      : repo_(repo), options_(options) {}

  Result<IndexRepairStats> Run() {
    PGDEDUP_RETURN_IF_ERROR(ReadOldIndex());
    PGDEDUP_RETURN_IF_ERROR(ListPacks());
    PGDEDUP_RETURN_IF_ERROR(IndexPacks());
    PGDEDUP_RETURN_IF_ERROR(index_.Flush());
    stats_.index_objects_written = index_.objects_written();
    PGDEDUP_RETURN_IF_ERROR(DeleteOldIndex());
    // A cache that merged any of the deleted index objects rebuilds itself from scratch (as
    // every sync does when a merged object is gone); one that merged none takes the new ones.
    // The repository is repaired either way: a cache that cannot be brought up to date now
    // (another process holds it) is brought up to date by the next command.
    if (Status s = repo_->SyncIndex(); !s.ok()) {
      LogWarning(s.WithContext("updating the local index cache after the repair").ToString());
    }
    return std::move(stats_);
  }

 private:
  // Step 1: which old index object lists each pack (the first readable one that does). Only
  // an object that reads back wrong (Corruption) is damaged; any other failure (the backend
  // unreachable, a read error) stops the repair before it has changed anything.
  Status ReadOldIndex() {
    auto ids = repo_->ListObjects(ObjectType::kIndex);
    if (!ids.ok()) return ids.status();
    for (const Id& id : *ids) {
      old_index_names_.push_back(ObjectDir(ObjectType::kIndex) + id.Hex());
      auto index = repo_->LoadIndexObject(id);
      if (!index.ok()) {
        if (!index.status().IsCorruption()) {
          return index.status().WithContext("reading index object " + id.Hex());
        }
        damaged_index_names_.insert(old_index_names_.back());
        stats_.index_objects_damaged++;
        stats_.replaced.push_back("index object " + id.Hex() +
                                  " is damaged: " + index.status().message());
        continue;
      }
      stats_.index_objects_read++;
      for (const PackContents& pack : index->packs) listed_by_.emplace(pack.pack_id, id);
    }
    return Status::OK();
  }

  // The packs in the backend, by id. A pack an old index object lists but the listing lacks is
  // asked for by name (a listing may lag behind the store): one that is there after all is
  // indexed like the others; one that is gone keeps its old listing, so that `repo check`
  // goes on naming it and the snapshots that need it.
  Status ListPacks() {
    auto objects = repo_->backend()->List("data/");
    if (!objects.ok()) return objects.status();
    for (const ObjectInfo& o : *objects) {
      if (auto id = PackIdFromName(o.name)) packs_.emplace(*id, o.size);
    }
    for (const auto& [pack_id, index_id] : listed_by_) {
      if (packs_.count(pack_id) > 0) continue;
      auto size = repo_->backend()->Size(PackObjectName(pack_id));
      if (size.ok()) {
        packs_.emplace(pack_id, *size);
        continue;
      }
      if (!size.status().IsNotFound()) return size.status();
      missing_.push_back(pack_id);
    }
    stats_.packs = packs_.size();
    return Status::OK();
  }

  // Step 2. Headers are read kHeaderThreads at a time, in pack order.
  Status IndexPacks() {
    std::vector<std::pair<Id, uint64_t>> packs(packs_.begin(), packs_.end());
    uint64_t done = 0, total = 0;
    for (const auto& p : packs) total += p.second;
    ThreadPool pool(kHeaderThreads);
    std::deque<std::future<Result<std::vector<BlobEntry>>>> ahead;
    size_t next = 0;
    auto submit = [&] {
      const auto& [pack_id, size] = packs[next++];
      ahead.push_back(pool.Submit([this, name = PackObjectName(pack_id), size = size] {
        return ReadPackHeader(repo_->keys(), repo_->backend(), name, size);
      }));
    };
    for (size_t i = 0; i < packs.size(); ++i) {
      while (next < packs.size() && ahead.size() < kHeaderWindow) submit();
      Result<std::vector<BlobEntry>> entries = ahead.front().get();
      ahead.pop_front();
      const auto& [pack_id, size] = packs[i];
      PGDEDUP_RETURN_IF_ERROR(IndexPack(pack_id, std::move(entries)));
      done += size;
      if (options_.progress) options_.progress(done, total);
    }
    for (const Id& pack_id : missing_) {
      auto old = OldEntries(pack_id, listed_by_.at(pack_id));
      if (!old.ok()) return old.status();
      stats_.packs_missing++;
      stats_.problems.push_back("pack " + pack_id.Hex() + " is missing (index object " +
                                listed_by_.at(pack_id).Hex() +
                                " lists it): its blobs are lost; still listed, so that `repo "
                                "check` names the snapshots that need them");
      PGDEDUP_RETURN_IF_ERROR(Add(PackContents{pack_id, std::move(*old)}));
    }
    return Status::OK();
  }

  Status IndexPack(const Id& pack_id, Result<std::vector<BlobEntry>> entries) {
    const std::string name = PackObjectName(pack_id);
    auto listed = listed_by_.find(pack_id);
    if (entries.ok()) {
      stats_.packs_from_headers++;
      if (listed == listed_by_.end()) stats_.packs_newly_indexed++;
      return Add(PackContents{pack_id, std::move(*entries)});
    }
    if (!entries.status().IsCorruption()) {
      // Not damage: the backend failed, or the pack went away after the listing (a prune
      // cannot run meanwhile, so something else deleted it). Nothing is deleted yet.
      return entries.status().WithContext("reading the header of " + name);
    }
    if (listed != listed_by_.end()) {
      auto old = OldEntries(pack_id, listed->second);
      if (!old.ok()) return old.status();
      stats_.packs_from_old_index++;
      stats_.problems.push_back("pack " + pack_id.Hex() + ": its header cannot be read (" +
                                entries.status().message() + "); listed as index object " +
                                listed->second.Hex() +
                                " had it (run `pgdedup repo check --read-data`)");
      return Add(PackContents{pack_id, std::move(*old)});
    }
    stats_.packs_unreadable++;
    stats_.problems.push_back("pack " + pack_id.Hex() + ": its header cannot be read (" +
                              entries.status().message() +
                              ") and no readable index object lists it: its blobs stay "
                              "unindexed");
    return Status::OK();
  }

  // The entries an old index object gave a pack (read again: step 1 kept only pack ids).
  Result<std::vector<BlobEntry>> OldEntries(const Id& pack_id, const Id& index_id) {
    auto index = repo_->LoadIndexObject(index_id);
    if (!index.ok()) return index.status().WithContext("reading index object " + index_id.Hex());
    for (PackContents& pack : index->packs) {
      if (pack.pack_id == pack_id) return std::move(pack.blobs);
    }
    return Status::Corruption("index object " + index_id.Hex() + " no longer lists pack " +
                              pack_id.Hex());
  }

  Status Add(PackContents pack) {
    stats_.blobs += pack.blobs.size();
    return index_.Add(std::move(pack));
  }

  // Step 3. (New index objects never share a name with old ones: a sealed object's bytes, and
  // so its name, differ with every nonce.) A damaged index object may have been the only
  // listing of a pack whose header is unreadable too: while such a pack is left unindexed,
  // damaged index objects are kept, as the last record of it.
  Status DeleteOldIndex() {
    std::vector<std::string> names;
    for (const std::string& name : old_index_names_) {
      if (stats_.packs_unreadable > 0 && damaged_index_names_.count(name) > 0) {
        stats_.problems.push_back(name +
                                  " is damaged and kept: it may be the only listing of "
                                  "a pack whose header cannot be read");
        continue;
      }
      names.push_back(name);
    }
    PGDEDUP_RETURN_IF_ERROR(repo_->backend()->DeleteAll(names));
    stats_.index_objects_deleted = names.size();
    return Status::OK();
  }

  Repository* repo_;
  const IndexRepairOptions& options_;
  IndexRepairStats stats_;
  std::vector<std::string> old_index_names_;
  std::set<std::string> damaged_index_names_;
  std::map<Id, Id> listed_by_;    // pack id -> the first readable index object listing it
  std::map<Id, uint64_t> packs_;  // pack id -> size, for the packs the backend has
  std::vector<Id> missing_;       // packs old index objects list that the backend lacks
  IndexWriter index_{repo_};      // the new index objects
};

}  // namespace

Result<IndexRepairStats> RepairIndex(Repository* repo, const RepoLock& lock,
                                     const IndexRepairOptions& options) {
  if (!lock.exclusive()) {
    return Status::InvalidArgument("the index repair needs an exclusive lock");
  }
  return IndexRepair(repo, options).Run();
}

}  // namespace pgdedup::repo

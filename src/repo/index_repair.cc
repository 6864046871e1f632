#include "repo/index_repair.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "repo/index_object.h"
#include "repo/object.h"
#include "repo/pack.h"

namespace pgdedup::repo {

namespace {

class IndexRepair {
 public:
  IndexRepair(Repository* repo, const IndexRepairOptions& options)
      : repo_(repo), options_(options) {}

  Result<IndexRepairStats> Run() {
    PGDEDUP_RETURN_IF_ERROR(ReadOldIndex());
    PGDEDUP_RETURN_IF_ERROR(ListPacks());
    PGDEDUP_RETURN_IF_ERROR(IndexPacks());
    PGDEDUP_RETURN_IF_ERROR(Flush());
    PGDEDUP_RETURN_IF_ERROR(DeleteOldIndex());
    // A cache that merged any of the deleted index objects rebuilds itself from scratch (as
    // every sync does when a merged object is gone); one that merged none takes the new ones.
    PGDEDUP_RETURN_IF_ERROR(repo_->SyncIndex());
    return std::move(stats_);
  }

 private:
  // Step 1: which old index object lists each pack (the first readable one that does).
  Status ReadOldIndex() {
    auto ids = repo_->ListObjects(ObjectType::kIndex);
    if (!ids.ok()) return ids.status();
    for (const Id& id : *ids) {
      old_index_names_.push_back(ObjectDir(ObjectType::kIndex) + id.Hex());
      auto index = LoadIndex(id);
      if (!index.ok()) {
        stats_.index_objects_damaged++;
        stats_.replaced.push_back("index object " + id.Hex() +
                                  " is damaged and was replaced: " + index.status().message());
        continue;
      }
      stats_.index_objects_read++;
      for (const PackContents& pack : index->packs) listed_by_.emplace(pack.pack_id, id);
    }
    return Status::OK();
  }

  Result<IndexObject> LoadIndex(const Id& id) {
    auto plain = repo_->LoadObject(ObjectType::kIndex, id);
    if (!plain.ok()) return plain.status();
    return DecodeIndexObject(*plain);
  }

  // The packs in the backend, by id. Packs that old index objects list but the backend lacks
  // are reported: nothing can list their blobs again.
  Status ListPacks() {
    auto objects = repo_->backend()->List("data/");
    if (!objects.ok()) return objects.status();
    for (const ObjectInfo& o : *objects) {
      if (auto id = PackIdFromName(o.name)) packs_.emplace(*id, o.size);
    }
    stats_.packs = packs_.size();
    for (const auto& [pack_id, index_id] : listed_by_) {
      if (packs_.count(pack_id) > 0) continue;
      stats_.packs_missing++;
      stats_.problems.push_back("pack " + pack_id.Hex() + " is missing (index object " +
                                index_id.Hex() + " lists it): its blobs are lost");
    }
    return Status::OK();
  }

  // Step 2.
  Status IndexPacks() {
    uint64_t done = 0, total = 0;
    for (const auto& [pack_id, size] : packs_) total += size;
    for (const auto& [pack_id, size] : packs_) {
      const std::string name = PackObjectName(pack_id);
      auto entries = ReadPackHeader(repo_->keys(), repo_->backend(), name, size);
      auto listed = listed_by_.find(pack_id);
      if (entries.ok()) {
        stats_.packs_from_headers++;
        if (listed == listed_by_.end()) stats_.packs_newly_indexed++;
        PGDEDUP_RETURN_IF_ERROR(Add(PackContents{pack_id, std::move(*entries)}));
      } else if (listed != listed_by_.end()) {
        auto old = OldEntries(pack_id, listed->second);
        if (!old.ok()) return old.status();
        stats_.packs_from_old_index++;
        stats_.problems.push_back("pack " + pack_id.Hex() + ": its header cannot be read (" +
                                  entries.status().message() + "); listed as index object " +
                                  listed->second.Hex() +
                                  " had it (run `pgdedup repo check --read-data`)");
        PGDEDUP_RETURN_IF_ERROR(Add(PackContents{pack_id, std::move(*old)}));
      } else if (entries.status().IsNotFound()) {
        // Deleted since the listing (a prune cannot run meanwhile, so something else did it).
        return entries.status().WithContext("reading the header of " + name);
      } else {
        stats_.packs_unreadable++;
        stats_.problems.push_back("pack " + pack_id.Hex() + ": its header cannot be read (" +
                                  entries.status().message() +
                                  ") and no index object lists it: its blobs stay unindexed");
      }
      done += size;
      if (options_.progress) options_.progress(done, total);
    }
    return Status::OK();
  }

  // The entries an old index object gave a pack (read again: step 1 kept only pack ids).
  Result<std::vector<BlobEntry>> OldEntries(const Id& pack_id, const Id& index_id) {
    auto index = LoadIndex(index_id);
    if (!index.ok()) return index.status().WithContext("reading index object " + index_id.Hex());
    for (PackContents& pack : index->packs) {
      if (pack.pack_id == pack_id) return std::move(pack.blobs);
    }
    return Status::Corruption("index object " + index_id.Hex() + " no longer lists pack " +
                              pack_id.Hex());
  }

  Status Add(PackContents pack) {
    batch_blobs_ += pack.blobs.size();
    stats_.blobs += pack.blobs.size();
    batch_.packs.push_back(std::move(pack));
    if (batch_blobs_ >= kMaxBlobsPerIndexObject) return Flush();
    return Status::OK();
  }

  Status Flush() {
    if (batch_.packs.empty()) return Status::OK();
    auto id = repo_->SaveObject(ObjectType::kIndex, EncodeIndexObject(batch_));
    if (!id.ok()) return id.status().WithContext("writing an index object");
    stats_.index_objects_written++;
    written_.push_back(ObjectDir(ObjectType::kIndex) + id->Hex());
    batch_.packs.clear();
    batch_blobs_ = 0;
    return Status::OK();
  }

  // Step 3. An old index object with the same bytes as a new one has the same name: it stays.
  Status DeleteOldIndex() {
    std::vector<std::string> names;
    for (const std::string& name : old_index_names_) {
      if (std::find(written_.begin(), written_.end(), name) == written_.end()) {
        names.push_back(name);
      }
    }
    PGDEDUP_RETURN_IF_ERROR(repo_->backend()->DeleteAll(names));
    stats_.index_objects_deleted = names.size();
    return Status::OK();
  }

  Repository* repo_;
  const IndexRepairOptions& options_;
  IndexRepairStats stats_;
  std::vector<std::string> old_index_names_;
  std::map<Id, Id> listed_by_;    // pack id -> the first readable index object listing it
  std::map<Id, uint64_t> packs_;  // pack id -> size, as listed by the backend
  IndexObject batch_;
  size_t batch_blobs_ = 0;
  std::vector<std::string> written_;  // names of the new index objects
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

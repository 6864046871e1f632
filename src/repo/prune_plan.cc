#include "repo/prune_plan.h"

#include <algorithm>

#include "common/coding.h"
#include "common/log.h"
#include "repo/pack.h"

namespace pgdedup::repo {

namespace {

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

}  // namespace

Status PrunePlan::Build() {
  PGDEDUP_RETURN_IF_ERROR(ListPacks());
  PGDEDUP_RETURN_IF_ERROR(ReadIndexObjects());
  PGDEDUP_RETURN_IF_ERROR(CheckEveryLiveBlobPlaced());
  DecideFates();
  PGDEDUP_RETURN_IF_ERROR(ChooseHomes());
  CountUnusedKept();
  DecideRetainedIndexObjects();
  return Status::OK();
}

Result<std::optional<Id>> PrunePlan::HomeOf(const Id& id) {
  auto mark = marks_->Get(id);
  if (!mark.ok()) return mark.status();
  if (!mark->has_value() || (*mark)->empty()) return std::optional<Id>();
  auto home = DecodeHome(**mark);
  if (!home.ok()) return home.status();
  return std::optional<Id>(home->pack);
}

Status PrunePlan::ListPacks() {
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
    stats_->packs_before++;
    stats_->bytes_before += o.size;
  }
  return Status::OK();
}

Result<IndexObject> PrunePlan::LoadIndex(const Id& id) {
  auto index = repo_->LoadIndexObject(id);
  if (!index.ok()) {
    return index.status().WithContext("prune needs every index object; nothing was deleted");
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
Status PrunePlan::ReadIndexObjects() {
  auto ids = repo_->ListObjects(ObjectType::kIndex);
  if (!ids.ok()) return ids.status();
  std::sort(ids->begin(), ids->end());
  stats_->index_objects_before = ids->size();
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
        if (!form->has_value() || !SameForm((*form)->entry, b)) {
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
Status PrunePlan::RecordDuplicate(const Id& blob, const std::string& first_home, const Id& pack,
                                  uint32_t stored_length) {
  if (!dups_) {
    auto dups = MarkSet::Create(scratch_dir_);
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
Status PrunePlan::ChooseHomes() {
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

Status PrunePlan::CheckEveryLiveBlobPlaced() {
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

void PrunePlan::DecideFates() {
  for (auto& [id, p] : packs_) {
    if (!p.present) {
      p.fate = PackFate::kMissing;
      stats_->packs_missing++;
      LogWarning("pack " + id.Hex() +
                 " is listed in the index but missing; no snapshot needs it alone, so it is "
                 "dropped from the index");
    } else if (!p.indexed) {
      p.fate = PackFate::kUnindexed;
      stats_->packs_unindexed++;
    } else if (p.live_blobs == 0) {
      p.fate = PackFate::kDelete;
      stats_->packs_deleted++;
    } else if (UnusedPercent(p) > max_unused_percent_) {
      p.fate = PackFate::kRepack;
      stats_->packs_repacked++;
    } else {
      p.fate = PackFate::kKeep;
      stats_->packs_kept++;
    }
  }
}

// Bytes that kept packs hold but no snapshot reads from them: blobs nobody needs, and copies
// of blobs whose home is another pack.
void PrunePlan::CountUnusedKept() {
  for (const auto& [id, p] : packs_) {
    if (p.fate == PackFate::kKeep) stats_->bytes_unused_kept += p.blob_bytes - p.live_bytes;
  }
}

// An index object stays when every pack it lists is kept and no index object kept before
// lists one of them; the others are superseded, and their kept packs re-listed.
void PrunePlan::DecideRetainedIndexObjects() {
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
    if (!rec.retained) stats_->index_objects_deleted++;
  }
}

uint64_t PrunePlan::PredictBytesAfter() const {
  uint64_t after = 0;
  uint64_t repacked_live = 0;
  for (const auto& [id, p] : packs_) {
    if (p.fate == PackFate::kKeep) after += p.size;
    if (p.fate == PackFate::kRepack) repacked_live += p.live_bytes;
  }
  // New packs: the live bytes plus, per pack, a header of ~50 bytes a blob and a trailer.
  return after + repacked_live + repacked_live / 1000;
}

}  // namespace pgdedup::repo

#include "repo/blob_writer.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

namespace pgdedup::repo {

BlobWriter::BlobWriter(Repository* repo, int uploads)
    : repo_(repo),
      max_uploads_(std::max(uploads, 1)),
      builder_(&repo->keys(), PackBufferSize(repo->config())) {
  for (int i = 0; i < max_uploads_; ++i) uploaders_.emplace_back([this] { UploadLoop(); });
}

BlobWriter::~BlobWriter() {
  {
    std::lock_guard<std::mutex> l(upload_mu_);
    stopping_ = true;
  }
  upload_cv_.notify_all();
  for (std::thread& t : uploaders_) t.join();
}

void BlobWriter::UploadLoop() {
  // Like the workers: below the reading thread, the critical path when data is unchanged.
  // Best effort: an unprivileged thread may always lower its own priority.
  int rc = setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  (void)rc;
  std::unique_lock<std::mutex> l(upload_mu_);
  while (true) {
    upload_cv_.wait(l, [this] { return stopping_ || !upload_queue_.empty(); });
    if (stopping_) return;  // abandoned: packs not yet taken are dropped
    FullPack pack = std::move(upload_queue_.front());
    upload_queue_.pop_front();
    l.unlock();
    bool failed;
    {
      std::lock_guard<std::mutex> f(mu_);
      failed = !status_.ok();
    }
    if (!failed) {  // after a failure the run is abandoned: nothing more is stored
      Status s = UploadPack(pack.bytes, std::move(pack.entries));
      // Store or Flush reports it, for whichever stream comes next: say what failed.
      if (!s.ok()) (void)Fail(s.WithContext("storing a pack"));
    }
    // Its buffer goes back to the builder, or is freed (outside mu_, which every Store
    // takes), before another pack may be finished: at most 1 + max_uploads_ packs in memory.
    std::string unwanted;
    {
      std::lock_guard<std::mutex> f(mu_);
      unwanted = builder_.Recycle(std::move(pack.bytes));
    }
    unwanted = std::string();
    pack = FullPack();
    {
      std::lock_guard<std::mutex> f(mu_);
      --packs_out_;
    }
    pack_cv_.notify_all();
    l.lock();
  }
}

BlobWriter::FullPack BlobWriter::FinishPackLocked(std::unique_lock<std::mutex>& l) {
  pack_cv_.wait(l, [this] { return !status_.ok() || packs_out_ < max_uploads_; });
  FullPack full;
  if (!status_.ok()) return full;
  full.entries = builder_.entries();
  full.bytes = builder_.Finish();
  ++packs_out_;
  pack_cv_.notify_all();  // the open pack has room again
  return full;
}

void BlobWriter::HandOff(FullPack pack) {
  {
    std::lock_guard<std::mutex> l(upload_mu_);
    upload_queue_.push_back(std::move(pack));
  }
  upload_cv_.notify_one();
}

Status BlobWriter::Fail(Status s) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (status_.ok()) status_ = s;
  }
  pack_cv_.notify_all();  // a Store waiting for room gives up
  return s;
}

Result<bool> BlobWriter::Store(BlobType type, const Id& id, std::string_view plaintext,
                               const BaseFinder& find_base) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!status_.ok()) return status_;
    if (pending_.count(id)) return false;
  }
  if (repo_->index()->Contains(id)) return false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!pending_.insert(id).second) return false;  // another thread claimed it meanwhile
  }

  const int level = repo_->config().compression_level;
  BlobEntry entry;
  std::string sealed;
  double max_share = 1.0;
  if (find_base) {
    if (std::optional<DeltaBase> base = find_base()) {
      max_share = base->max_share;
      sealed = SealDeltaBlob(repo_->keys(), type, id, plaintext, base->entry, *base->plaintext,
                             base->level > 0 ? base->level : level,
                             plaintext.size() + kSealOverhead, &entry);
    }
  }
  // A delta far smaller than the chunk beats compressing it whole (dump text compresses about
  // 3-4x); otherwise compress it whole too and keep the delta only if it is small enough.
  if (sealed.empty() || sealed.size() > plaintext.size() / 8) {
    BlobEntry whole_entry;
    std::string whole = SealBlob(repo_->keys(), type, id, plaintext, level, &whole_entry);
    if (sealed.empty() ||
        static_cast<double>(sealed.size()) >= max_share * static_cast<double>(whole.size())) {
      sealed = std::move(whole);
      entry = whole_entry;
    }
  }
  FullPack full;
  {
    std::unique_lock<std::mutex> l(mu_);
    const size_t pack_size = repo_->config().pack_size;
    // A full pack waits here for an upload slot; nothing is added to it meanwhile.
    pack_cv_.wait(l, [&] { return !status_.ok() || builder_.size() < pack_size; });
    if (!status_.ok()) return status_;
    builder_.Add(entry, sealed);
    stats_.new_blobs++;
    if (type == BlobType::kData) stats_.new_data_blobs++;
    if (entry.is_delta()) stats_.new_delta_blobs++;
    stats_.new_raw_bytes += plaintext.size();
    if (builder_.size() >= pack_size) {
      full = FinishPackLocked(l);
      if (!status_.ok()) return status_;
    }
  }
  if (!full.bytes.empty()) HandOff(std::move(full));
  return true;
}

Status BlobWriter::UploadPack(const std::string& pack, std::vector<BlobEntry> entries) {
  Id pack_id = Sha256(pack);
  PGDEDUP_RETURN_IF_ERROR(repo_->backend()->Put(PackObjectName(pack_id), pack));
  {
    std::lock_guard<std::mutex> l(mu_);
    stats_.stored_bytes += pack.size();
    stats_.packs++;
  }
  std::lock_guard<std::mutex> l(index_mu_);
  batch_.packs.push_back({pack_id, std::move(entries)});
  if (batch_.packs.size() >= kPacksPerIndex) return WriteIndexLocked();
  return Status::OK();
}

Status BlobWriter::WriteIndexLocked() {
  if (batch_.packs.empty()) return Status::OK();
  std::string plain = EncodeIndexObject(batch_);
  auto id = repo_->SaveObject(ObjectType::kIndex, plain);
  if (!id.ok()) return id.status();
  // Only now may the cache claim these blobs.
  PGDEDUP_RETURN_IF_ERROR(repo_->index()->Merge(*id, batch_));
  index_ids_.push_back(*id);
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& p : batch_.packs) {
      for (const auto& b : p.blobs) pending_.erase(b.id);
    }
    stats_.index_objects++;
    stats_.stored_bytes += plain.size() + kSealOverhead + 6;
  }
  batch_.packs.clear();
  return Status::OK();
}

Status BlobWriter::Flush() {
  FullPack last;
  {
    std::unique_lock<std::mutex> l(mu_);
    if (!status_.ok()) return status_;
    if (builder_.count() > 0) last = FinishPackLocked(l);
  }
  if (!last.bytes.empty()) HandOff(std::move(last));
  {
    std::unique_lock<std::mutex> l(mu_);
    pack_cv_.wait(l, [this] { return packs_out_ == 0; });
    if (!status_.ok()) return status_;
  }
  std::lock_guard<std::mutex> l(index_mu_);
  Status s = WriteIndexLocked();
  if (!s.ok()) return Fail(s);
  return Status::OK();
}

BlobWriterStats BlobWriter::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

std::vector<Id> BlobWriter::index_objects() const {
  std::lock_guard<std::mutex> l(index_mu_);
  return index_ids_;
}

}  // namespace pgdedup::repo

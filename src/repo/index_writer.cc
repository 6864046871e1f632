#include "repo/index_writer.h"

#include <utility>

#include "repo/object.h"

namespace pgdedup::repo {

Status IndexWriter::Add(PackContents pack) {
  batch_blobs_ += pack.blobs.size();
  batch_.packs.push_back(std::move(pack));
  if (batch_blobs_ >= kMaxBlobsPerIndexObject) return Flush();
  return Status::OK();
}

Status IndexWriter::Flush() {
  if (batch_.packs.empty()) return Status::OK();
  auto id = repo_->SaveObject(ObjectType::kIndex, EncodeIndexObject(batch_));
  if (!id.ok()) return id.status().WithContext("writing an index object");
  objects_written_++;
  batch_.packs.clear();
  batch_blobs_ = 0;
  return Status::OK();
}

}  // namespace pgdedup::repo

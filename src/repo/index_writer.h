// IndexWriter: gathers packs' listings into index objects of at most kMaxBlobsPerIndexObject
// blob entries (repo/index_object.h), storing each one as it fills and the last on Flush. Prune
// and the index repair rewrite the index this way; the written objects are not merged into the
// local cache (the next SyncIndex does that).
//
// Thread safety: none; one writer per thread.
#pragma once

#include <cstdint>

#include "common/result.h"
#include "repo/index_object.h"
#include "repo/repository.h"

namespace pgdedup::repo {

class IndexWriter {
 public:
  explicit IndexWriter(Repository* repo) : repo_(repo) {}

  // Adds a pack's listing; stores the gathered index object once it holds enough blobs.
  Status Add(PackContents pack);
  // Stores what is gathered, if anything.
  Status Flush();
  // Index objects stored so far.
  uint64_t objects_written() const { return objects_written_; }

 private:
  Repository* repo_;
  IndexObject batch_;  // the next index object to store
  size_t batch_blobs_ = 0;
  uint64_t objects_written_ = 0;
};

}  // namespace pgdedup::repo

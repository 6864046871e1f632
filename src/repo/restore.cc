#include "repo/restore.h"

#include <deque>
#include <future>

#include "common/thread_pool.h"

namespace pgdedup::repo {

Status ForEachChunkId(Repository* repo, const StreamInfo& stream,
                      const std::function<Status(const Id&)>& fn) {
  std::string carry;  // an id may straddle two list blobs
  for (const Id& list_id : stream.chunk_lists) {
    auto list = repo->ReadBlob(list_id);
    if (!list.ok()) {
      return list.status().WithContext("chunk list of stream '" + stream.name + "'");
    }
    carry.append(*list);
    size_t whole = carry.size() / Id::kSize * Id::kSize;
    for (size_t off = 0; off < whole; off += Id::kSize) {
      PGDEDUP_RETURN_IF_ERROR(fn(Id::FromBytes(std::string_view(carry).substr(off, Id::kSize))));
    }
    carry.erase(0, whole);
  }
  if (!carry.empty()) {
    return Status::Corruption("chunk list of stream '" + stream.name + "' has a partial id");
  }
  return Status::OK();
}

Status RestoreStream(Repository* repo, const StreamInfo& stream, const WriteFn& write,
                     const RestoreOptions& options) {
  int threads = options.threads > 0 ? options.threads : ThreadPool::DefaultThreads();
  ThreadPool pool(threads);
  std::deque<std::future<Result<std::string>>> in_flight;
  Sha256Hasher hasher;  // the stream digest, over the chunk ids
  uint64_t written = 0;
  uint64_t chunks = 0;

  auto drain_one = [&]() -> Status {
    Result<std::string> data = in_flight.front().get();
    in_flight.pop_front();
    if (!data.ok()) return data.status();
    written += data->size();
    PGDEDUP_RETURN_IF_ERROR(write(*data));
    if (options.progress) options.progress(written);
    return Status::OK();
  };

  Status status = ForEachChunkId(repo, stream, [&](const Id& id) -> Status {
    while (in_flight.size() >= kRestoreMaxInFlight) PGDEDUP_RETURN_IF_ERROR(drain_one());
    chunks++;
    hasher.Update(id.view());
    in_flight.push_back(pool.Submit([repo, id] { return repo->ReadBlob(id); }));
    return Status::OK();
  });
  while (!in_flight.empty()) {
    Status s = drain_one();
    if (status.ok()) status = s;
  }
  if (!status.ok()) return status;
  std::string where = "stream '" + stream.name + "'";
  if (chunks != stream.chunk_count) {
    return Status::Corruption(where + ": " + std::to_string(chunks) + " chunks, manifest says " +
                              std::to_string(stream.chunk_count));
  }
  if (written != stream.size) {
    return Status::Corruption(where + ": restored " + std::to_string(written) +
                              " bytes, manifest says " + std::to_string(stream.size));
  }
  if (hasher.Finish() != stream.digest) {
    return Status::Corruption(where + ": the chunk list does not match the stream's digest");
  }
  return Status::OK();
}

}  // namespace pgdedup::repo

#include "repo/restore.h"

#include <algorithm>
#include <deque>
#include <future>
#include <vector>

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
  // Chunks go to the workers in batches of consecutive ids: one hand-off per chunk (a futex
  // wake each way, an inter-processor interrupt on a VM) cost more than a tenth of the CPU.
  std::deque<std::future<Result<std::vector<std::string>>>> in_flight;
  size_t chunks_in_flight = 0;
  std::vector<Id> batch;
  Sha256Hasher hasher;  // the stream digest, over the chunk ids
  uint64_t written = 0;
  uint64_t chunks = 0;

  // Each worker gets at least two batches' worth of the chunks in flight.
  const size_t batch_size = std::clamp<size_t>(
      kRestoreMaxInFlight / (2 * static_cast<size_t>(threads)), 1, kRestoreBatch);

  auto drain_one = [&]() -> Status {
    Result<std::vector<std::string>> data = in_flight.front().get();
    in_flight.pop_front();
    if (!data.ok()) return data.status();
    chunks_in_flight -= data->size();
    for (const std::string& chunk : *data) {
      written += chunk.size();
      PGDEDUP_RETURN_IF_ERROR(write(chunk));
      if (options.progress) options.progress(written);
    }
    return Status::OK();
  };
  auto submit_batch = [&]() {
    chunks_in_flight += batch.size();
    in_flight.push_back(pool.Submit([repo, ids = std::move(batch)]() {
      std::vector<std::string> out;
      out.reserve(ids.size());
      for (const Id& id : ids) {
        auto data = repo->ReadBlob(id);
        if (!data.ok()) return Result<std::vector<std::string>>(data.status());
        out.push_back(std::move(*data));
      }
      return Result<std::vector<std::string>>(std::move(out));
    }));
    batch.clear();
  };

  Status status = ForEachChunkId(repo, stream, [&](const Id& id) -> Status {
    chunks++;
    hasher.Update(id.view());
    batch.push_back(id);
    if (batch.size() < batch_size) return Status::OK();
    while (!in_flight.empty() && chunks_in_flight + batch.size() > kRestoreMaxInFlight) {
      PGDEDUP_RETURN_IF_ERROR(drain_one());
    }
    submit_batch();
    return Status::OK();
  });
  if (status.ok() && !batch.empty()) submit_batch();
  while (!in_flight.empty()) {
    if (!status.ok()) {
      // After a failure nothing more is written (a script with a hole must not reach psql);
      // the workers are only waited for.
      (void)in_flight.front().get();
      in_flight.pop_front();
      continue;
    }
    status = drain_one();
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

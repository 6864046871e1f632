#include "repo/backup.h"

#include <deque>
#include <future>

#include "chunker/fastcdc.h"

namespace pgdedup::repo {

namespace {

// Chunk lists are cut by content too, with small chunks: a change in one place of a stream
// rewrites only the list piece around it (128 ids on average).
chunker::ChunkerParams ChunkListParams() { return {1024, 4096, 16384}; }

// Accumulates a stream's chunk ids and stores them as kChunkList blobs.
class ChunkListWriter {
 public:
  ChunkListWriter(Repository* repo, BlobWriter* writer)
      : repo_(repo),
        writer_(writer),
        cdc_(ChunkListParams(), repo->keys().chunker_seed()) {}

  Status Add(const Id& id) {
    std::string_view bytes = id.view();
    while (!bytes.empty()) {
      size_t k = cdc_.Scan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      if (k == chunker::FastCdc::kNeedMore) {
        current_.append(bytes);
        return Status::OK();
      }
      current_.append(bytes.substr(0, k));
      bytes.remove_prefix(k);
      PGDEDUP_RETURN_IF_ERROR(Emit());
    }
    return Status::OK();
  }

  Result<std::vector<Id>> Finish() {
    if (!current_.empty()) PGDEDUP_RETURN_IF_ERROR(Emit());
    return std::move(lists_);
  }

 private:
  Status Emit() {
    Id id = BlobIdOf(repo_->keys(), current_);
    auto stored = writer_->Store(BlobType::kChunkList, id, current_);
    if (!stored.ok()) return stored.status();
    lists_.push_back(id);
    current_.clear();
    return Status::OK();
  }

  Repository* repo_;
  BlobWriter* writer_;
  chunker::FastCdc cdc_;
  std::string current_;
  std::vector<Id> lists_;
};

}  // namespace

BackupSession::BackupSession(Repository* repo, const BackupOptions& options)
    : repo_(repo), options_(options) {}

BackupSession::~BackupSession() {
  pool_.reset();  // finish in-flight work before the writer goes away
}

Result<std::unique_ptr<BackupSession>> BackupSession::Start(Repository* repo,
                                                            const BackupOptions& options) {
  std::unique_ptr<BackupSession> s(new BackupSession(repo, options));
  auto lock = RepoLock::Acquire(repo, /*exclusive=*/false);
  if (!lock.ok()) return lock.status();
  s->lock_ = std::move(*lock);
  PGDEDUP_RETURN_IF_ERROR(repo->SyncIndex());
  int threads = options.threads > 0 ? options.threads : ThreadPool::DefaultThreads();
  // The reading and chunking thread is the critical path when data is unchanged (the workers
  // only hash): it keeps its core, and the workers take what is left.
  s->pool_ = std::make_unique<ThreadPool>(threads, /*nice=*/10);
  s->writer_ = std::make_unique<BlobWriter>(repo);
  return s;
}

Result<StreamInfo> BackupSession::AddStream(const std::string& name, const ReadFn& read) {
  for (const auto& s : streams_) {
    if (s.name == name) return Status::InvalidArgument("duplicate stream name '" + name + "'");
  }
  const auto& params = repo_->config().chunker;
  chunker::FastCdc cdc(params, repo_->keys().chunker_seed());
  ChunkListWriter lists(repo_, writer_.get());
  Sha256Hasher digest;  // over the chunk ids, in order
  StreamInfo info;
  info.name = name;

  std::deque<std::future<Result<Id>>> in_flight;
  Status status;
  // Waits for the oldest chunk and appends its id to the list.
  auto drain_one = [&]() -> Status {
    Result<Id> id = in_flight.front().get();
    in_flight.pop_front();
    if (!id.ok()) return id.status();
    digest.Update(id->view());
    return lists.Add(*id);
  };
  // A chunk's bytes: allocated uninitialised (zero-filling max_size per chunk cost more than
  // hashing it) and shared with the task that hashes and stores it.
  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size = 0;
    std::string_view view() const { return {data.get(), size}; }
  };
  auto submit = [&](Chunk chunk) -> Status {
    while (in_flight.size() >= kMaxInFlight) PGDEDUP_RETURN_IF_ERROR(drain_one());
    info.chunk_count++;
    auto shared = std::make_shared<Chunk>(std::move(chunk));
    in_flight.push_back(pool_->Submit([this, shared]() -> Result<Id> {
      std::string_view c = shared->view();
      Id id = BlobIdOf(repo_->keys(), c);
      auto stored = writer_->Store(BlobType::kData, id, c);
      if (!stored.ok()) return stored.status();
      return id;
    }));
    return Status::OK();
  };

  // Bytes are read straight into the buffer of the chunk being cut, so a chunk is copied only
  // when a read straddles its end (the tail moves to the next chunk's buffer). Reads are small
  // enough for the scanned bytes to still be in cache when a worker hashes them.
  const size_t max = params.max_size;
  auto new_buffer = [max] { return std::make_unique_for_overwrite<char[]>(max); };
  Chunk current{new_buffer(), 0};
  size_t filled = 0;   // bytes of `current` holding stream data
  size_t scanned = 0;  // bytes of `current` the chunker has seen
  bool eof = false;
  while (status.ok()) {
    if (scanned == filled) {
      if (eof) break;
      size_t want = std::min(kReadSize, max - filled);
      auto n = read(current.data.get() + filled, want);
      if (!n.ok()) {
        status = n.status().WithContext("reading stream '" + name + "'");
        break;
      }
      if (*n == 0) {
        eof = true;
        continue;
      }
      filled += *n;
      info.size += *n;
      bytes_read_ += *n;
      if (options_.progress) options_.progress(bytes_read_);
    }
    size_t k = cdc.Scan(reinterpret_cast<const uint8_t*>(current.data.get()) + scanned,
                        filled - scanned);
    if (k == chunker::FastCdc::kNeedMore) {
      scanned = filled;
      continue;
    }
    size_t end = scanned + k;
    Chunk next{new_buffer(), 0};
    std::memcpy(next.data.get(), current.data.get() + end, filled - end);
    filled -= end;
    scanned = 0;
    current.size = end;
    status = submit(std::move(current));
    current = std::move(next);
  }
  current.size = filled;
  if (status.ok() && filled > 0) status = submit(std::move(current));
  while (!in_flight.empty()) {
    Status s = drain_one();
    if (status.ok()) status = s;
  }
  if (!status.ok()) return status;
  auto ids = lists.Finish();
  if (!ids.ok()) return ids.status();
  info.chunk_lists = std::move(*ids);
  info.digest = digest.Finish();
  chunks_ += info.chunk_count;
  streams_.push_back(info);
  return info;
}

Result<Id> BackupSession::Commit(Manifest manifest) {
  // Commit order: every pack and index object first, the manifest last.
  PGDEDUP_RETURN_IF_ERROR(writer_->Flush());
  manifest.streams = streams_;
  return repo_->SaveObject(ObjectType::kSnapshot, EncodeManifest(manifest));
}

BackupStats BackupSession::stats() const {
  BackupStats s;
  s.bytes_read = bytes_read_;
  s.chunks = chunks_;
  s.writer = writer_->stats();
  return s;
}

}  // namespace pgdedup::repo

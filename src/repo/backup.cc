#include "repo/backup.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <utility>

#include "chunker/fastcdc.h"
#include "common/log.h"
#include "repo/cut_predictor.h"
#include "repo/delta_planner.h"

namespace pgdedup::repo {

namespace {

// Chunk lists are cut by content too, with small chunks: a change in one place of a stream
// rewrites only the list piece around it (128 ids on average).
chunker::ChunkerParams ChunkListParams() { return {1024, 4096, 16384}; }

// Accumulates a stream's chunk ids and stores them as kChunkList blobs.
class ChunkListWriter {
 public:
  ChunkListWriter(Repository* repo, BlobWriter* writer)
      : repo_(repo), writer_(writer), cdc_(ChunkListParams(), repo->keys().chunker_seed()) {}

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

// The base a new chunk is stored against: the candidate, or when the candidate's chain is
// already `max_depth` long, the root of that chain. A delta against the root spans all the
// nights since the root was written, so it is kept only when under a quarter of the chunk
// compressed whole; otherwise the chunk is stored whole and becomes the root of the next
// chains. Chains stay short for restores and roots are renewed before deltas against them
// grow large. nullopt when there is no usable candidate; a base that cannot be read is
// skipped (the chunk is then stored whole).
std::optional<BlobWriter::DeltaBase> FindBase(Repository* repo, std::optional<Id> candidate,
                                              int max_depth, int level) {
  if (!candidate) return std::nullopt;
  auto loc = repo->index()->Lookup(*candidate);
  if (!loc.ok() || !loc->has_value() || (*loc)->entry.type != BlobType::kData) {
    return std::nullopt;
  }
  double max_share = 1.0;
  if ((*loc)->entry.depth >= max_depth) {
    for (int i = 0; i <= kMaxDeltaDepth && (*loc)->entry.is_delta(); ++i) {
      loc = repo->index()->Lookup((*loc)->entry.base);
      if (!loc.ok() || !loc->has_value()) return std::nullopt;
    }
    if ((*loc)->entry.is_delta()) return std::nullopt;
    max_share = 0.25;
  }
  auto plain = repo->ReadBlob(**loc);
  if (!plain.ok()) {
    LogWarning("not using " + (*loc)->entry.id.Hex() +
               " as a delta base: " + plain.status().message());
    return std::nullopt;
  }
  return BlobWriter::DeltaBase{
      (*loc)->entry, std::make_shared<const std::string>(std::move(*plain)), max_share, level};
}

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
  // A bucket stores a pack at the speed of one connection: as many uploads at once as
  // workers, as when each worker uploaded the packs it filled.
  s->writer_ = std::make_unique<BlobWriter>(repo, repo->backend()->remote() ? threads : 1);
  s->max_delta_depth_ = std::clamp<int>(options.max_delta_depth, 1, kMaxDeltaDepth);
  if (const char* env = std::getenv("PGDEDUP_MAX_DELTA_DEPTH"); env && *env) {
    s->max_delta_depth_ = std::clamp<int>(std::atoi(env), 1, kMaxDeltaDepth);
  }
  if (const char* env = std::getenv("PGDEDUP_DELTA_LEVEL"); env && *env) {
    s->delta_level_ = std::clamp<int>(std::atoi(env), 0, 22);
  }
  if (options.deltas) {
    // Each base is read once, for the chunk at its place: a large cache would only hold memory.
    repo->SetBaseCacheCapacity(4 << 20);
  }
  const bool predict = options.predict_cuts && !repo->backend()->remote();
  if (options.deltas || predict) PGDEDUP_RETURN_IF_ERROR(s->LoadParents());
  return s;
}

Result<std::unique_ptr<DeltaPlanner>> BackupSession::PlannerFor(const std::string& name) {
  if (!options_.deltas) return std::unique_ptr<DeltaPlanner>();
  auto parent = parents_.find(name);
  if (parent == parents_.end()) return std::unique_ptr<DeltaPlanner>();
  return std::make_unique<DeltaPlanner>(repo_, parent->second);
}

Status BackupSession::LoadParents() {
  std::vector<Status> damaged;  // a damaged snapshot is just not a parent
  auto snapshots = repo_->ListSnapshots(&damaged);
  if (!snapshots.ok()) return snapshots.status();
  for (auto it = snapshots->rbegin(); it != snapshots->rend(); ++it) {
    if (options_.parent_filter && !options_.parent_filter(it->manifest)) continue;
    for (const StreamInfo& stream : it->manifest.streams) parents_.emplace(stream.name, stream);
  }
  return Status::OK();
}

// Hands a stream's chunks to the workers and collects their ids in order, feeding the stream
// digest and the chunk list. Consecutive chunks go to a worker together, in batches of about
// half a MiB: one hand-off per chunk (a futex wake each way, an inter-processor interrupt on a
// VM) cost a tenth of an unchanged stream's backup. At most kMaxInFlight chunks are out at once.
//
// A chunk may be a prediction (cut_predictor.h): queued with the id of the parent chunk it is
// expected to be. It is kept only if it has that id; if not, it and every chunk queued after it
// are dropped (unstored: a worker stores a predicted chunk only once its id is checked, and
// stops its batch at the first that fails), and rewind() tells the reader where to chunk for
// real again. The reader queues chunks cut for real only when no prediction is unchecked (it
// drains first), so a rewind never drops them.
class BackupSession::ChunkQueue {
 public:
  ChunkQueue(BackupSession* session, StreamInfo* info, std::unique_ptr<DeltaPlanner> planner)
      : session_(session),
        info_(info),
        lists_(session->repo_, session->writer_.get()),
        planner_(std::move(planner)),
        batch_chunks_(std::clamp<size_t>(
            kMaxInFlight / (2 * static_cast<size_t>(session->pool_->size())), 1, kBatchChunks)) {}

  // Queues a chunk; `owner` keeps its bytes alive until the worker is done. `end` is the
  // chunk's end offset in the stream (see released()); `expected`, for a prediction, the id it
  // must have. A chunk queued while a rewind is pending is dropped.
  Status Submit(std::shared_ptr<const void> owner, std::string_view chunk, uint64_t end,
                std::optional<Id> expected = std::nullopt) {
    if (rewind_) return Status::OK();
    batch_.chunks.push_back({std::move(owner), chunk, end - chunk.size(), end, expected});
    batch_bytes_ += chunk.size();
    if (batch_bytes_ >= kBatchBytes || batch_.chunks.size() >= batch_chunks_) return SubmitBatch();
    return Status::OK();
  }

  // Waits for every chunk queued (a failed prediction among them sets a rewind).
  Status Drain() {
    if (!batch_.chunks.empty()) PGDEDUP_RETURN_IF_ERROR(SubmitBatch());
    while (!in_flight_.empty()) PGDEDUP_RETURN_IF_ERROR(DrainOne());
    return Status::OK();
  }

  // After a failed prediction: the offset to chunk for real from (cleared by the call).
  std::optional<uint64_t> TakeRewind() { return std::exchange(rewind_, std::nullopt); }
  bool rewind_pending() const { return rewind_.has_value(); }

  // Waits for every chunk (even after an error, so no task outlives its bytes), then stores the
  // chunk list. Returns the first failure. REQUIRES: no rewind pending.
  Status Finish(Status status) {
    if (status.ok()) {
      status = Drain();
    } else {
      batch_ = {};
    }
    while (!in_flight_.empty()) {
      Status s = DrainOne();
      if (status.ok()) status = s;
    }
    if (!status.ok()) return status;
    if (rewind_)
      return Status::IOError("a stream ended before a failed prediction was chunked again");
    auto ids = lists_.Finish();
    if (!ids.ok()) return ids.status();
    info_->chunk_lists = std::move(*ids);
    info_->digest = digest_.Finish();
    return Status::OK();
  }

  // Stream bytes before this offset are hashed and no longer needed.
  uint64_t released() const { return released_; }

 private:
  // A batch ends at kBatchBytes of data or batch_chunks_ chunks: at most kBatchChunks (a chunk
  // read from a pipe holds a buffer of the maximum chunk size, so this bounds the memory a
  // batch holds), fewer with many workers, so that each has two batches in flight.
  static constexpr size_t kBatchBytes = 512 << 10;
  static constexpr size_t kBatchChunks = 16;

  struct Chunk {
    std::shared_ptr<const void> owner;
    std::string_view data;
    uint64_t start;
    uint64_t end;
    std::optional<Id> expected;
  };
  struct Done {
    Id id;
    bool mismatch = false;  // a prediction that failed (the last of its batch's results)
  };
  struct Batch {
    std::vector<Chunk> chunks;
  };
  struct Pending {
    std::shared_ptr<const Batch> batch;
    std::future<Result<std::vector<Done>>> done;
  };

  // Stores one chunk; on a worker.
  static Result<Done> Process(BackupSession* s, DeltaPlanner* planner, const Chunk& c) {
    Id id = BlobIdOf(s->repo_->keys(), c.data);
    if (c.expected && id != *c.expected) return Done{id, /*mismatch=*/true};
    BlobWriter::BaseFinder find_base;
    if (planner != nullptr) {
      if (!c.expected) planner->Saw(id, c.start);  // a prediction is anchored once kept
      find_base = [s, planner, start = c.start] {
        return FindBase(s->repo_, planner->CandidateFor(start), s->max_delta_depth_,
                        s->delta_level_);
      };
    }
    auto stored = s->writer_->Store(BlobType::kData, id, c.data, find_base);
    if (!stored.ok()) return stored.status();
    return Done{id, /*mismatch=*/false};
  }

  Status SubmitBatch() {
    const size_t n = batch_.chunks.size();
    while (!in_flight_.empty() && chunks_in_flight_ + n > kMaxInFlight) {
      PGDEDUP_RETURN_IF_ERROR(DrainOne());
    }
    auto batch = std::make_shared<const Batch>(std::exchange(batch_, {}));
    batch_bytes_ = 0;
    if (rewind_) return Status::OK();  // a prediction failed while we waited: all dropped
    BackupSession* s = session_;
    DeltaPlanner* planner = planner_.get();
    auto task = [s, planner, batch]() -> Result<std::vector<Done>> {
      std::vector<Done> out;
      out.reserve(batch->chunks.size());
      for (const Chunk& c : batch->chunks) {
        auto done = Process(s, planner, c);
        if (!done.ok()) return done.status();
        out.push_back(*done);
        if (done->mismatch) break;
      }
      return out;
    };
    chunks_in_flight_ += n;
    in_flight_.push_back({batch, s->pool_->Submit(std::move(task))});
    return Status::OK();
  }

  Status DrainOne() {
    Pending p = std::move(in_flight_.front());
    in_flight_.pop_front();
    chunks_in_flight_ -= p.batch->chunks.size();
    Result<std::vector<Done>> done = p.done.get();
    if (!done.ok()) return done.status();
    for (size_t i = 0; i < done->size(); ++i) {
      const Done& d = (*done)[i];
      const Chunk& c = p.batch->chunks[i];
      if (d.mismatch) {
        // Everything queued after it was predicted too, and is dropped unstored or known.
        rewind_ = c.start;
        while (!in_flight_.empty()) {
          (void)in_flight_.front().done.get();
          chunks_in_flight_ -= in_flight_.front().batch->chunks.size();
          in_flight_.pop_front();
        }
        batch_ = {};
        batch_bytes_ = 0;
        return Status::OK();
      }
      released_ = c.end;
      info_->chunk_count++;
      if (c.expected) {
        session_->predicted_chunks_++;
        if (planner_) planner_->Saw(d.id, c.start);
      }
      digest_.Update(d.id.view());
      PGDEDUP_RETURN_IF_ERROR(lists_.Add(d.id));
    }
    return Status::OK();
  }

  BackupSession* session_;
  StreamInfo* info_;
  ChunkListWriter lists_;
  Sha256Hasher digest_;  // over the chunk ids, in order
  Batch batch_;          // queued, not yet handed to a worker
  size_t batch_bytes_ = 0;
  std::deque<Pending> in_flight_;
  size_t chunks_in_flight_ = 0;
  uint64_t released_ = 0;
  std::unique_ptr<DeltaPlanner> planner_;  // nullptr: no deltas for this stream
  const size_t batch_chunks_;
  std::optional<uint64_t> rewind_;
};

Status BackupSession::ReserveName(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("a stream needs a name");
  std::lock_guard<std::mutex> l(mu_);
  if (!names_.insert(name).second) {
    return Status::InvalidArgument("duplicate stream name '" + name + "'");
  }
  return Status::OK();
}

void BackupSession::AddRead(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  bytes_read_ += n;
  if (options_.progress) options_.progress(bytes_read_);
}

void BackupSession::Finished(const StreamInfo& info) {
  std::lock_guard<std::mutex> l(mu_);
  chunks_ += info.chunk_count;
  streams_.push_back(info);
}

std::vector<StreamInfo> BackupSession::streams() const {
  std::lock_guard<std::mutex> l(mu_);
  return {streams_.begin(), streams_.end()};
}

void BackupSession::OrderStreams(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, size_t> rank;
  for (size_t i = 0; i < names.size(); ++i) rank.emplace(names[i], i);
  std::stable_sort(streams_.begin(), streams_.end(), [&](const StreamInfo& a, const StreamInfo& b) {
    auto ra = rank.find(a.name);
    auto rb = rank.find(b.name);
    size_t ia = ra == rank.end() ? names.size() : ra->second;
    size_t ib = rb == rank.end() ? names.size() : rb->second;
    return ia < ib;
  });
}

Result<StreamInfo> BackupSession::AddStream(const std::string& name, const ReadFn& read) {
  PGDEDUP_RETURN_IF_ERROR(ReserveName(name));
  const auto& params = repo_->config().chunker;
  chunker::FastCdc cdc(params, repo_->keys().chunker_seed());
  StreamInfo info;
  info.name = name;
  auto planner = PlannerFor(name);
  if (!planner.ok()) return planner.status();
  ChunkQueue queue(this, &info, std::move(*planner));

  // Bytes are read straight into the buffer of the chunk being cut (allocated uninitialised:
  // zero-filling max_size per chunk cost more than hashing it), so a chunk is copied only when
  // a read straddles its end and the tail moves to the next chunk's buffer. Reads are small
  // enough for the scanned bytes to still be in cache when a worker hashes them. A buffer
  // holds twice the mean chunk (at least a read) at first and grows to max_size (one copy)
  // for the few chunks that are longer: kMaxInFlight buffers of max_size touched in full were
  // ~8 MiB of a 2 GB backup's peak RSS.
  const size_t max = params.max_size;
  const size_t first = std::min<size_t>(max, std::max(2 * size_t{params.avg_size}, kReadSize));
  auto new_buffer = [](size_t size) {
    return std::shared_ptr<char[]>(std::make_unique_for_overwrite<char[]>(size));
  };
  std::shared_ptr<char[]> current = new_buffer(first);
  size_t capacity = first;  // of `current`
  size_t filled = 0;        // bytes of `current` holding stream data
  size_t scanned = 0;       // bytes of `current` the chunker has seen
  bool eof = false;
  Status status;
  while (status.ok()) {
    if (scanned == filled) {
      if (eof) break;
      if (filled == capacity) {  // no cut yet: room up to max_size
        std::shared_ptr<char[]> bigger = new_buffer(max);
        std::memcpy(bigger.get(), current.get(), filled);
        current = std::move(bigger);
        capacity = max;
      }
      auto n = read(current.get() + filled, std::min(kReadSize, capacity - filled));
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
      AddRead(*n);
    }
    size_t k =
        cdc.Scan(reinterpret_cast<const uint8_t*>(current.get()) + scanned, filled - scanned);
    if (k == chunker::FastCdc::kNeedMore) {
      scanned = filled;
      continue;
    }
    size_t end = scanned + k;
    const size_t tail = filled - end;  // at most the last read
    capacity = std::max(first, tail);
    std::shared_ptr<char[]> next = new_buffer(capacity);
    std::memcpy(next.get(), current.get() + end, tail);
    status = queue.Submit(current, std::string_view(current.get(), end), info.size - tail);
    current = std::move(next);
    filled = tail;
    scanned = 0;
  }
  if (status.ok() && filled > 0) {
    status = queue.Submit(current, std::string_view(current.get(), filled), info.size);
  }
  PGDEDUP_RETURN_IF_ERROR(queue.Finish(status));
  Finished(info);
  return info;
}

namespace {

// A read-only mapping of a whole file, unmapped on destruction.
class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> Map(int fd, uint64_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return Status::FromErrno("mmap", errno);
    ::madvise(p, size, MADV_SEQUENTIAL);
    return std::unique_ptr<MappedFile>(new MappedFile(static_cast<const char*>(p), size));
  }
  ~MappedFile() { ::munmap(const_cast<char*>(data_), size_); }
  std::string_view view() const { return {data_, size_}; }
  // Drops the pages before `offset` from this process (they stay in the page cache), so a
  // multi-GB file does not count against the process's memory as it is scanned.
  // Releases in steps of kReleaseStep: each madvise costs a TLB shootdown on every core.
  void Release(uint64_t offset) {
    constexpr uint64_t kReleaseStep = 32 << 20;
    uint64_t upto = offset / kReleaseStep * kReleaseStep;
    if (upto > released_) {
      ::madvise(const_cast<char*>(data_) + released_, upto - released_, MADV_DONTNEED);
      released_ = upto;
    }
  }
  // Maps the pages up to `offset` + kPopulateAhead in one call each kPopulateStep, so that
  // neither the chunker nor the workers hashing predicted chunks (which the chunker no longer
  // scans) take a page fault every few pages. Best effort: an old kernel without
  // MADV_POPULATE_READ just faults them in as before.
  void PopulateAhead(uint64_t offset) {
    constexpr uint64_t kPopulateStep = 2 << 20;
    constexpr uint64_t kPopulateAhead = 6 << 20;  // what it adds to the RSS, at most
    uint64_t want = std::min(size_, offset + kPopulateAhead);
    if (want < populated_ + kPopulateStep && want < size_) return;
    if (want <= populated_) return;
#ifdef MADV_POPULATE_READ
    uint64_t from = std::max(populated_, offset) / 4096 * 4096;
    if (want > from) ::madvise(const_cast<char*>(data_) + from, want - from, MADV_POPULATE_READ);
#endif
    populated_ = want;
  }

 private:
  MappedFile(const char* data, uint64_t size) : data_(data), size_(size) {}
  const char* data_;
  uint64_t size_;
  uint64_t released_ = 0;
  uint64_t populated_ = 0;
};

}  // namespace

Result<StreamInfo> BackupSession::AddStreamFromFd(const std::string& name, int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
      ::lseek(fd, 0, SEEK_CUR) != 0) {
    // A pipe, a device, an empty or a partly read file: read it.
    return AddStream(name, [fd](char* buf, size_t n) -> Result<size_t> {
      for (;;) {
        ssize_t r = ::read(fd, buf, n);
        if (r >= 0) return static_cast<size_t>(r);
        if (errno != EINTR) return Status::FromErrno("read", errno);
      }
    });
  }
  // A regular file: chunk it in place. Chunks are views into the mapping, so nothing is copied
  // unless it is new; pages are released behind the workers.
  PGDEDUP_RETURN_IF_ERROR(ReserveName(name));
  auto file = MappedFile::Map(fd, static_cast<uint64_t>(st.st_size));
  if (!file.ok()) return file.status().WithContext("stream '" + name + "'");
  std::shared_ptr<MappedFile> mapped(std::move(*file));
  std::string_view data = mapped->view();
  chunker::FastCdc cdc(repo_->config().chunker, repo_->keys().chunker_seed());
  StreamInfo info;
  info.name = name;
  auto planner = PlannerFor(name);
  if (!planner.ok()) return planner.status();
  // With a parent, its cuts are predicted and checked rather than chunked (cut_predictor.h).
  std::unique_ptr<CutPredictor> predictor;
  if (auto parent = parents_.find(name);
      parent != parents_.end() && options_.predict_cuts && !repo_->backend()->remote()) {
    predictor = CutPredictor::Load(repo_, parent->second);
  }
  ChunkQueue queue(this, &info, std::move(*planner));
  Status status;
  uint64_t start = 0;  // where the current chunk begins: always a cut
  uint64_t pos = 0;    // how far the chunker has scanned
  uint64_t read = 0;   // how far the stream has been read (for progress)
  bool predicting = predictor != nullptr;
  size_t next = 0;               // with predicting: the parent chunk expected at `start`
  uint64_t lengths[2] = {0, 0};  // of the last two chunks cut for real in a row
  auto advanced = [&] {
    if (pos > read) {
      AddRead(pos - read);
      read = pos;
    }
    info.size = pos;
    mapped->Release(queue.released());
  };
  while (status.ok()) {
    if (auto at = queue.TakeRewind()) {
      start = pos = *at;  // a prediction failed here: chunk for real
      predicting = false;
      cdc.Reset();
      lengths[0] = lengths[1] = 0;
    }
    if (start >= data.size()) {
      status = queue.Drain();  // a prediction may still fail, and send the chunker back
      if (status.ok() && queue.rewind_pending()) continue;
      break;
    }
    mapped->PopulateAhead(pos);
    if (predicting) {
      if (predictor->Fits(next, start, data.size())) {
        pos = start + predictor->length(next);
        status = queue.Submit(mapped, data.substr(start, pos - start), pos, predictor->id(next));
        ++next;
        start = pos;
        advanced();
        continue;
      }
      // Nothing more to predict here: chunk for real, once every prediction is checked.
      predicting = false;
      lengths[0] = lengths[1] = 0;
      status = queue.Drain();
      continue;
    }
    size_t step = std::min<uint64_t>(kReadSize, data.size() - pos);
    size_t k = cdc.Scan(reinterpret_cast<const uint8_t*>(data.data()) + pos, step);
    if (k == chunker::FastCdc::kNeedMore) {
      pos += step;
      if (pos < data.size()) continue;
      // End of file: the rest is the last chunk.
    } else {
      pos += k;
    }
    status = queue.Submit(mapped, data.substr(start, pos - start), pos);
    if (predictor != nullptr) {
      // Back on the parent's track? Two chunks in a row as long as two of the parent's in a
      // row (cut points are content-defined) say so; what follows is checked as always.
      lengths[0] = std::exchange(lengths[1], pos - start);
      if (auto i = predictor->ResumeAfter(lengths[0], lengths[1])) {
        predicting = true;
        next = *i;
      }
    }
    start = pos;
    advanced();
  }
  PGDEDUP_RETURN_IF_ERROR(queue.Finish(status));
  Finished(info);
  return info;
}

Result<StreamInfo> DigestStream(Repository* repo, const ReadFn& read) {
  const auto& params = repo->config().chunker;
  chunker::FastCdc cdc(params, repo->keys().chunker_seed());
  Sha256Hasher digest;
  StreamInfo info;
  std::string chunk;
  std::string buf(BackupSession::kReadSize, '\0');
  auto emit = [&] {
    digest.Update(BlobIdOf(repo->keys(), chunk).view());
    info.chunk_count++;
    chunk.clear();
  };
  for (;;) {
    auto n = read(buf.data(), buf.size());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    info.size += *n;
    std::string_view data(buf.data(), *n);
    while (!data.empty()) {
      size_t k = cdc.Scan(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      if (k == chunker::FastCdc::kNeedMore) {
        chunk.append(data);
        break;
      }
      chunk.append(data.substr(0, k));
      data.remove_prefix(k);
      emit();
    }
  }
  if (!chunk.empty()) emit();
  info.digest = digest.Finish();
  return info;
}

StreamInfo* BackupSession::MutableStream(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& s : streams_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Result<Id> BackupSession::Commit(Manifest manifest) {
  // Commit order: every pack and index object first, the manifest last.
  PGDEDUP_RETURN_IF_ERROR(writer_->Flush());
  manifest.streams = streams();
  return repo_->SaveObject(ObjectType::kSnapshot, EncodeManifest(manifest));
}

BackupStats BackupSession::stats() const {
  BackupStats s;
  std::lock_guard<std::mutex> l(mu_);
  s.bytes_read = bytes_read_;
  s.chunks = chunks_;
  s.predicted_chunks = predicted_chunks_;
  s.writer = writer_->stats();
  return s;
}

}  // namespace pgdedup::repo

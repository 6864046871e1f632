#include "repo/index_cache.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <unordered_map>
#include <vector>

namespace pgdedup::repo {

// The cache is written without a write-ahead log and flushed on close: it is rebuildable, and an
// index object is merged in one batch with its "seen" marker, so a crash loses whole merges,
// which the next sync simply repeats. (With a WAL, RocksDB 7.8 also left one empty log file
// behind per run.)
struct IndexCache::Impl {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;
  ~Impl() {
    if (!db) return;
    db->Flush(rocksdb::FlushOptions()).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
};

namespace {

std::string BlobKey(const Id& id) {
  std::string k = "b";
  k.append(id.view());
  return k;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::Locked(what + ": " + s.ToString());
  }
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IOError(what + ": " + s.ToString());
}

Result<BlobLocation> DecodeLocation(const rocksdb::Slice& key, const std::string& value) {
  Reader in(value);
  std::string_view pack;
  BlobLocation loc;
  if (!in.GetBytes(Id::kSize, &pack) || !DecodeBlobEntry(&in, &loc.entry)) {
    return Status::Corruption("index cache: bad entry (run `pgdedup repo index rebuild`)");
  }
  loc.pack_id = Id::FromBytes(pack);
  if (key.size() != 1 + Id::kSize || loc.entry.id.view() != std::string_view(key.data() + 1, 32)) {
    return Status::Corruption("index cache: entry under the wrong key");
  }
  return loc;
}

// RocksDB before 8.3 creates an empty WAL at every open and never deletes it (facebook/rocksdb
// #11313, fixed by #11409). Our WALs are always empty (writes skip the WAL), and deleting empty
// ones is safe while track_and_verify_wals_in_manifest is off (the default): once the DB is open
// (so no other process uses it), remove every empty .log file but the newest, the one in use.
void RemoveStaleEmptyLogs(const std::string& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> logs;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".log" && e.is_regular_file(ec) && e.file_size(ec) == 0) {
      logs.push_back(e.path());
    }
  }
  std::sort(logs.begin(), logs.end());  // zero-padded numbers: name order is number order
  for (size_t i = 0; i + 1 < logs.size(); ++i) std::filesystem::remove(logs[i], ec);
}

}  // namespace

IndexCache::IndexCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IndexCache::~IndexCache() = default;

Result<std::unique_ptr<IndexCache>> IndexCache::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create cache directory " + dir + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 256;
  options.keep_log_file_num = 2;
  options.write_buffer_size = 4 << 20;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Every command opens the cache. By default RocksDB starts 15 threads at each open to open
  // table files in parallel, and reads every table's properties for statistics: the cache has
  // a handful of tables, so both cost more than they save.
  options.max_file_opening_threads = 1;
  options.skip_stats_update_on_db_open = true;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(32 << 20);  // bounds memory whatever the size
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return FromRocks(s, "open index cache " + dir);
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
  impl->write_options.disableWAL = true;
  RemoveStaleEmptyLogs(dir);
  return std::unique_ptr<IndexCache>(new IndexCache(std::move(impl)));
}

Result<std::optional<BlobLocation>> IndexCache::Lookup(const Id& blob_id) const {
  std::string value;
  std::string key = BlobKey(blob_id);
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::optional<BlobLocation>();
  if (!s.ok()) return FromRocks(s, "index cache lookup");
  auto loc = DecodeLocation(key, value);
  if (!loc.ok()) return loc.status();
  return std::optional<BlobLocation>(*loc);
}

bool IndexCache::Contains(const Id& blob_id) const {
  // One Get: the bloom filters answer for absent keys, and for present ones (every chunk of an
  // unchanged stream) a KeyMayExist first would only double the work.
  rocksdb::PinnableSlice value;
  return impl_->db
      ->Get(rocksdb::ReadOptions(), impl_->db->DefaultColumnFamily(), BlobKey(blob_id), &value)
      .ok();
}

Status IndexCache::Merge(const Id& index_id, const IndexObject& index) {
  rocksdb::WriteBatch batch;
  // What this batch puts, by blob: an index object may list a blob twice.
  std::unordered_map<Id, BlobEntry, IdHash> put;
  for (const auto& pack : index.packs) {
    for (const auto& b : pack.blobs) {
      auto it = put.find(b.id);
      if (it != put.end()) {
        if (!PreferredForm(b, it->second)) continue;
      } else {
        auto known = Lookup(b.id);
        if (!known.ok()) return known.status();
        if (known->has_value() && !PreferredForm(b, (*known)->entry)) continue;
      }
      std::string value(pack.pack_id.view());
      EncodeBlobEntry(b, &value);
      batch.Put(BlobKey(b.id), value);
      put[b.id] = b;
    }
  }
  std::string seen = "i";
  seen.append(index_id.view());
  batch.Put(seen, "");
  return FromRocks(impl_->db->Write(impl_->write_options, &batch), "index cache write");
}

Result<std::set<Id>> IndexCache::MergedIndexObjects() const {
  std::set<Id> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("i"); it->Valid() && it->key().starts_with("i"); it->Next()) {
    if (it->key().size() != 1 + Id::kSize) return Status::Corruption("index cache: bad key");
    out.insert(Id::FromBytes(std::string_view(it->key().data() + 1, Id::kSize)));
  }
  PGDEDUP_RETURN_IF_ERROR(FromRocks(it->status(), "index cache scan"));
  return out;
}

Status IndexCache::Clear() {
  rocksdb::WriteBatch batch;
  batch.DeleteRange("a", "z");
  return FromRocks(impl_->db->Write(impl_->write_options, &batch), "index cache clear");
}

Status IndexCache::ForEachBlob(const std::function<Status(const BlobLocation&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("b"); it->Valid() && it->key().starts_with("b"); it->Next()) {
    auto loc = DecodeLocation(it->key(), it->value().ToString());
    if (!loc.ok()) return loc.status();
    PGDEDUP_RETURN_IF_ERROR(fn(*loc));
  }
  return FromRocks(it->status(), "index cache scan");
}

}  // namespace pgdedup::repo

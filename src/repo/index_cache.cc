#include "repo/index_cache.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <functional>

namespace pgdedup::repo {

struct IndexCache::Impl {
  std::unique_ptr<rocksdb::DB> db;
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
  options.write_buffer_size = 16 << 20;
  options.keep_log_file_num = 2;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(32 << 20);  // bounds memory whatever the size
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return FromRocks(s, "open index cache " + dir);
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
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
  return impl_->db->Get(rocksdb::ReadOptions(), impl_->db->DefaultColumnFamily(), BlobKey(blob_id),
                        &value)
      .ok();
}

Status IndexCache::Merge(const Id& index_id, const IndexObject& index) {
  rocksdb::WriteBatch batch;
  for (const auto& pack : index.packs) {
    for (const auto& b : pack.blobs) {
      std::string value(pack.pack_id.view());
      EncodeBlobEntry(b, &value);
      batch.Put(BlobKey(b.id), value);
    }
  }
  std::string seen = "i";
  seen.append(index_id.view());
  batch.Put(seen, "");
  return FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &batch), "index cache write");
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
  return FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &batch), "index cache clear");
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

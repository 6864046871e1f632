#include "repo/mark_set.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>

namespace pgdedup::repo {

struct MarkSet::Db {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;
  ~Db() {
    if (db) db->Close().PermitUncheckedError();
  }
};

namespace {

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption("mark set: " + what + ": " + s.ToString());
  return Status::IOError("mark set: " + what + ": " + s.ToString());
}

}  // namespace

MarkSet::MarkSet(std::string dir, std::unique_ptr<Db> db)
    : dir_(std::move(dir)), db_(std::move(db)) {}

MarkSet::~MarkSet() {
  db_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Result<std::unique_ptr<MarkSet>> MarkSet::Create(const std::string& parent) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return Status::IOError("create " + parent + ": " + ec.message());
  std::string dir = parent + "/marks-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return Status::FromErrno("mkdtemp in " + parent, errno);

  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = false;
  options.max_open_files = 64;
  options.keep_log_file_num = 1;
  options.write_buffer_size = 8 << 20;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(16 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    std::filesystem::remove_all(dir, ec);
    return FromRocks(s, "open " + dir);
  }
  auto db = std::make_unique<Db>();
  db->db.reset(raw);
  db->write_options.disableWAL = true;
  return std::unique_ptr<MarkSet>(new MarkSet(std::move(dir), std::move(db)));
}

Status MarkSet::Put(const Id& id, std::string_view value) {
  batch_[id].assign(value);
  if (batch_.size() >= kBatchSize) return Flush();
  return Status::OK();
}

Result<std::optional<std::string>> MarkSet::Get(const Id& id) {
  if (auto it = batch_.find(id); it != batch_.end()) {
    return std::optional<std::string>(it->second);
  }
  std::string value;
  rocksdb::Status s = db_->db->Get(rocksdb::ReadOptions(), id.view(), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "get");
  return std::optional<std::string>(std::move(value));
}

Status MarkSet::Flush() {
  if (batch_.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const auto& [id, value] : batch_) batch.Put(id.view(), value);
  PGDEDUP_RETURN_IF_ERROR(FromRocks(db_->db->Write(db_->write_options, &batch), "write"));
  batch_.clear();
  return Status::OK();
}

Status MarkSet::ForEach(const std::function<Status(const Id& id, std::string_view value)>& fn) {
  PGDEDUP_RETURN_IF_ERROR(Flush());
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != Id::kSize) return Status::Corruption("mark set: bad key");
    PGDEDUP_RETURN_IF_ERROR(fn(Id::FromBytes(std::string_view(it->key().data(), Id::kSize)),
                               std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "scan");
}

}  // namespace pgdedup::repo

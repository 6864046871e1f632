#include "pg/connection.h"

#include <libpq-fe.h>

#include <cstring>

namespace pgdedup::pg {

namespace {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct ConninfoDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string Trim(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

struct Connection::Impl {
  std::unique_ptr<PGconn, ConnDeleter> conn;
  PGcancel* cancel = nullptr;  // taken at connection time, for Cancel() from any thread
  // The COPY row being handed out by ReadCopy, and how much of it is left.
  char* copy_row = nullptr;
  int copy_len = 0;
  int copy_pos = 0;
  bool copy_done = false;
  std::string client_encoding = "UTF8";

  ~Impl() {
    if (copy_row) PQfreemem(copy_row);
    if (cancel) PQfreeCancel(cancel);
  }
  Status Error(const std::string& what) const {
    return Status::SourceError(what + ": " + Trim(PQerrorMessage(conn.get())));
  }
  Status CheckResult(PGresult* r, const std::string& what) const {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_OUT ||
        st == PGRES_COPY_IN) {
      return Status::OK();
    }
    return Status::SourceError(what + ": " + Trim(PQresultErrorMessage(r)));
  }
};

namespace {

// `text` between two `quote`s, each `quote` in it doubled.
std::string QuoteDoubling(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char ch : text) {
    out.push_back(ch);
    if (ch == quote) out.push_back(quote);
  }
  out.push_back(quote);
  return out;
}

}  // namespace

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo) {
  auto impl = std::make_unique<Impl>();
  // The conninfo (or URL) as given, expanded by libpq; sessions show as "pgdedup" in
  // pg_stat_activity unless it names an application itself.
  const char* keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "pgdedup", nullptr};
  impl->conn.reset(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (!impl->conn) return Status::SourceError("cannot allocate a PostgreSQL connection");
  if (PQstatus(impl->conn.get()) != CONNECTION_OK) {
    return Status::SourceError("cannot connect to PostgreSQL: " +
                               Trim(PQerrorMessage(impl->conn.get())));
  }
  impl->cancel = PQgetCancel(impl->conn.get());
  const char* server_encoding = PQparameterStatus(impl->conn.get(), "server_encoding");
  if (server_encoding != nullptr && std::string_view(server_encoding) == "SQL_ASCII") {
    impl->client_encoding = "SQL_ASCII";
  }
  std::unique_ptr<Connection> c(new Connection(std::move(impl)));
  // Dumps must not depend on the session's settings, and no timeout set for the application's
  // sessions (ALTER ROLE/DATABASE ... SET) may end a long backup or restore part way: a
  // backup's snapshot is one transaction that lasts as long as the backup (transaction_timeout,
  // PostgreSQL 17), and a session may wait idle while others work (idle_session_timeout, 14).
  std::string setup =
      "SET client_encoding = '" + c->ClientEncoding() +
      "'; SET DateStyle = ISO; SET IntervalStyle = postgres; "
      "SET extra_float_digits = 3; SET search_path = pg_catalog; SET bytea_output = hex; "
      "SET statement_timeout = 0; SET standard_conforming_strings = on";
  if (c->ServerVersion() >= 90300) setup += "; SET lock_timeout = 0";
  if (c->ServerVersion() >= 90600) setup += "; SET idle_in_transaction_session_timeout = 0";
  if (c->ServerVersion() >= 140000) setup += "; SET idle_session_timeout = 0";
  if (c->ServerVersion() >= 170000) setup += "; SET transaction_timeout = 0";
  PGDEDUP_RETURN_IF_ERROR(c->Exec(setup));
  return c;
}

Status Connection::Cancel() {
  if (impl_->cancel == nullptr) return Status::SourceError("this connection cannot be cancelled");
  char err[256] = {0};
  if (PQcancel(impl_->cancel, err, sizeof(err)) != 1) {
    return Status::SourceError(std::string("cancelling a statement: ") + Trim(err));
  }
  return Status::OK();
}

Status Connection::Exec(const std::string& sql) {
  ResultPtr r(PQexec(impl_->conn.get(), sql.c_str()));
  if (!r) return impl_->Error("query failed");
  return impl_->CheckResult(r.get(), "query failed");
}

Result<std::vector<Row>> Connection::Query(const std::string& sql,
                                           const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  ResultPtr r(PQexecParams(impl_->conn.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0));
  if (!r) return impl_->Error("query failed");
  PGDEDUP_RETURN_IF_ERROR(impl_->CheckResult(r.get(), "query failed"));
  std::vector<Row> rows(PQntuples(r.get()));
  int cols = PQnfields(r.get());
  for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
    rows[i].resize(cols);
    for (int j = 0; j < cols; ++j) {
      if (!PQgetisnull(r.get(), i, j)) {
        rows[i][j] = std::string(PQgetvalue(r.get(), i, j), PQgetlength(r.get(), i, j));
      }
    }
  }
  return rows;
}

Result<std::string> Connection::QueryValue(const std::string& sql,
                                           const std::vector<std::string>& params) {
  auto rows = Query(sql, params);
  if (!rows.ok()) return rows.status();
  if (rows->size() != 1 || (*rows)[0].size() != 1 || !(*rows)[0][0]) {
    return Status::SourceError("expected one value from: " + sql);
  }
  return *(*rows)[0][0];
}

Status Connection::BeginCopyOut(const std::string& copy_sql) {
  ResultPtr r(PQexec(impl_->conn.get(), copy_sql.c_str()));
  if (!r) return impl_->Error("COPY failed");
  if (PQresultStatus(r.get()) != PGRES_COPY_OUT) {
    return Status::SourceError("COPY failed: " + Trim(PQresultErrorMessage(r.get())));
  }
  impl_->copy_done = false;
  return Status::OK();
}

Result<size_t> Connection::ReadCopy(char* buf, size_t n) {
  size_t out = 0;
  while (out < n) {
    if (impl_->copy_row != nullptr) {
      size_t k = std::min<size_t>(n - out, impl_->copy_len - impl_->copy_pos);
      std::memcpy(buf + out, impl_->copy_row + impl_->copy_pos, k);
      out += k;
      impl_->copy_pos += static_cast<int>(k);
      if (impl_->copy_pos == impl_->copy_len) {
        PQfreemem(impl_->copy_row);
        impl_->copy_row = nullptr;
      }
      continue;
    }
    if (impl_->copy_done) break;
    char* row = nullptr;
    int len = PQgetCopyData(impl_->conn.get(), &row, /*async=*/0);
    if (len > 0) {
      impl_->copy_row = row;
      impl_->copy_len = len;
      impl_->copy_pos = 0;
      continue;
    }
    if (len == -2) return impl_->Error("COPY failed");
    // -1: the COPY is over; its final result says whether it succeeded.
    impl_->copy_done = true;
    ResultPtr r(PQgetResult(impl_->conn.get()));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return Status::SourceError("COPY failed: " + Trim(r ? PQresultErrorMessage(r.get())
                                                          : PQerrorMessage(impl_->conn.get())));
    }
    while (PGresult* extra = PQgetResult(impl_->conn.get())) PQclear(extra);
  }
  return out;
}

Status Connection::BeginCopyIn(const std::string& copy_sql) {
  ResultPtr r(PQexec(impl_->conn.get(), copy_sql.c_str()));
  if (!r) return impl_->Error("COPY failed");
  if (PQresultStatus(r.get()) != PGRES_COPY_IN) {
    return Status::SourceError("COPY failed: " + Trim(PQresultErrorMessage(r.get())));
  }
  return Status::OK();
}

Status Connection::WriteCopy(std::string_view data) {
  while (!data.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 30));
    if (PQputCopyData(impl_->conn.get(), data.data(), chunk) != 1) {
      return impl_->Error("COPY failed");
    }
    data.remove_prefix(chunk);
  }
  return Status::OK();
}

Status Connection::EndCopyIn(const char* error) {
  if (PQputCopyEnd(impl_->conn.get(), error) != 1) return impl_->Error("COPY failed");
  ResultPtr r(PQgetResult(impl_->conn.get()));
  Status s = r ? impl_->CheckResult(r.get(), "COPY failed") : impl_->Error("COPY failed");
  while (PGresult* extra = PQgetResult(impl_->conn.get())) PQclear(extra);
  return s;
}

// libpq refuses to escape bytes that are not valid in the session's client_encoding (a
// SQL_ASCII database's Latin-1 name on a UTF8 session); quoting by doubling the quote character
// is then still correct (standard_conforming_strings is on for literals), and the server
// reports the bytes it cannot take.
std::string Connection::QuoteIdent(std::string_view ident) const {
  char* q = PQescapeIdentifier(impl_->conn.get(), ident.data(), ident.size());
  if (q == nullptr) return QuoteDoubling(ident, '"');
  std::string out = q;
  PQfreemem(q);
  return out;
}

std::string Connection::QuoteLiteral(std::string_view literal) const {
  char* q = PQescapeLiteral(impl_->conn.get(), literal.data(), literal.size());
  if (q == nullptr) return QuoteDoubling(literal, '\'');
  std::string out = q;
  PQfreemem(q);
  return out;
}

int Connection::ServerVersion() const { return PQserverVersion(impl_->conn.get()); }

const std::string& Connection::ClientEncoding() const { return impl_->client_encoding; }

namespace {
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

Result<ConninfoPtr> ParseConninfo(const std::string& conninfo) {
  char* err = nullptr;
  ConninfoPtr opts(PQconninfoParse(conninfo.c_str(), &err));
  if (!opts) {
    std::string msg = err ? Trim(err) : "unparsable";
    PQfreemem(err);
    return Status::InvalidArgument("bad --db conninfo: " + msg);
  }
  return opts;
}
}  // namespace

Result<std::string> WithDatabase(const std::string& conninfo, const std::string& dbname) {
  auto parsed = ParseConninfo(conninfo);
  if (!parsed.ok()) return parsed.status();
  PQconninfoOption* opts = parsed->get();
  std::string out;
  auto append = [&out](const char* key, const std::string& value) {
    std::string v;
    for (char c : value) {
      if (c == '\'' || c == '\\') v.push_back('\\');
      v.push_back(c);
    }
    out += std::string(out.empty() ? "" : " ") + key + "='" + v + "'";
  };
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "dbname") == 0) continue;
    if (o->val != nullptr && *o->val != '\0') append(o->keyword, o->val);
  }
  append("dbname", dbname);
  return out;
}

Result<std::optional<std::string>> ExplicitDatabaseOf(const std::string& conninfo) {
  auto parsed = ParseConninfo(conninfo);
  if (!parsed.ok()) return parsed.status();
  for (PQconninfoOption* o = parsed->get(); o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "dbname") == 0 && o->val && *o->val) {
      return std::optional<std::string>(o->val);
    }
  }
  return std::optional<std::string>();
}

Result<std::string> DatabaseOf(const std::string& conninfo) {
  auto parsed = ParseConninfo(conninfo);
  if (!parsed.ok()) return parsed.status();
  for (PQconninfoOption* o = parsed->get(); o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "dbname") == 0 && o->val && *o->val) return std::string(o->val);
  }
  if (const char* env = getenv("PGDATABASE"); env && *env) return std::string(env);
  if (const char* env = getenv("PGUSER"); env && *env) return std::string(env);
  return Status::InvalidArgument("--db does not name a database (dbname=...)");
}

}  // namespace pgdedup::pg

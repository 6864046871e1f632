// Connection: one libpq connection to a PostgreSQL server, the only place libpq is used.
//
//   auto conn = Connection::Open("host=/run/postgresql dbname=shop");
//   auto rows = (*conn)->Query("SELECT relname FROM pg_class");
//   (*conn)->CopyOut("COPY t TO STDOUT", sink);
//
// Every failure is a SourceError status carrying the server's message (exit code 6), a
// password the server rejects included: it is the database's password, not the repository's.
//
// Thread safety: a Connection is used by one thread at a time, except Cancel().
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pgdedup::pg {

using Row = std::vector<std::optional<std::string>>;  // nullopt for SQL NULL

class Connection {
 public:
  // Connects. The usual PG* environment variables apply to whatever `conninfo` (a conninfo
  // string, a URL, or a database name) leaves out. The session's application_name is
  // "pgdedup" unless `conninfo` or PGAPPNAME names another, so a DBA sees whose it is.
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs statements that return no rows.
  Status Exec(const std::string& sql);
  // Runs a query with text parameters ($1, $2, ...) and returns every row (small results only).
  Result<std::vector<Row>> Query(const std::string& sql,
                                 const std::vector<std::string>& params = {});
  // The single value of a one-row, one-column query.
  Result<std::string> QueryValue(const std::string& sql,
                                 const std::vector<std::string>& params = {});

  // Starts `COPY ... TO STDOUT`; then ReadCopy until it returns 0.
  Status BeginCopyOut(const std::string& copy_sql);
  // Reads up to n bytes of COPY data (whole rows are split across calls as needed). Returns 0
  // at the end of the data, after checking the COPY succeeded.
  Result<size_t> ReadCopy(char* buf, size_t n);

  // Starts `COPY ... FROM STDIN`; then WriteCopy any number of times and EndCopyIn.
  Status BeginCopyIn(const std::string& copy_sql);
  Status WriteCopy(std::string_view data);
  // Ends the COPY and reports the server's verdict (e.g. a bad row).
  // With `error`, the COPY is abandoned instead: the server fails it with that message (the
  // returned status is that failure).
  Status EndCopyIn(const char* error = nullptr);

  // Quotes an identifier or a literal for SQL text.
  std::string QuoteIdent(std::string_view ident) const;
  std::string QuoteLiteral(std::string_view literal) const;

  // server_version_num, e.g. 150018.
  int ServerVersion() const;

  // The client_encoding of pgdedup's SQL and COPY data on this session: "UTF8", or
  // "SQL_ASCII" in a database whose encoding is SQL_ASCII. Such a database holds bytes in no
  // particular encoding (often Latin-1 left by an old application); with UTF8 the server would
  // refuse to send or take any byte sequence that is not valid UTF-8, as pg_dump, which uses
  // the database's encoding, does not.
  const std::string& ClientEncoding() const;

  // Asks the server to cancel the statement this connection is running, if any (PQcancel):
  // that statement then fails with "canceling statement due to user request". Unlike every
  // other method, safe to call from another thread while the connection is in use.
  Status Cancel();

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The conninfo with its database replaced by `dbname` (other settings kept), for reaching a
// maintenance database on the same server. InvalidArgument for an unparsable conninfo.
Result<std::string> WithDatabase(const std::string& conninfo, const std::string& dbname);
// The database a conninfo names (or $PGDATABASE, or the user name, as libpq decides).
Result<std::string> DatabaseOf(const std::string& conninfo);
// The database a conninfo names itself (`dbname=` or a URL's path), or nullopt: then libpq
// picks one from a service file, the environment or the user name.
Result<std::optional<std::string>> ExplicitDatabaseOf(const std::string& conninfo);

}  // namespace pgdedup::pg

// DumpScript: a plain-text pg_dump section (pre-data or post-data, made with
// --quote-all-identifiers) cut into its entries, so that one table's definition can be taken
// out of a snapshot's schema.
//
// pg_dump writes each object of its table of contents as
//
//   --
//   -- Name: <name>; Type: <type>; Schema: <schema or ->; Owner: <owner or ->[; Tablespace: <t>]
//   --
//   <SQL>
//
// after a preamble of SET commands (and a \restrict line), and ends with a "dump complete"
// comment (and \unrestrict). Names in the headers are raw; in the SQL every identifier is
// double-quoted. ParseDumpScript keeps every byte: preamble + entries' texts + epilogue is the
// input.
//
// SelectTableObjects picks what belongs to one table: its CREATE TABLE, the sequences it owns
// or whose identity it is, column defaults, comments and grants, partition attachment; from
// post-data its constraints, indexes (and their partition-index attachments), triggers, rules
// and policies. Foreign keys are listed apart, since they depend on other tables. Views,
// functions and types the table depends on are not included.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pgdedup::pg {

struct DumpEntry {
  std::string name;        // raw, as in the header
  std::string type;        // "TABLE", "SEQUENCE OWNED BY", "FK CONSTRAINT", ...
  std::string schema;      // raw; empty for "-"
  std::string owner;       // raw; empty for "-"
  std::string tablespace;  // raw, when the header names one ("; Tablespace: T"); else empty
  std::string text;        // the whole entry, header included
  // The session settings in force at the entry's header that pg_dump sets only when they change
  // (SET default_tablespace, default_table_access_method, search_path, SESSION AUTHORIZATION):
  // their last SET lines before the entry, anywhere in the script. pg_dump writes them just
  // before an entry's header, so they end the previous entry's text; whoever runs entries apart
  // from their script runs `settings + text`.
  std::string settings;
};

struct DumpScript {
  std::string preamble;  // everything before the first entry
  std::vector<DumpEntry> entries;
  std::string epilogue;  // the "dump complete" trailer, when present
};

DumpScript ParseDumpScript(std::string_view text);

// The session settings of the script's preamble (its SET and set_config lines), without psql
// meta-commands such as \restrict: what a connection runs before entries sent through libpq.
std::string PreambleSettings(const DumpScript& d);

// Whether the preamble holds nothing but comments, blank lines, SET and set_config lines and
// psql's \restrict (as pg_dump writes it): then it has no effect beyond a session's settings.
bool PreambleIsSettingsOnly(const DumpScript& d);

// An identifier as pg_dump --quote-all-identifiers writes it: "a""b".
std::string QuoteDumpIdent(std::string_view ident);

// What a restore leaves out of a script, as pg_restore's --no-owner, --no-privileges and
// --no-tablespaces do:
struct ScriptOmissions {
  // each object's `ALTER ... OWNER TO "role";` (pg_dump writes it on a line of its own right
  // after the object's definition, to the owner its header names): objects then belong to
  // the role that restores them;
  bool owner = false;
  // the ACL, DEFAULT ACL and ACL LANGUAGE entries (GRANT, REVOKE, ALTER DEFAULT PRIVILEGES);
  bool privileges = false;
  // the tablespaces pg_dump selects with `SET default_tablespace = "t";` (each such line sets
  // '' instead): objects then go to the database's default tablespace.
  bool tablespaces = false;
};

// The script without what `o` leaves out. An entry that follows an omitted one starts with
// its session settings (DumpEntry::settings), which the omitted entry's text may have carried.
std::string OmitFromScript(std::string_view script, const ScriptOmissions& o);

// What a script needs on the server that runs it (raw names):
struct ScriptNeeds {
  std::set<std::string> owners;       // roles given objects by ALTER ... OWNER TO
  std::set<std::string> privileges;   // roles granted to, revoked from, granting, or whose
                                      // default privileges are set, in ACL and DEFAULT ACL entries
  std::set<std::string> policies;     // roles named by CREATE POLICY ... TO
  std::set<std::string> tablespaces;  // selected by SET default_tablespace
};
// Adds what `d` needs to *needs. Only statements in the exact forms pg_dump writes are read; a
// name in any other form is left out rather than guessed (a server that lacks it still stops
// the script, with its own error).
void CollectScriptNeeds(const DumpScript& d, ScriptNeeds* needs);

struct TableName {
  std::string schema;
  std::string table;
  std::string Quoted() const { return QuoteDumpIdent(schema) + "." + QuoteDumpIdent(table); }
};

struct TableObjects {
  bool found = false;        // pre-data has the table's CREATE TABLE
  bool partitioned = false;  // ... and it is PARTITION BY (its rows live in its partitions)
  std::string pre_data;      // a script: preamble, the selected entries, epilogue
  std::string post_data;     // likewise, without foreign keys
  // The entries selected, as indexes into pre.entries and post.entries (in order): to run the
  // objects of several tables together in the dump's order.
  std::vector<size_t> pre_entries, post_entries;
  std::vector<std::string> foreign_keys;  // one script each
  std::vector<TableName> sequences;       // the sequences the table owns
};

TableObjects SelectTableObjects(const DumpScript& pre, const DumpScript& post,
                                const TableName& table);

// The script creating a schema (with its comment and grants); empty when pre-data does not
// create it (the public schema).
std::string SchemaScript(const DumpScript& pre, const std::string& schema);

// The table an INDEX or CONSTRAINT entry builds on, as the dump quotes it ("schema"."table"):
// what `CREATE [UNIQUE] INDEX "i" ON [ONLY] ...` or `ALTER TABLE [ONLY] ... ADD CONSTRAINT`
// names. Empty for other entries, or when the SQL does not read that way.
std::string EntryTable(const DumpEntry& e);

// The two tables of an "FK CONSTRAINT" entry, as the dump quotes them: `ALTER TABLE [ONLY]
// <table> ADD CONSTRAINT "c" FOREIGN KEY (...) REFERENCES <referenced>(...)`. Both empty for
// other entries, or when the SQL does not read that way.
struct ForeignKey {
  std::string table;
  std::string referenced;
};
ForeignKey ForeignKeyTables(const DumpEntry& e);

// The partitions attached to `parent` (one level).
std::vector<TableName> PartitionsOf(const DumpScript& pre, const TableName& parent);

}  // namespace pgdedup::pg

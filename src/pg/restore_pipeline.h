// The tables of a whole-database restore, loaded and indexed on `jobs` connections at once,
// each table's indexes built as soon as its rows are in (as pg_restore -j overlaps them).
//
// SplitPostData cuts a snapshot's post-data script (dump_script.h) in three:
//   - per table, its INDEX and CONSTRAINT entries: primary keys, unique, check and exclusion
//     constraints, and plain indexes;
//   - the foreign keys ("FK CONSTRAINT") between two tables that are both loaded;
//   - the rest, in the dump's order: the other foreign keys (on partitioned tables, which need
//     their index attachments), index attachments, triggers, rules, policies, comments,
//     materialized view data. Nothing in it comes before a foreign key taken out (comments on
//     a constraint follow it).
//
// LoadAndBuild then runs, on `options.jobs` workers (each with a loading connection, and a
// second connection for DDL that first runs the script's preamble settings):
//   load T      COPY into T (LoadTable);
//   build T     T's entries in turn, each its own transaction: ready once T and its
//               inheritance descendants are loaded (the entries of one table lock each
//               other, so they share a connection);
//   analyze T   ANALYZE T right after build T (its statistics then cover its descendants'
//               rows too), unless the script creates extended statistics (CREATE STATISTICS
//               is in the rest, and ANALYZE must follow it) or options.analyze is false; a
//               failure leaves T to AnalyzeInParallel at the end, which warns if it fails
//               again;
//   fk F        a foreign key, once both its tables are built (and analyzed): its check of
//               every row then uses the referenced table's new unique index.
// A free worker takes the ready task (loads are ready from the start) with the most estimated
// work behind it whose tables no running task holds (a build locks its table, a foreign key
// both of its tables: they would only wait for each other), else waits for a task to finish.
// Work is estimated from the streams' bytes and rows; what is behind a load is its table's
// build and ANALYZE, then the foreign keys on it (one after another), or a parent's build. The
// groups of tables that have no stream (a partitioned parent, a materialized view) and entries
// whose table cannot be told run once every load is done. Finally the rest goes through psql,
// when an entry is left in it.
// The first failure stops every worker from taking more and is returned.
//
// With one job the post-data script is not cut: it runs whole through psql after the loads, as
// pg_dump wrote it.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "pg/database_restore.h"
#include "pg/dump_script.h"
#include "pg/restore_steps.h"
#include "repo/repository.h"

namespace pgdedup::pg {

struct PostDataPlan {
  DumpScript script;     // the parsed post-data script; the groups index its entries
  std::string settings;  // its preamble's session settings (PreambleSettings)
  struct Group {
    std::string table;            // "schema"."table" as the dump quotes it; empty if unknown
    std::vector<size_t> entries;  // indexes into script.entries, in the dump's order
  };
  std::vector<Group> groups;
  struct ForeignKey {
    size_t entry;       // index into script.entries
    std::string table;  // both quoted as the dump quotes them
    std::string referenced;
  };
  std::vector<ForeignKey> foreign_keys;
  std::string rest;  // a script for psql: preamble, the other entries in order, epilogue
  // Whether `rest` has anything to do: entries of its own, a script that is all preamble (not
  // cut by the parser, so run as it is), or a preamble with more than session settings. False
  // when every entry was taken out and the preamble holds only settings: they need no psql.
  bool rest_needed = true;
  // No extended statistics in the script: a table may be analyzed once its group is built.
  bool analyze_early = true;
};

// `loaded`: the tables that will be loaded, quoted as the dump quotes them ("schema"."table").
// With jobs <= 1 the plan has no groups or foreign keys and `rest` is the whole script. The
// indexes of a view or materialized view the script itself creates stay in `rest`, after it.
PostDataPlan SplitPostData(const std::string& post_data, int jobs,
                           const std::set<std::string>& loaded);

struct LoadAndBuildResult {
  LoadStats loaded;
  // When the last table's rows were committed (the end of the data phase).
  std::chrono::steady_clock::time_point loads_done;
  // The tables ANALYZE ran on, as (schema, table).
  std::set<std::pair<std::string, std::string>> analyzed;
};

// Loads `tables` and builds the groups of `post_data` (a snapshot's post-data script, split by
// SplitPostData for `options.jobs`), as above, then runs the rest through psql. With
// schema_only pass no tables; with data_only an empty script. `step` is called as each load
// and build starts.
Result<LoadAndBuildResult> LoadAndBuild(repo::Repository* repo,
                                        std::vector<const repo::StreamInfo*> tables,
                                        const std::string& post_data,
                                        const DatabaseRestoreOptions& options,
                                        const std::function<void(const std::string&)>& step);

}  // namespace pgdedup::pg

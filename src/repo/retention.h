// Retention: which snapshots a `forget` policy keeps. Pure functions of the snapshots' times,
// tags and origins; nothing here touches a repository.
//
// The policy (restic's semantics, which operators know):
//  - the rules combine as a union: a snapshot is kept when any rule keeps it, and every rule
//    that keeps it is named as a reason;
//  - --keep-last N keeps the N newest snapshots;
//  - --keep-hourly/daily/weekly/monthly/yearly N walk the snapshots newest first and keep the
//    first (so the newest) snapshot of each hour, local calendar day, ISO 8601 week (Monday to
//    Sunday, weeks numbered by the year their Thursday falls in), calendar month or year, until N
//    such buckets have a snapshot. A bucket without snapshots (a missed night) does not count:
//    7 daily always keeps 7 snapshots when there are 7 days with one;
//  - --keep-within D keeps every snapshot no older than D before the newest snapshot of its
//    group (not before now: a repository whose backups stopped must not lose everything);
//  - --keep-tag T keeps every snapshot that carries tag T.
// Buckets use the local time zone of this process (set TZ to choose another), as does --time.
// A policy is applied to each group of snapshots separately; by default a group is one host and
// one database (for a stream backup: its stream names).
//
// Thread safety: pure functions (localtime_r, mktime).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "repo/repository.h"

namespace pgdedup::repo {

// A span of calendar time: "1y6m" (a year and six months), "2w", "36h", "1y2m3w4d5h".
struct CalendarDuration {
  int years = 0;
  int months = 0;
  int days = 0;  // weeks count as 7 days
  int hours = 0;
  std::string text;  // as given
};
// InvalidArgument unless `s` is one or more <number><unit> with unit y, m (months), w, d or h.
Result<CalendarDuration> ParseCalendarDuration(std::string_view s);
// The unix time `d` before `time`, counted in local calendar time (a month before March 31st
// is March 3rd in a non-leap year, as mktime normalises it).
int64_t Subtract(int64_t time, const CalendarDuration& d);

struct RetentionPolicy {
  int last = 0;
  int hourly = 0;
  int daily = 0;
  int weekly = 0;
  int monthly = 0;
  int yearly = 0;
  bool has_within = false;
  CalendarDuration within;
  std::vector<std::string> tags;

  // True when no rule is given: such a policy would forget everything, and is refused.
  bool Empty() const;
};

// One snapshot as the policy sees it.
struct RetentionItem {
  int64_t time = 0;
  uint32_t time_nsec = 0;
  std::vector<std::string> tags;
};

struct RetentionVerdict {
  bool keep = false;
  // The rules that keep it: "last", "hourly", "daily", "weekly", "monthly", "yearly",
  // "within 30d", "tag prod". Empty when it is forgotten.
  std::vector<std::string> reasons;
};

// Applies `policy` to one group. Returns one verdict per item, in the order of `items` (which
// may come in any order). REQUIRES: !policy.Empty().
std::vector<RetentionVerdict> ApplyRetention(const std::vector<RetentionItem>& items,
                                             const RetentionPolicy& policy);

// What snapshots are grouped by.
struct GroupBy {
  bool host = true;
  bool database = true;
  bool tags = false;
};
// "host,database" (the default), any comma-separated subset of host, database, tags, or ""
// (one group). InvalidArgument for anything else.
Result<GroupBy> ParseGroupBy(std::string_view s);
// The origin a snapshot is grouped under as its database: the database of a native backup,
// else its stream names joined by ",".
std::string SnapshotDatabase(const Manifest& m);

struct RetentionGroup {
  // The grouping values (empty when not grouped by them).
  std::string hostname;
  std::string database;
  std::vector<std::string> tags;
  // The group's snapshots, newest first, each with its verdict.
  struct Entry {
    const SnapshotRef* snapshot;
    RetentionVerdict verdict;
  };
  std::vector<Entry> entries;
};

// Groups `snapshots` by `group_by` and applies `policy` to each group. Groups are ordered by
// their keys. The entries point into `snapshots`, which must outlive the result.
// REQUIRES: !policy.Empty().
std::vector<RetentionGroup> PlanRetention(const std::vector<SnapshotRef>& snapshots,
                                          const RetentionPolicy& policy, const GroupBy& group_by);

}  // namespace pgdedup::repo

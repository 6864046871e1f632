// The retention policy (repo/retention.h) against expectations worked out by hand from a
// calendar, not from the implementation.
#include "repo/retention.h"

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <ctime>
#include <map>
#include <string>

using namespace pgdedup;
using namespace pgdedup::repo;

namespace {

// Sets TZ for the test's duration.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    had_ = std::getenv("TZ") != nullptr;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (had_) {
      ::setenv("TZ", old_.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::string old_;
  bool had_ = false;
};

// "YYYY-MM-DD HH:MM" local time as unix seconds.
int64_t At(const char* s) {
  struct tm tm = {};
  REQUIRE(strptime(s, "%Y-%m-%d %H:%M", &tm) != nullptr);
  tm.tm_isdst = -1;
  return static_cast<int64_t>(mktime(&tm));
}

std::string Day(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The kept items as "day -> reasons".
std::map<std::string, std::string> Kept(const std::vector<RetentionItem>& items,
                                        const RetentionPolicy& policy) {
  auto verdicts = ApplyRetention(items, policy);
  REQUIRE(verdicts.size() == items.size());
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < items.size(); ++i) {
    CHECK(verdicts[i].keep == !verdicts[i].reasons.empty());
    if (verdicts[i].keep) out[Day(items[i].time)] = Join(verdicts[i].reasons);
  }
  return out;
}

}  // namespace

TEST_CASE("7 daily, 4 weekly, 12 monthly over a year and two months of nightly snapshots",
          "[retention]") {
  ScopedTimeZone tz("Europe/Paris");  // daylight saving changes inside the range
  // Every night at 02:00 from 2025-10-01 to 2026-11-23, but for 2026-11-19 (a missed night).
  // (02:00 on 2026-03-29 does not exist in Paris; mktime makes it 03:00, the same day.)
  std::vector<RetentionItem> items;
  struct tm night = {};
  night.tm_year = 2025 - 1900;
  night.tm_mon = 9;
  night.tm_mday = 1;
  night.tm_hour = 2;
  for (;; night.tm_mday++) {  // mktime normalises the day of the month
    struct tm copy = night;
    copy.tm_isdst = -1;
    int64_t t = static_cast<int64_t>(mktime(&copy));
    if (Day(t) > "2026-11-23") break;
    if (Day(t) != "2026-11-19") items.push_back({t, 0, {}});
  }
  REQUIRE(items.size() == 418);

  RetentionPolicy policy;
  policy.daily = 7;
  policy.weekly = 4;
  policy.monthly = 12;
  // Worked out on a calendar. 2026-11-23 is a Monday (ISO week 48); the seven newest days with a
  // snapshot skip the missed 19th; ISO week 47 (Nov 16-22) is held by Sunday the 22nd, weeks 46
  // and 45 by Sundays 15th and 8th. Months: the last day of each month with a snapshot, back to
  // December 2025 — whose 31st, a Wednesday, lies in ISO week 1 of 2026.
  std::map<std::string, std::string> expected = {
      {"2026-11-23", "daily,weekly,monthly"},
      {"2026-11-22", "daily,weekly"},
      {"2026-11-21", "daily"},
      {"2026-11-20", "daily"},
      {"2026-11-18", "daily"},
      {"2026-11-17", "daily"},
      {"2026-11-16", "daily"},
      {"2026-11-15", "weekly"},
      {"2026-11-08", "weekly"},
      {"2026-10-31", "monthly"},
      {"2026-09-30", "monthly"},
      {"2026-08-31", "monthly"},
      {"2026-07-31", "monthly"},
      {"2026-06-30", "monthly"},
      {"2026-05-31", "monthly"},
      {"2026-04-30", "monthly"},
      {"2026-03-31", "monthly"},
      {"2026-02-28", "monthly"},
      {"2026-01-31", "monthly"},
      {"2025-12-31", "monthly"},
  };
  CHECK(Kept(items, policy) == expected);

  // The input order does not matter.
  std::reverse(items.begin(), items.end());
  CHECK(Kept(items, policy) == expected);
}

TEST_CASE("weekly buckets are ISO weeks across year ends", "[retention]") {
  ScopedTimeZone tz("UTC");
  RetentionPolicy policy;
  policy.weekly = 3;
  // 2020-12-28 (Mon) .. 2021-01-03 (Sun) is ISO week 53 of 2020; 2021-01-04 starts week 1.
  std::vector<RetentionItem> items = {{At("2020-12-28 01:00")},
                                      {At("2021-01-01 01:00")},
                                      {At("2021-01-03 01:00")},
                                      {At("2021-01-04 01:00")},
                                      {At("2020-12-27 01:00")}};  // Sunday of week 52
  CHECK(Kept(items, policy) == std::map<std::string, std::string>{{"2021-01-04", "weekly"},
                                                                  {"2021-01-03", "weekly"},
                                                                  {"2020-12-27", "weekly"}});
  // 2024-12-30 (Mon) already belongs to ISO week 1 of 2025, with 2025-01-05 (Sun).
  items = {{At("2024-12-29 01:00")}, {At("2024-12-30 01:00")}, {At("2025-01-05 01:00")}};
  policy.weekly = 2;
  CHECK(Kept(items, policy) ==
        std::map<std::string, std::string>{{"2025-01-05", "weekly"}, {"2024-12-29", "weekly"}});
}

TEST_CASE("the newest snapshot of a bucket is kept, and rules combine as a union", "[retention]") {
  ScopedTimeZone tz("UTC");
  std::vector<RetentionItem> items = {
      {At("2026-03-01 01:00"), 0, {}},        {At("2026-03-01 13:00"), 0, {"manual"}},
      {At("2026-03-01 23:00"), 0, {}},        {At("2026-03-02 01:00"), 0, {}},
      {At("2026-02-10 01:00"), 0, {"audit"}}, {At("2025-06-01 01:00"), 0, {}},
  };
  RetentionPolicy policy;
  policy.daily = 2;
  policy.yearly = 2;
  policy.tags = {"audit"};
  auto verdicts = ApplyRetention(items, policy);
  CHECK_FALSE(verdicts[0].keep);  // 01:00 on March 1st: the 23:00 one is newer that day
  CHECK_FALSE(verdicts[1].keep);
  CHECK(Join(verdicts[2].reasons) == "daily");
  CHECK(Join(verdicts[3].reasons) == "daily,yearly");
  CHECK(Join(verdicts[4].reasons) == "tag audit");
  CHECK(Join(verdicts[5].reasons) == "yearly");

  policy = RetentionPolicy();
  policy.last = 2;
  policy.hourly = 1;
  verdicts = ApplyRetention(items, policy);
  CHECK(Join(verdicts[3].reasons) == "last,hourly");
  CHECK(Join(verdicts[2].reasons) == "last");
  CHECK_FALSE(verdicts[1].keep);
}

TEST_CASE("keep-within counts back from the newest snapshot in calendar time", "[retention]") {
  ScopedTimeZone tz("UTC");
  auto d = ParseCalendarDuration("1m2d");
  REQUIRE(d.ok());
  CHECK(d->months == 1);
  CHECK(d->days == 2);
  // A month and two days before 2026-03-31 12:00 is 2026-02-29, which mktime makes March 1st.
  CHECK(Subtract(At("2026-03-31 12:00"), *d) == At("2026-03-01 12:00"));

  RetentionPolicy policy;
  policy.has_within = true;
  policy.within = *ParseCalendarDuration("10d");
  std::vector<RetentionItem> items = {
      {At("2026-01-20 00:00")}, {At("2026-01-10 00:00")}, {At("2026-01-09 23:59")}};
  auto verdicts = ApplyRetention(items, policy);
  CHECK(Join(verdicts[0].reasons) == "within 10d");
  CHECK(Join(verdicts[1].reasons) == "within 10d");  // exactly 10 days: kept
  CHECK_FALSE(verdicts[2].keep);

  CHECK(ParseCalendarDuration("1y2m3w4d5h")->days == 25);
  CHECK(ParseCalendarDuration("36h")->hours == 36);
  for (const char* bad : {"", "d", "10", "5x", "1d-", "-1d"}) {
    INFO(bad);
    CHECK(ParseCalendarDuration(bad).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("an empty policy is empty; groups are per host and database", "[retention]") {
  ScopedTimeZone tz("UTC");
  RetentionPolicy policy;
  CHECK(policy.Empty());
  policy.daily = 0;
  CHECK(policy.Empty());
  policy.tags = {"x"};
  CHECK_FALSE(policy.Empty());

  auto snap = [](const char* host, const char* db, const char* when, uint8_t tag) {
    SnapshotRef s;
    s.id.bytes[0] = tag;
    s.manifest.hostname = host;
    s.manifest.time = At(when);
    if (db[0] == '@') {
      s.manifest.streams.push_back({});
      s.manifest.streams.back().name = db + 1;  // a stream backup: grouped by stream name
    } else {
      s.manifest.database = db;
    }
    return s;
  };
  std::vector<SnapshotRef> snaps = {
      snap("a", "shop", "2026-01-01 01:00", 1),      snap("a", "shop", "2026-01-02 01:00", 2),
      snap("a", "crm", "2026-01-01 01:00", 3),       snap("b", "shop", "2026-01-01 01:00", 4),
      snap("a", "@dump.sql", "2026-01-01 01:00", 5),
  };
  RetentionPolicy last1;
  last1.last = 1;
  auto groups = PlanRetention(snaps, last1, GroupBy{});
  REQUIRE(groups.size() == 4);
  size_t kept = 0;
  for (const auto& g : groups) {
    for (const auto& e : g.entries) kept += e.verdict.keep;
    CHECK(g.entries.front().verdict.keep);  // newest first, and kept
  }
  CHECK(kept == 4);  // only the older a/shop snapshot goes

  auto by_host = ParseGroupBy("host");
  REQUIRE(by_host.ok());
  groups = PlanRetention(snaps, last1, *by_host);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].hostname == "a");
  CHECK(groups[0].database.empty());
  CHECK(groups[0].entries.front().snapshot->id.bytes[0] == 2);

  auto none = ParseGroupBy("");
  REQUIRE(none.ok());
  CHECK(PlanRetention(snaps, last1, *none).size() == 1);
  CHECK_FALSE(ParseGroupBy("host,path").ok());
}

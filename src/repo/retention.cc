#include "repo/retention.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>

namespace pgdedup::repo {

namespace {

struct tm LocalTm(int64_t time) {
  time_t t = static_cast<time_t>(time);
  struct tm tm = {};
  localtime_r(&t, &tm);
  return tm;
}

// Bucket keys: two snapshots share a bucket exactly when their keys are equal.
int64_t HourKey(const struct tm& tm) {
  return ((int64_t{tm.tm_year} * 12 + tm.tm_mon) * 31 + tm.tm_mday) * 24 + tm.tm_hour;
}
int64_t DayKey(const struct tm& tm) {
  return (int64_t{tm.tm_year} * 12 + tm.tm_mon) * 31 + tm.tm_mday;
}
int64_t IsoWeekKey(const struct tm& tm) {
  // ISO 8601: %G is the year the week's Thursday falls in, %V the week number (01-53).
  char buf[16];
  std::strftime(buf, sizeof buf, "%G%V", &tm);
  return std::strtoll(buf, nullptr, 10);
}
int64_t MonthKey(const struct tm& tm) { return int64_t{tm.tm_year} * 12 + tm.tm_mon; }
int64_t YearKey(const struct tm& tm) { return tm.tm_year; }

struct BucketRule {
  const char* name;
  int count;
  int64_t (*key)(const struct tm&);
  std::optional<int64_t> last;
};

}  // namespace

Result<CalendarDuration> ParseCalendarDuration(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument("bad duration '" + std::string(s) +
                                   "': expected numbers with units y, m (months), w, d, h, "
                                   "e.g. 30d or 1y6m");
  };
  CalendarDuration d;
  d.text = std::string(s);
  if (s.empty()) return bad();
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    int64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = n * 10 + (s[i] - '0');
      if (n > 1000000) return bad();
      ++i;
    }
    if (i == start || i == s.size()) return bad();
    int v = static_cast<int>(n);
    switch (s[i++]) {
      case 'y':
        d.years += v;
        break;
      case 'm':
        d.months += v;
        break;
      case 'w':
        d.days += 7 * v;
        break;
      case 'd':
        d.days += v;
        break;
      case 'h':
        d.hours += v;
        break;
      default:
        return bad();
    }
  }
  return d;
}

int64_t Subtract(int64_t time, const CalendarDuration& d) {
  struct tm tm = LocalTm(time);
  tm.tm_year -= d.years;
  tm.tm_mon -= d.months;
  tm.tm_mday -= d.days;
  tm.tm_isdst = -1;  // the date moved: let mktime find its offset
  int64_t t = static_cast<int64_t>(mktime(&tm));
  return t - int64_t{d.hours} * 3600;
}

bool RetentionPolicy::Empty() const {
  return last <= 0 && hourly <= 0 && daily <= 0 && weekly <= 0 && monthly <= 0 && yearly <= 0 &&
         !has_within && tags.empty();
}

std::vector<RetentionVerdict> ApplyRetention(const std::vector<RetentionItem>& items,
                                             const RetentionPolicy& policy) {
  std::vector<RetentionVerdict> verdicts(items.size());
  if (items.empty()) return verdicts;
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (items[a].time != items[b].time) return items[a].time > items[b].time;
    return items[a].time_nsec > items[b].time_nsec;
  });

  BucketRule rules[] = {
      {"hourly", policy.hourly, HourKey, std::nullopt},
      {"daily", policy.daily, DayKey, std::nullopt},
      {"weekly", policy.weekly, IsoWeekKey, std::nullopt},
      {"monthly", policy.monthly, MonthKey, std::nullopt},
      {"yearly", policy.yearly, YearKey, std::nullopt},
  };
  const int64_t within_cutoff =
      policy.has_within ? Subtract(items[order.front()].time, policy.within) : 0;

  int last_left = policy.last;
  for (size_t i : order) {
    const RetentionItem& item = items[i];
    std::vector<std::string>& reasons = verdicts[i].reasons;
    if (last_left > 0) {
      reasons.push_back("last");
      last_left--;
    }
    const struct tm tm = LocalTm(item.time);
    for (BucketRule& rule : rules) {
      if (rule.count <= 0) continue;
      int64_t key = rule.key(tm);
      if (rule.last == key) continue;  // a newer snapshot holds this bucket
      rule.last = key;
      rule.count--;
      reasons.push_back(rule.name);
    }
    if (policy.has_within && item.time >= within_cutoff) {
      reasons.push_back("within " + policy.within.text);
    }
    for (const std::string& tag : policy.tags) {
      if (std::find(item.tags.begin(), item.tags.end(), tag) != item.tags.end()) {
        reasons.push_back("tag " + tag);
      }
    }
    verdicts[i].keep = !reasons.empty();
  }
  return verdicts;
}

Result<GroupBy> ParseGroupBy(std::string_view s) {
  GroupBy g{false, false, false};
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    std::string_view part = s.substr(pos, comma == std::string_view::npos ? s.npos : comma - pos);
    if (part == "host") {
      g.host = true;
    } else if (part == "database") {
      g.database = true;
    } else if (part == "tags") {
      g.tags = true;
    } else {
      return Status::InvalidArgument("bad --group-by '" + std::string(s) +
                                     "': a comma-separated list of host, database, tags, or ''");
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return g;
}

std::string SnapshotDatabase(const Manifest& m) {
  if (!m.database.empty()) return m.database;
  std::string names;
  for (const auto& s : m.streams) names += (names.empty() ? "" : ",") + s.name;
  return names;
}

std::vector<RetentionGroup> PlanRetention(const std::vector<SnapshotRef>& snapshots,
                                          const RetentionPolicy& policy, const GroupBy& group_by) {
  // Group key: (host, database, sorted tags), each part empty when not grouped by it.
  using Key = std::tuple<std::string, std::string, std::vector<std::string>>;
  std::map<Key, std::vector<const SnapshotRef*>> groups;
  for (const SnapshotRef& s : snapshots) {
    Key key;
    if (group_by.host) std::get<0>(key) = s.manifest.hostname;
    if (group_by.database) std::get<1>(key) = SnapshotDatabase(s.manifest);
    if (group_by.tags) {
      std::get<2>(key) = s.manifest.tags;
      std::sort(std::get<2>(key).begin(), std::get<2>(key).end());
    }
    groups[key].push_back(&s);
  }
  std::vector<RetentionGroup> out;
  for (auto& [key, members] : groups) {
    // Newest first; equal times keep the repository's order (by id), newest last there.
    std::stable_sort(members.begin(), members.end(),
                     [](const SnapshotRef* a, const SnapshotRef* b) {
                       if (a->manifest.time != b->manifest.time)
                         return a->manifest.time > b->manifest.time;
                       return a->manifest.time_nsec > b->manifest.time_nsec;
                     });
    std::vector<RetentionItem> items;
    items.reserve(members.size());
    for (const SnapshotRef* s : members) {
      items.push_back({s->manifest.time, s->manifest.time_nsec, s->manifest.tags});
    }
    std::vector<RetentionVerdict> verdicts = ApplyRetention(items, policy);
    RetentionGroup g;
    g.hostname = std::get<0>(key);
    g.database = std::get<1>(key);
    g.tags = std::get<2>(key);
    for (size_t i = 0; i < members.size(); ++i) {
      g.entries.push_back({members[i], std::move(verdicts[i])});
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace pgdedup::repo

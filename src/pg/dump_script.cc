#include "pg/dump_script.h"

#include <map>
#include <set>

namespace pgdedup::pg {

namespace {

constexpr std::string_view kEntryStart = "--\n-- Name: ";
constexpr std::string_view kDumpComplete = "--\n-- PostgreSQL database dump complete";

// Fills name/type/schema from the header line "-- Name: N; Type: T; Schema: S; Owner: O".
void ParseHeader(std::string_view entry, DumpEntry* e) {
  size_t begin = kEntryStart.size();
  size_t eol = entry.find('\n', begin);
  std::string_view line = entry.substr(begin, eol == std::string_view::npos ? eol : eol - begin);
  size_t type = line.rfind("; Type: ");
  if (type == std::string_view::npos) return;
  size_t schema = line.find("; Schema: ", type);
  size_t owner = schema == std::string_view::npos ? schema : line.find("; Owner: ", schema);
  if (owner == std::string_view::npos) return;
  e->name = line.substr(0, type);
  e->type = line.substr(type + 8, schema - type - 8);
  std::string_view s = line.substr(schema + 10, owner - schema - 10);
  e->schema = s == "-" ? "" : s;
  // An object in a tablespace has it after its owner: "; Owner: O; Tablespace: T".
  std::string_view o = line.substr(owner + 9);
  size_t tablespace = o.find("; Tablespace: ");
  if (tablespace != std::string_view::npos) {
    e->tablespace = o.substr(tablespace + 14);
    o = o.substr(0, tablespace);
  }
  e->owner = o == "-" ? "" : o;
}

// The SQL of an entry: what follows its three header lines.
std::string_view Body(const DumpEntry& e) {
  std::string_view t = e.text;
  size_t pos = 0;
  for (int i = 0; i < 3 && pos != std::string_view::npos; ++i) {
    pos = t.find('\n', pos);
    if (pos != std::string_view::npos) pos++;
  }
  return pos == std::string_view::npos ? std::string_view() : t.substr(pos);
}

// Whether `needle` occurs in `body` as a whole: followed by the end, white space or
// punctuation (so "x"."t" does not match "x"."t2" — the quotes already end the name — nor a
// prefix of a longer token such as a column reference "x"."t"."c", unless `allow_dot`).
bool ContainsToken(std::string_view body, std::string_view needle, bool allow_dot = false) {
  for (size_t pos = body.find(needle); pos != std::string_view::npos;
       pos = body.find(needle, pos + 1)) {
    size_t end = pos + needle.size();
    if (end == body.size()) return true;
    char c = body[end];
    if (c == ' ' || c == '\n' || c == '(' || c == ';' || c == ')' || c == ',' ||
        (allow_dot && c == '.')) {
      return true;
    }
  }
  return false;
}

bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

// Calls fn(offset, line) for each line of `sql` that begins outside string literals, quoted
// identifiers, dollar quotes and block comments: the only lines where pg_dump's entry headers
// and SET commands can be. Text inside a literal may look like either (a comment on a table
// is the source database's data, written by whoever could comment on it), and must never be
// taken for one: cutting a script there would run the rest of the literal as SQL.
template <typename Fn>
void ForEachTopLevelLine(std::string_view sql, Fn fn) {
  constexpr size_t npos = std::string_view::npos;
  const size_t n = sql.size();
  size_t i = 0;
  bool line_start = true;
  while (i < n) {
    if (line_start) {
      size_t eol = sql.find('\n', i);
      fn(i, sql.substr(i, (eol == npos ? n : eol) - i));
      line_start = false;
    }
    const char c = sql[i];
    if (c == '\n') {
      line_start = true;
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {  // a comment to the end of the line
      i = sql.find('\n', i);
      if (i == npos) return;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {  // block comments nest
      int depth = 0;
      do {
        if (sql.compare(i, 2, "/*") == 0) {
          depth++;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          depth--;
          i += 2;
        } else {
          ++i;
        }
      } while (i < n && depth > 0);
    } else if (c == '\'') {
      // E'...' has backslash escapes; pg_dump's other literals (standard_conforming_strings
      // on) only double their quotes.
      const bool escapes =
          i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !IsIdentChar(sql[i - 2]));
      for (++i; i < n; ++i) {
        if (escapes && sql[i] == '\\') {
          ++i;
        } else if (sql[i] == '\'') {
          if (i + 1 < n && sql[i + 1] == '\'') {
            ++i;
          } else {
            ++i;
            break;
          }
        }
      }
    } else if (c == '"') {
      for (++i; i < n; ++i) {
        if (sql[i] != '"') continue;
        if (i + 1 < n && sql[i + 1] == '"') {
          ++i;
        } else {
          ++i;
          break;
        }
      }
    } else if (c == '$' && (i == 0 || !IsIdentChar(sql[i - 1])) && i + 1 < n &&
               !(sql[i + 1] >= '0' && sql[i + 1] <= '9')) {
      size_t j = i + 1;
      while (j < n && IsIdentChar(sql[j]) && sql[j] != '$') ++j;
      if (j < n && sql[j] == '$') {  // $tag$ ... $tag$
        std::string_view tag = sql.substr(i, j - i + 1);
        size_t end = sql.find(tag, j + 1);
        i = end == npos ? n : end + tag.size();
      } else {
        ++i;
      }
    } else {
      ++i;
    }
  }
}

// Session settings pg_dump changes between entries (see DumpEntry::settings), keyed by what
// they set.
class SettingsTracker {
 public:
  // Takes in the SET lines of `text` (SQL that begins at the top level), in order.
  void Absorb(std::string_view text) {
    ForEachTopLevelLine(text, [this](size_t, std::string_view line) {
      for (std::string_view key :
           {"SET default_tablespace ", "SET default_table_access_method ", "SET search_path ",
            "SET SESSION AUTHORIZATION ", "RESET SESSION AUTHORIZATION"}) {
        if (line.starts_with(key)) {
          // RESET undoes SET SESSION AUTHORIZATION: both are kept under one key.
          std::string k(key.starts_with("RESET") ? "SET SESSION AUTHORIZATION " : key);
          lines_[k] = std::string(line) + "\n";
        }
      }
    });
  }
  std::string Lines() const {
    std::string out;
    for (const auto& [key, line] : lines_) out += line;
    return out;
  }

 private:
  std::map<std::string, std::string> lines_;
};

std::string Script(const DumpScript& d, const std::vector<const DumpEntry*>& entries) {
  std::string out = d.preamble;
  for (const DumpEntry* e : entries) out += e->settings + e->text;
  out += d.epilogue;
  return out;
}

}  // namespace

DumpScript ParseDumpScript(std::string_view text) {
  DumpScript d;
  std::vector<size_t> starts;
  size_t complete = std::string_view::npos;  // the "dump complete" footer
  ForEachTopLevelLine(text, [&](size_t at, std::string_view) {
    if (text.substr(at, kEntryStart.size()) == kEntryStart) starts.push_back(at);
    if (text.substr(at, kDumpComplete.size()) == kDumpComplete) complete = at;
  });
  if (starts.empty()) {
    d.preamble = text;
    return d;
  }
  d.preamble = text.substr(0, starts[0]);
  for (size_t i = 0; i < starts.size(); ++i) {
    size_t end = i + 1 < starts.size() ? starts[i + 1] : text.size();
    DumpEntry e;
    e.text = text.substr(starts[i], end - starts[i]);
    if (i + 1 == starts.size() && complete != std::string_view::npos && complete > starts[i]) {
      d.epilogue = e.text.substr(complete - starts[i]);
      e.text.resize(complete - starts[i]);
    }
    ParseHeader(e.text, &e);
    d.entries.push_back(std::move(e));
  }
  SettingsTracker settings;
  settings.Absorb(d.preamble);
  for (DumpEntry& e : d.entries) {
    e.settings = settings.Lines();
    settings.Absorb(e.text);
  }
  return d;
}

std::string PreambleSettings(const DumpScript& d) {
  std::string out;
  ForEachTopLevelLine(d.preamble, [&out](size_t, std::string_view line) {
    if (line.starts_with("SET ") || line.starts_with("SELECT pg_catalog.set_config(")) {
      out.append(line);
      out += '\n';
    }
  });
  return out;
}

bool PreambleIsSettingsOnly(const DumpScript& d) {
  bool only = true;
  ForEachTopLevelLine(d.preamble, [&only](size_t, std::string_view line) {
    for (std::string_view ok : {"--", "SET ", "SELECT pg_catalog.set_config(", "\\restrict "}) {
      if (line.starts_with(ok)) return;
    }
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) only = false;
  });
  return only;
}

std::string QuoteDumpIdent(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

TableObjects SelectTableObjects(const DumpScript& pre, const DumpScript& post,
                                const TableName& table) {
  TableObjects t;
  const std::string q = table.Quoted();
  // Every entry of both scripts is searched for these: built once, not per entry (a --table
  // restore of a partition tree calls this for each of thousands of tables).
  const std::string alter_only = "ALTER TABLE ONLY " + q, alter = "ALTER TABLE " + q;
  auto alters_table = [&](std::string_view body) {
    return ContainsToken(body, alter_only) || ContainsToken(body, alter);
  };
  const std::string owned_by = "OWNED BY " + q, comment_table = "COMMENT ON TABLE " + q,
                    comment_column = "COMMENT ON COLUMN " + q, on_table = " ON TABLE " + q,
                    attach = "ATTACH PARTITION " + q, on = " ON " + q, on_only = " ON ONLY " + q,
                    to = " TO " + q;
  std::set<std::pair<std::string, std::string>> sequences;  // schema, name
  std::vector<bool> take(pre.entries.size(), false);

  for (size_t i = 0; i < pre.entries.size(); ++i) {
    const DumpEntry& e = pre.entries[i];
    std::string_view body = Body(e);
    if (e.type == "TABLE") {
      if (e.schema == table.schema && e.name == table.table) {
        take[i] = t.found = true;
        t.partitioned = body.find(")\nPARTITION BY ") != std::string_view::npos;
      }
    } else if (e.type == "SEQUENCE") {
      // An identity column's sequence is created by ALTER TABLE ... ADD GENERATED.
      if (alters_table(body)) {
        take[i] = true;
        sequences.insert({e.schema, e.name});
      }
    } else if (e.type == "SEQUENCE OWNED BY") {
      if (ContainsToken(body, owned_by, /*allow_dot=*/true)) {
        take[i] = true;
        sequences.insert({e.schema, e.name});
      }
    } else if (e.type == "DEFAULT") {
      take[i] = alters_table(body);
    } else if (e.type == "COMMENT") {
      take[i] = ContainsToken(body, comment_table) ||
                ContainsToken(body, comment_column, /*allow_dot=*/true);
    } else if (e.type == "ACL") {
      take[i] = ContainsToken(body, on_table);
    } else if (e.type == "TABLE ATTACH") {
      take[i] = ContainsToken(body, attach);
    }
  }
  // Second pass: a serial column's CREATE SEQUENCE, and the sequences' comments and grants.
  for (size_t i = 0; i < pre.entries.size(); ++i) {
    const DumpEntry& e = pre.entries[i];
    std::string_view body = Body(e);
    for (const auto& [schema, name] : sequences) {
      std::string seq = TableName{schema, name}.Quoted();
      if ((e.type == "SEQUENCE" && e.schema == schema && e.name == name) ||
          (e.type == "COMMENT" && ContainsToken(body, "COMMENT ON SEQUENCE " + seq)) ||
          (e.type == "ACL" && ContainsToken(body, " ON SEQUENCE " + seq))) {
        take[i] = true;
      }
    }
  }
  std::vector<const DumpEntry*> pre_entries;
  for (size_t i = 0; i < pre.entries.size(); ++i) {
    if (!take[i]) continue;
    pre_entries.push_back(&pre.entries[i]);
    t.pre_entries.push_back(i);
  }
  t.pre_data = Script(pre, pre_entries);
  for (const auto& [schema, name] : sequences) t.sequences.push_back({schema, name});

  std::set<std::string> indexes;  // raw names of the table's indexes (and constraints' indexes)
  std::vector<const DumpEntry*> post_entries;
  const std::string table_prefix = table.table + " ";
  for (const DumpEntry& e : post.entries) {
    const size_t taken_before = post_entries.size();
    std::string_view body = Body(e);
    auto on_it = [&] { return ContainsToken(body, on) || ContainsToken(body, on_only); };
    if (e.type == "FK CONSTRAINT") {
      if (alters_table(body)) t.foreign_keys.push_back(Script(post, {&e}));
    } else if (e.type == "CONSTRAINT") {
      if (alters_table(body)) {
        post_entries.push_back(&e);
        if (e.name.rfind(table_prefix, 0) == 0) indexes.insert(e.name.substr(table_prefix.size()));
      }
    } else if (e.type == "INDEX") {
      if (on_it()) {
        post_entries.push_back(&e);
        indexes.insert(e.name);
      }
    } else if (e.type == "INDEX ATTACH") {
      if (e.schema == table.schema && indexes.count(e.name)) post_entries.push_back(&e);
    } else if (e.type == "TRIGGER" || e.type == "POLICY" || e.type == "COMMENT") {
      if (on_it()) post_entries.push_back(&e);
    } else if (e.type == "RULE") {
      if (ContainsToken(body, to)) post_entries.push_back(&e);
    } else if (e.type == "ROW SECURITY") {
      if (alters_table(body)) post_entries.push_back(&e);
    }
    if (post_entries.size() > taken_before) {
      t.post_entries.push_back(static_cast<size_t>(&e - post.entries.data()));
    }
  }
  t.post_data = Script(post, post_entries);
  return t;
}

std::string SchemaScript(const DumpScript& pre, const std::string& schema) {
  const std::string q = QuoteDumpIdent(schema);
  std::vector<const DumpEntry*> entries;
  bool found = false;
  for (const DumpEntry& e : pre.entries) {
    std::string_view body = Body(e);
    if (e.type == "SCHEMA" && e.name == schema) {
      found = true;
      entries.push_back(&e);
    } else if ((e.type == "COMMENT" && ContainsToken(body, "COMMENT ON SCHEMA " + q)) ||
               (e.type == "ACL" && ContainsToken(body, " ON SCHEMA " + q))) {
      entries.push_back(&e);
    }
  }
  return found ? Script(pre, entries) : std::string();
}

namespace {

// Consumes `prefix` from the front of *s; false (and *s unchanged) when it is not there.
bool Consume(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// Consumes one double-quoted identifier ("" stands for a quote inside it) and returns it with
// its quotes; empty when *s does not start with one.
std::string_view ConsumeQuoted(std::string_view* s) {
  if (s->empty() || (*s)[0] != '"') return {};
  for (size_t i = 1; i < s->size(); ++i) {
    if ((*s)[i] != '"') continue;
    if (i + 1 < s->size() && (*s)[i + 1] == '"') {
      ++i;  // an escaped quote
      continue;
    }
    std::string_view ident = s->substr(0, i + 1);
    s->remove_prefix(i + 1);
    return ident;
  }
  return {};
}

// Consumes "schema"."table" and returns it; empty when *s does not start with one.
std::string ConsumeQualified(std::string_view* s) {
  std::string_view rest = *s;
  std::string_view schema = ConsumeQuoted(&rest);
  if (schema.empty() || !Consume(&rest, ".")) return {};
  std::string_view table = ConsumeQuoted(&rest);
  if (table.empty()) return {};
  *s = rest;
  return std::string(schema) + "." + std::string(table);
}

}  // namespace

std::string EntryTable(const DumpEntry& e) {
  std::string_view sql = Body(e);
  while (!sql.empty() && sql[0] == '\n') sql.remove_prefix(1);
  if (e.type == "INDEX") {
    if (!Consume(&sql, "CREATE ")) return {};
    Consume(&sql, "UNIQUE ");
    if (!Consume(&sql, "INDEX ") || ConsumeQuoted(&sql).empty() || !Consume(&sql, " ON ")) {
      return {};
    }
    Consume(&sql, "ONLY ");
    return ConsumeQualified(&sql);
  }
  if (e.type == "CONSTRAINT") {
    if (!Consume(&sql, "ALTER TABLE ")) return {};
    Consume(&sql, "ONLY ");
    return ConsumeQualified(&sql);
  }
  return {};
}

ForeignKey ForeignKeyTables(const DumpEntry& e) {
  if (e.type != "FK CONSTRAINT") return {};
  std::string_view sql = Body(e);
  auto skip_space = [&] {
    while (!sql.empty() && (sql[0] == ' ' || sql[0] == '\n')) sql.remove_prefix(1);
  };
  skip_space();
  if (!Consume(&sql, "ALTER TABLE ")) return {};
  Consume(&sql, "ONLY ");
  std::string table = ConsumeQualified(&sql);
  skip_space();
  if (table.empty() || !Consume(&sql, "ADD CONSTRAINT ") || ConsumeQuoted(&sql).empty() ||
      !Consume(&sql, " FOREIGN KEY (")) {
    return {};
  }
  do {
    if (ConsumeQuoted(&sql).empty()) return {};
  } while (Consume(&sql, ", "));
  if (!Consume(&sql, ") REFERENCES ")) return {};
  std::string referenced = ConsumeQualified(&sql);
  if (referenced.empty() || !sql.starts_with("(")) return {};
  return {std::move(table), std::move(referenced)};
}

std::vector<TableName> PartitionsOf(const DumpScript& pre, const TableName& parent) {
  std::vector<TableName> out;
  const std::string attach = "ALTER TABLE ONLY " + parent.Quoted() + " ATTACH PARTITION ";
  for (const DumpEntry& e : pre.entries) {
    if (e.type == "TABLE ATTACH" && Body(e).find(attach) != std::string_view::npos) {
      out.push_back({e.schema, e.name});
    }
  }
  return out;
}

namespace {

bool IsPrivilegeEntry(const DumpEntry& e) {
  return e.type == "ACL" || e.type == "DEFAULT ACL" || e.type == "ACL LANGUAGE";
}

// A line of an entry's text: its offset and length, its newline included.
struct LineSpan {
  size_t at;
  size_t length;
};

// The lines of an entry that give objects to the owner its header names: top-level lines
// `ALTER ... OWNER TO "owner";`. pg_dump writes one after each object's definition (a
// PostgreSQL 17 BLOB METADATA entry holds one per large object); a definition itself never
// has such a line outside its literals. None for an entry without an owner, or a privilege
// entry.
std::vector<LineSpan> OwnerLines(const DumpEntry& e) {
  std::vector<LineSpan> lines;
  if (e.owner.empty() || IsPrivilegeEntry(e)) return lines;
  const std::string tail = " OWNER TO " + QuoteDumpIdent(e.owner) + ";";
  ForEachTopLevelLine(e.text, [&](size_t offset, std::string_view line) {
    if (line.starts_with("ALTER ") && line.ends_with(tail)) {
      const bool newline = offset + line.size() < e.text.size();
      lines.push_back({offset, line.size() + (newline ? 1 : 0)});
    }
  });
  return lines;
}

// "a""b" -> a"b. REQUIRES: a whole double-quoted identifier, as ConsumeQuoted returns it.
std::string Unquote(std::string_view quoted) {
  std::string out;
  for (size_t i = 1; i + 1 < quoted.size(); ++i) {
    out += quoted[i];
    if (quoted[i] == '"') ++i;
  }
  return out;
}

// The grantee or revokee of a privilege statement in pg_dump's forms: `GRANT ... TO "r";`,
// `GRANT ... TO "r" WITH GRANT OPTION;`, `REVOKE ... FROM "r";` (ALTER DEFAULT PRIVILEGES
// ... GRANT/REVOKE alike). Empty for PUBLIC, or when the statement does not end that way.
std::string PrivilegeRole(std::string_view line) {
  // The last " TO " or " FROM " outside quoted identifiers and literals.
  size_t after = std::string_view::npos;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"' || c == '\'') {
      size_t j = i + 1;
      while (j < line.size() && !(line[j] == c && (j + 1 == line.size() || line[j + 1] != c))) {
        j += line[j] == c ? 2 : 1;
      }
      i = j;
    } else if (line.compare(i, 4, " TO ") == 0) {
      after = i + 4;
    } else if (line.compare(i, 6, " FROM ") == 0) {
      after = i + 6;
    }
  }
  if (after == std::string_view::npos) return {};
  std::string_view rest = line.substr(after);
  std::string_view role = ConsumeQuoted(&rest);
  if (role.empty()) return {};
  Consume(&rest, " WITH GRANT OPTION");
  return rest == ";" ? Unquote(role) : std::string();
}

// The roles of a `CREATE POLICY "p" ON "s"."t" [AS RESTRICTIVE] [FOR cmd] TO "r", ... [USING
// (...)] [WITH CHECK (...)];` line (none when it has no TO: PUBLIC).
std::vector<std::string> PolicyRoles(std::string_view sql) {
  if (!Consume(&sql, "CREATE POLICY ") || ConsumeQuoted(&sql).empty() || !Consume(&sql, " ON ") ||
      ConsumeQualified(&sql).empty()) {
    return {};
  }
  if (!Consume(&sql, " AS RESTRICTIVE")) Consume(&sql, " AS PERMISSIVE");
  if (Consume(&sql, " FOR ")) {
    bool known = false;
    for (std::string_view cmd : {"ALL", "SELECT", "INSERT", "UPDATE", "DELETE"}) {
      known = known || Consume(&sql, cmd);
    }
    if (!known) return {};
  }
  if (!Consume(&sql, " TO ")) return {};
  std::vector<std::string> roles;
  do {
    std::string_view role = ConsumeQuoted(&sql);
    if (role.empty()) return {};
    roles.push_back(Unquote(role));
  } while (Consume(&sql, ", "));
  if (!sql.starts_with(" USING (") && !sql.starts_with(" WITH CHECK (") && !sql.starts_with(";")) {
    return {};
  }
  return roles;
}

constexpr std::string_view kSetTablespace = "SET default_tablespace = ";

// The script with every top-level `SET default_tablespace = ...;` line setting '' instead.
std::string WithoutTablespaces(std::string_view script) {
  std::string out;
  size_t from = 0;
  ForEachTopLevelLine(script, [&](size_t at, std::string_view line) {
    if (!line.starts_with(kSetTablespace)) return;
    out.append(script.substr(from, at - from));
    out.append(kSetTablespace);
    out.append("'';");
    from = at + line.size();
  });
  out.append(script.substr(from));
  return out;
}

}  // namespace

std::string OmitFromScript(std::string_view script, const ScriptOmissions& o) {
  if (!o.owner && !o.privileges && !o.tablespaces) return std::string(script);
  const std::string rewritten = o.tablespaces ? WithoutTablespaces(script) : std::string();
  if (o.tablespaces) script = rewritten;
  if (!o.owner && !o.privileges) return rewritten;
  DumpScript d = ParseDumpScript(script);
  std::string out = d.preamble;
  bool after_omitted = false;
  for (const DumpEntry& e : d.entries) {
    if (o.privileges && IsPrivilegeEntry(e)) {
      after_omitted = true;
      continue;
    }
    if (after_omitted) out += e.settings;
    after_omitted = false;
    size_t from = 0;
    if (o.owner) {
      for (const LineSpan& line : OwnerLines(e)) {
        out.append(e.text, from, line.at - from);
        from = line.at + line.length;
      }
    }
    out.append(e.text, from);
  }
  out += d.epilogue;
  return out;
}

void CollectScriptNeeds(const DumpScript& d, ScriptNeeds* needs) {
  auto tablespaces = [needs](std::string_view text) {
    ForEachTopLevelLine(text, [needs](size_t, std::string_view line) {
      if (!Consume(&line, kSetTablespace)) return;
      std::string_view name = ConsumeQuoted(&line);
      if (!name.empty() && line == ";") needs->tablespaces.insert(Unquote(name));
    });
  };
  tablespaces(d.preamble);
  for (const DumpEntry& e : d.entries) {
    tablespaces(e.text);
    if (!OwnerLines(e).empty()) needs->owners.insert(e.owner);
    if (e.type == "POLICY") {
      std::string_view body = Body(e);
      while (body.starts_with("\n")) body.remove_prefix(1);
      for (std::string& r : PolicyRoles(body)) needs->policies.insert(std::move(r));
    }
    if (!IsPrivilegeEntry(e)) continue;
    ForEachTopLevelLine(Body(e), [&](size_t, std::string_view line) {
      std::string_view rest = line;
      if (Consume(&rest, "SET SESSION AUTHORIZATION ") ||
          Consume(&rest, "ALTER DEFAULT PRIVILEGES FOR ROLE ")) {
        std::string_view role = ConsumeQuoted(&rest);
        if (!role.empty() && (rest == ";" || rest.starts_with(" "))) {
          needs->privileges.insert(Unquote(role));
        }
      }
      if (line.starts_with("GRANT ") || line.starts_with("REVOKE ") ||
          line.starts_with("ALTER DEFAULT PRIVILEGES ")) {
        std::string role = PrivilegeRole(line);
        if (!role.empty()) needs->privileges.insert(std::move(role));
      }
    });
  }
}

}  // namespace pgdedup::pg

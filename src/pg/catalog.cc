#include "pg/catalog.h"

#include <functional>
#include <map>
#include <set>

namespace pgdedup::pg {

namespace {

// What a backup needs of a table `c` (in namespace `n`): the columns of ListTables' rows.
// Column lists come back as arrays of names; quote_ident makes them SQL.
constexpr char kTableColumnsSql[] = R"SQL(
SELECT n.nspname, c.relname,
  (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
     FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''),
  COALESCE(
    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = c.oid AND i.indisprimary),
    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
       FROM (SELECT i.indexrelid, i.indkey
               FROM pg_index i
              WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                AND i.indpred IS NULL AND i.indexprs IS NULL
                AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) AS u(attnum)
                                 JOIN pg_attribute a2 ON a2.attrelid = c.oid
                                                      AND a2.attnum = u.attnum
                                 WHERE NOT a2.attnotnull OR u.attnum = 0)
              ORDER BY i.indnatts, i.indexrelid LIMIT 1) AS u
       CROSS JOIN LATERAL unnest(u.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum),
    ''),
  pg_relation_size(c.oid), c.oid::text
)SQL";

constexpr char kTablesSql[] = R"SQL(
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                     AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
)SQL";

constexpr char kSequencesSql[] = R"SQL(
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND (NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
       OR c.oid IN (SELECT unnest(e.extconfig) FROM pg_extension e WHERE e.oid >= 16384))
ORDER BY n.nspname, c.relname
)SQL";

// The relations extensions mark as their configuration (pg_extension_config_dump), with the
// condition that picks the operator's rows. Extensions with oids below FirstNormalObjectId
// (16384: plpgsql) come with every new database and have no configuration tables.
constexpr char kExtensionConfigSql[] = R"SQL(
FROM pg_extension e
CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) WITH ORDINALITY AS x(oid, cond, ord)
JOIN pg_class c ON c.oid = x.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE e.oid >= 16384
ORDER BY e.extname, x.ord
)SQL";

TableInfo TableFromRow(Connection* conn, const Row& r) {
  TableInfo t;
  t.schema = r[0].value_or("");
  t.name = r[1].value_or("");
  t.qualified = conn->QuoteIdent(t.schema) + "." + conn->QuoteIdent(t.name);
  t.columns = r[2].value_or("");
  t.order_by = r[3].value_or("");
  t.size = std::stoull(r[4].value_or("0"));
  t.oid = r[5].value_or("");
  return t;
}

}  // namespace

std::string CopyOutSql(const TableInfo& t) {
  // A table without columns still has rows; COPY of the table itself handles that.
  if (t.columns.empty()) return "COPY " + t.qualified + " TO STDOUT";
  return "COPY (SELECT " + t.columns + " FROM ONLY " + t.qualified +
         (t.filter.empty() ? "" : " " + t.filter) +
         (t.order_by.empty() ? "" : " ORDER BY " + t.order_by) + ") TO STDOUT";
}

Result<std::vector<TableInfo>> ListTables(Connection* conn) {
  auto rows = conn->Query(std::string(kTableColumnsSql) + kTablesSql);
  if (!rows.ok()) return rows.status().WithContext("listing tables");
  std::vector<TableInfo> tables;
  for (const auto& r : *rows) tables.push_back(TableFromRow(conn, r));
  return tables;
}

Result<ExtensionConfiguration> ListExtensionConfiguration(Connection* conn) {
  auto rows = conn->Query(std::string(kTableColumnsSql) +
                          ", e.extname, COALESCE(x.cond, ''), c.relkind::text, e.extversion" +
                          kExtensionConfigSql);
  if (!rows.ok()) return rows.status().WithContext("listing the extensions' configuration");
  ExtensionConfiguration config;
  for (const auto& r : *rows) {
    TableInfo t = TableFromRow(conn, r);
    t.extension = r[6].value_or("");
    t.filter = r[7].value_or("");
    t.extension_version = r[9].value_or("");
    const std::string relkind = r[8].value_or("");
    if (relkind == "r") {
      config.tables.push_back(std::move(t));
    } else if (relkind != "S") {  // sequences are in SequenceSetvalSql's list
      config.unsupported.push_back(t.qualified + " (relkind " + relkind + ", of extension " +
                                   t.extension + ")");
    }
  }
  if (config.tables.size() < 2) return config;

  // A table after the tables it references, so that each can be loaded in its own transaction
  // with its foreign keys checked (the extension's script made them). Otherwise in the
  // extensions' order.
  std::string oids = "{";
  for (size_t i = 0; i < config.tables.size(); ++i) {
    oids += (i ? "," : "") + config.tables[i].oid;
  }
  oids += "}";
  auto edges = conn->Query(
      "SELECT conrelid::text, confrelid::text FROM pg_catalog.pg_constraint "
      "WHERE contype = 'f' AND conrelid <> confrelid "
      "AND conrelid = ANY($1::oid[]) AND confrelid = ANY($1::oid[])",
      {oids});
  if (!edges.ok()) return edges.status().WithContext("reading the configuration's foreign keys");
  std::multimap<std::string, std::string> references;  // table oid -> referenced table oid
  for (const auto& e : *edges) references.emplace(e[0].value_or(""), e[1].value_or(""));
  std::vector<TableInfo> ordered;
  std::set<std::string> placed, visiting;
  std::function<void(const TableInfo&)> place = [&](const TableInfo& t) {
    if (placed.count(t.oid) || !visiting.insert(t.oid).second) return;  // a cycle: as listed
    auto [from, to] = references.equal_range(t.oid);
    for (auto it = from; it != to; ++it) {
      for (const auto& other : config.tables) {
        if (other.oid == it->second) place(other);
      }
    }
    placed.insert(t.oid);
    ordered.push_back(t);
  };
  for (const auto& t : config.tables) place(t);
  config.tables = std::move(ordered);
  return config;
}

std::string OidArrayLiteral(const std::vector<TableInfo>& tables) {
  std::string oids = "{";
  for (size_t i = 0; i < tables.size(); ++i) oids += (i ? "," : "") + tables[i].oid;
  return oids + "}";
}

Result<std::vector<std::string>> TablesRewrittenSinceSnapshot(
    Connection* conn, const std::vector<TableInfo>& tables) {
  if (tables.empty()) return std::vector<std::string>();
  const std::string oids = OidArrayLiteral(tables);
  // pg_class as the snapshot sees it, against the relation as it is now.
  auto rows = conn->Query(
      "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = ANY($1::oid[]) "
      "AND (c.relfilenode IS DISTINCT FROM pg_catalog.pg_relation_filenode(c.oid) "
      "OR pg_catalog.to_regclass(quote_ident(n.nspname) || '.' || quote_ident(c.relname)) "
      "IS DISTINCT FROM c.oid) ORDER BY 1",
      {oids});
  if (!rows.ok()) return rows.status().WithContext("checking the tables against the snapshot");
  std::vector<std::string> out;
  for (const auto& r : *rows) out.push_back(r[0].value_or(""));
  return out;
}

Result<std::string> SequenceSetvalSql(Connection* conn) {
  auto names = conn->Query(kSequencesSql);
  if (!names.ok()) return names.status().WithContext("listing sequences");
  std::string sql;
  for (const auto& r : *names) {
    const std::string& seq = *r[0];
    auto state = conn->Query("SELECT last_value, is_called FROM " + seq);
    if (!state.ok()) return state.status().WithContext("reading sequence " + seq);
    if (state->size() != 1) return Status::SourceError("sequence " + seq + ": no state");
    sql += "SELECT pg_catalog.setval(" + conn->QuoteLiteral(seq) + ", " + *(*state)[0][0] + ", " +
           ((*state)[0][1] == "t" ? "true" : "false") + ");\n";
  }
  return sql;
}

Result<DatabaseInfo> DescribeDatabase(Connection* conn) {
  auto rows = conn->Query(
      "SELECT datname, pg_encoding_to_char(encoding), datcollate, datctype, "
      "pg_database_size(oid) FROM pg_database WHERE datname = current_database()");
  if (!rows.ok()) return rows.status();
  if (rows->size() != 1) return Status::SourceError("cannot describe the current database");
  const auto& r = (*rows)[0];
  DatabaseInfo d;
  d.name = r[0].value_or("");
  d.encoding = r[1].value_or("");
  d.collate = r[2].value_or("");
  d.ctype = r[3].value_or("");
  d.size = std::stoull(r[4].value_or("0"));
  auto settings = conn->Query(
      "SELECT COALESCE(r.rolname, ''), c.setting "
      "FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole, "
      "unnest(s.setconfig) WITH ORDINALITY AS c(setting, ord) "
      "WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "ORDER BY 1, c.ord");
  if (!settings.ok()) return settings.status().WithContext("reading the database's settings");
  for (const auto& row : *settings) d.settings.push_back(*row[0] + "\t" + *row[1]);
  if (conn->ServerVersion() >= 150000) {
    // daticulocale became datlocale (for ICU and builtin alike) in 17.
    auto locale =
        conn->Query(std::string("SELECT datlocprovider, COALESCE(") +
                    (conn->ServerVersion() >= 170000 ? "datlocale" : "daticulocale") +
                    ", '') FROM pg_catalog.pg_database WHERE datname = current_database()");
    if (!locale.ok()) return locale.status().WithContext("reading the database's locale");
    if (locale->size() == 1) {
      d.locale_provider = (*locale)[0][0].value_or("");
      d.provider_locale = (*locale)[0][1].value_or("");
    }
  }
  auto space = conn->QueryValue(
      "SELECT t.spcname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_tablespace t "
      "ON t.oid = d.dattablespace WHERE d.datname = pg_catalog.current_database()");
  if (!space.ok()) return space.status().WithContext("reading the database's tablespace");
  if (*space != "pg_default") d.tablespace = *space;
  auto props = conn->Query(
      "SELECT pg_catalog.pg_get_userbyid(datdba), "
      "pg_catalog.shobj_description(oid, 'pg_database'), datconnlimit, datacl IS NOT NULL "
      "FROM pg_catalog.pg_database WHERE datname = current_database()");
  if (!props.ok()) return props.status().WithContext("reading the database's properties");
  if (props->size() != 1) return Status::SourceError("cannot describe the current database");
  const Row& p = (*props)[0];
  d.owner = p[0].value_or("");
  d.comment = p[1];
  d.connlimit = std::stoll(p[2].value_or("-1"));
  d.acl_explicit = p[3].value_or("f") == "t";
  if (d.acl_explicit) {
    auto acl = conn->Query(
        "SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END, "
        "a.privilege_type, a.is_grantable "
        "FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a "
        "WHERE d.datname = current_database() ORDER BY 1, 2");
    if (!acl.ok()) return acl.status().WithContext("reading the database's privileges");
    for (const Row& a : *acl) {
      d.acl.push_back(a[0].value_or("") + "\t" + a[1].value_or("") + "\t" +
                      (a[2].value_or("f") == "t" ? "t" : "f"));
    }
  }
  return d;
}

}  // namespace pgdedup::pg

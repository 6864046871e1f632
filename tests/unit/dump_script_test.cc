// DumpScript: cutting a pg_dump section into entries and picking one table's objects.
#include "pg/dump_script.h"

#include <catch2/catch.hpp>

namespace pgdedup::pg {
namespace {

std::string Entry(const std::string& name, const std::string& type, const std::string& schema,
                  const std::string& sql) {
  return "--\n-- Name: " + name + "; Type: " + type + "; Schema: " + schema +
         "; Owner: postgres\n--\n\n" + sql + "\n\n\n";
}

const std::string kPreamble = "--\n-- PostgreSQL database dump\n--\n\nSET x = 1;\n\n";
const std::string kEpilogue = "--\n-- PostgreSQL database dump complete\n--\n\n";

std::string Pre() {
  return kPreamble +
         Entry("t", "TABLE", "public", "CREATE TABLE \"public\".\"t\" (\n    \"id\" integer\n);") +
         Entry("t2", "TABLE", "public",
               "CREATE TABLE \"public\".\"t2\" (\n    \"id\" integer\n);") +
         Entry("t_id_seq", "SEQUENCE", "public", "CREATE SEQUENCE \"public\".\"t_id_seq\";") +
         Entry("t_id_seq", "SEQUENCE OWNED BY", "public",
               "ALTER SEQUENCE \"public\".\"t_id_seq\" OWNED BY \"public\".\"t\".\"id\";") +
         Entry("t id", "DEFAULT", "public",
               "ALTER TABLE ONLY \"public\".\"t\" ALTER COLUMN \"id\" SET DEFAULT 1;") +
         Entry("t2 id", "DEFAULT", "public",
               "ALTER TABLE ONLY \"public\".\"t2\" ALTER COLUMN \"id\" SET DEFAULT 1;") +
         Entry("COLUMN \"t\".\"id\"", "COMMENT", "public",
               "COMMENT ON COLUMN \"public\".\"t\".\"id\" IS 'x';") +
         kEpilogue;
}

std::string Post() {
  return kPreamble +
         Entry("t t_pkey", "CONSTRAINT", "public",
               "ALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"t_pkey\" PRIMARY KEY "
               "(\"id\");") +
         Entry("t2_i", "INDEX", "public",
               "CREATE INDEX \"t2_i\" ON \"public\".\"t2\" USING btree (\"id\");") +
         Entry("t2 fk", "FK CONSTRAINT", "public",
               "ALTER TABLE ONLY \"public\".\"t2\"\n    ADD CONSTRAINT \"fk\" FOREIGN KEY (\"id\") "
               "REFERENCES \"public\".\"t\"(\"id\");") +
         kEpilogue;
}

TEST_CASE("a preamble of session settings only is told from one with more") {
  const std::string entry = Entry("t t_pkey", "CONSTRAINT", "public", "SELECT 1;");
  const std::string settings =
      "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET statement_timeout = 0;\n"
      "SELECT pg_catalog.set_config('search_path', '', false);\n\n";
  CHECK(PreambleIsSettingsOnly(ParseDumpScript(settings + entry)));
  CHECK(PreambleIsSettingsOnly(ParseDumpScript(kPreamble + entry)));
  CHECK_FALSE(PreambleIsSettingsOnly(ParseDumpScript(settings + "CREATE TABLE x ();\n\n" + entry)));
  CHECK_FALSE(PreambleIsSettingsOnly(ParseDumpScript(settings + "\\connect other\n\n" + entry)));
  // A SET split over lines leaves a line that is not one: counted as more, to be safe.
  CHECK_FALSE(PreambleIsSettingsOnly(ParseDumpScript(settings + "SET x =\n  1;\n\n" + entry)));
}

TEST_CASE("a dump script parses into preamble, entries and epilogue, keeping every byte") {
  std::string text = Pre();
  DumpScript d = ParseDumpScript(text);
  REQUIRE(d.preamble == kPreamble);
  REQUIRE(d.epilogue == kEpilogue);
  REQUIRE(d.entries.size() == 7);
  CHECK(d.entries[0].name == "t");
  CHECK(d.entries[0].type == "TABLE");
  CHECK(d.entries[0].schema == "public");
  CHECK(d.entries[3].type == "SEQUENCE OWNED BY");
  CHECK(d.entries[6].name == "COLUMN \"t\".\"id\"");
  std::string joined = d.preamble;
  for (const auto& e : d.entries) joined += e.text;
  CHECK(joined + d.epilogue == text);
}

// What looks like an entry header or a SET inside a literal is the source database's data:
// whoever could comment on a table or write a function there chose it. Cutting the script at
// such a header would run the rest of the literal as SQL, as the restoring role.
TEST_CASE("headers and settings inside literals, quoted names and comments are data") {
  const std::string fake_header =
      "\n--\n-- Name: evil; Type: INDEX; Schema: public; Owner: a\n--\n\nALTER ROLE a SUPERUSER; "
      "--";
  const std::string fake_set = "\nSET search_path = evil, pg_catalog;\n";
  std::string text =
      kPreamble +
      Entry("t", "TABLE", "public", "CREATE TABLE \"public\".\"t\" (\n    \"id\" integer\n);") +
      Entry("TABLE \"t\"", "COMMENT", "public",
            "COMMENT ON TABLE \"public\".\"t\" IS 'it''s" + fake_header + "';") +
      Entry("TABLE \"t\"", "COMMENT", "public",
            "COMMENT ON TABLE \"public\".\"t\" IS E'a \\' quote" + fake_header + "';") +
      Entry("f()", "FUNCTION", "public",
            "CREATE FUNCTION \"public\".\"f\"() RETURNS integer\n    LANGUAGE sql\n    AS "
            "$_$" +
                fake_set + "SELECT 1 -- $x$" + fake_header + "\n$_$;") +
      Entry("f2()", "FUNCTION", "public",
            "CREATE FUNCTION \"public\".\"f2\"() RETURNS integer\n    LANGUAGE sql\n    AS "
            "$$" +
                fake_header + "$$;") +
      Entry("t2", "TABLE", "public",
            "CREATE TABLE \"public\".\"t2\" (\n    \"a" + fake_header +
                "\" integer\n);\n/* x /* "
                "nested */" +
                fake_set + fake_header + " */") +
      Entry("t3", "TABLE", "public", "CREATE TABLE \"public\".\"t3\" (\n    \"id\" integer\n);") +
      kEpilogue;
  DumpScript d = ParseDumpScript(text);
  REQUIRE(d.entries.size() == 7);
  CHECK(d.entries[0].name == "t");
  CHECK(d.entries[1].text.find("ALTER ROLE a SUPERUSER; --';") != std::string::npos);
  CHECK(d.entries[2].text.find("ALTER ROLE a SUPERUSER; --';") != std::string::npos);
  CHECK(d.entries[3].name == "f()");
  CHECK(d.entries[4].name == "f2()");
  CHECK(d.entries[5].name == "t2");
  CHECK(d.entries[6].name == "t3");
  CHECK(d.epilogue == kEpilogue);
  for (const auto& e : d.entries) {
    CHECK(e.name != "evil");
    CHECK(e.settings.find("evil") == std::string::npos);
  }
  std::string joined = d.preamble;
  for (const auto& e : d.entries) joined += e.text;
  CHECK(joined + d.epilogue == text);
}

// pg_dump writes SET default_tablespace (and the like) just before the header of the first
// entry that needs a new value, and never again while it holds: an entry run apart from its
// script needs the values in force at its header.
TEST_CASE("an entry carries the settings pg_dump set before it, wherever they were set") {
  std::string text =
      kPreamble + "SET default_tablespace = '';\n\n" +
      Entry("a", "INDEX", "public", "CREATE INDEX \"a\" ON \"public\".\"t\" (\"id\");") +
      "SET default_tablespace = \"fast\";\n\n" +
      Entry("b", "INDEX", "public", "CREATE INDEX \"b\" ON \"public\".\"t\" (\"id\");") +
      Entry("c", "INDEX", "public", "CREATE INDEX \"c\" ON \"public\".\"t\" (\"id\");") +
      "SET default_tablespace = '';\n\n" +
      Entry("d", "INDEX", "public", "CREATE INDEX \"d\" ON \"public\".\"t\" (\"id\");") + kEpilogue;
  DumpScript d = ParseDumpScript(text);
  REQUIRE(d.entries.size() == 4);
  CHECK(d.entries[0].settings == "SET default_tablespace = '';\n");
  CHECK(d.entries[1].settings == "SET default_tablespace = \"fast\";\n");
  CHECK(d.entries[2].settings == "SET default_tablespace = \"fast\";\n");
  CHECK(d.entries[3].settings == "SET default_tablespace = '';\n");
  std::string joined = d.preamble;
  for (const auto& e : d.entries) joined += e.text;
  CHECK(joined + d.epilogue == text);  // the texts still hold every byte, settings included
}

// Post-data entries that build on tables: a primary key, indexes, foreign keys (one with quotes
// and parentheses inside its names), and two not in the quoted form pg_dump writes.
DumpScript TableEntries() {
  return ParseDumpScript(
      kPreamble +
      Entry("t t_pkey", "CONSTRAINT", "public",
            "ALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"t_pkey\" PRIMARY KEY "
            "(\"id\");") +
      Entry("x ON y", "INDEX", "s",
            "CREATE UNIQUE INDEX \"x ON y\" ON ONLY \"s\".\"a\"\"b\" USING btree (\"id\");") +
      Entry("i", "INDEX", "public", "CREATE INDEX \"i\" ON \"public\".\"t\" USING btree (\"v\");") +
      Entry("t2 fk", "FK CONSTRAINT", "public",
            "ALTER TABLE ONLY \"public\".\"t2\"\n    ADD CONSTRAINT \"fk\" FOREIGN KEY (\"id\") "
            "REFERENCES \"public\".\"t\"(\"id\");") +
      Entry("odd", "INDEX", "public", "CREATE INDEX odd_unquoted ON t (v);") +
      Entry("p fk", "FK CONSTRAINT", "s",
            "ALTER TABLE \"s\".\"p\"\n    ADD CONSTRAINT \"x) REFERENCES \"\"a\"\".\"\"b\"\"(\" "
            "FOREIGN KEY (\"a\", \"b\"\"c\") REFERENCES \"s 2\".\"q\"(\"a\", \"b\") ON DELETE "
            "CASCADE;") +
      Entry("odd", "FK CONSTRAINT", "public",
            "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES u(id);") +
      kEpilogue);
}

TEST_CASE("index and constraint entries name the table they build on") {
  DumpScript d = TableEntries();
  REQUIRE(d.entries.size() == 7);
  CHECK(EntryTable(d.entries[0]) == "\"public\".\"t\"");
  CHECK(EntryTable(d.entries[1]) == "\"s\".\"a\"\"b\"");
  CHECK(EntryTable(d.entries[2]) == "\"public\".\"t\"");
  CHECK(EntryTable(d.entries[3]).empty());  // not an index or constraint entry
  CHECK(EntryTable(d.entries[4]).empty());  // not the quoted form pg_dump writes
}

TEST_CASE("foreign key entries name their table and the table they reference") {
  DumpScript d = TableEntries();
  REQUIRE(d.entries.size() == 7);
  ForeignKey a = ForeignKeyTables(d.entries[3]);
  CHECK(a.table == "\"public\".\"t2\"");
  CHECK(a.referenced == "\"public\".\"t\"");
  ForeignKey b = ForeignKeyTables(d.entries[5]);  // quotes and parentheses inside names
  CHECK(b.table == "\"s\".\"p\"");
  CHECK(b.referenced == "\"s 2\".\"q\"");
  CHECK(ForeignKeyTables(d.entries[0]).table.empty());  // not a foreign key
  CHECK(ForeignKeyTables(d.entries[6]).table.empty());  // not the quoted form pg_dump writes
}

TEST_CASE("a table's objects are picked out, and not its neighbour's") {
  DumpScript pre = ParseDumpScript(Pre());
  DumpScript post = ParseDumpScript(Post());
  TableObjects t = SelectTableObjects(pre, post, {"public", "t"});
  CHECK(t.found);
  CHECK_FALSE(t.partitioned);
  CHECK(t.pre_data.find("CREATE TABLE \"public\".\"t\" (") != std::string::npos);
  CHECK(t.pre_data.find("\"t2\"") == std::string::npos);
  CHECK(t.pre_data.find("CREATE SEQUENCE \"public\".\"t_id_seq\"") != std::string::npos);
  CHECK(t.pre_data.find("SET DEFAULT") != std::string::npos);
  CHECK(t.pre_data.find("COMMENT ON COLUMN") != std::string::npos);
  REQUIRE(t.sequences.size() == 1);
  CHECK(t.sequences[0].table == "t_id_seq");
  CHECK(t.post_data.find("t_pkey") != std::string::npos);
  CHECK(t.post_data.find("t2_i") == std::string::npos);
  CHECK(t.foreign_keys.empty());  // t2's foreign key to t belongs to t2

  TableObjects t2 = SelectTableObjects(pre, post, {"public", "t2"});
  CHECK(t2.post_data.find("t2_i") != std::string::npos);
  REQUIRE(t2.foreign_keys.size() == 1);
  CHECK(t2.foreign_keys[0].rfind(kPreamble, 0) == 0);
  CHECK(t2.sequences.empty());

  CHECK_FALSE(SelectTableObjects(pre, post, {"public", "nope"}).found);
}

TEST_CASE("identifiers are quoted as pg_dump --quote-all-identifiers does") {
  CHECK(QuoteDumpIdent("plain") == "\"plain\"");
  CHECK(QuoteDumpIdent("a\"b") == "\"a\"\"b\"");
  CHECK((TableName{"Sales", "Ordérs"}.Quoted()) == "\"Sales\".\"Ordérs\"");
}

std::string OwnedEntry(const std::string& name, const std::string& type, const std::string& owner,
                       const std::string& sql) {
  return "--\n-- Name: " + name + "; Type: " + type + "; Schema: s; Owner: " + owner + "\n--\n\n" +
         sql + "\n\n\n";
}

// What pg_dump writes for objects of a role "a""pp" (quotes in its name), with privileges for
// "reader" and "auditor" (one granted by auditor), default privileges and a policy.
std::string RolesScript() {
  return kPreamble +
         OwnedEntry(
             "f()", "FUNCTION", "a\"pp",
             "CREATE FUNCTION \"s\".\"f\"() RETURNS \"text\"\n    LANGUAGE \"sql\"\n    AS $$\n"
             "ALTER TABLE \"s\".\"t\" OWNER TO \"a\"\"pp\";\n$$;\n\n"
             "ALTER FUNCTION \"s\".\"f\"() OWNER TO \"a\"\"pp\";") +
         "SET default_tablespace = '';\n\n" +
         OwnedEntry("FUNCTION \"f\"()", "ACL", "a\"pp",
                    "REVOKE ALL ON FUNCTION \"s\".\"f\"() FROM PUBLIC;\n"
                    "GRANT ALL ON FUNCTION \"s\".\"f\"() TO \"reader\";\n"
                    "SET SESSION AUTHORIZATION \"auditor\";\n"
                    "GRANT SELECT ON TABLE \"s\".\"v\" TO \"x TO y\" WITH GRANT OPTION;\n"
                    "RESET SESSION AUTHORIZATION;") +
         "SET default_tablespace = \"fast\";\n\n" +
         OwnedEntry("t", "TABLE", "a\"pp",
                    "CREATE TABLE \"s\".\"t\" (\n    \"id\" integer\n);\n\n"
                    "ALTER TABLE \"s\".\"t\" OWNER TO \"a\"\"pp\";") +
         OwnedEntry(
             "COLUMN \"t\".\"id\"", "COMMENT", "a\"pp",
             "COMMENT ON COLUMN \"s\".\"t\".\"id\" IS '\nALTER TABLE x OWNER TO \"a\"\"pp\";\n"
             "GRANT ALL ON TABLE x TO \"nobody\";';") +
         OwnedEntry("DEFAULT PRIVILEGES FOR TABLES", "DEFAULT ACL", "a\"pp",
                    "ALTER DEFAULT PRIVILEGES FOR ROLE \"a\"\"pp\" IN SCHEMA \"s\" GRANT SELECT ON "
                    "TABLES  TO \"reader\";") +
         OwnedEntry("t p", "POLICY", "a\"pp",
                    "CREATE POLICY \"p\" ON \"s\".\"t\" AS RESTRICTIVE FOR SELECT TO \"reader\", "
                    "\"po\"\"l\" USING ((\"id\" > 10));") +
         OwnedEntry("BLOBS", "BLOB METADATA", "a\"pp",
                    "SELECT pg_catalog.lo_create('16400');\nSELECT pg_catalog.lo_create('16401');\n"
                    "\nALTER LARGE OBJECT 16400 OWNER TO \"a\"\"pp\";\n"
                    "ALTER LARGE OBJECT 16401 OWNER TO \"a\"\"pp\";") +
         OwnedEntry("t q", "POLICY", "a\"pp",
                    "CREATE POLICY \"q\" ON \"s\".\"t\" USING ((\"id\" > 10));") +
         kEpilogue;
}

TEST_CASE("--no-owner leaves out each object's OWNER TO line, and nothing inside literals") {
  const std::string text = RolesScript();
  DumpScript d = ParseDumpScript(text);
  REQUIRE(d.entries.size() == 8);
  CHECK(d.entries[0].owner == "a\"pp");
  CHECK(OmitFromScript(text, {}) == text);
  std::string out = OmitFromScript(text, {.owner = true, .privileges = false});
  CHECK(out.find("ALTER FUNCTION \"s\".\"f\"() OWNER TO") == std::string::npos);
  CHECK(out.find("ALTER TABLE \"s\".\"t\" OWNER TO \"a\"\"pp\";\n\n\n") == std::string::npos);
  // The same line inside the function body and inside the comment's literal stays.
  CHECK(out.find("AS $$\nALTER TABLE \"s\".\"t\" OWNER TO \"a\"\"pp\";\n$$;") != std::string::npos);
  CHECK(out.find("IS '\nALTER TABLE x OWNER TO \"a\"\"pp\";\n") != std::string::npos);
  CHECK(out.find("GRANT ALL ON FUNCTION") != std::string::npos);
  // Every large object of a BLOB METADATA entry is left to the restoring role.
  CHECK(out.find("ALTER LARGE OBJECT") == std::string::npos);
  CHECK(out.find("lo_create('16401');") != std::string::npos);
  // Nothing else changed: the four OWNER TO lines are all that is gone.
  const std::string f_owner = "ALTER FUNCTION \"s\".\"f\"() OWNER TO \"a\"\"pp\";\n";
  const std::string t_owner = "ALTER TABLE \"s\".\"t\" OWNER TO \"a\"\"pp\";\n";
  const std::string lo_owner = "ALTER LARGE OBJECT 16400 OWNER TO \"a\"\"pp\";\n";
  CHECK(out.size() + f_owner.size() + t_owner.size() + 2 * lo_owner.size() == text.size());
}

TEST_CASE("--no-privileges leaves out ACL entries, and the next entry keeps its settings") {
  const std::string text = RolesScript();
  std::string out = OmitFromScript(text, {.owner = false, .privileges = true});
  CHECK(out.find("GRANT") == out.find("GRANT ALL ON TABLE x TO \"nobody\""));  // in a literal
  CHECK(out.find("REVOKE") == std::string::npos);
  CHECK(out.find("SESSION AUTHORIZATION") != std::string::npos);  // as a setting, RESET
  CHECK(out.find("ALTER DEFAULT PRIVILEGES") == std::string::npos);
  CHECK(out.find("OWNER TO \"a\"\"pp\";\n\n") != std::string::npos);
  // The ACL entry carried the SET default_tablespace before the table: it is said again.
  size_t table = out.find("-- Name: t; Type: TABLE");
  REQUIRE(table != std::string::npos);
  size_t set = out.rfind("SET default_tablespace = \"fast\";\n", table);
  REQUIRE(set != std::string::npos);
  CHECK(out.find("-- Name:", set) == table);
  CHECK(ParseDumpScript(out).entries.size() == 6);
}

TEST_CASE("the roles a script needs, by what for, only from the forms pg_dump writes") {
  ScriptNeeds all;
  CollectScriptNeeds(ParseDumpScript(RolesScript()), &all);
  CHECK(all.owners == std::set<std::string>{"a\"pp"});
  CHECK(all.privileges == std::set<std::string>{"a\"pp", "auditor", "reader", "x TO y"});
  CHECK(all.policies == std::set<std::string>{"po\"l", "reader"});

  ScriptNeeds bare;
  CollectScriptNeeds(
      ParseDumpScript(OmitFromScript(RolesScript(), {.owner = true, .privileges = true})), &bare);
  CHECK(bare.owners.empty());
  CHECK(bare.privileges.empty());
  CHECK(bare.policies == all.policies);

  // Statements in other forms name no role rather than a wrong one.
  ScriptNeeds odd;
  CollectScriptNeeds(
      ParseDumpScript(kPreamble +
                      OwnedEntry("x", "ACL", "-",
                                 "GRANT SELECT ON t TO reader;\nGRANT x TO \"r\" "
                                 "GRANTED BY \"g\";\nGRANT ALL ON t TO PUBLIC;") +
                      OwnedEntry("t p", "POLICY", "-", "CREATE POLICY p ON t TO reader;") +
                      kEpilogue),
      &odd);
  CHECK(odd.owners.empty());
  CHECK(odd.privileges.empty());
  CHECK(odd.policies.empty());
}

TEST_CASE("--no-tablespaces selects the default tablespace; headers name the object's") {
  const std::string text =
      kPreamble + "SET default_tablespace = \"fast\";\n\n" +
      "--\n-- Name: t; Type: TABLE; Schema: s; Owner: a\"pp; Tablespace: fast\n--\n\n"
      "CREATE TABLE \"s\".\"t\" (\n    \"v\" \"text\" DEFAULT 'x\nSET default_tablespace = "
      "\"z\";'\n);\n"
      "\nALTER TABLE \"s\".\"t\" OWNER TO \"a\"\"pp\";\n\n\n" +
      "SET default_tablespace = '';\n\n" +
      Entry("u", "TABLE", "s", "CREATE TABLE \"s\".\"u\" ();") + kEpilogue;
  DumpScript d = ParseDumpScript(text);
  REQUIRE(d.entries.size() == 2);
  CHECK(d.entries[0].owner == "a\"pp");
  CHECK(d.entries[0].tablespace == "fast");
  CHECK(d.entries[1].tablespace.empty());
  ScriptNeeds needs;
  CollectScriptNeeds(d, &needs);
  CHECK(needs.tablespaces == std::set<std::string>{"fast"});  // not "z", inside a literal
  CHECK(needs.owners == std::set<std::string>{"a\"pp"});

  std::string out =
      OmitFromScript(text, {.owner = false, .privileges = false, .tablespaces = true});
  CHECK(out.find("SET default_tablespace = \"fast\"") == std::string::npos);
  CHECK(out.find("SET default_tablespace = '';\n\n--\n-- Name: t;") != std::string::npos);
  CHECK(out.find("'x\nSET default_tablespace = \"z\";'") != std::string::npos);
  CHECK(out.size() + std::string("\"fast\"").size() - 2 == text.size());
  ScriptNeeds none;
  CollectScriptNeeds(ParseDumpScript(out), &none);
  CHECK(none.tablespaces.empty());
  // With --no-owner too: the owner of an object in a tablespace is still read right.
  std::string both =
      OmitFromScript(text, {.owner = true, .privileges = false, .tablespaces = true});
  CHECK(both.find("OWNER TO") == std::string::npos);
}

}  // namespace
}  // namespace pgdedup::pg

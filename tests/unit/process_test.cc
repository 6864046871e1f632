#include "pg/process.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace fs = std::filesystem;
using pgdedup::pg::ResolveClientProgram;

namespace {

// Sets an environment variable for the life of the object, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void WriteExecutable(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "#!/bin/sh\nexit 0\n";
  REQUIRE(chmod(p.c_str(), 0755) == 0);
}

// A Debian-like layout in a temporary directory: DIR/bin/{psql,pg_dump} link to
// DIR/share/postgresql-common/pg_wrapper; DIR/lib/postgresql/{13,15,16}/bin hold the programs.
struct FakeInstall {
  FakeInstall() {
    char tmpl[] = "/tmp/pgdedup-process-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    WriteExecutable(dir / "share/postgresql-common/pg_wrapper");
    fs::create_directories(dir / "bin");
    for (const char* tool : {"psql", "pg_dump"}) {
      fs::create_symlink("../share/postgresql-common/pg_wrapper", dir / "bin" / tool);
      for (const char* v : {"13", "15", "16"})
        WriteExecutable(dir / "lib/postgresql" / v / "bin" / tool);
    }
    fs::create_directories(dir / "lib/postgresql/17");  // a version without its binaries
    fs::create_directories(dir / "home");
    binroot = (dir / "lib/postgresql").string() + "/";
  }
  ~FakeInstall() { fs::remove_all(dir); }
  std::string Bin(const char* version, const char* tool) const {
    return binroot + version + "/bin/" + tool;
  }
  fs::path dir;
  std::string binroot;
};

}  // namespace

TEST_CASE("client programs behind pg_wrapper are started directly", "[process]") {
  FakeInstall f;
  ScopedEnv path("PATH", (f.dir / "bin").string());
  ScopedEnv home("HOME", (f.dir / "home").string());
  ScopedEnv cluster("PGCLUSTER", std::nullopt);

  SECTION("psql: the newest version installed, as pg_wrapper picks it") {
    CHECK(ResolveClientProgram("psql", 0, f.binroot) == f.Bin("16", "psql"));
  }
  SECTION("pg_dump: the server's own version when installed, else the newest") {
    CHECK(ResolveClientProgram("pg_dump", 15, f.binroot) == f.Bin("15", "pg_dump"));
    CHECK(ResolveClientProgram("pg_dump", 13, f.binroot) == f.Bin("13", "pg_dump"));
    CHECK(ResolveClientProgram("pg_dump", 14, f.binroot) == f.Bin("16", "pg_dump"));
    CHECK(ResolveClientProgram("pg_dump", 17, f.binroot) == f.Bin("16", "pg_dump"));
  }
  SECTION("a path, or a program not behind the wrapper, is left alone") {
    CHECK(ResolveClientProgram("/opt/pg/bin/psql", 0, f.binroot) == "/opt/pg/bin/psql");
    CHECK(ResolveClientProgram("pg_restore", 0, f.binroot) == "pg_restore");  // not in PATH
    fs::remove(f.dir / "bin/psql");
    WriteExecutable(f.dir / "bin/psql");
    CHECK(ResolveClientProgram("psql", 0, f.binroot) == "psql");
  }
  SECTION("PGCLUSTER or ~/.postgresqlrc: the wrapper's choice is the user's") {
    {
      ScopedEnv set("PGCLUSTER", "15/main");
      CHECK(ResolveClientProgram("psql", 0, f.binroot) == "psql");
    }
    std::ofstream(f.dir / "home/.postgresqlrc") << "15 main mydb\n";
    CHECK(ResolveClientProgram("psql", 0, f.binroot) == "psql");
  }
  SECTION("no version installed: the wrapper") {
    CHECK(ResolveClientProgram("psql", 0, (f.dir / "nowhere").string() + "/") == "psql");
  }
}

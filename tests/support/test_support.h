#pragma once
// Helpers shared by the tests: scratch directories and running the `tdml` binary.
#include <string>

// Skips the calling test when tdml was built without c10d's Gloo backend (a PyTorch wheel's
// LibTorch ships no gloo headers; see cmake/TdmlDeps.cmake). Use inside a TEST body.
#ifdef TDML_HAS_GLOO
#define TDML_REQUIRE_GLOO() static_cast<void>(0)
#else
#define TDML_REQUIRE_GLOO() GTEST_SKIP() << "tdml was built without c10d's Gloo backend"
#endif

namespace tdml::test {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `tdml ARGS` (ARGS is passed to /bin/sh as is) and captures exit code and output.
CliResult run_tdml(const std::string& args);

// Path of the tdml binary under test.
std::string tdml_binary();

}  // namespace tdml::test

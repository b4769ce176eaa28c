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

// A test that needs something outside tdml (a Python module, torchrun): on a developer's
// machine it is skipped when that is missing; in CI (CI set, as .ci/run is run) it fails,
// since CI installs everything (scripts/install-deps.sh --python). Use inside a TEST body.
#define TDML_REQUIRE(available, what)                                                      \
  do {                                                                                     \
    if (!(available)) {                                                                    \
      if (::tdml::test::in_ci()) FAIL() << what << " is missing in CI (install-deps.sh --python)"; \
      GTEST_SKIP() << what << " is not available";                                        \
    }                                                                                      \
  } while (0)

namespace tdml::test {

// True when the CI variable is set and not "false"/"0" (CI systems and .ci/run's caller set it).
bool in_ci();

// How much slower than a normal build this one runs (TDML_TEST_TIME_SCALE, default 1;
// scripts/sanitize.sh sets it): tests that give a party a deadline multiply it by this.
double time_scale();

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

// Runs a whole /bin/sh command line (its own cd, env, binary) and captures exit code and output.
CliResult run_shell(const std::string& command);

// The same with the tdml-faults binary (the commands plus test-only fault injection:
// TDML_TEST_DIE_RANK / TDML_TEST_DIE_AFTER_STEPS, see support/fault_injection.cpp).
CliResult run_tdml_with_faults(const std::string& args);

// Path of the tdml binary under test.
std::string tdml_binary();

}  // namespace tdml::test

#include "support/test_support.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "tdml/util/allocator.h"

namespace tdml::test {
double time_scale() {
  const char* s = std::getenv("TDML_TEST_TIME_SCALE");
  const double x = s && *s ? std::atof(s) : 1.0;
  return x >= 1.0 ? x : 1.0;
}

namespace {

// The test binary runs training in-process: it gets the allocator policy the `tdml` binary's
// main sets (freed memory kept and reused, not unmapped); without it every batch page-faults its
// tensors afresh (Trainer.ResumedRun... took 39 s instead of 12).
const std::string g_allocator_policy = util::keep_freed_memory();

}  // namespace

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("tdml-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a temp dir");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string tdml_binary() { return TDML_BIN; }

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "false" && std::string(ci) != "0";
}

namespace {

CliResult run_binary(const std::string& binary, const std::string& args) {
  return run_shell("'" + binary + "' " + args);
}

}  // namespace

CliResult run_shell(const std::string& command) {
  CliResult r;
  std::string cmd = command + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CliResult run_tdml(const std::string& args) { return run_binary(tdml_binary(), args); }

CliResult run_tdml_with_faults(const std::string& args) { return run_binary(TDML_FAULT_BIN, args); }

}  // namespace tdml::test

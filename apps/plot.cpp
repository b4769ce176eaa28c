// tdml plot: a run's metrics.json as PNGs + index.html (runs scripts/plot.py with matplotlib).
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "command.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace fs = std::filesystem;
namespace {

// Runs argv[0] with argv; returns its exit status (127 when it could not be started).
int run_process(const std::vector<std::string>& args, bool quiet) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) throw Error("tdml plot: fork failed");
  if (pid == 0) {
    if (quiet) {
      const int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) {
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
      }
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error("tdml plot: waitpid failed");
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// scripts/plot.py next to the build tree (build/tdml -> ../scripts), an installed copy, or the
// source tree this file was compiled from; $TDML_PLOT_SCRIPT overrides.
std::string find_script() {
  if (const char* env = std::getenv("TDML_PLOT_SCRIPT")) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = exe.parent_path();
    candidates = {dir / "scripts/plot.py", dir / "../scripts/plot.py",
                  dir / "../share/tdml/plot.py"};
  }
  candidates.push_back(fs::path(__FILE__).parent_path().parent_path() / "scripts/plot.py");
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  throw Error("tdml plot: scripts/plot.py not found next to " + exe.string() +
              " nor in the source tree; set TDML_PLOT_SCRIPT=/path/to/plot.py");
}

int plot_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Draw a run's metrics.json as PNGs and an index.html (train, bench "
                        "throughput, autobatch, sweep, bench allreduce, fl; a fl grid's "
                        "grid.json), or compare runs with --summary DIR1 DIR2 ...");
  opts.positional_help("RUN_DIR [RUN_DIR...]");
  // clang-format off
  opts.add_options()
      ("summary", "Compare several runs: time per epoch/round, throughput, speedup")
      ("out", "Output directory (default RUN_DIR/plots; --summary: ./summary)", cxxopts::value<std::string>())
      ("runs", "Run directories or metrics files", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  opts.parse_positional({"runs"});
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  if (!r.count("runs")) throw UsageError("tdml plot: give a run directory (tdml plot RUN_DIR)");
  const auto runs = r["runs"].as<std::vector<std::string>>();
  const bool summary = r.count("summary") > 0;
  if (!summary && runs.size() != 1) {
    throw UsageError("tdml plot: one run directory, or --summary DIR1 DIR2 ...");
  }
  const char* env_python = std::getenv("TDML_PYTHON");
  const std::string python = env_python ? env_python : "/usr/bin/python3";
  if (run_process({python, "-c", "import matplotlib, numpy"}, true) != 0) {
    throw Error("tdml plot: " + python +
                " cannot import matplotlib/numpy: install python3-matplotlib "
                "(apt-get install python3-matplotlib, or scripts/install-deps.sh --python)");
  }
  std::vector<std::string> args = {python, find_script()};
  if (summary) args.push_back("--summary");
  if (r.count("out")) {
    args.push_back("--out");
    args.push_back(r["out"].as<std::string>());
  }
  for (const auto& d : runs) args.push_back(d);
  const int rc = run_process(args, false);
  if (rc == 127) throw Error("tdml plot: could not run " + python);
  return rc;
}

const Registration plot_reg("plot", "Draw a run's metrics.json as PNGs + index.html (or --summary)",
                       plot_main);

}  // namespace
}  // namespace tdml::app

#include "command.h"

#include <algorithm>
#include <iostream>

#include "tdml/util/error.h"
#include "tdml/util/log.h"

namespace tdml::app {
namespace {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace

Registration::Registration(const char* name, const char* summary, CommandFn run) {
  registry().push_back({name, summary, run});
}

const std::vector<Command>& commands() { return registry(); }

namespace {

// --help lists a command's groups in the order a user reads them (cxxopts sorts them by name):
// what it is, what it trains on and how, then how it runs and where it writes; Common last.
std::vector<std::string> help_order(const cxxopts::Options& opts) {
  static const std::vector<std::string> order = {
      "",          "Mode",   "Model and data", "Clients and data", "Optimisation", "Attacks",
      "Server",    "Grid",   "Search",         "Pipeline (--mode pipeline)",
      "Data parallel (--mode ddp)", "Distributed", "Performance", "Output", "Ledger"};
  auto groups = opts.groups();
  std::vector<std::string> out;
  for (const auto& g : order) {
    if (std::find(groups.begin(), groups.end(), g) != groups.end()) out.push_back(g);
  }
  for (const auto& g : groups) {
    if (std::find(out.begin(), out.end(), g) == out.end() && g != "Common" && g != kHiddenGroup) {
      out.push_back(g);
    }
  }
  out.push_back("Common");
  return out;
}

}  // namespace

bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out) {
  std::vector<std::string> unexpected;
  if (!parse(opts, argc, argv, out, unexpected)) return false;
  if (!unexpected.empty()) {
    throw UsageError("unexpected argument '" + unexpected.front() + "' (see '" +
                     opts.program() + " --help')");
  }
  return true;
}

bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out,
           std::vector<std::string>& passed_on) {
  opts.set_width(110);  // one line per option on a usual terminal
  opts.add_options("Common")("h,help", "Show this help")(
      "v,verbose", "More log output (debug)")("q,quiet", "Only warnings and errors");
  try {
    out = opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(std::string(e.what()) + " (see '" + opts.program() + " --help')");
  }
  if (out.count("help")) {
    std::cout << opts.help(help_order(opts)) << std::endl;
    return false;
  }
  passed_on = out.unmatched();
  util::setup_logging(out["verbose"].as<bool>(), out["quiet"].as<bool>());
  return true;
}

}  // namespace tdml::app

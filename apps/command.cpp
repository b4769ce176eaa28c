#include "command.h"

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

bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out) {
  opts.add_options("Common")("h,help", "Show this help")(
      "v,verbose", "More log output (debug)")("q,quiet", "Only warnings and errors");
  try {
    out = opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(std::string(e.what()) + " (see '" + opts.program() + " --help')");
  }
  if (out.count("help")) {
    std::cout << opts.help() << std::endl;
    return false;
  }
  if (!out.unmatched().empty()) {
    throw UsageError("unexpected argument '" + out.unmatched().front() + "' (see '" +
                     opts.program() + " --help')");
  }
  util::setup_logging(out["verbose"].as<bool>(), out["quiet"].as<bool>());
  return true;
}

}  // namespace tdml::app

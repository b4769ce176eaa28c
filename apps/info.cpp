// tdml info: the system report (machine, LibTorch, GPUs, c10d backends, distributed env).
#include <iostream>

#include "command.h"
#include "tdml/metrics/system_report.h"
#include "tdml/util/device.h"

namespace tdml::app {
namespace {

int info_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Print the system report (what the study's notebook opens with)");
  opts.add_options()("json", "Print JSON")("threads", "Intra-op threads to report (0 = all cores)",
                                           cxxopts::value<int>()->default_value("0"));
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  util::set_threads(r["threads"].as<int>());
  auto report = metrics::system_report();
  if (r.count("json")) {
    std::cout << report.dump(2) << std::endl;
  } else {
    std::cout << metrics::format_system_report(report);
  }
  return 0;
}

const Registration info_reg("info", "System report: CPU, RAM, LibTorch, GPUs, c10d backends", info_main);

}  // namespace
}  // namespace tdml::app

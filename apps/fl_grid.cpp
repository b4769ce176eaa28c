// `tdml fl grid`: `tdml fl` once per cell attack x aggregator x alpha x seed, each a child
// process, resumable, the seeds summarised (tdml/study/fl_grid.h; docs/fl.md).
#include "tdml/study/fl_grid.h"

#include <algorithm>

#include "command.h"
#include "tdml/fl/aggregators.h"
#include "tdml/fl/attacks.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {

const char* const kGridHelp =
    "Runs `tdml fl` once per cell (attack x aggregator x alpha x seed), each a child process with\n"
    "DIR/cells/<cell>/ (metrics.json, fl.log, cell.log), and summarises the seeds of each "
    "(attack,\n"
    "aggregator, alpha) in DIR/grid.csv and DIR/grid.json (kind fl-grid; tdml plot DIR draws it):\n"
    "mean, sample std and 95% Student t interval (n-1 dof) of the final clean accuracy, the final\n"
    "backdoor ASR next to the ASR of the `none` cell with the same aggregator, alpha and seed\n"
    "(every cell gets --eval-trigger), detection precision/recall (mean over rounds), wall time.\n"
    "Tokens:  --attacks none | NAME | NAME:K (--attack NAME --malicious K)\n"
    "         --aggregators RULE | RULE+bucketing (--aggregator RULE --bucketing <bucket-size>)\n"
    "         --alphas iid (--partition iid) | X (--partition dirichlet --alpha X)\n"
    "         --seeds integers (--seed)\n"
    "Every other option goes to every cell as it is (tdml fl --help lists them); with --jobs N\n"
    "give the cells --threads (cores / N). Resumable: a cell whose metrics.json says completed\n"
    "is skipped, any other is rerun from scratch; Ctrl-C stops the running cells. Exit 1 when a\n"
    "cell failed (named; its group's statistics leave it out).\n";

// Set per cell by the grid; the grid flag that sets each.
const std::vector<std::pair<std::string, std::string>> kGridOwnedFlags = {
    {"out", "--out DIR (the grid's)"},
    {"attack", "--attacks"},
    {"malicious", "--attacks NAME:K"},
    {"aggregator", "--aggregators"},
    {"bucketing", "--aggregators RULE+bucketing and --bucket-size"},
    {"partition", "--alphas"},
    {"alpha", "--alphas"},
    {"seed", "--seeds"}};

void refuse_grid_owned(const std::vector<std::string>& forwarded) {
  for (const auto& arg : forwarded) {
    if (arg.rfind("--", 0) != 0) continue;
    const auto name = arg.substr(2, arg.find('=') - 2);
    for (const auto& [flag, instead] : kGridOwnedFlags) {
      if (name == flag) {
        throw UsageError("fl grid: --" + flag + " is set per cell by the grid (use " + instead +
                         ")");
      }
    }
  }
}

// The names exist in tdml fl (its attacks and rules), checked before any cell runs.
void check_grid_names(const study::GridAxes& axes) {
  for (const auto& a : axes.attacks) {
    try {
      if (a.name != "none") fl::parse_client_attack(a.name);
    } catch (const Error& e) {
      throw UsageError("--attacks " + study::attack_token(a) + ": " + e.what());
    }
  }
  const auto rules = fl::aggregator_names();
  for (const auto& a : axes.aggregators) {
    if (std::find(rules.begin(), rules.end(), a.rule) != rules.end()) continue;
    std::string list;
    for (const auto& r : rules) list += (list.empty() ? "" : ", ") + r;
    throw UsageError("--aggregators " + study::aggregator_token(a) + ": unknown aggregator '" +
                     a.rule + "' (choices: " + list + ")");
  }
}

// One cell's `tdml fl` command line: the forwarded options, then the cell's own.
std::vector<std::string> grid_cell_args(const study::GridCell& c, const std::string& dir,
                                        const std::vector<std::string>& forwarded,
                                        std::int64_t bucket_size) {
  std::vector<std::string> a = {"tdml", "fl"};
  a.insert(a.end(), forwarded.begin(), forwarded.end());
  a.insert(a.end(), {"--attack", c.attack.name});
  if (c.attack.malicious >= 0)
    a.insert(a.end(), {"--malicious", std::to_string(c.attack.malicious)});
  a.insert(a.end(), {"--aggregator", c.aggregator.rule});
  if (c.aggregator.bucketing) a.insert(a.end(), {"--bucketing", std::to_string(bucket_size)});
  if (c.alpha.iid) {
    a.insert(a.end(), {"--partition", "iid"});
  } else {
    a.insert(a.end(), {"--partition", "dirichlet", "--alpha", study::alpha_token(c.alpha)});
  }
  a.insert(a.end(), {"--seed", std::to_string(c.seed), "--out", dir});
  return a;
}

int fl_grid_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], kGridHelp);
  opts.custom_help(
      "--attacks A,B --aggregators X,Y --alphas iid,0.5 --seeds 0,1,2 [tdml fl "
      "options] --out DIR [--jobs N]");
  opts.allow_unrecognised_options();
  auto str = [](const char* d) { return cxxopts::value<std::string>()->default_value(d); };
  // clang-format off
  opts.add_options("Grid")
      ("attacks", "none | NAME | NAME:K, comma-separated", str("none"))
      ("aggregators", "RULE | RULE+bucketing, comma-separated", str("mean"))
      ("alphas", "iid | Dirichlet alpha, comma-separated", str("iid"))
      ("seeds", "seeds, comma-separated", str("0"))
      ("bucket-size", "RULE+bucketing: --bucketing of those cells", cxxopts::value<std::int64_t>()->default_value("2"))
      ("jobs", "cells run at once, each its own process", cxxopts::value<int>()->default_value("1"))
      ("out", "grid directory (grid.csv, grid.json, grid.log, cells/)", str("runs/fl-grid"));
  // clang-format on
  cxxopts::ParseResult r;
  std::vector<std::string> forwarded;
  if (!parse(opts, argc, argv, r, forwarded)) return 0;
  refuse_grid_owned(forwarded);
  study::FlGridOptions g;
  g.axes =
      study::parse_grid_axes(r["attacks"].as<std::string>(), r["aggregators"].as<std::string>(),
                             r["alphas"].as<std::string>(), r["seeds"].as<std::string>());
  check_grid_names(g.axes);
  g.bucket_size = r["bucket-size"].as<std::int64_t>();
  if (g.bucket_size < 1) throw UsageError("--bucket-size must be >= 1");
  g.jobs = r["jobs"].as<int>();
  g.out_dir = r["out"].as<std::string>();
  g.command = {"tdml", "fl", "grid"};
  g.command.insert(g.command.end(), argv + 1, argv + argc);
  if (std::find(forwarded.begin(), forwarded.end(), "--eval-trigger") == forwarded.end()) {
    forwarded.push_back("--eval-trigger");  // every cell measures the trigger: the ASR baseline
  }
  g.forwarded = forwarded;
  g.cell_command = [forwarded, bucket = g.bucket_size](const study::GridCell& c,
                                                       const std::string& dir) {
    return grid_cell_args(c, dir, forwarded, bucket);
  };
  const auto result = study::run_fl_grid(g);
  if (result.failed.empty()) return 0;
  std::string names;
  for (const auto& n : result.failed) names += (names.empty() ? "" : ", ") + n;
  throw Error("fl grid: " + std::to_string(result.failed.size()) + " of " +
              std::to_string(result.summary.at("cells").size()) + " cells failed: " + names +
              " (see " + g.out_dir + "/cells/<cell>/cell.log; rerun to retry them)");
}

const Registration fl_grid_reg(
    "fl grid", "Attack x aggregator x alpha x seed grid of tdml fl runs (resumable)", fl_grid_main);

}  // namespace
}  // namespace tdml::app

// `tdml fl grid`: the grid's tokens and cells, and running the cells (fl_grid_summary.cpp reads
// their results and writes grid.csv / grid.json).
#include "tdml/study/fl_grid.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <set>
#include <sstream>

#include "tdml/dist/launcher.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"

namespace tdml::study {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> split_grid_list(const std::string& flag, const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  std::stringstream ss(text);
  while (std::getline(ss, item, ',')) items.push_back(item);
  if (text.empty()) throw UsageError(flag + ": empty list (give at least one value)");
  if (text.back() == ',') items.push_back("");
  for (const auto& i : items) {
    if (i.empty()) {
      throw UsageError(flag + " " + text + ": expected a comma-separated list without spaces");
    }
  }
  return items;
}

// Words of [a-z0-9-] (starting with a letter or digit) joined by '+'.
bool is_grid_name(const std::string& s) {
  if (s.empty()) return false;
  bool word_start = true;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '+') {
      if (word_start) return false;
      word_start = true;
    } else if (alnum || (c == '-' && !word_start)) {
      word_start = false;
    } else {
      return false;
    }
  }
  return !word_start;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

GridAttack parse_attack_token(const std::string& t) {
  const std::string flag = "--attacks " + t;
  GridAttack a;
  const auto colon = t.find(':');
  a.name = t.substr(0, colon);
  if (!is_grid_name(a.name)) {
    throw UsageError(flag + ": '" + a.name + "' is not an attack name (NAME or NAME:K)");
  }
  if (colon == std::string::npos) return a;
  const auto k = t.substr(colon + 1);
  if (a.name == "none") throw UsageError(flag + ": none has no malicious clients (write none)");
  if (!all_digits(k) || k.size() > 6 || std::stoi(k) < 1) {
    throw UsageError(flag + ": '" + k + "' is not a number of malicious clients >= 1 (NAME:K)");
  }
  a.malicious = std::stoi(k);
  return a;
}

GridAggregator parse_aggregator_token(const std::string& t) {
  GridAggregator a;
  a.rule = t;
  const auto plus = t.find('+');
  if (plus != std::string::npos) {
    if (t.substr(plus) != "+bucketing") {
      throw UsageError("--aggregators " + t + ": '" + t.substr(plus) +
                       "' is not a modifier (RULE or RULE+bucketing)");
    }
    a.rule = t.substr(0, plus);
    a.bucketing = true;
  }
  if (!is_grid_name(a.rule)) {
    throw UsageError("--aggregators " + t + ": '" + a.rule + "' is not an aggregator name");
  }
  return a;
}

GridAlpha parse_alpha_token(const std::string& t) {
  GridAlpha a;
  if (t == "iid") return a;
  char* end = nullptr;
  const double x = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(x) || x <= 0) {
    throw UsageError("--alphas " + t + ": expected iid or a Dirichlet alpha > 0 (e.g. 0.5)");
  }
  a.iid = false;
  a.alpha = x;
  return a;
}

std::uint64_t parse_seed_token(const std::string& t) {
  if (!all_digits(t) || t.size() > 19) {
    throw UsageError("--seeds " + t + ": expected a non-negative integer seed");
  }
  return std::stoull(t);
}

// Parses each token of one axis and refuses a token given twice (after canonicalising it).
template <typename T, typename Parse, typename Token>
std::vector<T> parse_axis(const std::string& flag, const std::string& text, Parse parse,
                          Token token) {
  std::vector<T> out;
  std::set<std::string> seen;
  for (const auto& item : split_grid_list(flag, text)) {
    out.push_back(parse(item));
    if (!seen.insert(token(out.back())).second) {
      throw UsageError(flag + " " + text + ": '" + item + "' is given twice");
    }
  }
  return out;
}

// The last non-empty line of a cell's log (why it failed), shortened.
std::string last_log_line(const std::string& path) {
  std::string text;
  try {
    text = util::read_file(path);
  } catch (const Error&) {
    return "";
  }
  std::string last, line;
  std::stringstream ss(text);
  while (std::getline(ss, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last.size() > 200 ? last.substr(0, 200) + "..." : last;
}

// The command line a cell was started with (its command.json), if it has one.
std::optional<std::vector<std::string>> started_command(const std::string& dir) {
  try {
    const auto j = nlohmann::json::parse(util::read_file(dir + "/command.json"));
    return j.get<std::vector<std::string>>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string progress_line(std::size_t done, std::size_t total, const GridRecord& r) {
  std::ostringstream os;
  os << "[" << done << "/" << total << "] " << r.cell.label() << ": ";
  auto num = [&](const std::optional<double>& v) {
    if (v) {
      os << std::fixed << std::setprecision(3) << *v;
    } else {
      os << "-";
    }
  };
  os << "acc ";
  num(r.result.accuracy);
  os << " asr ";
  num(r.result.asr);
  return os.str();
}

}  // namespace

GridAxes parse_grid_axes(const std::string& attacks, const std::string& aggregators,
                         const std::string& alphas, const std::string& seeds) {
  GridAxes g;
  g.attacks = parse_axis<GridAttack>("--attacks", attacks, parse_attack_token, attack_token);
  g.aggregators = parse_axis<GridAggregator>("--aggregators", aggregators, parse_aggregator_token,
                                             aggregator_token);
  g.alphas = parse_axis<GridAlpha>("--alphas", alphas, parse_alpha_token, alpha_token);
  g.seeds = parse_axis<std::uint64_t>("--seeds", seeds, parse_seed_token,
                                      [](std::uint64_t s) { return std::to_string(s); });
  return g;
}

std::string attack_token(const GridAttack& a) {
  return a.malicious >= 0 ? a.name + ":" + std::to_string(a.malicious) : a.name;
}

std::string aggregator_token(const GridAggregator& a) {
  return a.bucketing ? a.rule + "+bucketing" : a.rule;
}

std::string alpha_token(const GridAlpha& a) {
  if (a.iid) return "iid";
  std::ostringstream os;
  os << std::setprecision(10) << a.alpha;  // 0.5 -> "0.5", 1 -> "1", 1e-05 -> "1e-05"
  return os.str();
}

std::string GridCell::name() const {
  const std::string attack_part =
      attack.malicious >= 0 ? attack.name + "_" + std::to_string(attack.malicious) : attack.name;
  const std::string alpha_part = alpha.iid ? "iid" : "a" + alpha_token(alpha);
  return attack_part + "__" + aggregator_token(aggregator) + "__" + alpha_part + "__s" +
         std::to_string(seed);
}

std::string GridCell::label() const {
  return attack_token(attack) + " " + aggregator_token(aggregator) + " " +
         (alpha.iid ? "iid" : "a" + alpha_token(alpha)) + " s" + std::to_string(seed);
}

std::vector<GridCell> expand_grid(const GridAxes& axes) {
  std::vector<GridCell> cells;
  for (const auto& attack : axes.attacks) {
    for (const auto& aggregator : axes.aggregators) {
      for (const auto& alpha : axes.alphas) {
        for (const auto seed : axes.seeds) cells.push_back({attack, aggregator, alpha, seed});
      }
    }
  }
  return cells;
}

namespace {

// One run of a grid: which cells to run, what each one's end means, the summary.
class GridRun {
 public:
  explicit GridRun(const FlGridOptions& o) : o_(o) {}

  // Records every cell; clears the ones not completed before and lists them as jobs.
  void plan() {
    const auto cells = expand_grid(o_.axes);
    TDML_CHECK(!cells.empty(), "fl grid: no cells");
    total_ = cells.size();
    for (const auto& cell : cells) {
      const std::string dir = cell_dir(cell);
      GridRecord r{cell, o_.cell_command(cell, dir), read_cell_result(dir + "/metrics.json"), ""};
      if (r.result.status == "completed") {
        keep(r, dir);
      } else {
        std::error_code ec;
        fs::remove_all(dir, ec);  // a failed or partial cell starts from scratch
        TDML_CHECK(!ec, "fl grid: cannot remove " << dir << ": " << ec.message());
        util::make_dirs(dir);
        util::write_file_atomic(dir + "/command.json", nlohmann::json(r.command).dump() + "\n");
        jobs_.push_back({cell.name(), r.command, dir + "/cell.log", ""});
        record_of_job_.push_back(records_.size());
      }
      records_.push_back(std::move(r));
    }
    spdlog::info("fl grid: {} cells in {}: {} completed before, {} to run, {} at a time", total_,
                 o_.out_dir, total_ - jobs_.size(), jobs_.size(), o_.jobs);
  }

  void run() {
    try {
      dist::run_jobs(jobs_, o_.jobs, [this](const dist::JobEnd& e) { ended(e); });
    } catch (const Error& e) {  // interrupted: the finished cells stay, a rerun resumes
      throw Error(std::string("fl grid: ") + e.what() + " (the same command resumes)");
    }
  }

  FlGridResult summarise() const {
    GridSummaryOptions so{o_.axes, o_.command, o_.bucket_size, o_.forwarded};
    FlGridResult out{grid_summary_json(so, records_), {}};
    for (const auto& r : records_) {
      if (r.result.status != "completed") out.failed.push_back(r.cell.name());
    }
    util::write_file_atomic(o_.out_dir + "/grid.json", out.summary.dump(2) + "\n");
    util::write_file_atomic(o_.out_dir + "/grid.csv", grid_summary_csv(out.summary));
    spdlog::info("fl grid: {} of {} cells completed; wrote {}/grid.csv and grid.json",
                 total_ - out.failed.size(), total_, o_.out_dir);
    return out;
  }

 private:
  std::string cell_dir(const GridCell& c) const { return o_.out_dir + "/cells/" + c.name(); }

  // A cell completed before: skipped, and grid.json records the command line that made it.
  void keep(GridRecord& r, const std::string& dir) {
    const auto line = progress_line(++done_, total_, r);
    spdlog::info("{}: completed before, skipped", line);
    const auto before = started_command(dir);
    if (before && *before != r.command) {
      spdlog::warn("{}: that run had another command line; kept (remove {} to rerun it)", line,
                   dir);
      r.command = *before;
    }
  }

  void ended(const dist::JobEnd& e) {
    auto& r = records_[record_of_job_[e.index]];
    const std::string dir = cell_dir(r.cell);
    r.result = read_cell_result(dir + "/metrics.json");
    if (!e.ok) {
      r.failure = e.how;
    } else if (r.result.status != "completed") {
      r.failure = "exited with status 0 but its metrics.json is " + r.result.status;
    }
    const auto line = progress_line(++done_, total_, r);
    const long long secs = std::llround(e.seconds);
    if (r.failure.empty()) {
      spdlog::info("{} {} s", line, secs);
    } else {
      spdlog::warn("{}: FAILED: {} after {} s (cells/{}/cell.log: {})", line, r.failure, secs,
                   r.cell.name(), last_log_line(dir + "/cell.log"));
    }
  }

  const FlGridOptions& o_;
  std::vector<GridRecord> records_;  // one per cell, in grid order
  std::vector<dist::Job> jobs_;      // the cells to run
  std::vector<std::size_t> record_of_job_;
  std::size_t total_ = 0, done_ = 0;
};

}  // namespace

FlGridResult run_fl_grid(const FlGridOptions& o) {
  if (o.jobs < 1) throw UsageError("--jobs must be >= 1, got " + std::to_string(o.jobs));
  TDML_CHECK(o.cell_command && !o.out_dir.empty(), "fl grid: no cell command or output dir");
  util::make_dirs(o.out_dir + "/cells");
  util::add_log_file(o.out_dir + "/grid.log");
  GridRun run(o);
  run.plan();
  run.run();
  return run.summarise();
}

}  // namespace tdml::study

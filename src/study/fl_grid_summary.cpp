// `tdml fl grid`'s results: each cell's metrics.json read, the seeds of each (attack,
// aggregator, alpha) summarised, grid.json and grid.csv. Only the cells' files go in, so the
// same cells always give the same bytes.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include "tdml/study/fl_grid.h"
#include "tdml/study/sample_stats.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::study {
namespace {

using nlohmann::json;

std::optional<double> grid_number(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

// Seconds since the epoch of "2026-11-24T22:55:52Z" (metrics::MetricsFile's timestamps).
std::optional<double> utc_seconds(const json& doc, const char* key) {
  if (!doc.contains(key) || !doc[key].is_string()) return std::nullopt;
  std::tm tm{};
  char z = 0;
  if (std::sscanf(doc[key].get<std::string>().c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year,
                  &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
      z != 'Z') {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(::timegm(&tm));
}

// Mean over rounds of rounds[].detection.<key>, the rounds where it is null left out.
std::optional<double> mean_detection(const json& rounds, const char* key) {
  double sum = 0;
  int n = 0;
  for (const auto& r : rounds) {
    if (const auto v = grid_number(r.value("detection", json()), key)) {
      sum += *v;
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json stat_json(const std::vector<double>& values) {
  const auto s = summarize_sample(values, 0.95);
  return {{"n", s.n},
          {"mean", optional_json(s.mean)},
          {"std", optional_json(s.std)},
          {"ci95_low", optional_json(s.ci_low)},
          {"ci95_high", optional_json(s.ci_high)}};
}

// The cell's place in its (attack, aggregator, alpha) group, and the key of its baseline.
using GroupKey = std::tuple<std::string, std::string, std::string>;
using BaselineKey = std::tuple<std::string, std::string, std::uint64_t>;

GroupKey group_of(const GridCell& c) {
  return {attack_token(c.attack), aggregator_token(c.aggregator), alpha_token(c.alpha)};
}
BaselineKey baseline_of(const GridCell& c) {
  return {aggregator_token(c.aggregator), alpha_token(c.alpha), c.seed};
}

json malicious_json(const GridAttack& a) {
  return a.malicious >= 0 ? json(a.malicious) : json(nullptr);
}

json alpha_json(const GridAlpha& a) { return a.iid ? json("iid") : json(a.alpha); }

json cell_json(const GridRecord& r, const std::optional<double>& baseline) {
  const auto& c = r.cell;
  const auto& x = r.result;
  json j = {{"name", c.name()},
            {"attack", c.attack.name},
            {"malicious", malicious_json(c.attack)},
            {"aggregator", c.aggregator.rule},
            {"bucketing", c.aggregator.bucketing},
            {"alpha", alpha_json(c.alpha)},
            {"seed", c.seed},
            {"dir", "cells/" + c.name()},
            {"command", r.command},
            {"status", x.status},
            {"rounds", x.rounds},
            {"accuracy", optional_json(x.accuracy)},
            {"asr", optional_json(x.asr)},
            {"asr_baseline", optional_json(baseline)},
            {"precision", optional_json(x.precision)},
            {"recall", optional_json(x.recall)},
            {"wall_s", optional_json(x.wall_s)}};
  const std::string error = !x.error.empty() ? x.error : r.failure;
  if (x.status != "completed") j["error"] = error.empty() ? x.status : error;
  return j;
}

const char* const kStatNames[] = {"accuracy",  "asr",    "asr_baseline", "asr_minus_baseline",
                                  "precision", "recall", "wall_s"};

json statistics_note() {
  return {
      {"over", "the seeds of each (attack, aggregator, alpha) whose cell completed"},
      {"mean", "arithmetic mean"},
      {"std", "sample standard deviation (n - 1 in the denominator); null when n < 2"},
      {"ci95",
       "two-sided 95% confidence interval of the mean, Student t with n - 1 degrees of freedom: "
       "mean +- t(0.975, n - 1) * std / sqrt(n); null when n < 2"},
      {"accuracy", "last round's test_accuracy (clean test accuracy of the final model)"},
      {"asr", "last round's backdoor.asr_non_target (the trigger is measured in every cell)"},
      {"asr_baseline", "asr of the attack-none cell with the same aggregator, alpha and seed"},
      {"asr_minus_baseline", "asr - asr_baseline, paired by seed"},
      {"precision", "mean over rounds of detection.precision, null rounds left out"},
      {"recall", "mean over rounds of detection.recall, null rounds left out"},
      {"wall_s", "the cell's finished - created in its metrics.json (s)"}};
}

std::string csv_number(const json& v) {
  if (!v.is_number()) return "";
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
  return buf;
}

// An alpha as its grid token spells it (alpha_token: 10 significant digits).
std::string alpha_csv(double alpha) {
  GridAlpha a;
  a.iid = false;
  a.alpha = alpha;
  return alpha_token(a);
}

}  // namespace

CellResult read_cell_result(const std::string& path) {
  CellResult c;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return c;
  json doc;
  try {
    doc = json::parse(util::read_file(path));
  } catch (const std::exception& e) {
    c.status = "unreadable";
    c.error = path + ": " + e.what();
    return c;
  }
  if (!doc.is_object() || doc.value("kind", std::string()) != "fl") {
    c.status = "unreadable";
    c.error = path + ": not the metrics.json of a tdml fl run";
    return c;
  }
  c.status = doc.value("status", std::string("running"));
  if (doc.contains("error") && doc["error"].is_string()) c.error = doc["error"];
  const json rounds = doc.value("rounds", json::array());
  if (!rounds.is_array()) return c;
  c.rounds = static_cast<int>(rounds.size());
  if (!rounds.empty()) {
    const auto& last = rounds.back();
    c.accuracy = grid_number(last, "test_accuracy");
    c.asr = grid_number(last.value("backdoor", json()), "asr_non_target");
  }
  c.precision = mean_detection(rounds, "precision");
  c.recall = mean_detection(rounds, "recall");
  const auto created = utc_seconds(doc, "created"), finished = utc_seconds(doc, "finished");
  if (created && finished) {
    c.wall_s = *finished - *created;
  } else if (!rounds.empty()) {
    double sum = 0;
    for (const auto& r : rounds) sum += grid_number(r, "seconds").value_or(0);
    c.wall_s = sum;
  }
  return c;
}

json grid_summary_json(const GridSummaryOptions& o, const std::vector<GridRecord>& records) {
  std::map<BaselineKey, const GridRecord*> baselines;
  for (const auto& r : records) {
    if (r.cell.attack.name == "none" && r.result.status == "completed") {
      baselines[baseline_of(r.cell)] = &r;
    }
  }
  auto baseline_asr = [&](const GridCell& c) -> std::optional<double> {
    const auto it = baselines.find(baseline_of(c));
    return it == baselines.end() ? std::nullopt : it->second->result.asr;
  };

  json cells = json::array();
  std::vector<GroupKey> order;
  std::map<GroupKey, std::vector<const GridRecord*>> groups;
  bool all_completed = true;
  for (const auto& r : records) {
    cells.push_back(cell_json(r, baseline_asr(r.cell)));
    auto& g = groups[group_of(r.cell)];
    if (g.empty()) order.push_back(group_of(r.cell));
    g.push_back(&r);
    all_completed = all_completed && r.result.status == "completed";
  }

  json group_list = json::array();
  for (const auto& key : order) {
    const auto& members = groups[key];
    const auto& c = members.front()->cell;
    std::map<std::string, std::vector<double>> values;
    json failed = json::array();
    int completed = 0;
    for (const auto* r : members) {
      const auto& x = r->result;
      if (x.status != "completed") {
        failed.push_back(r->cell.name());
        continue;
      }
      ++completed;
      const auto base = baseline_asr(r->cell);
      auto add = [&](const char* name, const std::optional<double>& v) {
        if (v) values[name].push_back(*v);
      };
      add("accuracy", x.accuracy);
      add("asr", x.asr);
      add("asr_baseline", base);
      add("asr_minus_baseline",
          x.asr && base ? std::optional<double>(*x.asr - *base) : std::nullopt);
      add("precision", x.precision);
      add("recall", x.recall);
      add("wall_s", x.wall_s);
    }
    json g = {{"attack", c.attack.name},         {"malicious", malicious_json(c.attack)},
              {"aggregator", c.aggregator.rule}, {"bucketing", c.aggregator.bucketing},
              {"alpha", alpha_json(c.alpha)},    {"seeds", members.size()},
              {"completed", completed},          {"failed_cells", failed}};
    for (const char* name : kStatNames) g[name] = stat_json(values[name]);
    group_list.push_back(std::move(g));
  }

  json config = {{"attacks", json::array()},     {"aggregators", json::array()},
                 {"alphas", json::array()},      {"seeds", o.axes.seeds},
                 {"bucket_size", o.bucket_size}, {"forwarded", o.forwarded},
                 {"cells", records.size()}};
  for (const auto& a : o.axes.attacks) config["attacks"].push_back(attack_token(a));
  for (const auto& a : o.axes.aggregators) config["aggregators"].push_back(aggregator_token(a));
  for (const auto& a : o.axes.alphas) config["alphas"].push_back(alpha_token(a));
  return {{"schema", 1},
          {"kind", "fl-grid"},
          {"tdml_version", TDML_VERSION},
          {"status", all_completed ? "completed" : "failed"},
          {"command", o.command},
          {"config", config},
          {"statistics", statistics_note()},
          {"cells", cells},
          {"groups", group_list}};
}

std::string grid_summary_csv(const json& summary) {
  std::ostringstream os;
  os << "attack,malicious,aggregator,bucketing,alpha,seeds,completed,failed_cells";
  for (const char* name : kStatNames) {
    for (const char* part : {"n", "mean", "std", "ci95_low", "ci95_high"}) {
      os << "," << name << "_" << part;
    }
  }
  os << "\n";
  for (const auto& g : summary.at("groups")) {
    std::string failed;
    for (const auto& f : g.at("failed_cells")) {
      failed += (failed.empty() ? "" : ";") + f.get<std::string>();
    }
    const auto& alpha = g.at("alpha");
    os << g.at("attack").get<std::string>() << "," << csv_number(g.at("malicious")) << ","
       << g.at("aggregator").get<std::string>() << ","
       << (g.at("bucketing").get<bool>() ? "true" : "false") << ","
       << (alpha.is_string() ? alpha.get<std::string>() : alpha_csv(alpha.get<double>())) << ","
       << csv_number(g.at("seeds")) << "," << csv_number(g.at("completed")) << "," << failed;
    for (const char* name : kStatNames) {
      const auto& s = g.at(name);
      for (const char* part : {"n", "mean", "std", "ci95_low", "ci95_high"}) {
        os << "," << csv_number(s.at(part));
      }
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace tdml::study

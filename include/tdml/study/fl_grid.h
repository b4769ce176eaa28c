#pragma once
// `tdml fl grid`: every cell attack x aggregator x alpha x seed of a federated run, each one a
// `tdml fl` run in a child process (DIR/cells/<name>/: metrics.json, fl.log, cell.log,
// command.json), and the seeds of each (attack, aggregator, alpha) summarised: mean, sample
// standard deviation and 95% Student t interval of the final clean accuracy and backdoor success
// rate (next to the ASR of the no-attack cell with the same aggregator, alpha and seed),
// detection precision and recall, wall time. DIR/grid.csv and DIR/grid.json (kind "fl-grid")
// are a function of the cells' files only, so a rerun that finds every cell done writes them
// byte for byte again.
//
// Resumable: a cell whose metrics.json says "completed" is skipped (with a warning when its
// command.json, the command line it was started with, differs from this grid's); any other cell
// directory is removed and the cell rerun from scratch. Blocking; runs child processes; not
// thread-safe.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tdml::study {

// Tokens of the grid's axes (the grammar of `tdml fl grid --help`):
//   attack      none | NAME | NAME:K   (K >= 1 malicious clients; NAME may join two with '+')
//   aggregator  RULE | RULE+bucketing
//   alpha       iid | X                (X > 0: Dirichlet label skew)
//   seed        a non-negative integer
struct GridAttack {
  std::string name;    // "none", "alie", "backdoor+model-replacement"
  int malicious = -1;  // K; -1: not given (tdml fl's default count; 0 for none)
};
struct GridAggregator {
  std::string rule;  // "median"
  bool bucketing = false;
};
struct GridAlpha {
  bool iid = true;
  double alpha = 0;  // when !iid
};

struct GridAxes {
  std::vector<GridAttack> attacks;
  std::vector<GridAggregator> aggregators;
  std::vector<GridAlpha> alphas;
  std::vector<std::uint64_t> seeds;
};

// Parses comma-separated token lists (e.g. "none,alie:2", "mean,cclip+bucketing", "iid,0.5",
// "0,1,2"). Throws tdml::UsageError naming the flag (--attacks ...) and the bad token: bad
// syntax, an empty list, a repeated token. Names are only checked for their characters
// ([a-z0-9-], '+' between words); whether a rule or attack exists is the caller's to check.
GridAxes parse_grid_axes(const std::string& attacks, const std::string& aggregators,
                         const std::string& alphas, const std::string& seeds);

// The canonical tokens ("alie:2", "cclip+bucketing", "iid" / "0.5", "3").
std::string attack_token(const GridAttack& a);
std::string aggregator_token(const GridAggregator& a);
std::string alpha_token(const GridAlpha& a);

// One run of the grid.
struct GridCell {
  GridAttack attack;
  GridAggregator aggregator;
  GridAlpha alpha;
  std::uint64_t seed = 0;
  // Directory name, filesystem-safe and stable:
  // "backdoor+model-replacement_1__cclip+bucketing__a0.5__s2", "none__mean__iid__s0".
  std::string name() const;
  // For people: "alie:2 median a0.5 s1".
  std::string label() const;
};

// Every cell: attacks outermost, then aggregators, alphas, seeds (the order of the tokens).
std::vector<GridCell> expand_grid(const GridAxes& axes);

// What a cell's metrics.json (a `tdml fl` run) says.
struct CellResult {
  std::string status =
      "missing";      // completed | failed | running (cut short) | missing | unreadable
  std::string error;  // its "error", or why it could not be read
  int rounds = 0;
  std::optional<double> accuracy;   // last round's test_accuracy
  std::optional<double> asr;        // last round's backdoor.asr_non_target (null: not measured)
  std::optional<double> precision;  // mean over rounds of detection.precision, nulls ignored
  std::optional<double> recall;     // the same for detection.recall
  std::optional<double> wall_s;     // finished - created (s); else the rounds' seconds summed
};
CellResult read_cell_result(const std::string& metrics_path);

// A grid's results: one entry per cell (same order as `cells`).
struct GridRecord {
  GridCell cell;
  std::vector<std::string> command;  // the child's command line (recorded in grid.json)
  CellResult result;
  std::string failure;  // how the child failed in this run ("" if it did not run or succeeded)
};

struct GridSummaryOptions {
  GridAxes axes;
  std::vector<std::string> command;  // the grid's own command line, as given
  std::int64_t bucket_size = 0;      // recorded in the config
  nlohmann::json forwarded;          // the options every cell got, recorded in the config
};

// grid.json: {"schema": 1, "kind": "fl-grid", "tdml_version", "status" (completed | failed:
// some cell did not complete), "command", "config", "statistics" (how the numbers are made),
// "cells": [{name, attack, malicious, aggregator, bucketing, alpha, seed, dir, command, status,
// error, rounds, accuracy, asr, asr_baseline, precision, recall, wall_s}], "groups": [one per
// (attack, aggregator, alpha): {attack, malicious, aggregator, bucketing, alpha, seeds,
// completed, failed_cells, accuracy, asr, asr_baseline, asr_minus_baseline, precision, recall,
// wall_s}, each statistic {n, mean, std, ci95_low, ci95_high} (null where undefined)]}.
nlohmann::json grid_summary_json(const GridSummaryOptions& o,
                                 const std::vector<GridRecord>& records);
// grid.csv: a header line and one row per group, the statistics of grid_summary_json.
std::string grid_summary_csv(const nlohmann::json& summary);

struct FlGridOptions {
  GridAxes axes;
  std::string out_dir;               // cells/<name>/, grid.csv, grid.json, grid.log (required)
  int jobs = 1;                      // cells run at once (>= 1)
  std::vector<std::string> command;  // the grid's command line (recorded in grid.json)
  std::int64_t bucket_size = 0;      // recorded in grid.json's config
  nlohmann::json forwarded = nlohmann::json::array();  // the same
  // One cell's command line, supplied by the caller (the CLI: `tdml fl ... --out cell_dir`; the
  // library never builds one). It runs as a child of this binary (/proc/self/exe); argv[0] is
  // the name the child sees.
  std::function<std::vector<std::string>(const GridCell& cell, const std::string& cell_dir)>
      cell_command;
};

struct FlGridResult {
  nlohmann::json summary;           // what grid.json holds
  std::vector<std::string> failed;  // names of the cells that did not complete
};

// Runs the cells not yet completed (logging "[12/96] alie:2 median a0.5 s1: acc 0.412 asr
// 0.031 63 s" as each ends), then writes grid.csv and grid.json. A failed cell is logged and
// the others go on; it is in `failed` and its group's statistics leave it out. SIGINT/SIGTERM:
// the running cells are stopped and tdml::Error is thrown (a rerun resumes).
FlGridResult run_fl_grid(const FlGridOptions& o);

}  // namespace tdml::study

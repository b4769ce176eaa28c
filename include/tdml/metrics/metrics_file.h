#pragma once
// DIR/metrics.json of a run: one JSON document, rewritten atomically after every epoch/round so
// a crash never loses finished epochs nor leaves a half-written file. Every experiment command
// writes one; `tdml plot` and scripts/plot.py read them. Schema: README, "metrics.json".
#include <string>

#include <nlohmann/json.hpp>

namespace tdml::metrics {

class MetricsFile {
 public:
  // kind: "train", "fl", "bench.throughput", ... (the "kind" field); creates DIR if needed.
  // The document starts with {"schema": 1, "kind", "tdml_version", "created", "host", "status":
  // "running"}.
  MetricsFile(const std::string& dir, const std::string& kind);
  // Reopens an existing metrics.json (for --resume); throws when missing or unreadable.
  static MetricsFile reopen(const std::string& dir);

  nlohmann::json& doc() { return doc_; }
  const std::string& path() const { return path_; }
  // Writes the document now (atomic).
  void flush() const;
  // Sets "status" ("completed" / "failed" with "error") and writes.
  void finish(const std::string& status, const std::string& error = "");

 private:
  MetricsFile() = default;
  std::string path_;
  nlohmann::json doc_;
};

}  // namespace tdml::metrics

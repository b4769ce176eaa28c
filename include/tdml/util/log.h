#pragma once
// Logging: spdlog to stderr, one format for the whole tool. Progress lines for long loops.
#include <chrono>
#include <cstdint>
#include <string>

#include <spdlog/spdlog.h>

namespace tdml::util {

// Sets the log level from flags (quiet: warnings only; verbose: debug) and an optional log file
// that receives everything at info level and above.
void setup_logging(bool verbose, bool quiet, const std::string& log_file = "");

// Adds a file that receives every log line at info level and above from now on.
void add_log_file(const std::string& path);

// A one-line progress display "label 12/100 [rate img/s, ETA 00:41]" redrawn in place on a
// terminal, and logged every ~10% otherwise. Not thread-safe: one owner.
class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::string unit = "it");
  // Advances by `done` steps, `items` units (e.g. images) for the rate.
  void tick(std::int64_t done = 1, std::int64_t items = 0, const std::string& extra = "");
  // Clears the line (terminal) so the next log line starts clean.
  void finish();

 private:
  std::string label_;
  std::int64_t total_;
  std::string unit_;
  std::int64_t done_ = 0;
  std::int64_t items_ = 0;
  int last_decile_ = -1;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace tdml::util

#include "tdml/util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdio>
#include <vector>

#include "tdml/util/system.h"

namespace tdml::util {

void setup_logging(bool verbose, bool quiet, const std::string& log_file) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(quiet ? spdlog::level::warn
                           : (verbose ? spdlog::level::debug : spdlog::level::info));
  sinks.push_back(console);
  if (!log_file.empty()) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file, false);
    file->set_level(spdlog::level::info);
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>("tdml", sinks.begin(), sinks.end());
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void add_log_file(const std::string& path) {
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
  file->set_level(spdlog::level::info);
  file->set_pattern("[%Y-%m-%d %H:%M:%S] %l %v");
  spdlog::default_logger()->sinks().push_back(file);
}

namespace {
std::string clock_text(double s) {
  if (s < 0 || s > 360000) return "--:--";
  int t = static_cast<int>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof(buf), "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%02d:%02d", t / 60, t % 60);
  }
  return buf;
}
}  // namespace

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      tty_(stderr_is_tty()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::tick(std::int64_t done, std::int64_t items, const std::string& extra) {
  done_ += done;
  items_ += items;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? (items_ > 0 ? items_ : done_) / elapsed : 0.0;
  double eta = (done_ > 0 && total_ > 0) ? elapsed / done_ * (total_ - done_) : -1;
  char line[512];
  std::snprintf(line, sizeof(line), "%s %lld/%lld [%.0f %s/s, ETA %s]%s%s", label_.c_str(),
                static_cast<long long>(done_), static_cast<long long>(total_), rate,
                unit_.c_str(), clock_text(eta).c_str(), extra.empty() ? "" : " ",
                extra.c_str());
  if (tty_) {
    if (std::chrono::duration<double>(now - last_draw_).count() < 0.1 && done_ < total_) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r\033[K%s", line);
    std::fflush(stderr);
  } else if (total_ > 0) {
    int decile = static_cast<int>(10 * done_ / total_);
    if (decile != last_decile_ && decile > 0) {
      last_decile_ = decile;
      spdlog::info("{}", line);
    }
  }
}

void Progress::finish() {
  if (tty_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

}  // namespace tdml::util

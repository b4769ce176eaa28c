#include "tdml/metrics/metrics_file.h"

#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/system.h"

namespace tdml::metrics {

MetricsFile::MetricsFile(const std::string& dir, const std::string& kind)
    : path_(dir + "/metrics.json") {
  util::make_dirs(dir);
  doc_ = {{"schema", 1},
          {"kind", kind},
          {"tdml_version", TDML_VERSION},
          {"created", util::utc_timestamp()},
          {"host", util::host_name()},
          {"status", "running"}};
}

MetricsFile MetricsFile::reopen(const std::string& dir) {
  MetricsFile m;
  m.path_ = dir + "/metrics.json";
  try {
    m.doc_ = nlohmann::json::parse(util::read_file(m.path_));
  } catch (const nlohmann::json::exception& e) {
    throw Error(m.path_ + " is not valid JSON (" + e.what() + ")");
  }
  m.doc_["status"] = "running";
  return m;
}

void MetricsFile::flush() const { util::write_file_atomic(path_, doc_.dump(2) + "\n"); }

void MetricsFile::finish(const std::string& status, const std::string& error) {
  doc_["status"] = status;
  doc_["finished"] = util::utc_timestamp();
  if (!error.empty()) doc_["error"] = error;
  flush();
}

}  // namespace tdml::metrics

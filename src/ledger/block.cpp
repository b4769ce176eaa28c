#include "tdml/ledger/block.h"

#include <cmath>

#include "tdml/util/error.h"

namespace tdml::ledger {

std::string status_name(UpdateStatus s) {
  switch (s) {
    case UpdateStatus::kAccepted:
      return "accepted";
    case UpdateStatus::kClipped:
      return "clipped";
    case UpdateStatus::kFlagged:
      return "flagged";
    case UpdateStatus::kRejected:
      return "rejected";
    case UpdateStatus::kRefused:
      return "refused";
    case UpdateStatus::kLate:
      return "late";
    case UpdateStatus::kDropped:
      return "dropped";
  }
  return "?";
}

UpdateStatus parse_status(const std::string& name) {
  if (name == "accepted") return UpdateStatus::kAccepted;
  if (name == "clipped") return UpdateStatus::kClipped;
  if (name == "flagged") return UpdateStatus::kFlagged;
  if (name == "rejected") return UpdateStatus::kRejected;
  if (name == "refused") return UpdateStatus::kRefused;
  if (name == "late") return UpdateStatus::kLate;
  if (name == "dropped") return UpdateStatus::kDropped;
  throw Error("unknown client status '" + name + "'");
}

nlohmann::json finite_json(const nlohmann::json& j) {
  if (j.is_number_float()) {
    double x = j.get<double>();
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
    return j;
  }
  if (j.is_array() || j.is_object()) {
    nlohmann::json out = j;
    for (auto it = out.begin(); it != out.end(); ++it) *it = finite_json(*it);
    return out;
  }
  return j;
}

nlohmann::json to_json(const ClientEntry& c) {
  nlohmann::json j = {{"id", c.id},
                      {"update_hash", c.update_hash},
                      {"samples", c.samples},
                      {"signature", c.signature},
                      {"status", status_name(c.status)},
                      {"norm", c.norm},
                      {"score", c.score}};
  if (!c.reason.empty()) j["reason"] = c.reason;
  return finite_json(j);
}

ClientEntry client_entry_from_json(const nlohmann::json& j) {
  try {
    ClientEntry c;
    c.id = j.at("id").get<std::string>();
    c.update_hash = j.at("update_hash").get<std::string>();
    c.samples = j.at("samples").get<std::int64_t>();
    c.signature = j.at("signature").get<std::string>();
    c.status = parse_status(j.at("status").get<std::string>());
    c.norm = j.at("norm").is_number() ? j["norm"].get<double>() : NAN;
    c.score = j.at("score").is_number() ? j["score"].get<double>() : NAN;
    c.reason = j.value("reason", "");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed client entry: ") + e.what());
  }
}

nlohmann::json to_json(const RoundRecord& r) {
  nlohmann::json clients = nlohmann::json::array();
  for (const auto& c : r.clients) clients.push_back(to_json(c));
  nlohmann::json j = finite_json({{"round", r.round},
                      {"model_before", r.model_before},
                      {"model_after", r.model_after},
                      {"aggregator", {{"name", r.aggregator}, {"params", r.aggregator_params}}},
                      {"clients", clients},
                      {"metrics", r.metrics}});
  if (!r.run_id.empty()) j["run_id"] = r.run_id;
  if (!r.sampled.empty()) j["sampled"] = r.sampled;
  return j;
}

nlohmann::json to_json(const EpochRecord& e) {
  return finite_json({{"mode", e.mode},
                      {"epoch", e.epoch},
                      {"model_hash", e.model_hash},
                      {"config_hash", e.config_hash},
                      {"metrics", e.metrics}});
}

}  // namespace tdml::ledger

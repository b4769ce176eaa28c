#include "federation/server_state.h"

#include <filesystem>

#include "federation/tensor_bytes.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/sha256.h"

namespace tdml::federation {
namespace {

constexpr const char kFormat[] = "tdml.fl_server_state.v1";

std::string json_path(const std::string& dir) { return dir + "/server-state.json"; }
std::string next_path(const std::string& dir) { return dir + "/server-state.next.json"; }
std::string bin_name(int round) { return "server-state." + std::to_string(round) + ".bin"; }
// The tensors a state file names ("bin"; states written before it existed: server-state.bin).
std::string bin_path(const std::string& dir, const nlohmann::json& j) {
  return dir + "/" + j.value("bin", std::string("server-state.bin"));
}

nlohmann::json read_state_json(const std::string& path) {
  const auto j = nlohmann::json::parse(util::read_file(path), nullptr, false);
  if (!j.is_object() || j.value("format", "") != kFormat) {
    throw Error(path + " is damaged (not a " + kFormat + " file)");
  }
  return j;
}

// A pending state left by a crash: committed when the ledger holds its round's block, else
// dropped (the crash came before the block: the round reruns).
void settle_pending(const std::string& dir, int ledger_round) {
  if (!std::filesystem::exists(next_path(dir))) return;
  const auto j = nlohmann::json::parse(util::read_file(next_path(dir)), nullptr, false);
  if (j.is_object() && j.value("completed_round", -1) == ledger_round) {
    commit_server_state(dir);
  } else {
    std::filesystem::remove(next_path(dir));
  }
}

}  // namespace

void save_server_state(const std::string& out_dir, const ServerState& s,
                       const fl::FlatLayout& params, const fl::FlatLayout& buffers) {
  std::vector<torch::Tensor> parts = {params.flatten().cpu(), buffers.flatten().cpu()};
  if (s.step.previous.defined()) parts.push_back(s.step.previous.to(torch::kCPU, torch::kFloat32));
  for (const auto& m : s.step.moments) parts.push_back(m.to(torch::kCPU, torch::kFloat32));
  const auto bytes = tensor_bytes(torch::cat(parts));
  const nlohmann::json j = {{"format", kFormat},
                            {"bin", bin_name(s.completed_round)},
                            {"run_id", s.run_id},
                            {"config_hash", s.config_hash},
                            {"completed_round", s.completed_round},
                            {"rounds", s.rounds},
                            {"step",
                             {{"previous", s.step.previous.defined()},
                              {"moments", s.step.moments.size()},
                              {"dp_clip", s.step.dp_clip}}},
                            {"state_sha256", util::sha256_hex(bytes)}};
  util::write_file_atomic(bin_path(out_dir, j), bytes);
  util::write_file_atomic(next_path(out_dir), j.dump(1) + "\n");
}

void commit_server_state(const std::string& out_dir) {
  const auto text = util::read_file(next_path(out_dir));
  util::write_file_atomic(json_path(out_dir), text);
  std::filesystem::remove(next_path(out_dir));
  // Tensors of older rounds are no longer named by any state file.
  const auto keep = bin_path(out_dir, nlohmann::json::parse(text));
  for (const auto& e : std::filesystem::directory_iterator(out_dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("server-state.", 0) == 0 && e.path().extension() == ".bin" &&
        e.path().string() != keep) {
      std::filesystem::remove(e.path());
    }
  }
}

std::optional<ServerState> load_server_state(const std::string& out_dir,
                                             const std::string& config_hash,
                                             const fl::FlatLayout& params,
                                             const fl::FlatLayout& buffers, int ledger_round) {
  settle_pending(out_dir, ledger_round);
  if (!std::filesystem::exists(json_path(out_dir))) return std::nullopt;
  const auto j = read_state_json(json_path(out_dir));
  ServerState s;
  s.run_id = j.value("run_id", "");
  s.config_hash = j.value("config_hash", "");
  s.completed_round = j.value("completed_round", 0);
  s.rounds = j.value("rounds", nlohmann::json::array());
  if (s.config_hash != config_hash) {
    throw UsageError(out_dir + " holds run " + s.run_id +
                     " with another configuration (model, recipe, "
                     "rule, clipping, DP, server optimiser or enrolled clients): use another "
                     "--out to start a new run");
  }
  const auto step = j.value("step", nlohmann::json::object());
  const bool previous = step.value("previous", false);
  const auto moments = step.value("moments", 0);
  const auto p = params.numel(), b = buffers.numel();
  const auto bytes = util::read_file(bin_path(out_dir, j));
  if (util::sha256_hex(bytes) != j.value("state_sha256", "") ||
      static_cast<std::int64_t>(bytes.size()) != (p + b + (previous + moments) * p) * 4) {
    throw Error(bin_path(out_dir, j) + " does not match " + json_path(out_dir) + " (damaged)");
  }
  const auto flat = bytes_tensor(bytes);
  params.assign(flat.slice(0, 0, p));
  buffers.assign(flat.slice(0, p, p + b));
  auto at = p + b;
  if (previous) {
    s.step.previous = flat.slice(0, at, at + p).clone();
    at += p;
  }
  for (int i = 0; i < moments; ++i, at += p)
    s.step.moments.push_back(flat.slice(0, at, at + p).clone());
  s.step.dp_clip = step.value("dp_clip", 0.0);
  return s;
}

}  // namespace tdml::federation

#pragma once
// What a federation server keeps so a restart resumes its run (`tdml fl server` with the same
// --out): OUT/server-state.json {format, run_id, config_hash, completed_round, rounds (their
// metrics.json records), step {previous, moments, dp_clip}, state_sha256} and
// OUT/server-state.bin (the global parameters and buffers after that round, then the engine's
// step state: the last aggregate and the server optimiser's moments, float32). Both written atomically after every round, once its block
// is in the ledger. Sampling and the server step are functions of (seed, round, attempt) and the
// global state, so nothing else is needed for a resumed run to equal an uninterrupted one.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tdml/fl/round_engine.h"
#include "tdml/fl/update.h"

namespace tdml::federation {

struct ServerState {
  std::string run_id;
  std::string config_hash;
  int completed_round = 0;
  nlohmann::json rounds = nlohmann::json::array();
  fl::RoundEngine::StepState step;  // what the next round depends on beyond the model
};

void save_server_state(const std::string& out_dir, const ServerState& s,
                       const fl::FlatLayout& params, const fl::FlatLayout& buffers);

// The saved state, loaded into params/buffers; nullopt when OUT holds none. tdml::UsageError
// when it belongs to another configuration; tdml::Error when it is damaged.
std::optional<ServerState> load_server_state(const std::string& out_dir,
                                             const std::string& config_hash,
                                             const fl::FlatLayout& params,
                                             const fl::FlatLayout& buffers);

}  // namespace tdml::federation

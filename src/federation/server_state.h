#pragma once
// What a federation server keeps so a restart resumes its run (`tdml fl server` with the same
// --out): OUT/server-state.json {format, run_id, config_hash, completed_round, rounds (their
// metrics.json records), step {previous, moments, dp_clip}, bin, state_sha256} and the file it
// names in "bin", OUT/server-state.<round>.bin (the global parameters and buffers after that
// round, then the engine's step state: the last aggregate and the server optimiser's moments,
// float32). Sampling and the server step are functions of (seed, round, attempt) and the global
// state, so nothing else is needed for a resumed run to equal an uninterrupted one.
//
// Crash safety around the ledger. After a round, the server (1) saves its state as pending
// (save_server_state: the .bin, then OUT/server-state.next.json, each written atomically),
// (2) appends the round's block, (3) commits (commit_server_state: server-state.json replaced
// atomically by the pending file). A restart first settles a pending state
// (load_server_state): the ledger's last round is its round, so the block made it, and it is
// committed; otherwise the crash came before the block and it is dropped, and the round reruns.
// So the state and the ledger never disagree, whatever instant the server dies at.
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

// Step (1) above: writes the state after s.completed_round as pending.
void save_server_state(const std::string& out_dir, const ServerState& s,
                       const fl::FlatLayout& params, const fl::FlatLayout& buffers);

// Step (3) above: the pending state becomes the saved one; older .bin files are removed.
void commit_server_state(const std::string& out_dir);

// The saved state, loaded into params/buffers, after settling a pending one against
// ledger_round (the last round the ledger holds a block of, 0 for none); nullopt when OUT
// holds none. tdml::UsageError when it belongs to another configuration; tdml::Error when it
// is damaged.
std::optional<ServerState> load_server_state(const std::string& out_dir,
                                             const std::string& config_hash,
                                             const fl::FlatLayout& params,
                                             const fl::FlatLayout& buffers, int ledger_round);

}  // namespace tdml::federation

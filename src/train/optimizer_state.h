#pragma once
// Internal: an optimizer's state as named tensors plus JSON, so that train_state.pt is a plain
// file of tensors (models::save_tensors / load_tensors: Python's torch.load reads it, and tdml
// reads it with its own fuzzed reader) instead of a TorchScript archive.
//
// Tensors: "optim.<group>.<index>.<field>" for each parameter that has state (SGD:
// momentum_buffer; AdamW: step (int64, one value), exp_avg, exp_avg_sq, max_exp_avg_sq).
// JSON: {"kind": "sgd"|"adamw", "groups": [{"params": N, <the group's options>}, ...]}.
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tdml/models/state_dict.h"

namespace tdml::train::detail {

// Appends the optimizer's state tensors to `out`; returns the JSON part.
nlohmann::json collect_optimizer_state(torch::optim::Optimizer& opt, models::StateDict& out);

// Restores what collect_optimizer_state wrote, from `tensors` (name -> tensor, as read back)
// and `json`. Throws tdml::Error naming `file` when it is another optimizer's or another
// model's state (kind, group or parameter counts, a tensor of another shape or dtype).
void restore_optimizer_state(torch::optim::Optimizer& opt,
                             const std::map<std::string, torch::Tensor>& tensors,
                             const nlohmann::json& json, const std::string& file);

}  // namespace tdml::train::detail

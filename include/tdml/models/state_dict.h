#pragma once
// State dicts in PyTorch's order and naming, and files Python reads with torch.load.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace tdml::models {

// name -> tensor, in PyTorch's state_dict() order: for each module, its own parameters, then
// its own buffers, then its children recursively ("layer1.0.conv1.weight", ...).
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// The module's state (parameters and buffers, detached, sharing storage with the module).
StateDict state_dict(const torch::nn::Module& m);

// Copies `sd` into the module. strict: every key must exist with the same shape and no key may
// be missing; errors name the key. Values are copied (module tensors keep their identity).
void load_state_dict(torch::nn::Module& m, const StateDict& sd, bool strict = true);

// Writes a zip archive that Python's torch.load reads as an ordered dict of tensors, also with
// weights_only=True (no type tags). Written atomically (temp file + rename).
void save_tensors(const std::string& path, const StateDict& sd);

// Reads a file written by save_tensors (or by Python's torch.save of a dict of tensors).
StateDict load_tensors(const std::string& path);

}  // namespace tdml::models

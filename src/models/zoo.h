#pragma once
// Private to src/models: the concrete models behind make_model() and helpers to build their
// forward chains.
#include <cstddef>
#include <memory>
#include <string>

#include "tdml/models/model.h"

namespace tdml::models::detail {

std::shared_ptr<Model> make_tinycnn(int num_classes);
std::shared_ptr<Model> make_smallcifarcnn(int num_classes);
std::shared_ptr<Model> make_resnet50(int num_classes);

// A block running seq[first..last] (inclusive), named "<prefix>.<first>" or
// "<prefix>.<first>-<last>". Holds a reference to `seq`, not a copy.
Block sequential_block(const std::string& prefix, torch::nn::Sequential seq, std::size_t first,
                       std::size_t last);

// The CNNs' head: global average pool, flatten, then `classifier`; named "head".
Block pool_linear_head(torch::nn::Linear classifier);

// Parameters and buffers of `m` and its submodules, appended to the block's lists.
void add_tensors(Block& block, const torch::nn::Module& m);

}  // namespace tdml::models::detail

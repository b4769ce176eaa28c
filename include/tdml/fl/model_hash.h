#pragma once
// The hash of a federated global model: what an FL ledger block names as model_before and
// model_after, and what a client signs as base_model. It is ledger::model_hash (encoding v2,
// docs/ledger.md) of the floating-point state-dict entries (ledger::floating_entries) of a model
// holding the round's flat parameter and buffer vectors (update.h), named and shaped by the
// model's architecture. So a client hashes exactly the vectors it received, the server exactly
// the ones it sent, and block k+1's model_before equals block k's model_after. Integer buffers
// (num_batches_tracked) are not part of the federated model: they are never sent.
// Thread-safe after construction (const).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tdml::fl {

class GlobalModelHash {
 public:
  // Reads the names and shapes of `m`'s parameters and floating-point buffers (not their
  // values); keeps no reference to `m`.
  explicit GlobalModelHash(const torch::nn::Module& m);

  // params: float [P] (FlatLayout::parameters order); buffers: float [B] (float_buffers order).
  // A length that does not match the model: tdml::Error.
  std::string operator()(const torch::Tensor& params, const torch::Tensor& buffers) const;

 private:
  struct Entry {
    std::string name;
    bool buffer = false;
    std::int64_t offset = 0;
    std::vector<std::int64_t> shape;
  };
  std::vector<Entry> entries_;  // state-dict order
  std::int64_t params_ = 0;
  std::int64_t buffers_ = 0;
};

}  // namespace tdml::fl

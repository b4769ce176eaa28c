// Fuzz target: checkpoint files as a whole (models/state_dict.h load_tensors: the zip container of
// torch.save, then the tensor pickle inside it; what `tdml eval --checkpoint`, resume and `ledger
// verify --model` read). Input: the bytes of checkpoint.pt. Loaded tensors are then loaded into a
// small model (linear4.h: key and shape checks). The zip's CRC-32 stops most mutations of the
// pickle: pickle_fuzz reaches the pickle reader directly.
//
// Properties: load_tensors returns or throws tdml::Error; every tensor it returns lies inside its
// storage (no read past the file's data).
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_support.h"
#include "linear4.h"
#include "tdml/models/state_dict.h"
#include "tensor_checks.h"

TDML_FUZZ_TARGET(checkpoint) {
  static const std::string path = tdml::fuzz::scratch_dir() + "/checkpoint.pt";
  static const auto model = [] {
    torch::manual_seed(0);
    return std::make_shared<tdml::fuzz::Linear4>();
  }();
  tdml::fuzz::write_bytes(path, data, size);
  tdml::fuzz::accepts([&] {
    const auto sd = tdml::models::load_tensors(path);
    tdml::fuzz::check_tensors_in_bounds(sd);
    tdml::models::load_state_dict(*model, sd, /*strict=*/true);
  });
  return 0;
}

// Fuzz target: the training state of a checkpoint (train/checkpoint.h load_checkpoint: DIR/
// train_state.pt, a LibTorch archive of the optimizer state and tdml's progress record, read on
// resume). A checkpoint of a small model (linear4.h, so that seeds stay small) is written once with
// the real writer (save_checkpoint); the input replaces its train_state.pt, then the run is resumed
// into the same model and optimizer. LibTorch's archive reader is not instrumented and the zip's
// CRC-32 stops most mutations: the seeds (valid archives lacking or garbling the progress record,
// or of another optimizer) and their replay matter more here than the mutations.
//
// Properties: load_checkpoint returns or throws tdml::Error.
#include <torch/torch.h>

#include <cstdint>

#include "fuzz_support.h"
#include "linear4.h"
#include "tdml/train/checkpoint.h"
#include "tdml/train/optim.h"

namespace {

struct Run {
  std::string dir;
  std::shared_ptr<tdml::fuzz::Linear4> model;
  std::unique_ptr<torch::optim::Optimizer> opt;
};

// SGD with momentum after one step, so that the optimizer state holds momentum buffers.
Run make_run() {
  Run r;
  r.dir = tdml::fuzz::scratch_subdir("run");
  torch::manual_seed(0);
  r.model = std::make_shared<tdml::fuzz::Linear4>();
  r.opt = tdml::train::make_optimizer(r.model->parameters(), tdml::train::OptimizerOptions{});
  r.model->forward(torch::ones({1, 4})).sum().backward();
  r.opt->step();
  tdml::train::CheckpointMeta meta;
  meta.model = r.model->name();
  meta.epochs_done = 1;
  meta.global_step = 1;
  meta.weights_fingerprint = tdml::train::weights_fingerprint(*r.model);
  tdml::train::save_checkpoint(r.dir, *r.model, *r.opt, meta);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Run run = make_run();
  tdml::fuzz::write_bytes(run.dir + "/train_state.pt", data, size);
  tdml::fuzz::accepts([&] { tdml::train::load_checkpoint(run.dir, *run.model, *run.opt); });
  return 0;
}

#pragma once
// The models of the study: TinyCNN, SmallCifarCNN and torchvision's ResNet50 (v1.5, 10 classes),
// with PyTorch's parameter counts, state-dict names/shapes and default initialisation, so a
// tdml checkpoint loads into the PyTorch model and back (Python definitions of the two CNNs:
// scripts/tdml_models.py; ResNet50: torchvision.models.resnet50(num_classes=N)).
//
// Thread safety: a model is a torch::nn::Module; like any module, use one from one thread at a
// time (or only run forward concurrently in eval mode).
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tdml::models {

// One link of a model's forward chain: forward(x) == blocks applied in order (same numbers,
// bit for bit). Pipeline parallelism cuts the chain between blocks. A Block shares the model's
// submodules (it keeps them alive, it does not copy them): training/eval mode, device and
// parameter values are the model's.
struct Block {
  std::string name;  // "features.0-1", "features.4", "head" (CNNs); "stem", "layer1.0", "head"
  std::function<torch::Tensor(torch::Tensor)> forward;
  std::vector<torch::Tensor> parameters;  // the parameters this block uses (each in one block)
  std::vector<torch::Tensor> buffers;     // its buffers (BatchNorm statistics)
};

class Model : public torch::nn::Module {
 public:
  explicit Model(std::string name) : torch::nn::Module(name), name_(std::move(name)) {}
  // x: float [B,3,32,32] (normalised) -> logits [B, num_classes].
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // The forward chain, finest useful granularity:
  //   tinycnn:       features.0-1, features.2-3, features.4 (maxpool), features.5-6, head
  //   smallcifarcnn: features.0-2, features.3-5, features.6, features.7-9, features.10-12,
  //                  features.13, features.14-16, features.17-19, head
  //   resnet50:      stem (conv1, bn1, relu, maxpool), layer1.0 ... layer4.2, head
  // where head = global average pool, flatten, classifier / fc.
  virtual std::vector<Block> blocks() = 0;
  // The name given to make_model ("tinycnn", ...).
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

struct ModelInfo {
  std::string name;         // as given to make_model
  std::string description;  // one line
};

// "tinycnn", "smallcifarcnn", "resnet50". Unknown name or num_classes < 1: tdml::UsageError
// listing the choices. Initialisation draws from the global torch generator (as PyTorch's
// default init and torchvision's resnet init do, in the same order): seed it first for
// reproducibility; torch::manual_seed(s) gives the same tensors as torch.manual_seed(s) and the
// Python constructor.
std::shared_ptr<Model> make_model(const std::string& name, int num_classes = 10);
std::vector<ModelInfo> list_models();

// Counts (what `tdml models` prints).
std::int64_t parameter_count(const torch::nn::Module& m);  // trainable elements
std::int64_t parameter_bytes(const torch::nn::Module& m);  // their size in bytes

}  // namespace tdml::models

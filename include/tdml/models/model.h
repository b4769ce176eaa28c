#pragma once
// The models of the study: TinyCNN, SmallCifarCNN and torchvision's ResNet50 (v1.5, 10 classes),
// with PyTorch's parameter counts, state-dict names/shapes and default initialisation, so a
// tdml checkpoint loads into the PyTorch model and back.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tdml::models {

// One link of a model's forward chain: forward(x) == blocks applied in order. Pipeline
// parallelism cuts the chain between blocks.
struct Block {
  std::string name;                              // "features.0-2", "layer1.0", "fc" ...
  std::function<torch::Tensor(torch::Tensor)> forward;
  std::vector<torch::Tensor> parameters;         // the parameters this block uses
  std::vector<torch::Tensor> buffers;            // its buffers (BatchNorm statistics)
};

class Model : public torch::nn::Module {
 public:
  explicit Model(std::string name) : name_(std::move(name)) {}
  // x: float [B,3,32,32] (normalised) -> logits [B, num_classes].
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // The forward chain, finest useful granularity (layers for the CNNs, bottlenecks for ResNet).
  virtual std::vector<Block> blocks() = 0;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

struct ModelInfo {
  std::string name;         // as given to make_model
  std::string description;  // one line
};

// "tinycnn", "smallcifarcnn", "resnet50". Unknown name: tdml::UsageError listing the choices.
// Initialisation draws from the global torch generator: seed it first for reproducibility.
std::shared_ptr<Model> make_model(const std::string& name, int num_classes = 10);
std::vector<ModelInfo> list_models();

// Counts (what `tdml models` prints).
std::int64_t parameter_count(const torch::nn::Module& m);  // trainable elements
std::int64_t parameter_bytes(const torch::nn::Module& m);  // their size in bytes

}  // namespace tdml::models

// TinyCNN: the study's smallest model. Same module names as scripts/tdml_models.py:TinyCNN.
#include "zoo.h"

namespace tdml::models::detail {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(int64_t in, int64_t out) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1));
}

class TinyCNN : public Model {
 public:
  explicit TinyCNN(int num_classes) : Model("tinycnn") {
    // features.0 .. features.6; avgpool + flatten are functional (no state). Layers are built
    // one statement at a time: the order of initialisation draws must be PyTorch's, and the
    // evaluation order of constructor arguments is unspecified.
    nn::Sequential f;
    f->push_back(conv3x3(3, 64));
    f->push_back(nn::ReLU());
    f->push_back(conv3x3(64, 64));
    f->push_back(nn::ReLU());
    f->push_back(nn::MaxPool2d(2));
    f->push_back(conv3x3(64, 128));
    f->push_back(nn::ReLU());
    features_ = register_module("features", f);
    classifier_ = register_module("classifier", nn::Linear(128, num_classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = features_->forward(x);
    return classifier_->forward(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

  std::vector<Block> blocks() override {
    return {sequential_block("features", features_, 0, 1),
            sequential_block("features", features_, 2, 3),
            sequential_block("features", features_, 4, 4),
            sequential_block("features", features_, 5, 6), pool_linear_head(classifier_)};
  }

 private:
  nn::Sequential features_{nullptr};
  nn::Linear classifier_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_tinycnn(int num_classes) {
  return std::make_shared<TinyCNN>(num_classes);
}

}  // namespace tdml::models::detail

// SmallCifarCNN: the study's single-node / pipeline / federated model. Same module names as
// scripts/tdml_models.py:SmallCifarCNN ("features.<i>", "classifier").
#include "zoo.h"

namespace tdml::models::detail {
namespace {

namespace nn = torch::nn;

// Appends conv3x3(in, out, bias) + BatchNorm2d + ReLU to `seq`.
void add_conv_bn_relu(nn::Sequential& seq, int64_t in, int64_t out) {
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)));
  seq->push_back(nn::BatchNorm2d(out));
  seq->push_back(nn::ReLU());
}

class SmallCifarCNN : public Model {
 public:
  explicit SmallCifarCNN(int num_classes) : Model("smallcifarcnn") {
    nn::Sequential f;
    add_conv_bn_relu(f, 3, 32);      // 0-2
    add_conv_bn_relu(f, 32, 32);     // 3-5
    f->push_back(nn::MaxPool2d(2));  // 6
    add_conv_bn_relu(f, 32, 64);     // 7-9
    add_conv_bn_relu(f, 64, 64);     // 10-12
    f->push_back(nn::MaxPool2d(2));  // 13
    add_conv_bn_relu(f, 64, 128);    // 14-16
    add_conv_bn_relu(f, 128, 128);   // 17-19
    features_ = register_module("features", f);
    classifier_ = register_module("classifier", nn::Linear(128, num_classes));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = features_->forward(x);
    return classifier_->forward(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

  std::vector<Block> blocks() override {
    std::vector<Block> out;
    for (std::size_t first : {0, 3})
      out.push_back(sequential_block("features", features_, first, first + 2));
    out.push_back(sequential_block("features", features_, 6, 6));
    for (std::size_t first : {7, 10})
      out.push_back(sequential_block("features", features_, first, first + 2));
    out.push_back(sequential_block("features", features_, 13, 13));
    for (std::size_t first : {14, 17})
      out.push_back(sequential_block("features", features_, first, first + 2));
    out.push_back(pool_linear_head(classifier_));
    return out;
  }

 private:
  nn::Sequential features_{nullptr};
  nn::Linear classifier_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_smallcifarcnn(int num_classes) {
  return std::make_shared<SmallCifarCNN>(num_classes);
}

}  // namespace tdml::models::detail

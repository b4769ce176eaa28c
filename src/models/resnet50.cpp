// torchvision's resnet50 (v1.5): same module names, registration order (hence state-dict order)
// and initialisation as torchvision.models.resnet50(num_classes=N).
#include "zoo.h"

namespace tdml::models::detail {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

// torchvision.models.resnet.Bottleneck: 1x1 -> 3x3 (carries the stride) -> 1x1 (x4 channels),
// identity or `downsample` (1x1 conv + BN) shortcut.
class BottleneckImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride) {
    conv1_ = register_module("conv1", conv(inplanes, planes, 1, 1, 0));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv(planes, planes, 3, stride, 1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3", conv(planes, planes * kExpansion, 1, 1, 0));
    bn3_ = register_module("bn3", nn::BatchNorm2d(planes * kExpansion));
    relu_ = register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
    if (stride != 1 || inplanes != planes * kExpansion) {
      downsample_ = register_module(
          "downsample", nn::Sequential(conv(inplanes, planes * kExpansion, 1, stride, 0),
                                       nn::BatchNorm2d(planes * kExpansion)));
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    auto out = relu_(bn1_(conv1_(x)));
    out = relu_(bn2_(conv2_(out)));
    out = bn3_(conv3_(out));
    auto identity = downsample_ ? downsample_->forward(x) : x;
    return relu_(out + identity);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::ReLU relu_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNet50 : public Model {
 public:
  explicit ResNet50(int num_classes) : Model("resnet50") {
    conv1_ = register_module("conv1", conv(3, 64, 7, 2, 3));
    bn1_ = register_module("bn1", nn::BatchNorm2d(64));
    relu_ = register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
    maxpool_ =
        register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    const int64_t planes[] = {64, 128, 256, 512};
    const int64_t depth[] = {3, 4, 6, 3};
    int64_t inplanes = 64;
    for (int l = 0; l < 4; ++l) {
      nn::Sequential layer;
      for (int64_t i = 0; i < depth[l]; ++i) {
        layer->push_back(Bottleneck(inplanes, planes[l], (i == 0 && l > 0) ? 2 : 1));
        inplanes = planes[l] * BottleneckImpl::kExpansion;
      }
      layers_.push_back(register_module("layer" + std::to_string(l + 1), layer));
    }
    avgpool_ = register_module("avgpool", nn::AdaptiveAvgPool2d(1));
    fc_ = register_module("fc", nn::Linear(inplanes, num_classes));
    // torchvision re-initialises after construction, walking modules() in the same order, so a
    // seeded C++ model draws the same numbers as a seeded torchvision one. (torchvision builds
    // a downsample branch before its bottleneck, we after: the default draws they replace
    // consume the generator equally, and every conv is redrawn here, so the result is equal.)
    torch::NoGradGuard no_grad;
    for (const auto& m : modules(/*include_self=*/false)) {
      if (auto* c = m->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
        nn::init::ones_(bn->weight);
        nn::init::zeros_(bn->bias);
      }
    }
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = maxpool_(relu_(bn1_(conv1_(x))));
    for (auto& layer : layers_) x = layer->forward(x);
    return fc_(torch::flatten(avgpool_(x), 1));
  }

  std::vector<Block> blocks() override {
    std::vector<Block> out;
    Block stem;
    stem.name = "stem";
    add_tensors(stem, *conv1_);
    add_tensors(stem, *bn1_);
    stem.forward = [conv1 = conv1_, bn1 = bn1_, relu = relu_, maxpool = maxpool_](
                       torch::Tensor x) mutable { return maxpool(relu(bn1(conv1(x)))); };
    out.push_back(std::move(stem));
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      for (std::size_t i = 0; i < layers_[l]->size(); ++i) {
        out.push_back(sequential_block("layer" + std::to_string(l + 1), layers_[l], i, i));
      }
    }
    Block head;
    head.name = "head";
    add_tensors(head, *fc_);
    head.forward = [avgpool = avgpool_, fc = fc_](torch::Tensor x) mutable {
      return fc(torch::flatten(avgpool(x), 1));
    };
    out.push_back(std::move(head));
    return out;
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  nn::ReLU relu_{nullptr};
  nn::MaxPool2d maxpool_{nullptr};
  std::vector<nn::Sequential> layers_;
  nn::AdaptiveAvgPool2d avgpool_{nullptr};
  nn::Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<Model> make_resnet50(int num_classes) {
  return std::make_shared<ResNet50>(num_classes);
}

}  // namespace tdml::models::detail

#include "tdml/models/model.h"

#include <sstream>

#include "tdml/util/error.h"
#include "zoo.h"

namespace tdml::models {
namespace {

struct Entry {
  ModelInfo info;
  std::shared_ptr<Model> (*make)(int num_classes);
};

const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = {
      {{"tinycnn",
        "3 conv layers (64-64-128) + global avgpool + linear; Python: tdml_models.TinyCNN"},
       detail::make_tinycnn},
      {{"smallcifarcnn",
        "6 conv+BN+ReLU blocks (32-32-64-64-128-128) + global avgpool + linear; Python: "
        "tdml_models.SmallCifarCNN"},
       detail::make_smallcifarcnn},
      {{"resnet50", "torchvision resnet50 (v1.5, ImageNet stem) with a num_classes fc"},
       detail::make_resnet50},
  };
  return entries;
}

}  // namespace

std::shared_ptr<Model> make_model(const std::string& name, int num_classes) {
  if (num_classes < 1) {
    throw UsageError("number of classes must be positive, got " + std::to_string(num_classes));
  }
  std::ostringstream choices;
  for (const auto& e : registry()) {
    if (e.info.name == name) return e.make(num_classes);
    choices << (choices.tellp() > 0 ? ", " : "") << e.info.name;
  }
  throw UsageError("unknown model '" + name + "' (choose one of: " + choices.str() + ")");
}

std::vector<ModelInfo> list_models() {
  std::vector<ModelInfo> out;
  for (const auto& e : registry()) out.push_back(e.info);
  return out;
}

std::int64_t parameter_count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) {
    if (p.defined() && p.requires_grad()) n += p.numel();
  }
  return n;
}

std::int64_t parameter_bytes(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) {
    if (p.defined() && p.requires_grad())
      n += p.numel() * static_cast<std::int64_t>(p.element_size());
  }
  return n;
}

namespace detail {

void add_tensors(Block& block, const torch::nn::Module& m) {
  for (const auto& p : m.parameters()) {
    if (p.defined()) block.parameters.push_back(p);
  }
  for (const auto& b : m.buffers()) {
    if (b.defined()) block.buffers.push_back(b);
  }
}

Block sequential_block(const std::string& prefix, torch::nn::Sequential seq, std::size_t first,
                       std::size_t last) {
  TDML_CHECK(first <= last && last < seq->size(),
             "bad block range " << first << "-" << last << " of " << prefix);
  Block b;
  b.name = prefix + "." + std::to_string(first);
  if (last > first) b.name += "-" + std::to_string(last);
  for (std::size_t i = first; i <= last; ++i) add_tensors(b, *seq->ptr(i));
  b.forward = [seq, first, last](torch::Tensor x) mutable {
    for (std::size_t i = first; i <= last; ++i)
      x = (seq.ptr()->begin() + static_cast<std::ptrdiff_t>(i))->forward(x);
    return x;
  };
  return b;
}

Block pool_linear_head(torch::nn::Linear classifier) {
  Block b;
  b.name = "head";
  add_tensors(b, *classifier);
  b.forward = [classifier](torch::Tensor x) mutable {
    return classifier->forward(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  };
  return b;
}

}  // namespace detail
}  // namespace tdml::models

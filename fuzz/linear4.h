#pragma once
// For the checkpoint fuzz targets: a model small enough that its checkpoint files make small
// seeds (tdml's smallest model, TinyCNN, writes 450 KB). Linear(4, 2); seeds were made with
// torch::manual_seed(0) before construction.
#include <torch/torch.h>

#include "tdml/models/model.h"

namespace tdml::fuzz {

class Linear4 : public models::Model {
 public:
  Linear4() : Model("linear4") { fc_ = register_module("fc", torch::nn::Linear(4, 2)); }
  torch::Tensor forward(torch::Tensor x) override { return fc_(x); }
  std::vector<models::Block> blocks() override {
    return {{"fc", [this](torch::Tensor x) { return fc_(x); }, {fc_->weight, fc_->bias}, {}}};
  }

 private:
  torch::nn::Linear fc_{nullptr};
};

}  // namespace tdml::fuzz

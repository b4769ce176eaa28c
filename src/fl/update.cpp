#include "tdml/fl/update.h"

#include "tdml/util/error.h"

namespace tdml::fl {

FlatLayout::FlatLayout(std::vector<torch::Tensor> tensors) : tensors_(std::move(tensors)) {
  for (const auto& t : tensors_) {
    TDML_CHECK(t.defined(), "flat layout: undefined tensor");
    numel_ += t.numel();
  }
}

FlatLayout FlatLayout::parameters(const torch::nn::Module& m) {
  return FlatLayout(m.parameters(/*recurse=*/true));
}

FlatLayout FlatLayout::float_buffers(const torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& b : m.buffers(/*recurse=*/true)) {
    if (b.is_floating_point()) out.push_back(b);
  }
  return FlatLayout(std::move(out));
}

torch::Tensor FlatLayout::flatten() const {
  if (tensors_.empty()) return torch::empty({0}, torch::kFloat32);
  std::vector<torch::Tensor> parts;
  parts.reserve(tensors_.size());
  for (const auto& t : tensors_) parts.push_back(t.detach().reshape({-1}).to(torch::kFloat32));
  return torch::cat(parts);
}

torch::Tensor FlatLayout::flatten_grads() const {
  if (tensors_.empty()) return torch::empty({0}, torch::kFloat32);
  std::vector<torch::Tensor> parts;
  parts.reserve(tensors_.size());
  for (const auto& t : tensors_) {
    const auto& g = t.grad();
    parts.push_back(g.defined() ? g.detach().reshape({-1}).to(torch::kFloat32)
                                : torch::zeros({t.numel()}, t.options().dtype(torch::kFloat32)));
  }
  return torch::cat(parts);
}

void FlatLayout::check_flat(const torch::Tensor& flat) const {
  TDML_CHECK(flat.defined() && flat.dim() == 1 && flat.numel() == numel_,
             "flat layout: expected a flat tensor of " << numel_ << " values, got "
                                                       << (flat.defined() ? flat.numel() : 0));
}

void FlatLayout::assign(const torch::Tensor& flat) const {
  check_flat(flat);
  torch::NoGradGuard no_grad;
  std::int64_t off = 0;
  for (const auto& t : tensors_) {
    t.copy_(flat.slice(0, off, off + t.numel()).view(t.sizes()));
    off += t.numel();
  }
}

void FlatLayout::add(const torch::Tensor& flat, double alpha) const {
  check_flat(flat);
  torch::NoGradGuard no_grad;
  std::int64_t off = 0;
  for (const auto& t : tensors_) {
    auto piece = flat.slice(0, off, off + t.numel()).view(t.sizes()).to(t.options());
    t.add_(piece, alpha);
    off += t.numel();
  }
}

}  // namespace tdml::fl

#include "tdml/data/transforms.h"

#include "tdml/util/error.h"

namespace tdml::data {

torch::Tensor normalize(const torch::Tensor& images_u8) {
  TDML_CHECK(images_u8.dim() == 4 && images_u8.size(1) == 3,
             "normalize: expected images [B,3,H,W], got " << images_u8.sizes());
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(images_u8.device());
  // (x/255 - mean)/std as float(x)*scale + bias, in place (mixed uint8*float ops are slow).
  auto scale = torch::tensor({1.0 / (255.0 * kCifarStd[0]), 1.0 / (255.0 * kCifarStd[1]),
                              1.0 / (255.0 * kCifarStd[2])},
                             opts)
                   .view({1, 3, 1, 1});
  auto bias = torch::tensor({-kCifarMean[0] / kCifarStd[0], -kCifarMean[1] / kCifarStd[1],
                             -kCifarMean[2] / kCifarStd[2]},
                            opts)
                  .view({1, 3, 1, 1});
  torch::Tensor x = images_u8.to(torch::kFloat);
  return x.mul_(scale).add_(bias);
}

torch::Tensor random_crop_flip(const torch::Tensor& images_u8, int padding, bool flip,
                               at::Generator& gen) {
  TDML_CHECK(images_u8.dim() == 4,
             "random_crop_flip: expected [B,C,H,W], got " << images_u8.sizes());
  TDML_CHECK(padding >= 0, "random_crop_flip: padding must be >= 0");
  const std::int64_t b = images_u8.size(0), c = images_u8.size(1), h = images_u8.size(2),
                     w = images_u8.size(3);
  const std::int64_t p = padding, hp = h + 2 * p, wp = w + 2 * p, k = 2 * p + 1;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  // Draw order (part of the determinism contract): row offsets, column offsets, flips.
  torch::Tensor dy = torch::randint(0, k, {b}, gen, i64);
  torch::Tensor dx = torch::randint(0, k, {b}, gen, i64);
  torch::Tensor fl = flip ? torch::randint(0, 2, {b}, gen, i64) : torch::zeros({b}, i64);
  if (b == 0) return images_u8.clone();

  // Pad once. Every output row is a 32-byte window of the flat padded buffer, starting at
  // (image, channel, row dy+i, column dx): unfold views all windows without copying and one
  // index_select gathers them (a memcpy per row, much faster than per-element indexing).
  torch::Tensor padded = torch::zeros({b, c, hp, wp}, images_u8.options());
  padded.slice(2, p, p + h).slice(3, p, p + w).copy_(images_u8);
  torch::Tensor windows = padded.view({-1}).unfold(0, w, 1);
  torch::Tensor row_start = (torch::arange(b, i64) * (c * hp * wp) + dy * wp + dx).view({b, 1, 1}) +
                            (torch::arange(c, i64) * (hp * wp)).view({1, c, 1}) +
                            (torch::arange(h, i64) * wp).view({1, 1, h});
  torch::Tensor out = windows.index_select(0, row_start.view({-1})).view({b, c, h, w});
  if (flip) {
    torch::Tensor sel = fl.nonzero().view({-1});
    if (sel.numel() > 0) out.index_copy_(0, sel, out.index_select(0, sel).flip({3}));
  }
  return out;
}

}  // namespace tdml::data

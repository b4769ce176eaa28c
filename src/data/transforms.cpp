#include "tdml/data/transforms.h"

#include "tdml/util/error.h"

namespace tdml::data {

torch::Tensor normalize(const torch::Tensor& images_u8) {
  TDML_CHECK(images_u8.dim() == 4 && images_u8.size(1) == 3,
             "normalize: expected images [B,3,H,W], got " << images_u8.sizes());
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(images_u8.device());
  // (x/255 - mean)/std as x*scale + bias: two passes, the first also converts uint8 -> float.
  auto scale = torch::tensor({1.0 / (255.0 * kCifarStd[0]), 1.0 / (255.0 * kCifarStd[1]),
                              1.0 / (255.0 * kCifarStd[2])},
                             opts)
                   .view({1, 3, 1, 1});
  auto bias = torch::tensor({-kCifarMean[0] / kCifarStd[0], -kCifarMean[1] / kCifarStd[1],
                             -kCifarMean[2] / kCifarStd[2]},
                            opts)
                  .view({1, 3, 1, 1});
  return torch::mul(images_u8, scale).add_(bias);
}

torch::Tensor random_crop_flip(const torch::Tensor& images_u8, int padding, bool flip,
                               at::Generator& gen) {
  TDML_CHECK(images_u8.dim() == 4, "random_crop_flip: expected [B,C,H,W], got "
                                       << images_u8.sizes());
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

  // Pad once into plane 0; plane 1 holds the mirrored padded images. A flipped crop at column
  // dx of plane 0 is the crop at column 2p - dx of plane 1.
  const std::int64_t planes = flip ? 2 : 1;
  torch::Tensor padded = torch::zeros({planes, b, c, hp, wp}, images_u8.options());
  padded[0].slice(2, p, p + h).slice(3, p, p + w).copy_(images_u8);
  if (flip) padded[1].copy_(padded[0].flip({3}));
  // Every crop window of every image as a view [planes, B, k, k, C, H, W] (no copy) ...
  torch::Tensor windows = padded.as_strided(
      {planes, b, k, k, c, h, w}, {b * c * hp * wp, c * hp * wp, wp, 1, hp * wp, wp, 1});
  // ... from which one advanced-indexing gather picks each image's own window.
  torch::Tensor col = torch::where(fl.to(torch::kBool), 2 * p - dx, dx);
  return windows.index({fl, torch::arange(b, i64), dy, col});
}

}  // namespace tdml::data

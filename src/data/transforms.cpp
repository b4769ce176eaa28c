#include "tdml/data/transforms.h"

#include <array>

#include "tdml/util/error.h"

namespace tdml::data {
namespace {

// (x/255 - mean)/std computed as float(x)*scale + bias, two float roundings (as the CUDA path's
// tensor ops do).
struct Affine {
  std::array<float, 3> scale, bias;
};

Affine cifar_affine() {
  Affine a;
  for (int c = 0; c < 3; ++c) {
    a.scale[c] = static_cast<float>(1.0 / (255.0 * kCifarStd[c]));
    a.bias[c] = static_cast<float>(-kCifarMean[c] / kCifarStd[c]);
  }
  return a;
}

// One output image: row y, column x reads source pixel (y + dy, x' + dx) with x' = x, or W-1-x
// when flipped; a pixel outside the source is the zero padding. `value(c, byte)` maps a byte
// to the output type.
template <class T, class Value>
void write_image(const std::uint8_t* src, std::int64_t C, std::int64_t H, std::int64_t W,
                 std::int64_t dy, std::int64_t dx, bool flip, T* dst,
                 const std::int64_t* stride /* c, h, w */, const Value& value) {
  for (std::int64_t c = 0; c < C; ++c) {
    const std::uint8_t* plane = src + c * H * W;
    const T zero = value(c, 0);
    for (std::int64_t y = 0; y < H; ++y) {
      T* row = dst + c * stride[0] + y * stride[1];
      const std::int64_t sy = y + dy;
      if (sy < 0 || sy >= H) {
        for (std::int64_t x = 0; x < W; ++x) row[x * stride[2]] = zero;
        continue;
      }
      const std::uint8_t* in = plane + sy * W;
      for (std::int64_t x = 0; x < W; ++x) {
        const std::int64_t sx = (flip ? W - 1 - x : x) + dx;
        row[x * stride[2]] = (sx >= 0 && sx < W) ? value(c, in[sx]) : zero;
      }
    }
  }
}

}  // namespace

CropFlip draw_crop_flip(std::int64_t batch, int padding, bool flip, at::Generator& gen) {
  TDML_CHECK(padding >= 0, "random_crop_flip: padding must be >= 0");
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const std::int64_t k = 2 * padding + 1;
  CropFlip d;
  d.padding = padding;
  d.dy = torch::randint(0, k, {batch}, gen, i64);
  d.dx = torch::randint(0, k, {batch}, gen, i64);
  d.flip = flip ? torch::randint(0, 2, {batch}, gen, i64) : torch::zeros({batch}, i64);
  return d;
}

torch::Tensor gather_images(const torch::Tensor& images_u8, const torch::Tensor& index,
                            const std::optional<CropFlip>& aug, const GatherOptions& opts) {
  TDML_CHECK(images_u8.dim() == 4 && images_u8.scalar_type() == torch::kUInt8 &&
                 images_u8.device().is_cpu(),
             "gather_images: expected uint8 CPU images [N,C,H,W], got "
                 << images_u8.scalar_type() << " " << images_u8.sizes() << " on "
                 << images_u8.device());
  TDML_CHECK(index.dim() == 1 && index.scalar_type() == torch::kInt64 && index.device().is_cpu(),
             "gather_images: index must be int64 [B] on the CPU");
  TDML_CHECK(!opts.normalize || images_u8.size(1) == 3,
             "normalize: expected images [B,3,H,W], got " << images_u8.sizes());
  const torch::Tensor src = images_u8.contiguous();
  const torch::Tensor idx = index.contiguous();
  const std::int64_t n = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3);
  const std::int64_t b = idx.size(0);
  const std::int64_t* rows = idx.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < b; ++i) {
    TDML_CHECK(rows[i] >= 0 && rows[i] < n,
               "gather_images: row " << rows[i] << " is outside [0, " << n << ")");
  }
  const std::int64_t *dy = nullptr, *dx = nullptr, *fl = nullptr;
  std::int64_t pad = 0;
  torch::Tensor dyc, dxc, flc;
  if (aug) {
    TDML_CHECK(aug->dy.numel() == b && aug->dx.numel() == b && aug->flip.numel() == b,
               "gather_images: " << b << " images but augmentation drawn for "
                                 << aug->dy.numel());
    dyc = aug->dy.contiguous(), dxc = aug->dx.contiguous(), flc = aug->flip.contiguous();
    dy = dyc.data_ptr<std::int64_t>(), dx = dxc.data_ptr<std::int64_t>();
    fl = flc.data_ptr<std::int64_t>();
    pad = aug->padding;
  }
  auto out_opts = torch::TensorOptions()
                      .dtype(opts.normalize ? torch::kFloat : torch::kUInt8)
                      .pinned_memory(opts.pinned)
                      .memory_format(opts.channels_last ? torch::MemoryFormat::ChannelsLast
                                                        : torch::MemoryFormat::Contiguous);
  torch::Tensor out = torch::empty({b, C, H, W}, out_opts);
  const std::int64_t stride[3] = {out.stride(1), out.stride(2), out.stride(3)};
  const std::uint8_t* base = src.data_ptr<std::uint8_t>();
  const Affine affine = cifar_affine();
  for (std::int64_t i = 0; i < b; ++i) {
    const std::uint8_t* img = base + rows[i] * C * H * W;
    const std::int64_t oy = aug ? dy[i] - pad : 0, ox = aug ? dx[i] - pad : 0;
    const bool flip = aug && fl[i] != 0;
    if (opts.normalize) {
      float* dst = out.data_ptr<float>() + i * out.stride(0);
      write_image(img, C, H, W, oy, ox, flip, dst, stride, [&](std::int64_t c, std::uint8_t v) {
        const float scaled = static_cast<float>(v) * affine.scale[c];
        return scaled + affine.bias[c];
      });
    } else {
      std::uint8_t* dst = out.data_ptr<std::uint8_t>() + i * out.stride(0);
      write_image(img, C, H, W, oy, ox, flip, dst, stride,
                  [](std::int64_t, std::uint8_t v) { return v; });
    }
  }
  return out;
}

torch::Tensor normalize(const torch::Tensor& images_u8) {
  TDML_CHECK(images_u8.dim() == 4 && images_u8.size(1) == 3,
             "normalize: expected images [B,3,H,W], got " << images_u8.sizes());
  if (images_u8.device().is_cpu()) {
    return gather_images(images_u8, torch::arange(images_u8.size(0), torch::kInt64),
                         std::nullopt, {/*normalize=*/true});
  }
  // On an accelerator: the same affine map as tensor ops.
  const Affine a = cifar_affine();
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(images_u8.device());
  auto scale = torch::tensor({a.scale[0], a.scale[1], a.scale[2]}, opts).view({1, 3, 1, 1});
  auto bias = torch::tensor({a.bias[0], a.bias[1], a.bias[2]}, opts).view({1, 3, 1, 1});
  return images_u8.to(torch::kFloat).mul_(scale).add_(bias);
}

torch::Tensor random_crop_flip(const torch::Tensor& images_u8, int padding, bool flip,
                               at::Generator& gen) {
  TDML_CHECK(images_u8.dim() == 4,
             "random_crop_flip: expected [B,C,H,W], got " << images_u8.sizes());
  const std::int64_t b = images_u8.size(0);
  CropFlip aug = draw_crop_flip(b, padding, flip, gen);
  return gather_images(images_u8, torch::arange(b, torch::kInt64), aug, {});
}

}  // namespace tdml::data

#include "tdml/data/transforms.h"

#include <gtest/gtest.h>

namespace tdml::data {
namespace {

torch::Tensor random_images(std::int64_t b, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Values 1..255 so a zero in the output can only come from padding.
  return torch::randint(1, 256, {b, 3, 32, 32}, gen, torch::kInt64).to(torch::kUInt8);
}

TEST(Transforms, NormalizeUsesCifarStatistics) {
  auto x = torch::zeros({2, 3, 4, 4}, torch::kUInt8);
  x.select(1, 0).fill_(255);
  x.select(1, 2).fill_(128);
  auto y = normalize(x);
  EXPECT_EQ(y.scalar_type(), torch::kFloat);
  EXPECT_NEAR(y[0][0][0][0].item<float>(), (1.0 - 0.4914) / 0.2470, 1e-5);
  EXPECT_NEAR(y[1][1][3][3].item<float>(), (0.0 - 0.4822) / 0.2435, 1e-5);
  EXPECT_NEAR(y[0][2][1][2].item<float>(), (128 / 255.0 - 0.4465) / 0.2616, 1e-5);
}

TEST(Transforms, NormalizeOnTheCpuIsTheTensorFormulaBitForBit) {
  auto x = random_images(5, 3);
  auto f = torch::TensorOptions().dtype(torch::kFloat);
  torch::Tensor scale = torch::empty({3}, f), bias = torch::empty({3}, f);
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0 / (255.0 * kCifarStd[c]);
    bias[c] = -kCifarMean[c] / kCifarStd[c];
  }
  auto want = x.to(torch::kFloat).mul(scale.view({1, 3, 1, 1})).add(bias.view({1, 3, 1, 1}));
  EXPECT_TRUE(torch::equal(normalize(x), want));
}

TEST(Transforms, GatherImagesPicksRowsAndHonoursLayout) {
  auto x = random_images(10, 8);
  auto idx = torch::tensor({7, 0, 7, 3}, torch::kInt64);
  GatherOptions o;
  o.normalize = true;
  o.channels_last = true;
  auto y = gather_images(x, idx, std::nullopt, o);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(y, normalize(x.index_select(0, idx))));
  auto bad = torch::tensor({10}, torch::kInt64);
  EXPECT_THROW(gather_images(x, bad, std::nullopt, o), std::exception);
}

// Reference: the crop/flip of one image written the obvious way, from the drawn offsets.
torch::Tensor crop_reference(const torch::Tensor& img, int dy, int dx, bool flip) {
  auto padded = torch::constant_pad_nd(img, {4, 4, 4, 4}, 0);
  auto out = padded.slice(1, dy, dy + 32).slice(2, dx, dx + 32);
  return flip ? out.flip({2}) : out;
}

TEST(Transforms, CropIsAShiftOfThePaddedImageAndFlipAMirror) {
  const std::int64_t b = 64;
  auto x = random_images(b, 1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto y = random_crop_flip(x, 4, true, gen);
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_EQ(y.scalar_type(), torch::kUInt8);
  // Replay the documented draw order to recover each image's offset and flip.
  auto replay = at::make_generator<at::CPUGeneratorImpl>(7);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto dy = torch::randint(0, 9, {b}, replay, i64);
  auto dx = torch::randint(0, 9, {b}, replay, i64);
  auto fl = torch::randint(0, 2, {b}, replay, i64);
  int flipped = 0, shifted = 0;
  for (std::int64_t i = 0; i < b; ++i) {
    const int r = dy[i].item<int>(), c = dx[i].item<int>();
    const bool f = fl[i].item<int>() == 1;
    flipped += f;
    shifted += (r != 4 || c != 4);
    ASSERT_TRUE(torch::equal(y[i], crop_reference(x[i], r, c, f))) << "image " << i;
  }
  EXPECT_GT(flipped, 10);
  EXPECT_LT(flipped, 54);
  EXPECT_GT(shifted, 50);
}

TEST(Transforms, FlipOnlyIsAnExactMirror) {
  // Padding 0 leaves only the flip: every image equals itself or its mirror.
  auto x = random_images(32, 2);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto y = random_crop_flip(x, 0, true, gen);
  int mirrored = 0;
  for (int i = 0; i < 32; ++i) {
    bool same = torch::equal(y[i], x[i]);
    bool mirror = torch::equal(y[i], x[i].flip({2}));
    ASSERT_TRUE(same || mirror) << i;
    mirrored += mirror;
  }
  EXPECT_GT(mirrored, 4);
  EXPECT_LT(mirrored, 28);
}

TEST(Transforms, ZerosComeOnlyFromThePaddingBorder) {
  auto x = random_images(16, 4);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto y = random_crop_flip(x, 4, false, gen);
  // A shift of at most 4 pixels keeps the central 24x24 block inside the image.
  EXPECT_EQ((y.slice(2, 4, 28).slice(3, 4, 28) == 0).sum().item<int>(), 0);
  EXPECT_GT((y == 0).sum().item<int>(), 0);
}

TEST(Transforms, SameSeedSameOutputOtherSeedDiffers) {
  auto x = random_images(32, 6);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(11);
  auto g2 = at::make_generator<at::CPUGeneratorImpl>(11);
  auto g3 = at::make_generator<at::CPUGeneratorImpl>(12);
  auto a = random_crop_flip(x, 4, true, g1);
  auto b = random_crop_flip(x, 4, true, g2);
  auto c = random_crop_flip(x, 4, true, g3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
}

TEST(Transforms, EmptyBatchIsFine) {
  auto x = torch::zeros({0, 3, 32, 32}, torch::kUInt8);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_EQ(random_crop_flip(x, 4, true, gen).size(0), 0);
}

}  // namespace
}  // namespace tdml::data

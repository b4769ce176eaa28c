#include "tdml/data/synthetic.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include "tdml/data/cifar10.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace tdml::data {
namespace {

constexpr int kClasses = 10;
constexpr std::int64_t kChunk = 1024;  // images drawn per step; fixed so bytes never depend on n

std::uint64_t synth_mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// What makes a class a class: a colour shift, an oriented stripe pattern, its channel mix.
struct ClassPatterns {
  torch::Tensor colour;  // float [10,3] in [-1,1]
  torch::Tensor theta;   // float [10] stripe orientation
  torch::Tensor freq;    // float [10] cycles per image
  torch::Tensor mix;     // float [10,3] stripe weight per channel
};

ClassPatterns class_patterns(std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(synth_mix64(seed));
  ClassPatterns p;
  p.colour = torch::rand({kClasses, 3}, gen) * 2 - 1;
  p.theta = (torch::arange(kClasses, torch::kFloat) + torch::rand({kClasses}, gen) * 0.3) *
            static_cast<float>(M_PI / kClasses);
  p.freq = 1.5 + torch::rand({kClasses}, gen) * 2.5;
  p.mix = 0.5 + torch::rand({kClasses, 3}, gen) * 0.5;
  return p;
}

}  // namespace

Dataset make_synthetic(std::int64_t n, Split split, const SynthOptions& opts) {
  TDML_CHECK(n >= 0, "synthetic data: size must be >= 0, got " << n);
  TDML_CHECK(opts.noise >= 0 && opts.noise <= 1, "synthetic data: noise must be in [0,1]");
  const ClassPatterns pat = class_patterns(opts.seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(
      synth_mix64(opts.seed ^ (split == Split::kTrain ? 0x7472616eULL : 0x74657374ULL)));
  Dataset d;
  d.labels = torch::remainder(torch::randperm(n, gen, torch::kInt64), kClasses);
  d.images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  d.source = "synthetic";
  auto grid = torch::arange(32, torch::kFloat);
  auto ys = grid.view({1, 1, 32, 1}), xs = grid.view({1, 1, 1, 32});
  const double signal = 1.0 - opts.noise;
  for (std::int64_t s = 0; s < n; s += kChunk) {
    const std::int64_t m = std::min(kChunk, n - s);
    auto y = d.labels.narrow(0, s, m);
    auto phase = torch::rand({m, 1, 1, 1}, gen) * static_cast<float>(2 * M_PI);
    auto noise = torch::randn({m, 3, 32, 32}, gen);
    auto th = pat.theta.index_select(0, y).view({m, 1, 1, 1});
    auto f = pat.freq.index_select(0, y).view({m, 1, 1, 1});
    auto u = torch::cos(th) * xs + torch::sin(th) * ys;  // [m,1,32,32]
    auto stripe = torch::sin(u * f * static_cast<float>(2 * M_PI / 32) + phase);
    auto img = 0.5 +
               signal * (0.2 * pat.colour.index_select(0, y).view({m, 3, 1, 1}) +
                         0.25 * stripe * pat.mix.index_select(0, y).view({m, 3, 1, 1})) +
               opts.noise * 0.45 * noise;
    d.images.narrow(0, s, m).copy_((img * 255).round_().clamp_(0, 255).to(torch::kUInt8));
  }
  return d;
}

std::string write_synthetic_cifar10(const std::string& dir, const SynthOptions& opts) {
  TDML_CHECK(opts.train_size >= 5,
             "synthetic data: --train must be >= 5 (one record per "
             "data_batch file), got "
                 << opts.train_size);
  TDML_CHECK(opts.test_size >= 1, "synthetic data: --test must be >= 1, got " << opts.test_size);
  const std::string out = (std::filesystem::path(dir) / "cifar-10-batches-bin").string();
  util::make_dirs(out);
  Dataset train = make_synthetic(opts.train_size, Split::kTrain, opts);
  std::int64_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const std::int64_t len = opts.train_size / 5 + (i < opts.train_size % 5 ? 1 : 0);
    write_cifar10_bin(out + "/data_batch_" + std::to_string(i + 1) + ".bin",
                      train.subset(torch::arange(start, start + len, torch::kInt64)));
    start += len;
  }
  write_cifar10_bin(out + "/test_batch.bin", make_synthetic(opts.test_size, Split::kTest, opts));
  util::write_file_atomic(out + "/batches.meta.txt",
                          "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  return out;
}

}  // namespace tdml::data

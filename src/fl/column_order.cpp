#include "fl/column_order.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tdml/util/error.h"
#include "tdml/util/parallel.h"

namespace tdml::fl::detail {
namespace {

// Columns per tile: 64 floats = four 64-byte cache lines from each row.
constexpr std::int64_t kTile = 64;

// Quickselect with branch-free partitions: afterwards a[k] is the k-th smallest of a[0, n),
// a[< k] <= a[k] <= a[> k]; returns a[k]. The partition loops swap unconditionally and advance
// by a comparison's result, so random data costs no branch mispredictions: about 3x faster than
// std::nth_element on 100 to 1000 values (measured on this 2-core machine). Values equal to the
// pivot are gathered after each split, so ties cannot make it quadratic.
float select_k(float* a, std::int64_t n, std::int64_t k) {
  std::int64_t lo = 0, hi = n;
  while (hi - lo > 16) {
    const float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
    const float p = std::max(std::min(x, y), std::min(std::max(x, y), z));  // median of 3
    std::int64_t lt = lo;                                                   // [lo, lt) < p
    for (std::int64_t j = lo; j < hi; ++j) {
      const float v = a[j];
      a[j] = a[lt];
      a[lt] = v;
      lt += v < p;
    }
    if (k < lt) {
      hi = lt;
      continue;
    }
    std::int64_t eq = lt;  // [lt, eq) == p
    for (std::int64_t j = lt; j < hi; ++j) {
      const float v = a[j];
      a[j] = a[eq];
      a[eq] = v;
      eq += !(p < v);
    }
    if (k < eq) return p;
    lo = eq;
  }
  for (std::int64_t i = lo + 1; i < hi; ++i) {  // insertion sort of the last few
    const float v = a[i];
    std::int64_t j = i;
    for (; j > lo && a[j - 1] > v; --j) a[j] = a[j - 1];
    a[j] = v;
  }
  return a[k];
}

// Calls f(column values (n floats, reorderable), output index) for every column, tile by tile.
template <class F>
torch::Tensor for_each_column(const torch::Tensor& x, F f) {
  const auto c = x.contiguous();
  const std::int64_t n = c.size(0), d = c.size(1);
  auto out = torch::empty({d}, c.options());
  const float* src = c.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const std::int64_t tiles = (d + kTile - 1) / kTile;
  util::parallel_ranges(tiles, at::get_num_threads(), 64, [&](std::int64_t t0, std::int64_t t1) {
    std::vector<float> buf(static_cast<std::size_t>(kTile * n));
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t j0 = t * kTile, w = std::min(kTile, d - j0);
      for (std::int64_t i = 0; i < n; ++i) {  // transpose the tile: column-major in buf
        const float* row = src + i * d + j0;
        for (std::int64_t j = 0; j < w; ++j) buf[j * n + i] = row[j];
      }
      for (std::int64_t j = 0; j < w; ++j) dst[j0 + j] = f(buf.data() + j * n, n);
    }
  });
  return out;
}

}  // namespace

bool column_kernels_apply(const torch::Tensor& x) {
  return x.defined() && x.dim() == 2 && x.is_cpu() && x.scalar_type() == torch::kFloat &&
         x.size(0) > 0;
}

torch::Tensor column_median(const torch::Tensor& x, bool average_middle) {
  TDML_CHECK(column_kernels_apply(x), "column median: need a float32 [n, d] CPU tensor");
  const bool both = average_middle && x.size(0) % 2 == 0;
  return for_each_column(x, [both](float* v, std::int64_t n) {
    const std::int64_t lo = (n - 1) / 2;
    if (!both) return select_k(v, n, lo);
    const std::int64_t hi = n / 2;  // = lo + 1
    const float upper = select_k(v, n, hi);
    const float lower = *std::max_element(v, v + hi);
    return (lower + upper) * 0.5f;
  });
}

torch::Tensor column_trimmed_mean(const torch::Tensor& x, int k) {
  TDML_CHECK(column_kernels_apply(x), "column trimmed mean: need a float32 [n, d] CPU tensor");
  TDML_CHECK(k >= 0 && x.size(0) - 2 * k >= 1, "column trimmed mean: bad trim " << k);
  return for_each_column(x, [k](float* v, std::int64_t n) {
    float* first = v;
    float* last = v + n;
    if (k > 0) {
      select_k(first, n, k);                  // the k smallest before first + k
      select_k(first + k, n - k, n - 2 * k);  // the k largest from last - k on
    }
    double sum = 0;
    for (float* p = first + k; p < last - k; ++p) sum += *p;
    return static_cast<float>(sum / static_cast<double>(n - 2 * k));
  });
}

}  // namespace tdml::fl::detail

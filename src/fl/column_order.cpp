#include "fl/column_order.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fl/avx2_clones.h"
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

// Columns of at most this many values are sorted 8 at a time by a sorting network; longer ones
// take the quickselect (the network's O(n log^2 n) comparators outgrow its O(n) moves).
constexpr std::int64_t kNetworkMaxRows = 256;

struct Comparator {
  std::int32_t lo, hi;
};

// Batcher's odd-even merge sort over the next power of two N >= n wires, keeping only the
// comparators between wires below n: wires n..N-1 would hold +inf, which no comparator moves
// (the smaller value goes to the lower wire), so the comparators touching them do nothing.
// n = 100: 1,104 comparators.
std::vector<Comparator> odd_even_merge_network(std::int64_t n) {
  std::int64_t wires = 1;
  while (wires < n) wires <<= 1;
  std::vector<Comparator> net;
  for (std::int64_t p = 1; p < wires; p <<= 1) {
    for (std::int64_t k = p; k >= 1; k >>= 1) {
      for (std::int64_t j = k % p; j + k < wires; j += 2 * k) {
        for (std::int64_t i = 0; i < std::min(k, wires - j - k); ++i) {
          const std::int64_t a = i + j, b = i + j + k;
          if (a / (2 * p) == b / (2 * p) && b < n) {
            net.push_back({static_cast<std::int32_t>(a), static_cast<std::int32_t>(b)});
          }
        }
      }
    }
  }
  return net;
}

// Drops the comparators that cannot change wires [first, last) at the end: walking back from
// the last comparator, one is kept when it writes a wire still needed, and then both its wires
// are. For the median (one or two wires) about a fifth of the network goes.
std::vector<Comparator> needed_for(const std::vector<Comparator>& net, std::int64_t n,
                                   std::int64_t first, std::int64_t last) {
  std::vector<char> needed(static_cast<std::size_t>(n), 0);
  for (std::int64_t w = first; w < last; ++w) needed[static_cast<std::size_t>(w)] = 1;
  std::vector<Comparator> kept;
  for (auto c = net.rbegin(); c != net.rend(); ++c) {
    if (needed[static_cast<std::size_t>(c->lo)] || needed[static_cast<std::size_t>(c->hi)]) {
      kept.push_back(*c);
      needed[static_cast<std::size_t>(c->lo)] = needed[static_cast<std::size_t>(c->hi)] = 1;
    }
  }
  std::reverse(kept.begin(), kept.end());
  return kept;
}

// Columns per group: sixteen, one 64-byte cache line of each row. Lane l of wire i is column
// j0 + l of update i, held as two 8-lane vectors (two AVX2 registers): each comparator then
// moves twice the columns for the same index loads and loop control as 8 lanes did.
constexpr std::int64_t kGroup = 16;
using Lanes8 = float __attribute__((vector_size(32)));
struct Wire {
  Lanes8 a, b;  // columns j0 .. j0 + 7 and j0 + 8 .. j0 + 15
};
static_assert(sizeof(Wire) == kGroup * sizeof(float), "a wire is 16 floats");

// Rows are loaded this many groups ahead of the one being sorted: a group reads one line from each
// of n rows (n streams, more than the hardware prefetchers follow).
constexpr std::int64_t kPrefetchGroups = 4;

// Sorts each lane of wires[0, n) with the network. (a < b ? a : b, a < b ? b : a) keeps both
// values of a tie, so values are only moved, never computed or duplicated: the order statistics
// are the inputs' bits. (Loads and stores through memcpy: without AVX a 32-byte vector type is
// only 16-byte aligned, so the buffer may be too.)
TDML_AVX2_CLONES
void sort_wires(Wire* wires, const Comparator* net, std::size_t m) {
  float* base = reinterpret_cast<float*>(wires);
  for (std::size_t c = 0; c < m; ++c) {
    float* p = base + net[c].lo * kGroup;
    float* q = base + net[c].hi * kGroup;
    Lanes8 xa, xb, ya, yb;  // one 8-lane vector at a time: GCC splits a whole Wire badly
    std::memcpy(&xa, p, sizeof xa);
    std::memcpy(&xb, p + 8, sizeof xb);
    std::memcpy(&ya, q, sizeof ya);
    std::memcpy(&yb, q + 8, sizeof yb);
    const auto lt_a = xa < ya;
    const auto lt_b = xb < yb;
    const Lanes8 lo_a = lt_a ? xa : ya, hi_a = lt_a ? ya : xa;
    const Lanes8 lo_b = lt_b ? xb : yb, hi_b = lt_b ? yb : xb;
    std::memcpy(p, &lo_a, sizeof lo_a);
    std::memcpy(p + 8, &lo_b, sizeof lo_b);
    std::memcpy(q, &hi_a, sizeof hi_a);
    std::memcpy(q + 8, &hi_b, sizeof hi_b);
  }
}

// Lane l of a wire.
inline float lane(const Wire& w, int l) { return l < 8 ? w.a[l] : w.b[l - 8]; }

// Calls f(wires (n), out (16 floats)) for every group of 16 columns, wires [first, last) of each
// lane holding that column's order statistics of those ranks (the network's other wires are not
// sorted). The columns of a group load straight from the rows (no transposition), with each row's
// line for a later group prefetched; a last group of fewer columns is padded.
template <class F>
torch::Tensor for_each_sorted_group(const torch::Tensor& x, std::int64_t first, std::int64_t last,
                                    F f) {
  const auto c = x.contiguous();
  const std::int64_t n = c.size(0), d = c.size(1);
  auto out = torch::empty({d}, c.options());
  const float* src = c.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const auto net = needed_for(odd_even_merge_network(n), n, first, last);
  const std::int64_t groups = (d + kGroup - 1) / kGroup;
  util::parallel_ranges(groups, at::get_num_threads(), 128, [&](std::int64_t g0, std::int64_t g1) {
    std::vector<Wire> wires(static_cast<std::size_t>(n));
    float res[kGroup];
    for (std::int64_t g = g0; g < g1; ++g) {
      const std::int64_t j0 = g * kGroup, w = std::min(kGroup, d - j0);
      if (w == kGroup) {
        for (std::int64_t i = 0; i < n; ++i) {
          const float* row = src + i * d + j0;
          __builtin_prefetch(row + kPrefetchGroups * kGroup);  // never faults, even past the end
          std::memcpy(&wires[static_cast<std::size_t>(i)], row, sizeof(Wire));
        }
      } else {
        for (std::int64_t i = 0; i < n; ++i) {
          float v[kGroup] = {};
          std::memcpy(v, src + i * d + j0, static_cast<std::size_t>(w) * sizeof(float));
          std::memcpy(&wires[static_cast<std::size_t>(i)], v, sizeof(Wire));
        }
      }
      sort_wires(wires.data(), net.data(), net.size());
      f(wires.data(), n, res);
      std::memcpy(dst + j0, res, static_cast<std::size_t>(w) * sizeof(float));
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
  if (x.size(0) <= kNetworkMaxRows) {
    const std::int64_t n = x.size(0);
    return for_each_sorted_group(x, both ? n / 2 - 1 : (n - 1) / 2, n / 2 + 1,
                                 [both](const Wire* wires, std::int64_t n, float* out) {
                                   for (int l = 0; l < kGroup; ++l) {
                                     out[l] = both ? (lane(wires[n / 2 - 1], l) +
                                                      lane(wires[n / 2], l)) * 0.5f
                                                   : lane(wires[(n - 1) / 2], l);
                                   }
                                 });
  }
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
  if (x.size(0) <= kNetworkMaxRows) {
    return for_each_sorted_group(
        x, k, x.size(0) - k, [k](const Wire* wires, std::int64_t n, float* out) {
          double sum[kGroup] = {};
          for (std::int64_t i = k; i < n - k; ++i) {
            float v[kGroup];
            std::memcpy(v, &wires[i], sizeof v);
            for (int l = 0; l < kGroup; ++l) sum[l] += v[l];
          }
          for (int l = 0; l < kGroup; ++l)
            out[l] = static_cast<float>(sum[l] / static_cast<double>(n - 2 * k));
        });
  }
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

#pragma once
// Order statistics of every column of a float32 [n, d] CPU matrix (n updates, d coordinates):
// the kernels behind the coordinate-wise median and trimmed mean. Sorting the whole [n, d]
// matrix along dim 0 (what torch's sort/kthvalue do) costs O(n log n) per column over strided
// memory. Instead, for n <= 256, sixteen adjacent columns (one cache line of each row) are
// loaded side by side (lane l of row i is column j0 + l) and sorted at once by a sorting network
// (Batcher's odd-even merge sort: 1,104 comparators of 16 lanes, two 8-lane vectors, for
// n = 100, an AVX2 clone where the CPU has it); for larger n, tiles of
// columns are transposed into a buffer and each column runs a branch-free quickselect, O(n). Both
// in parallel over columns (util::parallel_ranges on as many threads as the intra-op setting,
// at::get_num_threads). Results are bit-identical to the torch formulation for the median (a
// selected value, or (a + b) * 0.5f) and within float rounding for the trimmed mean (summed in
// double). Precondition: no NaN (the server rejects non-finite updates before any rule runs).
#include <torch/torch.h>

namespace tdml::fl::detail {

// True when x is a float32 [n, d] tensor on the CPU (else use the torch formulation).
bool column_kernels_apply(const torch::Tensor& x);

// Per column: the lower middle value (torch.median semantics), or for an even n with
// average_middle the mean of the two middle values. float32 [d].
torch::Tensor column_median(const torch::Tensor& x, bool average_middle);

// Per column: the mean of the values left after dropping the k smallest and k largest
// (n - 2k >= 1). float32 [d].
torch::Tensor column_trimmed_mean(const torch::Tensor& x, int k);

}  // namespace tdml::fl::detail

#pragma once
// Adaptive (omniscient, colluding) update attacks: the attackers of a round see the round's
// benign updates, as the papers assume, and all send one crafted vector computed from them.
//  - ALIE, "A little is enough" (Baruch, Baruch and Goldberg 2019): per coordinate
//    mean - z * std of the benign updates (std: population, over the benign rows), with
//    z = Phi^-1((n - s) / n), s = floor(n / 2 + 1) - f for n clients of which f attack, or a
//    fixed z. Small enough per coordinate to pass median, Krum and trimmed mean.
//  - IPM, inner product manipulation (Xie, Koyejo and Gupta 2020): -eps * mean of the benign
//    updates, so that the aggregate's inner product with the true direction turns negative.
//  - Min-max (Shejwalkar and Houmansadr 2021, the aggregation-agnostic variant): mean +
//    gamma * p with p = -std (per coordinate), gamma the largest value for which the crafted
//    update's farthest distance to a benign update is no larger than the largest distance
//    between two benign updates.
// These need the other clients' updates, so they run in the simulation only (a federation
// client process sees its own update alone). Pure functions; thread-safe.
#include <torch/torch.h>

namespace tdml::fl {

// z of ALIE for n clients of which f are attackers (0 when s >= n: nothing to hide among).
double alie_z(int n, int f);
// Phi^-1(p) for p in (0, 1) (the standard normal quantile).
double normal_quantile(double p);

// benign: float [k, d], k >= 1. Each returns float [d].
torch::Tensor alie_update(const torch::Tensor& benign, double z);
torch::Tensor ipm_update(const torch::Tensor& benign, double eps);
// gamma is returned through *gamma when non-null.
torch::Tensor minmax_update(const torch::Tensor& benign, double* gamma = nullptr);

}  // namespace tdml::fl

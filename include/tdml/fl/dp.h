#pragma once
// Differential privacy for federated rounds, at the level of clients (one client's whole
// update is the unit protected):
//  - central DP-FedAvg (McMahan et al. 2018): the server clips every update to C, adds
//    Gaussian noise N(0, (sigma C)^2) to their sum and divides by the number of SAMPLED clients
//    (a fixed denominator, so one client's presence moves the result by at most C / m);
//    optionally with adaptive clipping (Andrew et al. 2021): C follows a target quantile of the
//    update norms, estimated from a noised count;
//  - local DP: each client clips its own update to C and adds N(0, (sigma C)^2) before
//    signing it; the server never sees an un-noised update.
// The accountant: Renyi DP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar and
// Zhang 2019) at orders 1.25 .. 256, composed over rounds, converted to (eps, delta) by
// eps = min over orders of (RDP(order) + log(1/delta) / (order - 1)).
// What it assumes: clients are sampled independently with probability q each round (tdml
// samples exactly clients-per-round of them, which the Poisson analysis approximates); with
// local DP every round's release of a client is counted (q = 1), since the server sees who
// was sampled. Pure functions; thread-safe.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tdml::fl {

struct DpOptions {
  double clip = 0;                // C (L2); 0 = no differential privacy
  double noise = 0;               // sigma, the noise multiplier (std of the noise / C)
  bool local = false;             // clients noise their own updates (else the server does)
  double delta = 1e-5;            // the delta eps is reported at
  bool adaptive = false;          // adaptive clipping (central only)
  double target_quantile = 0.5;   // adaptive: fraction of updates meant to be unclipped
  double clip_lr = 0.2;           // adaptive: geometric step of C
  double count_noise = -1;        // adaptive: std of the noise on the unclipped count
                                  // (-1: expected clients per round / 20, as the paper)
  bool enabled() const { return clip > 0; }
  // UsageError for an inconsistent setting.
  void validate() const;
};

// The orders the accountant evaluates.
std::vector<double> rdp_orders();

// RDP at `order` (> 1) of one round of the sampled Gaussian mechanism: sampling rate q in
// [0, 1], noise multiplier sigma > 0. q = 1: order / (2 sigma^2) exactly.
double rdp_sampled_gaussian(double q, double sigma, double order);

struct PrivacySpent {
  double epsilon = 0;
  double delta = 0;
  double order = 0;  // the order the minimum was reached at
};

// (eps, delta) after `rounds` rounds at rate q and noise multiplier sigma.
PrivacySpent privacy_spent(double q, double sigma, int rounds, double delta);

// Adaptive clipping: the noise multiplier left for the update sum when `sigma` is the whole
// mechanism's and the count carries noise std count_sigma (Andrew et al. 2021, Thm 1):
// (sigma^-2 - (2 count_sigma)^-2)^-1/2. UsageError when count_sigma <= sigma / 2.
double update_noise_multiplier(double sigma, double count_sigma);

// Clips a flat update to clip and adds N(0, (noise * clip)^2) per coordinate from `seed`:
// what a local-DP client sends.
torch::Tensor local_dp_update(const torch::Tensor& update, double clip, double noise,
                              std::uint64_t seed);

}  // namespace tdml::fl

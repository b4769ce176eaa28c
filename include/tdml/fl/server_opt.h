#pragma once
// The server's step from the round's aggregate (Reddi et al. 2021, "Adaptive federated
// optimization"). The pseudo-gradient is the direction the aggregate says to move: the mean
// weight delta in local (train) mode, minus the aggregated gradient in gradient mode. Then
//   sgd:  x += lr * delta                                   (FedAvg / FedSGD)
//   avgm: v = beta * v + delta;  x += lr * v                 (FedAvgM, Hsu et al. 2019)
//   adam: m = b1 m + (1-b1) delta;  v = b2 v + (1-b2) delta^2;  x += lr * m / (sqrt(v) + tau)
//         (FedAdam: no bias correction, b1 0.9, b2 0.99, tau 1e-3, as Reddi et al.)
// The moments are the optimiser's state: a resumed federation restores them (state()).
// Not thread-safe.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace tdml::fl {

struct ServerOptOptions {
  std::string name = "sgd";  // sgd | avgm | adam
  double momentum = 0.9;     // avgm: beta
  double beta1 = 0.9;        // adam
  double beta2 = 0.99;       // adam
  double tau = 1e-3;         // adam: adaptivity
  void validate() const;
};

class ServerOptimizer {
 public:
  explicit ServerOptimizer(ServerOptOptions o);
  // The change to the global parameters (float [d]) for pseudo-gradient `delta` at rate lr.
  torch::Tensor step(const torch::Tensor& delta, double lr);
  // Moments, to save and restore (empty before the first step and for sgd).
  std::vector<torch::Tensor> state() const;
  void load_state(std::vector<torch::Tensor> s);
  const ServerOptOptions& options() const { return o_; }

 private:
  ServerOptOptions o_;
  torch::Tensor m_, v_;
};

}  // namespace tdml::fl

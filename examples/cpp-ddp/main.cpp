// A LibTorch model of this project's own, trained data-parallel with tdml: launch, join, wrap,
// step. Usage: cpp_ddp NPROC STEPS OUT_FILE. Rank 0 also trains a copy of the model in one
// process on the union of all ranks' batches and reports how far the two ended apart.
#include <tdml/dist/ddp.h>
#include <tdml/dist/rank.h>
#include <tdml/util/error.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace dist = tdml::dist;

struct MlpImpl : torch::nn::Module {
  torch::nn::Linear fc1{register_module("fc1", torch::nn::Linear(8, 32))};
  torch::nn::Linear fc2{register_module("fc2", torch::nn::Linear(32, 1))};
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::tanh(fc1(x))); }
};
TORCH_MODULE(Mlp);

// Rank `shard`'s batch at `step`: the same numbers in every process that asks.
std::pair<torch::Tensor, torch::Tensor> batch(int step, int shard) {
  auto gen = at::detail::createCPUGenerator(1000 * step + shard);
  auto x = torch::randn({64, 8}, gen);
  return {x, torch::sin(x.sum(1, true))};
}

torch::Tensor flat(Mlp& m) {
  std::vector<torch::Tensor> ps;
  for (auto& p : m->parameters()) ps.push_back(p.detach().flatten());
  return torch::cat(ps);
}

float train_step(Mlp& m, torch::optim::SGD& opt, const torch::Tensor& x, const torch::Tensor& y,
                 dist::GradientReducer* reducer) {
  opt.zero_grad();
  auto loss = torch::mse_loss(m->forward(x), y);
  loss.backward();
  if (reducer) reducer->finalize();  // averaged gradients of all ranks, before the step
  opt.step();
  return loss.item<float>();
}

int main(int argc, char** argv) try {
  if (argc != 4) throw tdml::UsageError("usage: cpp_ddp NPROC STEPS OUT_FILE");
  const int steps = std::stoi(argv[2]);
  dist::LaunchOptions launch;
  launch.nproc = std::stoi(argv[1]);
  dist::DistOptions options;
  options.backend = dist::BackendKind::kGloo;
  return dist::launch_or_join(launch, dist::dist_options_from_env(options), {}, [&](dist::Rank& r) {
    torch::manual_seed(r.rank());  // different initial weights: the reducer broadcasts rank 0's
    Mlp model;
    dist::GradientReducer reducer(r.comm, *model);
    Mlp ref;  // rank 0's single-process reference, from the same (broadcast) weights
    for (size_t i = 0; i < ref->parameters().size(); ++i)
      ref->parameters()[i].detach().copy_(model->parameters()[i].detach());
    torch::optim::SGD opt(model->parameters(), 0.1), ref_opt(ref->parameters(), 0.1);
    float loss = 0, first = 0, ref_loss = 0;
    for (int s = 0; s < steps; ++s) {
      auto [x, y] = batch(s, r.rank());
      loss = train_step(model, opt, x, y, &reducer);
      if (s == 0) first = loss;
      if (r.rank() != 0) continue;
      std::vector<torch::Tensor> xs, ys;
      for (int k = 0; k < r.world(); ++k) {
        auto [xk, yk] = batch(s, k);
        xs.push_back(xk), ys.push_back(yk);
      }
      ref_loss = train_step(ref, ref_opt, torch::cat(xs), torch::cat(ys), nullptr);
    }
    auto losses = torch::tensor({first, loss});  // mean over ranks = loss of the union
    r.comm->all_reduce(losses, dist::ReduceOp::kAvg);
    auto all = r.comm->all_gather(flat(model));  // every rank's final weights
    if (r.rank() != 0) return;
    double ranks_diff = 0;
    for (auto& w : all) ranks_diff = std::max(ranks_diff, (w - all[0]).abs().max().item<double>());
    const double ref_diff = (flat(model) - flat(ref)).abs().max().item<double>();
    char line[256];
    std::snprintf(line, sizeof line,
                  "world %d steps %d first_loss %.6f loss %.6f ref_loss %.6f checksum %.6f "
                  "rank_max_diff %.3g ref_max_diff %.3g",
                  r.world(), steps, losses[0].item<float>(), losses[1].item<float>(), ref_loss,
                  flat(model).sum().item<double>(), ranks_diff, ref_diff);
    std::printf("%s\n", line);
    std::ofstream(argv[3]) << line << "\n";
  });
} catch (const tdml::Error& e) {
  std::fprintf(stderr, "cpp_ddp: %s\n", e.what());
  return e.exit_code();
} catch (const std::exception& e) {
  std::fprintf(stderr, "cpp_ddp: %s\n", e.what());
  return 1;
}

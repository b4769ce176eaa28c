#include "tdml/pipeline/split.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>

#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::pipeline {

SplitMethod parse_split_method(const std::string& name) {
  if (name == "auto") return SplitMethod::kAuto;
  if (name == "study") return SplitMethod::kStudy;
  if (name == "params") return SplitMethod::kParams;
  if (name == "time") return SplitMethod::kTime;
  throw UsageError("--split " + name + ": expected auto, study, params or time");
}

std::string split_method_name(SplitMethod m) {
  switch (m) {
    case SplitMethod::kAuto:
      return "auto";
    case SplitMethod::kStudy:
      return "study";
    case SplitMethod::kParams:
      return "params";
    case SplitMethod::kTime:
      return "time";
  }
  return "?";
}

Stage::Stage(int index, std::vector<models::Block> blocks)
    : index_(index), blocks_(std::move(blocks)) {}

torch::Tensor Stage::forward(torch::Tensor x) const {
  for (const auto& b : blocks_) x = b.forward(x);
  return x;
}

std::vector<torch::Tensor> Stage::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& b : blocks_) out.insert(out.end(), b.parameters.begin(), b.parameters.end());
  return out;
}

std::vector<torch::Tensor> Stage::buffers() const {
  std::vector<torch::Tensor> out;
  for (const auto& b : blocks_) out.insert(out.end(), b.buffers.begin(), b.buffers.end());
  return out;
}

std::int64_t Stage::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

std::string Stage::block_range() const {
  if (blocks_.size() == 1) return blocks_.front().name;
  return blocks_.front().name + " .. " + blocks_.back().name;
}

std::vector<int> balanced_cuts(const std::vector<double>& costs, int parts) {
  const int n = static_cast<int>(costs.size());
  TDML_CHECK(parts >= 1 && parts <= n, "cannot cut " << n << " blocks into " << parts << " parts");
  std::vector<double> prefix(n + 1, 0.0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + costs[i];
  const double inf = std::numeric_limits<double>::infinity();
  // best[k][i]: smallest possible largest sum splitting the first i blocks into k parts.
  std::vector<std::vector<double>> best(parts + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> from(parts + 1, std::vector<int>(n + 1, 0));
  best[0][0] = 0;
  for (int k = 1; k <= parts; ++k) {
    for (int i = k; i <= n; ++i) {
      for (int j = k - 1; j < i; ++j) {
        const double v = std::max(best[k - 1][j], prefix[i] - prefix[j]);
        if (v < best[k][i]) {
          best[k][i] = v;
          from[k][i] = j;
        }
      }
    }
  }
  std::vector<int> cuts(parts);
  for (int k = parts, i = n; k >= 1; --k) {
    cuts[k - 1] = from[k][i];
    i = from[k][i];
  }
  return cuts;
}

std::vector<double> measure_block_times(models::Model& model, std::int64_t batch, int repeats) {
  auto blocks = model.blocks();
  const auto device = model.parameters().front().device();
  torch::manual_seed(1234);
  auto x = torch::randn({batch, 3, 32, 32}, torch::TensorOptions().device(device));
  std::vector<std::vector<double>> runs(blocks.size());
  for (int r = 0; r <= repeats; ++r) {  // run 0 warms up
    torch::Tensor in = x;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      auto leaf = in.detach().requires_grad_(i > 0);
      util::Stopwatch clock;
      auto out = blocks[i].forward(leaf);
      out.backward(torch::ones_like(out));
      util::synchronize(device);
      if (r > 0) runs[i].push_back(clock.seconds());
      in = out.detach();
    }
  }
  model.zero_grad();
  // The fastest run of each block: what it costs once warm, without the preemption and
  // page-fault spikes a mean carries into the cut.
  std::vector<double> seconds;
  for (auto& v : runs) seconds.push_back(*std::min_element(v.begin(), v.end()));
  return seconds;
}

std::vector<int> cuts_of(const std::vector<Stage>& stages) {
  std::vector<int> cuts;
  int first = 0;
  for (const auto& s : stages) {
    cuts.push_back(first);
    first += static_cast<int>(s.blocks().size());
  }
  return cuts;
}

std::vector<Stage> split_at(models::Model& model, const std::vector<int>& cuts) {
  auto blocks = model.blocks();
  const int n = static_cast<int>(blocks.size());
  TDML_CHECK(!cuts.empty() && cuts[0] == 0, "pipeline cuts must start at block 0");
  std::vector<Stage> stages;
  for (std::size_t s = 0; s < cuts.size(); ++s) {
    const int end = s + 1 < cuts.size() ? cuts[s + 1] : n;
    TDML_CHECK(cuts[s] < end && end <= n, "bad pipeline cut at block " << cuts[s] << " of " << n);
    stages.emplace_back(static_cast<int>(s),
                        std::vector<models::Block>(blocks.begin() + cuts[s], blocks.begin() + end));
  }
  return stages;
}

namespace {

std::vector<int> study_cuts(models::Model& model, int stages) {
  if (model.name() != "smallcifarcnn" || stages != 2) {
    throw UsageError(
        "--split study: the study split is smallcifarcnn into 2 stages "
        "(features / classifier); use --split params or time for " +
        model.name() + " with " + std::to_string(stages) + " stages");
  }
  auto blocks = model.blocks();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].name.rfind("features", 0) != 0) return {0, static_cast<int>(i)};
  }
  throw Error("smallcifarcnn has no block after its features");
}

}  // namespace

std::vector<Stage> split_model(models::Model& model, int stages, const SplitOptions& options) {
  auto blocks = model.blocks();
  const int n = static_cast<int>(blocks.size());
  if (stages < 1 || stages > n) {
    throw UsageError("--stages " + std::to_string(stages) + ": " + model.name() + " has " +
                     std::to_string(n) + " blocks, so 1 to " + std::to_string(n) + " stages");
  }
  SplitMethod m = options.method;
  if (m == SplitMethod::kAuto) {
    m = model.name() == "smallcifarcnn" && stages == 2 ? SplitMethod::kStudy : SplitMethod::kParams;
  }
  if (m == SplitMethod::kStudy) return split_at(model, study_cuts(model, stages));
  std::vector<double> costs;
  if (m == SplitMethod::kTime) {
    costs = measure_block_times(model, options.time_batch, options.time_repeats);
    if (spdlog::should_log(spdlog::level::debug)) {
      std::string line;
      for (std::size_t i = 0; i < costs.size(); ++i) {
        line += fmt::format(" {} {:.2f}", blocks[i].name, costs[i] * 1e3);
      }
      spdlog::debug("block forward+backward ms at batch {}:{}", options.time_batch, line);
    }
  } else {
    // Parameter-free blocks (pools) weigh a little so they do not all pile into one stage.
    for (const auto& b : blocks) {
      std::int64_t p = 0;
      for (const auto& t : b.parameters) p += t.numel();
      costs.push_back(static_cast<double>(p) + 1.0);
    }
  }
  return split_at(model, balanced_cuts(costs, stages));
}

std::vector<StageInfo> describe_split(const std::vector<Stage>& stages, models::Model& model) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const auto device = model.parameters().front().device();
  auto x = torch::zeros({1, 3, 32, 32}, torch::TensorOptions().device(device));
  std::vector<StageInfo> out;
  for (const auto& s : stages) {
    x = s.forward(x);
    StageInfo info;
    info.index = s.index();
    for (const auto& b : s.blocks()) info.blocks.push_back(b.name);
    info.parameters = s.parameter_count();
    info.output_shape.assign(x.sizes().begin() + 1, x.sizes().end());
    out.push_back(std::move(info));
  }
  model.train(was_training);
  return out;
}

nlohmann::json to_json(const std::vector<StageInfo>& info) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& s : info) {
    a.push_back({{"stage", s.index},
                 {"blocks", s.blocks},
                 {"parameters", s.parameters},
                 {"output_shape", s.output_shape}});
  }
  return a;
}

std::string format_split(const std::vector<StageInfo>& info) {
  std::ostringstream os;
  std::int64_t total = 0;
  for (const auto& s : info) total += s.parameters;
  os << "stage  parameters      share  blocks -> activation at the cut (per sample)\n";
  for (const auto& s : info) {
    std::string shape = "[";
    for (std::size_t i = 0; i < s.output_shape.size(); ++i)
      shape += (i ? "," : "") + std::to_string(s.output_shape[i]);
    shape += "]";
    char head[64];
    std::snprintf(
        head, sizeof head, "%5d  %10lld  %8.1f%%  ", s.index, static_cast<long long>(s.parameters),
        total ? 100.0 * static_cast<double>(s.parameters) / static_cast<double>(total) : 0.0);
    os << head;
    for (std::size_t i = 0; i < s.blocks.size(); ++i) os << (i ? " " : "") << s.blocks[i];
    os << " -> " << (&s == &info.back() ? "logits " : "") << shape << "\n";
  }
  return os.str();
}

}  // namespace tdml::pipeline

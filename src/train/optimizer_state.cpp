#include "train/optimizer_state.h"

#include <type_traits>

#include "tdml/util/error.h"

namespace tdml::train::detail {
namespace {

// The optimizer's state key of a parameter: LibTorch 1.13 keys the state by the parameter's
// TensorImpl address printed as a string, 2.x by the address itself.
template <class Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    return c10::guts::to_string(p.unsafeGetTensorImpl());
  } else {
    return p.unsafeGetTensorImpl();
  }
}

std::string prefix(std::size_t group, std::size_t index) {
  return "optim." + std::to_string(group) + "." + std::to_string(index) + ".";
}

const char* kind_of(torch::optim::Optimizer& opt) {
  if (dynamic_cast<torch::optim::SGD*>(&opt)) return "sgd";
  if (dynamic_cast<torch::optim::AdamW*>(&opt)) return "adamw";
  throw Error("checkpoint: tdml saves the state of SGD and AdamW only");
}

nlohmann::json group_options(const torch::optim::OptimizerOptions& o) {
  if (const auto* s = dynamic_cast<const torch::optim::SGDOptions*>(&o)) {
    return {{"lr", s->lr()},
            {"momentum", s->momentum()},
            {"dampening", s->dampening()},
            {"weight_decay", s->weight_decay()},
            {"nesterov", s->nesterov()}};
  }
  const auto& a = dynamic_cast<const torch::optim::AdamWOptions&>(o);
  return {{"lr", a.lr()},
          {"beta1", std::get<0>(a.betas())},
          {"beta2", std::get<1>(a.betas())},
          {"eps", a.eps()},
          {"weight_decay", a.weight_decay()},
          {"amsgrad", a.amsgrad()}};
}

void set_group_options(torch::optim::OptimizerOptions& o, const nlohmann::json& j) {
  if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&o)) {
    s->lr(j.at("lr").get<double>())
        .momentum(j.at("momentum").get<double>())
        .dampening(j.at("dampening").get<double>())
        .weight_decay(j.at("weight_decay").get<double>())
        .nesterov(j.at("nesterov").get<bool>());
    return;
  }
  auto& a = dynamic_cast<torch::optim::AdamWOptions&>(o);
  a.lr(j.at("lr").get<double>())
      .betas({j.at("beta1").get<double>(), j.at("beta2").get<double>()})
      .eps(j.at("eps").get<double>())
      .weight_decay(j.at("weight_decay").get<double>())
      .amsgrad(j.at("amsgrad").get<bool>());
}

// tensors[name] as a float tensor shaped like `p` on p's device; undefined when absent.
torch::Tensor like_param(const std::map<std::string, torch::Tensor>& tensors,
                         const std::string& name, const torch::Tensor& p, const std::string& file) {
  const auto it = tensors.find(name);
  if (it == tensors.end()) return {};
  const auto& t = it->second;
  if (t.scalar_type() != p.scalar_type() || t.sizes() != p.sizes()) {
    throw Error("cannot resume: " + file + " holds optimizer state '" + name + "' of " +
                std::string(c10::toString(t.scalar_type())) + " " + c10::str(t.sizes()) +
                ", not this run's " + std::string(c10::toString(p.scalar_type())) + " " +
                c10::str(p.sizes()));
  }
  return t.to(p.device()).clone();
}

}  // namespace

nlohmann::json collect_optimizer_state(torch::optim::Optimizer& opt, models::StateDict& out) {
  nlohmann::json j = {{"kind", kind_of(opt)}, {"groups", nlohmann::json::array()}};
  auto& state = opt.state();
  for (std::size_t g = 0; g < opt.param_groups().size(); ++g) {
    auto& group = opt.param_groups()[g];
    auto options = group_options(group.options());
    options["params"] = group.params().size();
    j["groups"].push_back(options);
    for (std::size_t i = 0; i < group.params().size(); ++i) {
      const auto it = state.find(state_key(state, group.params()[i]));
      if (it == state.end()) continue;
      const auto name = prefix(g, i);
      if (const auto* s = dynamic_cast<const torch::optim::SGDParamState*>(it->second.get())) {
        if (s->momentum_buffer().defined()) out.emplace_back(name + "momentum_buffer", s->momentum_buffer());
      } else if (const auto* a =
                     dynamic_cast<const torch::optim::AdamWParamState*>(it->second.get())) {
        out.emplace_back(name + "step", torch::tensor({a->step()}, torch::kInt64));
        out.emplace_back(name + "exp_avg", a->exp_avg());
        out.emplace_back(name + "exp_avg_sq", a->exp_avg_sq());
        if (a->max_exp_avg_sq().defined()) {
          out.emplace_back(name + "max_exp_avg_sq", a->max_exp_avg_sq());
        }
      }
    }
  }
  return j;
}

void restore_optimizer_state(torch::optim::Optimizer& opt,
                             const std::map<std::string, torch::Tensor>& tensors,
                             const nlohmann::json& json, const std::string& file) {
  const std::string kind = kind_of(opt);
  try {
    if (json.at("kind").get<std::string>() != kind ||
        json.at("groups").size() != opt.param_groups().size()) {
      throw Error("cannot resume: " + file + " holds another optimizer's state (" +
                  json.at("kind").get<std::string>() + ", " +
                  std::to_string(json.at("groups").size()) + " group(s)), not this run's " +
                  kind);
    }
    auto& state = opt.state();
    state.clear();
    for (std::size_t g = 0; g < opt.param_groups().size(); ++g) {
      auto& group = opt.param_groups()[g];
      const auto& saved = json.at("groups").at(g);
      if (const auto n = saved.at("params").get<std::int64_t>();
          n != static_cast<std::int64_t>(group.params().size())) {
        throw Error("cannot resume: " + file + " holds optimizer state for " + std::to_string(n) +
                    " parameters, not this model's " + std::to_string(group.params().size()));
      }
      set_group_options(group.options(), saved);
      for (std::size_t i = 0; i < group.params().size(); ++i) {
        const auto& p = group.params()[i];
        const auto name = prefix(g, i);
        if (kind == "sgd") {
          auto buf = like_param(tensors, name + "momentum_buffer", p, file);
          if (!buf.defined()) continue;
          auto s = std::make_unique<torch::optim::SGDParamState>();
          s->momentum_buffer(buf);
          state[state_key(state, p)] = std::move(s);
          continue;
        }
        const auto step = tensors.find(name + "step");
        if (step == tensors.end()) continue;
        if (step->second.scalar_type() != torch::kInt64 || step->second.numel() != 1) {
          throw Error("cannot resume: " + file + " holds a malformed '" + name + "step'");
        }
        auto a = std::make_unique<torch::optim::AdamWParamState>();
        a->step(step->second.item<std::int64_t>());
        a->exp_avg(like_param(tensors, name + "exp_avg", p, file));
        a->exp_avg_sq(like_param(tensors, name + "exp_avg_sq", p, file));
        a->max_exp_avg_sq(like_param(tensors, name + "max_exp_avg_sq", p, file));
        if (!a->exp_avg().defined() || !a->exp_avg_sq().defined()) {
          throw Error("cannot resume: " + file + " lacks AdamW moments of parameter " + name);
        }
        state[state_key(state, p)] = std::move(a);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("cannot resume: " + file + " holds a malformed optimizer record (" + e.what() +
                ")");
  }
}

}  // namespace tdml::train::detail

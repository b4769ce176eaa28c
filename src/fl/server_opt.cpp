#include "tdml/fl/server_opt.h"

#include "tdml/util/error.h"

namespace tdml::fl {

void ServerOptOptions::validate() const {
  if (name != "sgd" && name != "avgm" && name != "adam") {
    throw UsageError("--server-opt must be sgd, avgm or adam, got '" + name + "'");
  }
  if (!(momentum >= 0 && momentum < 1)) throw UsageError("--server-momentum must be in [0, 1)");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
    throw UsageError("--server-beta1 and --server-beta2 must be in [0, 1)");
  }
  if (!(tau > 0)) throw UsageError("--server-tau must be > 0");
}

ServerOptimizer::ServerOptimizer(ServerOptOptions o) : o_(std::move(o)) { o_.validate(); }

torch::Tensor ServerOptimizer::step(const torch::Tensor& delta, double lr) {
  if (o_.name == "sgd") return delta * lr;
  if (o_.name == "avgm") {
    m_ = m_.defined() ? m_ * o_.momentum + delta : delta.clone();
    return m_ * lr;
  }
  if (!m_.defined()) {
    m_ = torch::zeros_like(delta);
    v_ = torch::zeros_like(delta);
  }
  m_ = m_ * o_.beta1 + delta * (1 - o_.beta1);
  v_ = v_ * o_.beta2 + delta.square() * (1 - o_.beta2);
  return m_ / (v_.sqrt() + o_.tau) * lr;
}

std::vector<torch::Tensor> ServerOptimizer::state() const {
  std::vector<torch::Tensor> s;
  if (m_.defined()) s.push_back(m_);
  if (v_.defined()) s.push_back(v_);
  return s;
}

void ServerOptimizer::load_state(std::vector<torch::Tensor> s) {
  const std::size_t want = o_.name == "adam" ? 2 : o_.name == "avgm" ? 1 : 0;
  TDML_CHECK(s.empty() || s.size() == want, "server optimizer " << o_.name << ": " << s.size()
                                                                << " saved moments, expected "
                                                                << want);
  m_ = s.size() > 0 ? s[0] : torch::Tensor();
  v_ = s.size() > 1 ? s[1] : torch::Tensor();
}

}  // namespace tdml::fl

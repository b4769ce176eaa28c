#include "tdml/fl/options.h"

namespace tdml::fl {

nlohmann::json server_step_config(const RunnerOptions& o) {
  const auto& s = o.server;
  const auto& a = s.aggregator;
  const auto& d = s.detection;
  const auto& dp = s.dp;
  const auto& opt = o.server_opt;
  return {{"aggregator",
           {{"rule", a.rule},
            {"median_average_middle", a.median_average_middle},
            {"trim", a.trim},
            {"allow_no_trim", a.allow_no_trim},
            {"f", a.f},
            {"multi_krum_m", a.multi_krum_m},
            {"geomed_nu", a.geomed_nu},
            {"geomed_tol", a.geomed_tol},
            {"geomed_max_iter", a.geomed_max_iter},
            {"cclip_tau", a.cclip_tau},
            {"cclip_iterations", a.cclip_iterations}}},
          {"clip_norm", s.clip_norm},
          {"bucketing", s.bucketing},
          {"root_samples", s.root_samples},
          {"detect", s.detect},
          {"detection",
           {{"k", d.k},
            {"norm_k", d.norm_k},
            {"min_cosine", d.min_cosine},
            {"rel_floor", d.rel_floor},
            {"exclude_flagged", d.exclude_flagged}}},
          {"dp", dp.enabled() ? nlohmann::json{{"clip", dp.clip},
                                               {"noise", dp.noise},
                                               {"local", dp.local},
                                               {"delta", dp.delta},
                                               {"adaptive", dp.adaptive},
                                               {"target_quantile", dp.target_quantile},
                                               {"clip_lr", dp.clip_lr},
                                               {"count_noise", dp.count_noise}}
                              : nlohmann::json(nullptr)},
          {"server_opt",
           {{"name", opt.name},
            {"momentum", opt.momentum},
            {"beta1", opt.beta1},
            {"beta2", opt.beta2},
            {"tau", opt.tau}}},
          {"server_lr", o.effective_server_lr()}};
}

}  // namespace tdml::fl

#include "federation/recipe.h"

#include "tdml/util/error.h"

namespace tdml::federation {

nlohmann::json recipe_json(const fl::RunnerOptions& o) {
  return {{"model", o.model},
          {"clients", o.clients},
          {"mode", o.mode},
          {"local_epochs", o.local_epochs},
          {"client_lr", o.client_lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"batch_size", o.batch_size},
          {"augment", o.augment},
          {"amp", train::amp_name(o.amp)},
          {"channels_last", o.channels_last},
          {"seed", o.seed},
          {"prox_mu", o.prox_mu},
          // Local DP is the clients' side of the protocol: the server says what to apply.
          {"dp_local",
           o.server.dp.enabled() && o.server.dp.local
               ? nlohmann::json{{"clip", o.server.dp.clip}, {"noise", o.server.dp.noise}}
               : nlohmann::json(nullptr)}};
}

fl::RunnerOptions recipe_options(const nlohmann::json& r, const torch::Device& device) {
  fl::RunnerOptions o;
  try {
    o.model = r.at("model").get<std::string>();
    o.clients = r.at("clients").get<int>();
    o.mode = r.at("mode").get<std::string>();
    o.local_epochs = r.at("local_epochs").get<int>();
    o.client_lr = r.at("client_lr").get<double>();
    o.momentum = r.at("momentum").get<double>();
    o.weight_decay = r.at("weight_decay").get<double>();
    o.batch_size = r.at("batch_size").get<std::int64_t>();
    o.augment = r.at("augment").get<bool>();
    o.device = device;
    o.amp = train::parse_amp(r.at("amp").get<std::string>(), device);
    o.channels_last = r.at("channels_last").get<bool>();
    o.seed = r.at("seed").get<std::uint64_t>();
    o.prox_mu = r.value("prox_mu", 0.0);
    if (const auto dp = r.value("dp_local", nlohmann::json()); dp.is_object()) {
      o.server.dp.local = true;
      o.server.dp.clip = dp.at("clip").get<double>();
      o.server.dp.noise = dp.at("noise").get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed round recipe from the server: ") + e.what());
  }
  o.malicious = 0;
  o.validate();
  return o;
}

}  // namespace tdml::federation

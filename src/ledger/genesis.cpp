#include "tdml/ledger/genesis.h"

#include <algorithm>

#include "tdml/ledger/key_files.h"
#include "tdml/util/error.h"
#include "tdml/util/sha256.h"

namespace tdml::ledger {

nlohmann::json Genesis::to_json() const {
  auto ks = nlohmann::json::array();
  for (const auto& k : keys) {
    nlohmann::json e = {{"id", k.id}};
    if (!k.public_key.empty()) {
      e["public"] = util::to_hex(k.public_key);
      e["fingerprint"] = util::sha256_hex(k.public_key);
    }
    ks.push_back(e);
  }
  nlohmann::json body = {{"run_id", run_id},
                         {"run_kind", run_kind},
                         {"trust", trust},
                         {"config_hash", config_hash},
                         {"data_hash", data_hash},
                         {"tdml_version", TDML_VERSION},
                         {"keys", ks}};
  if (!transport.empty()) body["transport"] = transport;
  return body;
}

Genesis Genesis::from_json(const nlohmann::json& b) {
  Genesis g;
  try {
    g.run_id = b.at("run_id").get<std::string>();
    g.run_kind = b.at("run_kind").get<std::string>();
    g.trust = b.at("trust").get<std::string>();
    g.config_hash = b.at("config_hash").get<std::string>();
    g.data_hash = b.at("data_hash").get<std::string>();
    g.transport = b.value("transport", std::string());
    for (const auto& k : b.at("keys")) {
      GenesisKey gk{k.at("id").get<std::string>(), ""};
      if (k.contains("public")) {
        const auto hex = k.at("public").get<std::string>();
        gk.public_key = util::from_hex(hex, "genesis key " + gk.id);
        if (gk.public_key.size() != 32 || util::to_hex(gk.public_key) != hex ||
            k.at("fingerprint").get<std::string>() != util::sha256_hex(gk.public_key)) {
          throw Error("genesis key " + gk.id + ": bad public key or fingerprint");
        }
      }
      g.keys.push_back(gk);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed genesis block: ") + e.what());
  }
  if (g.run_id.size() != 32 ||
      g.run_id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw Error("genesis run_id must be 32 lower-case hex digits");
  }
  if (g.trust != "federation" && g.trust != "simulation") {
    throw Error("genesis trust must be federation or simulation, not " + g.trust);
  }
  if (!g.transport.empty() && g.transport != "grpc-tls" && g.transport != "grpc-mtls" &&
      g.transport != "grpc-insecure") {
    throw Error("genesis transport must be grpc-tls, grpc-mtls or grpc-insecure, not " +
                g.transport);
  }
  if (g.keys.empty() || g.keys[0].id != kServerKeyId) {
    throw Error("genesis keys must start with the server's");
  }
  return g;
}

std::string Genesis::public_key(const std::string& id) const {
  for (const auto& k : keys) {
    if (k.id == id) return k.public_key;
  }
  return "";
}

std::string new_run_id() { return util::to_hex(random_bytes(16)); }

std::vector<GenesisKey> genesis_keys(const KeyRing& ring) {
  std::vector<std::string> ids = ring.ids();
  std::sort(ids.begin(), ids.end(), [](const std::string& a, const std::string& b) {
    if ((a == kServerKeyId) != (b == kServerKeyId)) return a == kServerKeyId;
    return natural_less(a, b);
  });
  std::vector<GenesisKey> out;
  for (const auto& id : ids) out.push_back({id, ring.public_key(id)});
  return out;
}

}  // namespace tdml::ledger

// Fuzz target: the messages a federation client sends on its stream, as the server reads and
// checks them (federation/protocol.h check_client_messages: protobuf parsing of each
// wire::ClientMessage, an Update's announced sizes, its chunks' order and bounds, the server's
// checks of the whole update's run, round, attempt and sample count, then the round engine's
// Ed25519 signature check over the claim rebuilt from the bytes received). Input: the serialized
// messages, as gRPC hands them to the server, each after its length (4 bytes, little-endian; a
// length past the end takes the rest).
//
// The server expects round 1 (attempt 0) of run "run-fuzz" for a 4-parameter, 1-buffer model
// from client-0, whose key pair below was made for these seeds only (fuzz/corpus/wire_update/,
// written by hand-encoding the protobuf; it signs nothing else).
//
// Properties: no input throws or crashes; an admitted update's signature is exactly client-0's
// signature of its claim (Ed25519 is deterministic: no other spelling, no other bytes, pass),
// and its claim names the expected client, round and run.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tdml/federation/protocol.h"
#include "tdml/ledger/hash.h"
#include "tdml/ledger/keys.h"
#include "tdml/ledger/update_signature.h"

namespace {

constexpr char kClientSecretHex[] =
    "5c1f1e7a3b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60";
constexpr char kClientPublicHex[] =
    "e237d4893bdd9587ddefb013a92b22c3935c5e067dbfd2d0469d9357459e9b37";

// The server's view: client-0's public key only.
const tdml::ledger::KeyRing& server_ring() {
  static const tdml::ledger::KeyRing ring = [] {
    tdml::ledger::KeyRing r(tdml::ledger::Scheme::kEd25519);
    r.add("client-0", "", tdml::ledger::from_hex(kClientPublicHex));
    return r;
  }();
  return ring;
}

// The client's own key (to check that what was admitted is what it would have signed).
const tdml::ledger::KeyRing& client_ring() {
  static const tdml::ledger::KeyRing ring = [] {
    tdml::ledger::KeyRing r(tdml::ledger::Scheme::kEd25519);
    r.add("client-0", tdml::ledger::from_hex(kClientSecretHex));
    return r;
  }();
  return ring;
}

// The input cut into messages: a 4-byte little-endian length, then that many bytes.
std::vector<std::string> split_messages(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (size - at >= 4) {
    const std::size_t n = data[at] | data[at + 1] << 8 | data[at + 2] << 16 |
                          static_cast<std::size_t>(data[at + 3]) << 24;
    at += 4;
    const std::size_t take = std::min(n, size - at);
    out.emplace_back(reinterpret_cast<const char*>(data + at), take);
    at += take;
  }
  return out;
}

}  // namespace

TDML_FUZZ_TARGET(wire_update) {
  tdml::federation::UpdateExpectation e;
  e.run_id = "run-fuzz";
  e.round = 1;
  e.attempt = 0;
  e.params = 4;
  e.buffers = 1;
  e.client_id = "client-0";
  for (int i = 0; i < 32; ++i) e.base_model_hash += "ab";
  e.keys = &server_ring();
  tdml::federation::WireCheck c;
  try {
    c = tdml::federation::check_client_messages(split_messages(data, size), e);
  } catch (...) {
    FUZZ_CHECK(false, "check_client_messages threw");
  }
  static const bool verbose = std::getenv("TDML_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%s\n", c.refused.empty() ? "admitted" : c.refused.c_str());
  if (!c.refused.empty()) return 0;
  FUZZ_CHECK(c.claim.client_id == "client-0" && c.claim.round == 1 && c.claim.run_id == "run-fuzz",
             "an admitted claim names another client, round or run");
  const auto expected = tdml::ledger::sign_update(*client_ring().signer("client-0"), c.claim);
  FUZZ_CHECK(c.signature == expected, "an update was admitted that client-0 never signed");
  return 0;
}

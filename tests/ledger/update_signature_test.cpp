// The check the FL server runs on every update before aggregating it.
#include <gtest/gtest.h>

#include <functional>

#include "ledger_fixture.h"
#include "tdml/util/error.h"

using namespace tdml::ledger;
using namespace tdml::ledger::testing;

namespace {
UpdateClaim claim_of(int client) {
  return UpdateClaim{client_key_id(client), 7, 512, sha256_hex("update bytes"),
                     sha256_hex("global"), ""};
}
}  // namespace

class LedgerUpdateSignature : public ::testing::TestWithParam<Scheme> {};

TEST_P(LedgerUpdateSignature, AcceptsHonestRejectsForged) {
  auto keys = fixed_keys(GetParam(), 3);
  const auto claim = claim_of(1);
  const std::string sig = sign_update(*keys.signer("client-1"), claim);
  EXPECT_TRUE(verify_update_signature(keys, claim, sig));

  // Forged: random bytes, a signature by another client's key, a missing or malformed one.
  EXPECT_FALSE(verify_update_signature(keys, claim, to_hex(random_bytes(sig.size() / 2))));
  auto other = claim;
  other.client_id = "client-2";
  EXPECT_FALSE(verify_update_signature(keys, claim, sign_update(*keys.signer("client-2"), other)));
  EXPECT_FALSE(verify_update_signature(keys, claim, ""));
  EXPECT_FALSE(verify_update_signature(keys, claim, "not hex"));
  // A valid signature does not carry over to any other claim.
  for (auto edit : std::vector<std::function<void(UpdateClaim&)>>{
           [](UpdateClaim& c) { c.round = 8; }, [](UpdateClaim& c) { c.samples = 5120; },
           [](UpdateClaim& c) { c.update_hash = sha256_hex("poisoned"); },
           [](UpdateClaim& c) { c.base_model_hash = sha256_hex("old global"); },
           [](UpdateClaim& c) { c.client_id = "client-0"; },
           [](UpdateClaim& c) { c.client_id = "client-99"; }}) {
    auto changed = claim;
    edit(changed);
    EXPECT_FALSE(verify_update_signature(keys, changed, sig));
  }
  // A client cannot sign in another client's name.
  EXPECT_THROW(sign_update(*keys.signer("client-0"), claim), tdml::Error);
}

INSTANTIATE_TEST_SUITE_P(Schemes, LedgerUpdateSignature,
                         ::testing::Values(Scheme::kEd25519, Scheme::kHmac),
                         [](const auto& info) { return scheme_name(info.param); });

TEST(LedgerUpdateSignatureMessage, IsDomainSeparatedCanonicalJson) {
  UpdateClaim c{"client-0", 3, 10, "aa", "bb", ""};
  EXPECT_EQ(
      update_message(c),
      R"(tdml.update.v1:{"base_model":"bb","client":"client-0","round":3,"samples":10,"update":"aa"})");
}

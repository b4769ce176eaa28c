// Known-answer tests: SHA-256 (NIST FIPS 180 examples), HMAC-SHA256 (RFC 4231),
// Ed25519 (RFC 8032 section 7.1).
#include <gtest/gtest.h>

#include "tdml/ledger/hash.h"
#include "tdml/ledger/signer.h"
#include "tdml/util/error.h"

using namespace tdml::ledger;

TEST(LedgerSha256, NistVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;  // one million 'a', fed in pieces
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk);
  EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(LedgerHex, RoundTripAndErrors) {
  EXPECT_EQ(to_hex(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(from_hex("00ff10"), std::string("\x00\xff\x10", 3));
  EXPECT_THROW(from_hex("abc"), tdml::Error);
  EXPECT_THROW(from_hex("zz"), tdml::Error);
}

namespace {
std::string hmac_hex(const std::string& key, const std::string& msg) {
  return to_hex(make_hmac_signer("k", key)->sign(msg));
}
}  // namespace

TEST(LedgerHmac, Rfc4231Vectors) {
  EXPECT_EQ(hmac_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hmac_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_hex(std::string(20, '\xaa'), std::string(50, '\xdd')),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4 += static_cast<char>(i);
  EXPECT_EQ(hmac_hex(key4, std::string(50, '\xcd')),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(hmac_hex(std::string(20, '\x0c'), "Test With Truncation").substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
  EXPECT_EQ(
      hmac_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hmac_hex(std::string(131, '\xaa'),
                     "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the HMAC "
                     "algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(LedgerHmac, VerifyRejectsOtherKeyAndTruncation) {
  auto a = make_hmac_signer("a", std::string(32, 'a'));
  auto b = make_hmac_signer("b", std::string(32, 'b'));
  std::string sig = a->sign("message");
  EXPECT_TRUE(a->verify("message", sig));
  EXPECT_FALSE(b->verify("message", sig));
  EXPECT_FALSE(a->verify("messagf", sig));
  EXPECT_FALSE(a->verify("message", sig.substr(0, 31)));
  EXPECT_FALSE(a->verify("message", ""));
}

namespace {
struct Ed25519Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};
// RFC 8032, 7.1: TEST 1, TEST 2, TEST 3.
const Ed25519Vector kEd25519[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
};
}  // namespace

TEST(LedgerEd25519, Rfc8032Vectors) {
  for (const auto& v : kEd25519) {
    const std::string seed = from_hex(v.secret), msg = from_hex(v.message);
    EXPECT_EQ(to_hex(ed25519_public_key(seed)), v.public_key);
    auto signer = make_ed25519_signer("s", seed);
    EXPECT_EQ(to_hex(signer->sign(msg)), v.signature);
    auto verifier = make_ed25519_verifier("s", from_hex(v.public_key));
    EXPECT_TRUE(verifier->verify(msg, from_hex(v.signature)));
    EXPECT_FALSE(verifier->verify(msg + "x", from_hex(v.signature)));
  }
}

TEST(LedgerEd25519, VerifyRejectsFlippedBitsAndOtherKeys) {
  auto a = make_ed25519_signer("a", from_hex(kEd25519[0].secret));
  auto b = make_ed25519_verifier("b", from_hex(kEd25519[1].public_key));
  std::string sig = a->sign("block");
  EXPECT_TRUE(a->verify("block", sig));
  EXPECT_FALSE(b->verify("block", sig));
  for (std::size_t i = 0; i < sig.size(); i += 7) {
    std::string bad = sig;
    bad[i] ^= 1;
    EXPECT_FALSE(a->verify("block", bad)) << "flipped byte " << i;
  }
  EXPECT_FALSE(a->verify("block", sig.substr(0, 63)));
  EXPECT_THROW(make_ed25519_signer("a", "short"), tdml::Error);
}

// Model hash (encoding v2): byte-exact, sensitive to dtype/shape/boundaries, the same as Python's.
#include "tdml/ledger/hash.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/test_support.h"
#include "tdml/util/error.h"

using namespace tdml::ledger;

namespace {
std::string u64le(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}
std::string lp(const std::string& s) { return u64le(s.size()) + s; }
}  // namespace

// Encoding v2 written out by hand: domain, count, then per entry name, dtype, dims, length, bytes.
TEST(LedgerModelHash, ByteExactForKnownTensors) {
  // float32 1.0 = 00 00 80 3f, 2.0 = 00 00 00 40; int64 258 = 02 01 00 00 00 00 00 00.
  tdml::models::StateDict sd = {{"w", torch::tensor({1.0f, 2.0f})},
                                {"n", torch::tensor({258}, torch::kLong).reshape({1, 1})}};
  const std::string w_bytes("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  const std::string n_bytes("\x02\x01\x00\x00\x00\x00\x00\x00", 8);
  const std::string bytes = std::string("tdml.model.v2\n") + u64le(2) +                    //
                            lp("w") + lp("float32") + u64le(1) + u64le(2) + lp(w_bytes) +  //
                            lp("n") + lp("int64") + u64le(2) + u64le(1) + u64le(1) + lp(n_bytes);
  EXPECT_EQ(model_hash(sd), sha256_hex(bytes));
  EXPECT_EQ(tensor_hash(sd[0].second), sha256_hex(w_bytes));
}

// Same bytes, different dtype, shape or split between entries: different hashes (the v1 hash,
// names and raw bytes only, gave these pairs one hash).
TEST(LedgerModelHash, DtypeShapeAndBoundariesAreHashed) {
  auto a = torch::arange(6, torch::kFloat);
  EXPECT_NE(model_hash({{"x", a}}), model_hash({{"x", a.reshape({2, 3})}}));
  EXPECT_NE(model_hash({{"x", a}}), model_hash({{"x", a.view(torch::kInt)}}));
  EXPECT_NE(model_hash({{"x", a}}),
            model_hash({{"x", a.narrow(0, 0, 3)}, {"", a.narrow(0, 3, 3)}}));
  EXPECT_NE(model_hash({{"ab", a}}), model_hash({{"a", a.narrow(0, 0, 0)}, {"b", a}}));
  EXPECT_NE(model_hash({}), model_hash({{"", a.narrow(0, 0, 0)}}));
  EXPECT_THROW(model_hash({{"c", torch::zeros({2}, torch::kComplexFloat)}}), tdml::Error);
  tdml::models::StateDict mixed = {{"w", a}, {"n", torch::tensor({1}, torch::kLong)}, {"b", a}};
  auto floats = floating_entries(mixed);
  ASSERT_EQ(floats.size(), 2u);
  EXPECT_EQ(floats[1].first, "b");
}

TEST(LedgerModelHash, LayoutIndependentOrderAndNameSensitive) {
  auto a = torch::arange(12, torch::kFloat).reshape({3, 4});
  auto t = a.t().contiguous();  // same values as a.t(), different memory layout
  EXPECT_EQ(model_hash({{"x", a.t()}}), model_hash({{"x", t}}));
  EXPECT_NE(model_hash({{"x", a}}), model_hash({{"y", a}}));
  EXPECT_NE(model_hash({{"x", a}, {"y", t}}), model_hash({{"y", t}, {"x", a}}));
  auto b = a.clone();
  b[1][2] = 6.5f;
  EXPECT_NE(model_hash({{"x", a}}), model_hash({{"x", b}}));
}

// A state dict saved and hashed by Python (torch.save + hashlib) hashes the same in C++.
TEST(LedgerModelHash, MatchesPythonOnTorchSavedCheckpoint) {
  TDML_REQUIRE(::access("/usr/bin/python3", X_OK) == 0 &&
                   std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0,
               "/usr/bin/python3 with torch");
  tdml::test::TempDir dir;
  // The hash from scripts/ledger/verify_ledger.py (model_hash), the auditor's reference.
  const auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  std::ofstream(dir / "make.py")
      << "import sys, torch\n"
         "sys.path.insert(0, '"
      << (root / "scripts/ledger").string()
      << "')\n"
         "from verify_ledger import model_hash\n"
         "torch.manual_seed(0)\n"
         "sd = {'conv.weight': torch.randn(4, 3, 3, 3), 'conv.bias': torch.randn(4),\n"
         "      'bn.num_batches_tracked': torch.tensor(17), 'fc.weight': torch.randn(5, 6).t(),\n"
         "      'emb': torch.randn(3, 2, dtype=torch.float64), 'mask': torch.tensor([1, 0, 255],"
         " dtype=torch.uint8)}\n"
         "torch.save(sd, sys.argv[1])\n"
         "print(model_hash(sd))\n";
  const std::string ckpt = dir / "model.pt";
  std::string cmd = "/usr/bin/python3 '" + (dir / "make.py") + "' '" + ckpt + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[128] = {0};
  ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
  ASSERT_EQ(::pclose(p), 0);
  const std::string python_hash = std::string(buf).substr(0, 64);

  std::ifstream in(ckpt, std::ios::binary);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto dict = torch::pickle_load(data).toGenericDict();
  tdml::models::StateDict sd;
  for (const auto& e : dict) sd.emplace_back(e.key().toStringRef(), e.value().toTensor());
  ASSERT_EQ(sd.size(), 6u);
  EXPECT_EQ(sd[3].first, "fc.weight");
  EXPECT_FALSE(sd[3].second.is_contiguous());
  EXPECT_EQ(model_hash(sd), python_hash);
}

TEST(LedgerConfigHash, IsHashOfCanonicalJson) {
  EXPECT_EQ(config_hash({{"lr", 0.1}, {"batch", 128}}), sha256_hex(R"({"batch":128,"lr":0.1})"));
}

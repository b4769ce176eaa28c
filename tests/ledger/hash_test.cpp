// Model hash: SHA-256 over (name, raw little-endian bytes) per entry, the same as Python's.
#include "tdml/ledger/hash.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "support/test_support.h"

using namespace tdml::ledger;

TEST(LedgerModelHash, ByteExactForKnownTensors) {
  // float32 1.0 = 00 00 80 3f, 2.0 = 00 00 00 40; int64 258 = 02 01 00 00 00 00 00 00.
  tdml::models::StateDict sd = {{"w", torch::tensor({1.0f, 2.0f})},
                                {"n", torch::tensor({258}, torch::kLong)}};
  const std::string bytes = std::string("w") + std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8) +
                            "n" + std::string("\x02\x01\x00\x00\x00\x00\x00\x00", 8);
  EXPECT_EQ(model_hash(sd), sha256_hex(bytes));
  EXPECT_EQ(tensor_hash(sd[0].second), sha256_hex(bytes.substr(1, 8)));
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
  std::ofstream(dir / "make.py")
      << "import hashlib, sys, torch\n"
         "torch.manual_seed(0)\n"
         "sd = {'conv.weight': torch.randn(4, 3, 3, 3), 'conv.bias': torch.randn(4),\n"
         "      'bn.num_batches_tracked': torch.tensor(17), 'fc.weight': torch.randn(5, 6).t(),\n"
         "      'emb': torch.randn(3, 2, dtype=torch.float64), 'mask': torch.tensor([1, 0, 255],"
         " dtype=torch.uint8)}\n"
         "torch.save(sd, sys.argv[1])\n"
         "h = hashlib.sha256()\n"
         "for k, v in sd.items():\n"
         "    h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())\n"
         "print(h.hexdigest())\n";
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

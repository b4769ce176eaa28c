// Canonical JSON must be byte-identical to Python's
// json.dumps(obj, sort_keys=True, separators=(",", ":")).
#include "tdml/ledger/canonical_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "support/test_support.h"
#include "tdml/util/error.h"

using nlohmann::json;
using tdml::ledger::canonical_json;
using tdml::ledger::python_float_repr;

TEST(LedgerCanonicalJson, FloatsLikePythonRepr) {
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(1e-06), "1e-06");
  EXPECT_EQ(python_float_repr(1.5e-06), "1.5e-06");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(0.00001), "1e-05");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(0.0), "0.0");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(python_float_repr(100.0), "100.0");
  EXPECT_EQ(python_float_repr(1e300 * 10), "1e+301");
  EXPECT_EQ(python_float_repr(5e-324), "5e-324");
  EXPECT_EQ(python_float_repr(NAN), "NaN");
  EXPECT_EQ(python_float_repr(INFINITY), "Infinity");
  EXPECT_EQ(python_float_repr(-INFINITY), "-Infinity");
}

TEST(LedgerCanonicalJson, ByteExactCases) {
  EXPECT_EQ(canonical_json(json::parse(R"({"b":1,"a":[true,false,null],"c":{"z":0.5,"y":"x"}})")),
            R"({"a":[true,false,null],"b":1,"c":{"y":"x","z":0.5}})");
  EXPECT_EQ(canonical_json(json{{"acc", 1.0}, {"lr", 0.1}, {"eps", 1e-06}}),
            R"({"acc":1.0,"eps":1e-06,"lr":0.1})");
  EXPECT_EQ(canonical_json(json(-3)), "-3");
  EXPECT_EQ(canonical_json(json(18446744073709551615ull)), "18446744073709551615");
  EXPECT_EQ(canonical_json(json::array()), "[]");
  EXPECT_EQ(canonical_json(json::object()), "{}");
  // Escapes: quote, backslash, short forms, other controls and DEL as \u00XX, '/' untouched.
  EXPECT_EQ(canonical_json(json(std::string("q\"b\\n\nr\rt\tb\bf\f\x01\x1f\x7f/"))),
            R"("q\"b\\n\nr\rt\tb\bf\f\u0001\u001f\u007f/")");
  // Non-ASCII: lowercase \uXXXX, surrogate pairs above U+FFFF.
  EXPECT_EQ(canonical_json(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")),
            R"("caf\u00e9 \u20ac \ud83d\ude00")");
  // Keys sort by code point (UTF-8 bytes), uppercase before lowercase.
  EXPECT_EQ(canonical_json(json{{"b", 1}, {"B", 2}, {"\xc3\xa9", 3}, {"a", 4}}),
            R"({"B":2,"a":4,"b":1,"\u00e9":3})");
}

TEST(LedgerCanonicalJson, RejectsInvalidUtf8) {
  EXPECT_THROW(canonical_json(json(std::string("\xff"))), tdml::Error);
  EXPECT_THROW(canonical_json(json(std::string("\xc3"))), tdml::Error);
  EXPECT_THROW(canonical_json(json(std::string("\xed\xa0\x80"))), tdml::Error);  // surrogate
  EXPECT_THROW(canonical_json(json(std::string("\xc0\xaf"))), tdml::Error);      // overlong
}

TEST(LedgerCanonicalJson, ReparsingCanonicalOutputGivesSameBytes) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1e3, 1e3);
  json j = json::object();
  for (int i = 0; i < 200; ++i) j["k" + std::to_string(i)] = u(rng) * std::pow(10.0, i % 40 - 20);
  const std::string s = canonical_json(j);
  EXPECT_EQ(canonical_json(json::parse(s)), s);
}

// The same values through /usr/bin/python3's json.dumps (skipped when Python is missing).
TEST(LedgerCanonicalJson, MatchesPythonJsonDumps) {
  TDML_REQUIRE(::access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3");
  tdml::test::TempDir dir;
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<std::uint64_t> bits;
  json doubles = json::array(), hexes = json::array();
  for (int i = 0; i < 3000; ++i) {
    double x;
    if (i % 3 == 0) {
      std::uint64_t b = bits(rng);
      std::memcpy(&x, &b, sizeof x);  // any bit pattern
      if (!std::isfinite(x)) continue;
    } else {
      x = std::ldexp(static_cast<double>(bits(rng) % 1000000) + 0.5,
                     static_cast<int>(i % 120) - 80);
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", x);
    doubles.push_back(x);
    hexes.push_back(buf);
  }
  json doc = {
      {"floats", doubles},
      {"text", {"caf\xc3\xa9", "\xf0\x9f\x98\x80 emoji", "ctl\x01\x7f\"\\/", "\xe4\xb8\xad"}},
      {"ints", {0, -1, 9007199254740993LL}},
      {"nested", {{"z", {{"b", true}, {"a", nullptr}}}, {"A", json::array()}}}};
  // Python gets the floats as exact hex, the rest as (any) JSON, and rebuilds the same document.
  json input = doc;
  input["floats"] = hexes;
  std::ofstream(dir / "in.json") << input.dump();
  std::ofstream(dir / "ref.py")
      << "import json,sys\n"
         "d=json.load(open(sys.argv[1]))\n"
         "d['floats']=[float.fromhex(h) for h in d['floats']]\n"
         "sys.stdout.write(json.dumps(d,sort_keys=True,separators=(',',':')))\n";
  std::string cmd = "/usr/bin/python3 '" + (dir / "ref.py") + "' '" + (dir / "in.json") + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string py;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) py.append(buf, n);
  ASSERT_EQ(::pclose(p), 0);
  EXPECT_EQ(canonical_json(doc), py);
}

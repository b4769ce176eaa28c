#include "tdml/models/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"
#include "tdml/models/model.h"
#include "tdml/util/error.h"

using tdml::models::load_state_dict;
using tdml::models::load_tensors;
using tdml::models::save_tensors;
using tdml::models::state_dict;
using tdml::models::StateDict;

namespace {

// A child registered before the module's own parameter: PyTorch still lists own tensors first.
struct Mixed : torch::nn::Module {
  Mixed() {
    child = register_module("child", torch::nn::Linear(2, 3));
    p = register_parameter("p", torch::ones({4}));
    b = register_buffer("b", torch::zeros({2}, torch::kLong));
  }
  torch::nn::Linear child{nullptr};
  torch::Tensor p, b;
};

std::string load_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tdml::Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_identical(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

// A torch.save-style zip whose data.pkl is `pickle` (no storages).
void write_checkpoint_with_pickle(const std::string& path, const std::string& pickle) {
  std::string bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&bytes](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST(StateDict, OwnTensorsBeforeChildrenLikePyTorch) {
  Mixed m;
  StateDict sd = state_dict(m);
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"p", "b", "child.weight", "child.bias"}));
  // Detached, but sharing storage with the module.
  EXPECT_FALSE(sd[0].second.requires_grad());
  EXPECT_EQ(sd[0].second.data_ptr(), m.p.data_ptr());
}

TEST(StateDict, SaveLoadRoundTripIsBitExactAndOrdered) {
  tdml::test::TempDir dir;
  torch::manual_seed(2);
  auto model = tdml::models::make_model("smallcifarcnn");
  model->train();
  model->forward(torch::randn({4, 3, 32, 32}));  // non-trivial BatchNorm statistics
  StateDict sd = state_dict(*model);
  // Other dtypes and a non-contiguous view survive too.
  sd.emplace_back("extra.double", torch::randn({3}, torch::kDouble));
  sd.emplace_back("extra.transposed", torch::arange(6, torch::kFloat).reshape({2, 3}).t());
  sd.emplace_back("extra.scalar", torch::tensor(42, torch::kLong));
  save_tensors(dir / "sd.pt", sd);
  StateDict back = load_tensors(dir / "sd.pt");
  expect_identical(sd, back);
  EXPECT_EQ(back[6].second.item<int64_t>(), 1);  // features.1.num_batches_tracked

  auto fresh = tdml::models::make_model("smallcifarcnn");
  sd.resize(sd.size() - 3);
  load_state_dict(*fresh, StateDict(back.begin(), back.end() - 3));
  expect_identical(state_dict(*fresh), sd);
  // Only the file itself remains: the temp file was renamed.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) ++files, (void)e;
  EXPECT_EQ(files, 1);
}

TEST(StateDict, LoadCopiesIntoExistingTensors) {
  auto a = tdml::models::make_model("tinycnn");
  auto b = tdml::models::make_model("tinycnn");
  void* before = b->parameters()[0].data_ptr();
  load_state_dict(*b, state_dict(*a));
  EXPECT_EQ(b->parameters()[0].data_ptr(), before);
  EXPECT_TRUE(torch::equal(b->parameters()[0], a->parameters()[0]));
  EXPECT_TRUE(b->parameters()[0].requires_grad());
}

TEST(StateDict, StrictLoadNamesUnexpectedMissingAndMismatchedKeys) {
  auto m = tdml::models::make_model("tinycnn");
  StateDict good = state_dict(*tdml::models::make_model("tinycnn"));
  const auto original = state_dict(*m)[0].second.clone();

  StateDict extra = good;
  extra.emplace_back("features.9.weight", torch::zeros({1}));
  EXPECT_NE(
      load_error_of([&] { load_state_dict(*m, extra); }).find("unexpected key(s) 'features.9.weight'"),
      std::string::npos);

  StateDict missing(good.begin(), good.end() - 2);
  std::string msg = load_error_of([&] { load_state_dict(*m, missing); });
  EXPECT_NE(msg.find("missing key(s) 'classifier.weight', 'classifier.bias' (2 of 8)"),
            std::string::npos)
      << msg;

  StateDict wrong = good;
  wrong[6].second = torch::zeros({100, 128});
  msg = load_error_of([&] { load_state_dict(*m, wrong); });
  EXPECT_NE(
      msg.find("size mismatch for 'classifier.weight' (checkpoint [100, 128], model [10, 128])"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("cannot load state dict into tinycnn"), std::string::npos) << msg;

  StateDict dup = good;
  dup.push_back(good[0]);
  EXPECT_NE(
      load_error_of([&] { load_state_dict(*m, dup); }).find("duplicate key(s) 'features.0.weight'"),
      std::string::npos);

  // A failed load changed nothing.
  EXPECT_TRUE(torch::equal(state_dict(*m)[0].second, original));

  // Non-strict: missing and unexpected keys are allowed, sizes are still checked.
  extra.erase(extra.begin());
  load_state_dict(*m, extra, /*strict=*/false);
  EXPECT_TRUE(torch::equal(state_dict(*m)[0].second, original));
  EXPECT_TRUE(torch::equal(state_dict(*m)[2].second, good[2].second));
  EXPECT_THROW(load_state_dict(*m, wrong, /*strict=*/false), tdml::Error);
}

TEST(StateDict, LoadTensorsRejectsBadFilesNamingThePath) {
  tdml::test::TempDir dir;
  std::ofstream(dir / "junk.pt") << "not a checkpoint";
  std::string msg = load_error_of([&] { load_tensors(dir / "junk.pt"); });
  EXPECT_NE(msg.find(dir / "junk.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a zip archive"), std::string::npos) << msg;
  EXPECT_NE(load_error_of([&] { load_tensors(dir / "absent.pt"); }).find("absent.pt"),
            std::string::npos);

  // A truncated file fails with an error, not a crash.
  save_tensors(dir / "ok.pt", {{"w", torch::ones({1000})}});
  std::string bytes;
  {
    std::ifstream in(dir / "ok.pt", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(dir / "cut.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(load_tensors(dir / "cut.pt"), tdml::Error);
}

// Found by fuzz/pickle_fuzz (fuzz/regressions/pickle/): a dict stored in itself leaked (a cycle
// of shared pointers), and a pickle nesting a million tuples overflowed the stack when freed.
TEST(StateDict, LoadTensorsRefusesCyclicAndDeeplyNestedPickles) {
  tdml::test::TempDir dir;
  // {}, memo 0, 'a', memo 0 again, SETITEM: the dict holds itself.
  const std::string cycle(
      "\x80\x02}q\x00X\x01\x00\x00\x00"
      "ah\x00s.",
      15);
  write_checkpoint_with_pickle(dir / "cycle.pt", cycle);
  std::string msg = load_error_of([&] { load_tensors(dir / "cycle.pt"); });
  EXPECT_NE(msg.find("a container filled after it was stored"), std::string::npos) << msg;

  write_checkpoint_with_pickle(dir / "deep.pt", "\x80\x02N" + std::string(1000000, '\x85') + ".");
  msg = load_error_of([&] { load_tensors(dir / "deep.pt"); });
  EXPECT_NE(msg.find("nested deeper than 100"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir / "deep.pt"), std::string::npos) << msg;
}

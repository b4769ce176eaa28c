// tdml checkpoints <-> PyTorch, checked by the real thing: /usr/bin/python3 with torch (and
// torchvision for resnet50) runs tests/models/python_interop.py. Skipped when not installed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "support/test_support.h"
#include "tdml/models/model.h"
#include "tdml/models/state_dict.h"

namespace {

const char* const kPython = "/usr/bin/python3";

bool python_can_import(const std::string& modules) {
  std::string cmd = std::string(kPython) + " -c 'import " + modules + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

std::string script_path() {
  return (std::filesystem::path(__FILE__).parent_path() / "python_interop.py").string();
}

class PythonInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(PythonInterop, CheckpointsLoadBothWays) {
  const std::string name = GetParam();
  const std::string needs = name == "resnet50" ? "torch, torchvision" : "torch";
  TDML_REQUIRE(python_can_import(needs), std::string(kPython) + " with " + needs);
  ASSERT_TRUE(std::filesystem::exists(script_path())) << script_path();
  tdml::test::TempDir dir;
  at::set_num_threads(1);

  // C++ -> Python: seeded init, a train-mode step of BatchNorm statistics, an eval output.
  const int64_t seed = 11;
  torch::manual_seed(seed);
  auto model = tdml::models::make_model(name);
  tdml::models::save_tensors(dir / "cpp_init.pt", tdml::models::state_dict(*model));
  torch::NoGradGuard no_grad;
  model->train();
  model->forward(torch::randn({4, 3, 32, 32}));
  model->eval();
  auto x = torch::randn({2, 3, 32, 32});
  auto y = model->forward(x);
  tdml::models::save_tensors(dir / "cpp.pt", tdml::models::state_dict(*model));
  tdml::models::save_tensors(dir / "cpp_io.pt",
                             {{"seed", torch::tensor(seed)}, {"input", x}, {"output", y}});

  std::string cmd =
      std::string(kPython) + " '" + script_path() + "' '" + dir.path() + "' " + name + " 2>&1";
  int status = std::system(cmd.c_str());
  ASSERT_EQ(status, 0) << "the Python check failed (its output is above): " << cmd;

  // Python -> C++: torch.save(model.state_dict()) (an OrderedDict) and a dict of tensors.
  auto sd = tdml::models::load_tensors(dir / "py.pt");
  auto io = tdml::models::load_tensors(dir / "py_io.pt");
  ASSERT_EQ(io.size(), 2u);
  ASSERT_EQ(io[0].first, "input");
  auto from_python = tdml::models::make_model(name);
  tdml::models::load_state_dict(*from_python, sd);
  from_python->eval();
  auto out = from_python->forward(io[0].second);
  double diff = (out - io[1].second).abs().max().item<double>();
  double scale = io[1].second.abs().max().item<double>();
  EXPECT_LE(diff, 1e-4 * std::max(1.0, scale)) << name;
  // The running statistics came across (Python ran one train-mode forward).
  for (const auto& [k, v] : sd) {
    if (k.find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(v.item<int64_t>(), 1) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PythonInterop,
                         ::testing::Values("tinycnn", "smallcifarcnn", "resnet50"));

}  // namespace

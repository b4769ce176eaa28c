// The federated global model's hash: the v2 model hash of the floating state-dict entries,
// computed from the flat vectors a round sends.
#include "tdml/fl/model_hash.h"

#include <gtest/gtest.h>

#include "tdml/fl/update.h"
#include "tdml/ledger/hash.h"
#include "tdml/models/model.h"
#include "tdml/models/state_dict.h"
#include "tdml/util/error.h"

namespace tdml::fl {
namespace {

TEST(GlobalModelHash, EqualsTheModelHashOfTheFloatingStateDictEntries) {
  torch::manual_seed(3);
  auto m = models::make_model("smallcifarcnn");  // BatchNorm: buffers and integer counters
  {
    torch::NoGradGuard g;
    for (auto& b : m->buffers()) {
      if (b.is_floating_point()) b.uniform_(0.5, 1.5);
    }
  }
  const auto params = FlatLayout::parameters(*m);
  const auto buffers = FlatLayout::float_buffers(*m);
  ASSERT_GT(buffers.numel(), 0);
  const GlobalModelHash hash(*m);
  const auto h = hash(params.flatten(), buffers.flatten());
  EXPECT_EQ(h, ledger::model_hash(ledger::floating_entries(models::state_dict(*m))));
  // An integer counter is not part of the federated model; any float value is.
  for (auto& b : m->buffers()) {
    if (!b.is_floating_point()) b.fill_(41);
  }
  EXPECT_EQ(hash(params.flatten(), buffers.flatten()), h);
  auto p = params.flatten();
  p[7] += 1e-3;
  EXPECT_NE(hash(p, buffers.flatten()), h);
  auto b = buffers.flatten();
  b[b.numel() - 1] += 1e-3;
  EXPECT_NE(hash(params.flatten(), b), h);
  // The parameters and buffers are not interchangeable vectors of the same total.
  EXPECT_THROW(hash(params.flatten().narrow(0, 1, params.numel() - 1), buffers.flatten()),
               tdml::Error);
  EXPECT_THROW(hash(buffers.flatten(), params.flatten()), tdml::Error);
}

}  // namespace
}  // namespace tdml::fl

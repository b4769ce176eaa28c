#include "tdml/data/source.h"

#include <cstdlib>

#include "tdml/data/cifar10.h"
#include "tdml/data/fetch.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"

namespace tdml::data {
namespace {

DataSplits from_dir(const std::string& dir) {
  DataSplits s;
  const std::string root = resolve_cifar10_dir(dir);
  s.train = load_cifar10(root, Split::kTrain);
  s.test = load_cifar10(root, Split::kTest);
  s.description = "CIFAR-10 from " + root;
  return s;
}

DataSplits synthetic(const SynthOptions& synth) {
  DataSplits s;
  s.train = make_synthetic(synth.train_size, Split::kTrain, synth);
  s.test = make_synthetic(synth.test_size, Split::kTest, synth);
  s.synthetic = true;
  s.description = "synthetic (seed " + std::to_string(synth.seed) + ", " +
                  std::to_string(synth.train_size) + " train / " + std::to_string(synth.test_size) +
                  " test)";
  return s;
}

}  // namespace

DataSplits load_data(const std::string& spec, const SynthOptions& synth) {
  if (spec == "synthetic") return synthetic(synth);
  if (spec != "auto") return from_dir(spec);
  if (const char* env = std::getenv("TDML_DATA"); env && *env) return from_dir(env);
  try {
    resolve_cifar10_dir("data");
    return from_dir("data");
  } catch (const Error&) {
  }
  try {
    FetchOptions f;
    f.dir = "data";
    return from_dir(fetch_cifar10(f));
  } catch (const Error& e) {
    // Never trains on synthetic data on its own: a run on made-up data must be asked for.
    throw Error(std::string("--data auto: no CIFAR-10 ($TDML_DATA unset, ./data empty) and the "
                            "download failed (") + e.what() +
                "); run 'tdml data fetch --dir DIR' where there is network and pass --data DIR, "
                "or pass --data synthetic to train on the synthetic set");
  }
}

}  // namespace tdml::data

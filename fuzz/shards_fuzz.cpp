// Fuzz target: the shard manifest (fl/shards.h). A shard folder of two clients and a server test
// split is written once with the real writer (write_shards); the input replaces its manifest.json,
// then the folder is loaded as every party loads it: load_all_shards (the simulation),
// load_client_shard (a client) and load_server_test (the server). The shard files themselves go
// through decode_cifar10_records, fuzzed by cifar10_fuzz.
//
// Properties: each load returns or throws tdml::Error; a full load returns one id per shard.
#include <cstdint>

#include "fuzz_support.h"
#include "tdml/data/synthetic.h"
#include "tdml/fl/shards.h"

namespace {

// The seed manifests in fuzz/corpus/shards/ list these files' sizes and hashes.
std::string make_shard_folder() {
  namespace data = tdml::data;
  const std::string dir = tdml::fuzz::scratch_dir() + "/shards";
  data::SynthOptions synth;
  synth.seed = 7;
  tdml::fl::SplitOptions opts;
  opts.partition.clients = 2;
  opts.partition.per_client = 2;
  opts.partition.seed = 3;
  tdml::fl::write_shards(data::make_synthetic(4, data::Split::kTrain, synth),
                         data::make_synthetic(2, data::Split::kTest, synth), "synthetic", dir,
                         opts);
  return dir;
}

}  // namespace

TDML_FUZZ_TARGET(shards) {
  static const std::string dir = make_shard_folder();
  tdml::fuzz::write_bytes(dir + "/manifest.json", data, size);
  tdml::fuzz::accepts([&] {
    const auto set = tdml::fl::load_all_shards(dir);
    FUZZ_CHECK(set.ids.size() == set.clients.size(), "one id per shard");
  });
  tdml::fuzz::accepts([&] { tdml::fl::load_client_shard(dir + "/client-0"); });
  tdml::fuzz::accepts([&] { tdml::fl::load_server_test(dir); });
  return 0;
}

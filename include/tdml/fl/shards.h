#pragma once
// A federation's data on disk, one folder per party (`tdml data split`), so that each client
// process reads only its own rows:
//   DIR/manifest.json              {"format":"tdml.shards.v1","source":..,"partition":"iid",
//                                   "alpha":..(dirichlet),"per_client":..,"seed":..,
//                                   "clients":[{"id":"client-0","dir":"client-0","samples":n,
//                                     "label_counts":[10 ints],"files":[{"name":..,"bytes":..,
//                                     "sha256":..}]},...],"server":{"dir":"server",..}}
//   DIR/client-K/data_batch_1.bin  client K's rows in partition order (CIFAR-10 record layout)
//   DIR/server/test_batch.bin      the whole test split
// The rows of client K are exactly train.subset(part[K]) for the partition `tdml fl` draws with
// the same options (partition_rows). The manifest's hashes catch damaged or edited files; they
// are not a defence against whoever may rewrite the manifest too.
// Every problem is a tdml::Error naming the file (and the record, for a bad label).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/data/dataset.h"
#include "tdml/fl/partition.h"

namespace tdml::fl {

inline constexpr const char kShardsFormat[] = "tdml.shards.v1";
inline constexpr const char kClientShardFile[] = "data_batch_1.bin";
inline constexpr const char kServerTestFile[] = "test_batch.bin";

struct SplitOptions {
  PartitionSpec partition;  // clients, iid | dirichlet, per_client, alpha, seed
  bool overwrite = false;   // write into a non-empty DIR (files of the same names are replaced)
};

// Partitions `train`, writes one folder per client, DIR/server (all of `test`) and, last,
// DIR/manifest.json; each file atomically. `source` is recorded as the data's origin. Refuses a
// non-empty DIR unless opts.overwrite. Returns the manifest as written.
nlohmann::json write_shards(const data::Dataset& train, const data::Dataset& test,
                            const std::string& source, const std::string& dir,
                            const SplitOptions& opts);

struct Shard {
  std::string id;         // the client folder's name ("client-3")
  data::Dataset data;     // uint8 [N,3,32,32] images, int64 labels
  std::string sha256;     // of data_batch_1.bin as read
  bool verified = false;  // ../manifest.json listed the file and its size and hash matched
};

// Reads SHARD_DIR/data_batch_1.bin (any number of records). When SHARD_DIR/../manifest.json
// exists and lists the file, a size or SHA-256 mismatch is an error naming the file.
Shard load_client_shard(const std::string& shard_dir);

// DIR/server/test_batch.bin, checked against DIR/manifest.json when it lists the file.
data::Dataset load_server_test(const std::string& shards_dir);

struct ShardSet {
  std::vector<std::string> ids;        // manifest order
  std::vector<data::Dataset> clients;  // manifest order
  data::Dataset test;
  nlohmann::json manifest;
};

// Every shard of DIR; needs DIR/manifest.json, and every file it names must be listed there and
// match (hash and sample count).
ShardSet load_all_shards(const std::string& shards_dir);

struct ConcatenatedShards {
  data::Dataset train;  // the shards one after another
  Partition part;       // part[k]: the consecutive rows of shard k in `train`
};

// For an in-process simulation on shards. Throws on an empty list.
ConcatenatedShards concat_shards(const std::vector<data::Dataset>& shards);

}  // namespace tdml::fl

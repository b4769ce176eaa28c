// `tdml data fetch|synth|info|bench|split`: CIFAR-10 download, synthetic data, summaries, speed,
// one shard folder per federation party.
#include <filesystem>
#include <iostream>

#include "command.h"
#include "tdml/data/bench.h"
#include "tdml/data/fetch.h"
#include "tdml/data/source.h"
#include "tdml/data/summary.h"
#include "tdml/data/synthetic.h"
#include "tdml/fl/shards.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {

int fetch(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Downloads cifar-10-binary.tar.gz, checks MD5, extracts it.");
  data::FetchOptions f;
  o.add_options()("dir", "Target folder", cxxopts::value(f.dir)->default_value(f.dir))(
      "url", "Archive URL", cxxopts::value(f.url)->default_value(f.url))(
      "md5", "Expected MD5 (empty: no check)", cxxopts::value(f.md5)->default_value(f.md5))(
      "size", "Expected bytes (0: no check)",
      cxxopts::value(f.size)->default_value(std::to_string(f.size)))(
      "download-timeout", "Seconds for the whole download",
      cxxopts::value(f.timeout_s)->default_value(std::to_string(f.timeout_s)));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  if (f.size < 0 || f.timeout_s <= 0) throw UsageError("--size must be >= 0, --download-timeout > 0");
  std::cout << data::fetch_cifar10(f) << "\n";
  return 0;
}

int synth(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Writes DIR/cifar-10-batches-bin/ with synthetic, learnable data.");
  data::SynthOptions s;
  std::string out;
  o.add_options()("out", "Target folder (required)", cxxopts::value(out))(
      "train", "Train records", cxxopts::value(s.train_size)->default_value("5000"))(
      "test", "Test records", cxxopts::value(s.test_size)->default_value("1000"))(
      "seed", "Seed (same seed, same bytes)", cxxopts::value(s.seed)->default_value("0"))(
      "noise", "0 = trivially separable .. 1 = mostly noise",
      cxxopts::value(s.noise)->default_value("0.35"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  if (out.empty()) throw UsageError("--out DIR is required (see 'tdml data synth --help')");
  if (s.train_size < 5 || s.test_size < 1) throw UsageError("--train must be >= 5, --test >= 1");
  if (s.noise < 0 || s.noise > 1) throw UsageError("--noise must be in [0,1]");
  std::cout << data::write_synthetic_cifar10(out, s) << "\n";
  return 0;
}

// One line per client: samples, label counts, the start of the file's hash.
void print_client_lines(const nlohmann::json& manifest) {
  for (const auto& c : manifest["clients"]) {
    std::cout << c["id"].get<std::string>() << ": " << c["samples"] << " samples, labels";
    for (const auto& n : c["label_counts"]) std::cout << " " << n;
    std::cout << ", sha256 " << c["files"][0]["sha256"].get<std::string>().substr(0, 16) << "\n";
  }
}

// `data info` on a `data split` folder: every file checked against the manifest.
void shard_info(const std::string& dir) {
  const fl::ShardSet set = fl::load_all_shards(dir);
  const auto& m = set.manifest;
  data::DataSplits s;
  s.train = fl::concat_shards(set.clients).train;
  s.test = set.test;
  s.description = "shards " + dir + " (" + std::to_string(set.clients.size()) + " clients, " +
                  m.value("partition", "?") + " partition, seed " + m["seed"].dump() + ", from " +
                  m.value("source", "?") + ")";
  std::cout << data::format_summary(s);
  print_client_lines(m);
}

int info(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Prints records per split and per class (of a data set or of a "
                              "'tdml data split' folder).");
  std::string spec;
  o.add_options()("data", "CIFAR-10 folder, 'synthetic', 'auto' or a 'data split' folder",
                  cxxopts::value(spec)->default_value("data"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(spec) / "manifest.json", ec)) {
    shard_info(spec);
    return 0;
  }
  std::cout << data::format_summary(data::load_data(spec));
  return 0;
}

int data_split(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Writes one folder per FL client (its rows of the train split, "
                              "partitioned as 'tdml fl' does), server/ (the test split) and "
                              "manifest.json with sizes, label counts and SHA-256.");
  std::string spec, out;
  fl::SplitOptions s;
  auto& p = s.partition;
  o.add_options()("data", "CIFAR-10 folder, 'synthetic' or 'auto'",
                  cxxopts::value(spec)->default_value("auto"))(
      "clients", "Clients", cxxopts::value(p.clients)->default_value("6"))(
      "partition", "iid | dirichlet", cxxopts::value(p.kind)->default_value("iid"))(
      "alpha", "dirichlet concentration (label skew)", cxxopts::value(p.alpha)->default_value("0.5"))(
      "per-client", "iid samples per client (0 = train size / clients)",
      cxxopts::value(p.per_client)->default_value("6000"))(
      "seed", "Partition seed (as tdml fl --seed)", cxxopts::value(p.seed)->default_value("0"))(
      "out", "Target folder (required; empty unless --force)", cxxopts::value(out))(
      "force", "Write into a non-empty --out");
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  s.overwrite = r.count("force") > 0;
  if (out.empty()) throw UsageError("--out DIR is required (see 'tdml data split --help')");
  if (p.clients < 1 || p.per_client < 0) throw UsageError("--clients must be >= 1, --per-client >= 0");
  if (p.kind != "iid" && p.kind != "dirichlet") throw UsageError("--partition must be iid or dirichlet");
  if (!(p.alpha > 0)) throw UsageError("--alpha must be > 0");
  const data::DataSplits d = data::load_data(spec);
  const nlohmann::json m = fl::write_shards(d.train, d.test, d.description, out, s);
  print_client_lines(m);
  std::cout << "wrote " << m["clients"].size() << " client shards and server/ ("
            << m["server"]["samples"] << " test samples) to " << out << " (manifest: " << out
            << "/manifest.json)" << std::endl;
  return 0;
}

int data_bench(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Times the training input pipeline on the train split.");
  std::string spec;
  data::PipelineBenchOptions b;
  int threads = 0;
  o.add_options()("data", "CIFAR-10 folder or 'synthetic'",
                  cxxopts::value(spec)->default_value("data"))(
      "batch-size", "Images per batch", cxxopts::value(b.batch_size)->default_value("128"))(
      "workers", "Loader threads (0 = in the training thread)", cxxopts::value(b.workers)->default_value("2"))(
      "epochs", "Passes over the train split", cxxopts::value(b.epochs)->default_value("1"))(
      "threads", "Intra-op threads (0: leave LibTorch's default)",
      cxxopts::value(threads)->default_value("0"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  if (b.batch_size <= 0 || b.workers < 0 || b.epochs < 1) {
    throw UsageError("--batch-size and --epochs must be >= 1, --workers >= 0");
  }
  if (threads > 0) at::set_num_threads(threads);
  data::DataSplits d = data::load_data(spec);
  data::PipelineBenchResult res = data::bench_pipeline(d.train, b);
  std::printf("tdml pipeline: %lld images in %.3f s = %.0f img/s (batch %lld, workers %d)\n",
              static_cast<long long>(res.images), res.seconds, res.images_per_s(),
              static_cast<long long>(b.batch_size), b.workers);
  return 0;
}

const Registration fetch_reg("data fetch", "Download CIFAR-10 (MD5-checked) into --dir", fetch);
const Registration synth_reg("data synth", "Write a synthetic CIFAR-10-shaped set (same seed, same bytes)",
                             synth);
const Registration data_info_reg("data info",
                                 "Summarise a data set (sizes, label counts, pixel stats)", info);
const Registration data_split_reg("data split",
                                  "One folder per FL client (its partition of the train split) + server/",
                                  data_split);
const Registration data_bench_reg("data bench", "Input pipeline speed (loader, augmentation)", data_bench);

}  // namespace
}  // namespace tdml::app

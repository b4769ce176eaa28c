// `tdml data fetch|synth|info|bench`: CIFAR-10 download, synthetic data, summaries, speed.
#include <iostream>

#include "command.h"
#include "tdml/data/bench.h"
#include "tdml/data/fetch.h"
#include "tdml/data/source.h"
#include "tdml/data/summary.h"
#include "tdml/data/synthetic.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {

const char* const kUsage =
    "Usage: tdml data <fetch|synth|info|bench> [options]   (tdml data <sub> --help)\n"
    "  fetch   download + verify + extract CIFAR-10 (binary version)\n"
    "  synth   write a deterministic synthetic CIFAR-shaped set\n"
    "  info    records per split and per class\n"
    "  bench   input pipeline throughput (batch + crop + flip + normalise)\n";

int fetch(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Downloads cifar-10-binary.tar.gz, checks MD5, extracts it.");
  data::FetchOptions f;
  o.add_options()("dir", "Target folder", cxxopts::value(f.dir)->default_value(f.dir))(
      "url", "Archive URL", cxxopts::value(f.url)->default_value(f.url))(
      "md5", "Expected MD5 (empty: no check)", cxxopts::value(f.md5)->default_value(f.md5))(
      "size", "Expected bytes (0: no check)",
      cxxopts::value(f.size)->default_value(std::to_string(f.size)))(
      "timeout", "Seconds for the whole download",
      cxxopts::value(f.timeout_s)->default_value(std::to_string(f.timeout_s)));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  if (f.size < 0 || f.timeout_s <= 0) throw UsageError("--size must be >= 0, --timeout > 0");
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
      "seed", "Seed (same seed, same bytes)", cxxopts::value(s.seed)->default_value("1234"))(
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

int info(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Prints records per split and per class.");
  std::string spec;
  o.add_options()("data", "CIFAR-10 folder, 'synthetic' or 'auto'",
                  cxxopts::value(spec)->default_value("data"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  std::cout << data::format_summary(data::load_data(spec));
  return 0;
}

int bench(int argc, char** argv) {
  cxxopts::Options o(argv[0], "Times the training input pipeline on the train split.");
  std::string spec;
  data::PipelineBenchOptions b;
  int threads = 0;
  o.add_options()("data", "CIFAR-10 folder or 'synthetic'",
                  cxxopts::value(spec)->default_value("data"))(
      "batch-size", "Images per batch", cxxopts::value(b.batch_size)->default_value("128"))(
      "workers", "Loader threads", cxxopts::value(b.workers)->default_value("2"))(
      "epochs", "Passes over the train split", cxxopts::value(b.epochs)->default_value("1"))(
      "threads", "Intra-op threads (0: leave LibTorch's default)",
      cxxopts::value(threads)->default_value("0"));
  cxxopts::ParseResult r;
  if (!parse(o, argc, argv, r)) return 0;
  if (b.batch_size <= 0 || b.workers < 1 || b.epochs < 1) {
    throw UsageError("--batch-size, --workers and --epochs must be >= 1");
  }
  if (threads > 0) at::set_num_threads(threads);
  data::DataSplits d = data::load_data(spec);
  data::PipelineBenchResult res = data::bench_pipeline(d.train, b);
  std::printf("tdml pipeline: %lld images in %.3f s = %.0f img/s (batch %lld, workers %d)\n",
              static_cast<long long>(res.images), res.seconds, res.images_per_s(),
              static_cast<long long>(b.batch_size), b.workers);
  return 0;
}

int run(int argc, char** argv) {
  const std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "-h" || sub == "--help") {
    std::cout << kUsage;
    return 0;
  }
  int (*fn)(int, char**) = sub == "fetch"   ? fetch
                           : sub == "synth" ? synth
                           : sub == "info"  ? info
                           : sub == "bench" ? bench
                                            : nullptr;
  if (!fn) {
    throw UsageError(sub.empty() ? "missing subcommand: tdml data fetch|synth|info|bench"
                                 : "unknown subcommand 'data " + sub +
                                       "' (expected fetch, synth, info or bench)");
  }
  std::string prog = "tdml data " + sub;
  argv[1] = prog.data();
  return fn(argc - 1, argv + 1);
}

Registration reg("data", "CIFAR-10: fetch, synth, info, bench", run);

}  // namespace
}  // namespace tdml::app

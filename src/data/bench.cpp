#include "tdml/data/bench.h"

#include "tdml/data/loader.h"
#include "tdml/util/log.h"
#include "util/timer.h"

namespace tdml::data {

PipelineBenchResult bench_pipeline(const Dataset& data, const PipelineBenchOptions& opts) {
  LoaderOptions lo;
  lo.batch_size = opts.batch_size;
  lo.augment = true;
  lo.shuffle = true;
  lo.seed = opts.seed;
  lo.workers = opts.workers;
  lo.prefetch = opts.prefetch;
  Loader loader(data, lo);
  PipelineBenchResult r;
  double checksum = 0;
  int warm = opts.warmup_batches;
  util::Stopwatch sw;
  for (int e = 0; e < opts.epochs; ++e) {
    loader.start_epoch(e);
    while (auto b = loader.next()) {
      checksum += b->images[0][0][0][0].item<float>();
      if (warm > 0 && --warm == 0) {
        sw.reset();
        continue;
      }
      if (warm == 0) r.images += b->images.size(0);
    }
  }
  r.seconds = sw.seconds();
  spdlog::debug("pipeline bench checksum {}", checksum);
  return r;
}

}  // namespace tdml::data

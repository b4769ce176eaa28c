#pragma once
// The batch loader: shuffles per epoch from a seeded generator, shards by (rank, world) with
// torch.utils.data.DistributedSampler semantics, augments whole batches, and prepares the next
// batch on a background thread while the current one trains.
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "tdml/data/dataset.h"

namespace tdml::data {

struct LoaderOptions {
  std::int64_t batch_size = 128;  // per rank
  bool shuffle = true;            // reshuffle every epoch (seed + epoch)
  bool drop_last = false;         // drop the last incomplete batch
  bool augment = false;           // random crop (padding 4) + horizontal flip
  std::uint64_t seed = 0;         // shuffle and augmentation derive from (seed, epoch)
  int rank = 0;                   // this rank's shard ...
  int world = 1;                  // ... of `world` (pad to equal length, as DistributedSampler)
  int prefetch = 2;               // batches prepared ahead; 0 = prepare in the caller's thread
  int workers = 1;                // threads preparing batches; 0 = in the training thread
                                  // (as with prefetch 0: nothing is prepared ahead)
  torch::Device device = torch::kCPU;  // batches are moved here (pinned + non_blocking on CUDA)
  bool channels_last = false;          // return images in channels-last memory format
  std::int64_t limit_batches = 0;      // stop each epoch after this many batches (0 = all)
  bool labels_only = false;  // batches carry labels and rows, no images (pipeline stages > 0)
};

struct Batch {
  torch::Tensor images;  // float [B,3,32,32], normalised, on the device (undefined: labels_only)
  torch::Tensor labels;  // int64 [B], on the device
  torch::Tensor index;   // int64 [B], rows of the data set (CPU)
};

// Which rows rank `rank` of `world` sees in `epoch`: DistributedSampler semantics.
// Without drop_last the permutation is padded by repeating its head to a multiple of world;
// with drop_last the tail is cut. Returned order is the order batches are formed in.
torch::Tensor shard_indices(std::int64_t n, const LoaderOptions& opts, int epoch);

class Loader {
 public:
  // `data` must outlive the loader.
  Loader(const Dataset& data, LoaderOptions opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts an epoch (stops any background work of the previous one) at its batch
  // `first_batch` (a run resumed inside the epoch): the batches then are those an uninterrupted
  // epoch hands out from there, byte for byte.
  void start_epoch(int epoch, std::int64_t first_batch = 0);
  // Next batch of the current epoch, or nullopt at its end.
  std::optional<Batch> next();
  // Batches per epoch for this rank (after limit_batches).
  std::int64_t num_batches() const;
  // Samples per epoch for this rank (after limit_batches).
  std::int64_t num_samples() const;
  // Seconds the caller spent blocked in next() waiting for data this epoch.
  double wait_seconds() const { return wait_seconds_; }
  const LoaderOptions& options() const { return opts_; }

 private:
  Batch make_batch(std::int64_t b) const;
  void stop_workers();

  const Dataset& data_;
  LoaderOptions opts_;
  int epoch_ = 0;
  torch::Tensor order_;          // this epoch's indices for this rank
  std::int64_t next_batch_ = 0;  // next batch index handed to the caller
  double wait_seconds_ = 0;

  // Background preparation: workers claim batch numbers and store them by number.
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::int64_t claimed_ = 0;
  std::map<std::int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace tdml::data

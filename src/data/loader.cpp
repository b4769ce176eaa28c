#include "tdml/data/loader.h"

#include "tdml/data/transforms.h"
#include "tdml/util/error.h"
#include "util/timer.h"

namespace tdml::data {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The augmentation stream of one batch: a function of (seed, epoch, rank, batch) only, so the
// bytes of a batch never depend on which worker thread made it, or how many there are.
at::Generator batch_generator(const LoaderOptions& o, int epoch, std::int64_t batch) {
  std::uint64_t h = splitmix64(o.seed ^ 0x6175676dULL);
  h = splitmix64(h ^ static_cast<std::uint64_t>(epoch));
  h = splitmix64(h ^ static_cast<std::uint64_t>(o.rank));
  h = splitmix64(h ^ static_cast<std::uint64_t>(batch));
  return at::make_generator<at::CPUGeneratorImpl>(h);
}

void check_options(const LoaderOptions& o) {
  TDML_CHECK(o.batch_size > 0, "loader: batch size must be > 0, got " << o.batch_size);
  TDML_CHECK(o.world >= 1 && o.rank >= 0 && o.rank < o.world,
             "loader: rank " << o.rank << " is outside world " << o.world);
  TDML_CHECK(o.prefetch >= 0 && o.workers >= 0, "loader: prefetch and workers must be >= 0");
  TDML_CHECK(o.limit_batches >= 0, "loader: limit_batches must be >= 0");
  TDML_CHECK(!o.device.is_cuda() || torch::cuda::is_available(),
             "loader: device " << o.device << " requested but CUDA is not available");
}

// labels[index] as a plain loop (int64 [B]), page-locked for CUDA.
torch::Tensor gather_labels(const torch::Tensor& labels, const torch::Tensor& index, bool pinned) {
  const torch::Tensor l = labels.contiguous();
  const std::int64_t n = l.size(0), b = index.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pinned);
  torch::Tensor out = torch::empty({b}, opts);
  const std::int64_t* rows = index.data_ptr<std::int64_t>();
  const std::int64_t* src = l.data_ptr<std::int64_t>();
  std::int64_t* dst = out.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < b; ++i) {
    TDML_CHECK(rows[i] >= 0 && rows[i] < n, "loader: row " << rows[i] << " outside the data set");
    dst[i] = src[rows[i]];
  }
  return out;
}

// Channels-last after normalising: converting the float NCHW result is much cheaper than
// normalising a channels-last uint8 tensor (a slow broadcast in LibTorch's CPU kernels).
torch::Tensor to_layout(torch::Tensor images, bool channels_last) {
  return channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
}

}  // namespace

torch::Tensor shard_indices(std::int64_t n, const LoaderOptions& opts, int epoch) {
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  if (n == 0) return torch::empty({0}, i64);
  torch::Tensor perm;
  if (opts.shuffle) {
    // As DistributedSampler: a generator seeded with seed + epoch, one randperm.
    auto gen =
        at::make_generator<at::CPUGeneratorImpl>(opts.seed + static_cast<std::uint64_t>(epoch));
    perm = torch::randperm(n, gen, i64);
  } else {
    perm = torch::arange(n, i64);
  }
  const std::int64_t w = opts.world;
  std::int64_t per_rank;
  if (opts.drop_last && n % w != 0) {
    per_rank = (n - w + w - 1) / w;  // ceil((n - w) / w): drop the tail
  } else {
    per_rank = (n + w - 1) / w;
  }
  const std::int64_t total = per_rank * w;
  if (total > n) {
    // Pad by repeating the head of the permutation (as often as needed).
    std::vector<torch::Tensor> parts{perm};
    std::int64_t have = n;
    while (have < total) {
      std::int64_t take = std::min(n, total - have);
      parts.push_back(perm.narrow(0, 0, take));
      have += take;
    }
    perm = torch::cat(parts);
  } else {
    perm = perm.narrow(0, 0, total);
  }
  return perm.slice(0, opts.rank, total, w).contiguous();
}

Loader::Loader(const Dataset& data, LoaderOptions opts) : data_(data), opts_(std::move(opts)) {
  check_options(opts_);
  TDML_CHECK(data_.images.defined() && data_.images.scalar_type() == torch::kUInt8 &&
                 data_.images.dim() == 4,
             "loader: data set images must be uint8 [N,C,H,W]");
  start_epoch(0);
}

Loader::~Loader() { stop_workers(); }

std::int64_t Loader::num_batches() const {
  const std::int64_t n = order_.size(0), b = opts_.batch_size;
  std::int64_t nb = opts_.drop_last ? n / b : (n + b - 1) / b;
  if (opts_.limit_batches > 0) nb = std::min(nb, opts_.limit_batches);
  return nb;
}

std::int64_t Loader::num_samples() const {
  return std::min(order_.size(0), num_batches() * opts_.batch_size);
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void Loader::start_epoch(int epoch, std::int64_t first_batch) {
  stop_workers();
  epoch_ = epoch;
  order_ = shard_indices(data_.size(), opts_, epoch);
  TDML_CHECK(first_batch >= 0 && first_batch <= num_batches(),
             "loader: batch " << first_batch << " is outside epoch " << epoch << " ("
                              << num_batches() << " batches)");
  next_batch_ = first_batch;
  claimed_ = first_batch;
  ready_.clear();
  error_ = nullptr;
  stop_ = false;
  wait_seconds_ = 0;
  if (opts_.prefetch == 0 || opts_.workers == 0) return;
  const std::int64_t total = num_batches();
  for (int i = 0; i < opts_.workers; ++i) {
    workers_.emplace_back([this, total] {
      for (;;) {
        std::int64_t b;
        {
          std::unique_lock<std::mutex> lock(mu_);
          // Claim the next batch number once it is within `prefetch` of the consumer.
          cv_.wait(lock, [&] {
            return stop_ || error_ || claimed_ >= total || claimed_ < next_batch_ + opts_.prefetch;
          });
          if (stop_ || error_ || claimed_ >= total) return;
          b = claimed_++;
        }
        try {
          Batch batch = make_batch(b);
          std::lock_guard<std::mutex> lock(mu_);
          ready_.emplace(b, std::move(batch));
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu_);
          if (!error_) error_ = std::current_exception();
        }
        cv_.notify_all();
      }
    });
  }
}

// Runs on the worker threads: only plain loops and allocations here, no ATen op that could
// start an OpenMP team of its own (see transforms.h).
Batch Loader::make_batch(std::int64_t b) const {
  const std::int64_t start = b * opts_.batch_size;
  const std::int64_t len = std::min(opts_.batch_size, order_.size(0) - start);
  const bool cuda = opts_.device.is_cuda();
  Batch out;
  out.index = order_.narrow(0, start, len);
  out.labels = gather_labels(data_.labels, out.index, cuda);
  if (opts_.labels_only) return out;
  std::optional<CropFlip> aug;
  if (opts_.augment) {
    at::Generator gen = batch_generator(opts_, epoch_, b);
    aug = draw_crop_flip(len, 4, /*flip=*/true, gen);
  }
  GatherOptions g;
  // On CUDA the 4x smaller uint8 batch is copied asynchronously and normalised there (next()).
  g.normalize = !cuda;
  g.channels_last = !cuda && opts_.channels_last;
  g.pinned = cuda;
  out.images = gather_images(data_.images, out.index, aug, g);
  return out;
}

std::optional<Batch> Loader::next() {
  if (next_batch_ >= num_batches()) return std::nullopt;
  Batch batch;
  if (opts_.prefetch == 0 || opts_.workers == 0) {
    util::Stopwatch sw;
    batch = make_batch(next_batch_++);
    wait_seconds_ += sw.seconds();
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    util::Stopwatch sw;
    cv_.wait(lock, [&] { return error_ || ready_.count(next_batch_) > 0; });
    wait_seconds_ += sw.seconds();
    auto it = ready_.find(next_batch_);
    if (it == ready_.end()) std::rethrow_exception(error_);
    batch = std::move(it->second);
    ready_.erase(it);
    ++next_batch_;
    lock.unlock();
    cv_.notify_all();
  }
  if (opts_.device.is_cuda()) {
    if (batch.images.defined()) {
      batch.images = to_layout(normalize(batch.images.to(opts_.device, /*non_blocking=*/true)),
                               opts_.channels_last);
    }
    batch.labels = batch.labels.to(opts_.device, /*non_blocking=*/true);
  }
  return batch;
}

}  // namespace tdml::data

#include "train_ddp.h"

#include "dist_options.h"
#include "tdml/dist/ddp_train.h"
#include "tdml/dist/rank.h"
#include "train_options.h"

namespace tdml::app {

void add_train_ddp_options(cxxopts::Options& opts) {
  dist::DdpOptions d;
  opts.add_options("Data parallel (--mode ddp)")(
      "bucket-cap-mb", "Gradient bucket size in MiB",
      cxxopts::value<double>()->default_value(std::to_string(d.bucket_cap_mb)))(
      "first-bucket-mb", "Size of the first bucket in MiB",
      cxxopts::value<double>()->default_value(std::to_string(d.first_bucket_mb)))(
      "broadcast-buffers", "Broadcast rank 0's BatchNorm buffers before each forward",
      cxxopts::value<bool>()->default_value("true"));
}

int run_train_ddp(const cxxopts::ParseResult& r) {
  auto opts = train_options_from(r);
  train::validate(opts);  // fail once, in the launcher, for bad flags
  auto observers = train_observers_from(r);
  dist::DdpOptions ddp;
  ddp.bucket_cap_mb = r["bucket-cap-mb"].as<double>();
  ddp.first_bucket_mb = r["first-bucket-mb"].as<double>();
  ddp.broadcast_buffers = r["broadcast-buffers"].as<bool>();
  return dist::launch_or_join(launch_options_from(r), dist_options_from(r),
                              {opts.threads, opts.device}, [&](dist::Rank& rank) {
                                dist::run_ddp_training(opts, rank, ddp, observers);
                              });
}

}  // namespace tdml::app

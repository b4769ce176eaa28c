#include "train_ddp.h"

#include "dist_options.h"
#include "tdml/dist/ddp_train.h"
#include "train_options.h"

namespace tdml::app {

void add_train_ddp_options(cxxopts::Options& opts) {
  add_dist_options(opts);
  dist::DdpOptions d;
  opts.add_options("Distributed")(
      "bucket-cap-mb", "ddp: gradient bucket size in MiB",
      cxxopts::value<double>()->default_value(std::to_string(d.bucket_cap_mb)))(
      "first-bucket-mb", "ddp: size of the first bucket in MiB",
      cxxopts::value<double>()->default_value(std::to_string(d.first_bucket_mb)))(
      "broadcast-buffers", "ddp: broadcast rank 0's BatchNorm buffers before each forward",
      cxxopts::value<bool>()->default_value("true"));
}

int run_train_ddp(const cxxopts::ParseResult& r) {
  auto opts = train_options_from(r);
  if (!dist::is_worker_process()) {
    train::validate(opts);  // fail once, in the launcher, for bad flags
    return dist::launch_workers(launch_options_from(r));
  }
  dist::DdpTrainOptions d;
  d.dist = dist_options_from(r);
  d.ddp.bucket_cap_mb = r["bucket-cap-mb"].as<double>();
  d.ddp.first_bucket_mb = r["first-bucket-mb"].as<double>();
  d.ddp.broadcast_buffers = r["broadcast-buffers"].as<bool>();
  dist::run_ddp_training(opts, d);
  return 0;
}

}  // namespace tdml::app

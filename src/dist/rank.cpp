#include "tdml/dist/rank.h"

#include "tdml/dist/cpu_binding.h"
#include "tdml/util/device.h"
#include "tdml/util/log.h"

namespace tdml::dist {

std::string rank_device(const std::string& requested, BackendKind kind, int local_rank) {
  if (requested == "auto") {
    return kind == BackendKind::kNccl ? "cuda:" + std::to_string(local_rank) : "cpu";
  }
  if (requested == "cuda") return "cuda:" + std::to_string(local_rank);
  return requested;
}

void report_failure_to_torchrun(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    write_elastic_error_file(e.what());
    throw;
  }
}

Rank join_job(const DistOptions& options, const RankRequest& request) {
  Rank r;
  report_failure_to_torchrun([&] {
    r.options = options;
    r.comm = init_process_group(options);
    const auto placement = place_rank(*r.comm, options.cpu_bind, options.local_rank,
                                      options.local_world, request.threads);
    r.threads = util::set_threads(placement.threads);
    r.cpu_bind = placement.record;
    r.device = rank_device(request.device, r.comm->kind(), options.local_rank);
    spdlog::info("rank {} of {} ({} backend): {} thread(s) on {}, {}", r.comm->rank(),
                 r.comm->world(), backend_name(r.comm->kind()), r.threads, r.device,
                 placement.description);
  });
  return r;
}

int launch_or_join(const LaunchOptions& launch, const DistOptions& options,
                   const RankRequest& request, const std::function<void(Rank&)>& body) {
  if (!is_worker_process()) return launch_workers(launch);
  auto rank = join_job(options, request);
  report_failure_to_torchrun([&] { body(rank); });
  return 0;
}

}  // namespace tdml::dist

#include "tdml/util/parallel.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace tdml::util {

void parallel_ranges(std::int64_t n, int threads, std::int64_t grain,
                     const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  const std::int64_t parts =
      std::max<std::int64_t>(1, std::min<std::int64_t>(threads, n / std::max<std::int64_t>(grain, 1)));
  if (parts == 1) {
    fn(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex mu;
  auto run = [&](std::int64_t p) {
    try {
      fn(n * p / parts, n * (p + 1) / parts);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (std::int64_t p = 1; p < parts; ++p) pool.emplace_back(run, p);
  run(0);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace tdml::util

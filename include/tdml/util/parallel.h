#pragma once
// Running a loop on several threads. tdml is compiled without OpenMP, and
// at::parallel_for's OpenMP loop is an inline template that needs -fopenmp where it is
// instantiated: in tdml's own code it runs on the calling thread alone. These run on std::threads.
#include <cstdint>
#include <functional>

namespace tdml::util {

// Calls fn(first, last) on contiguous ranges that cover [0, n), on up to `threads` threads
// (the calling thread is one of them), each range at least `grain` long; inline when one range
// would do. The ranges depend on n, threads and grain only. An exception thrown by fn is
// rethrown here (the first, once every range has ended).
void parallel_ranges(std::int64_t n, int threads, std::int64_t grain,
                     const std::function<void(std::int64_t, std::int64_t)>& fn);

}  // namespace tdml::util

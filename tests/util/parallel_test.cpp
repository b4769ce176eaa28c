#include "tdml/util/parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace {

// The ranges cover [0, n) once each, in order, on as many threads as asked.
TEST(ParallelRanges, CoverEveryIndexOnceOnSeveralThreads) {
  std::mutex mu;
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  std::set<std::thread::id> threads;
  tdml::util::parallel_ranges(1000, 3, 10, [&](std::int64_t first, std::int64_t last) {
    std::lock_guard<std::mutex> lock(mu);
    ranges.emplace_back(first, last);
    threads.insert(std::this_thread::get_id());
  });
  std::sort(ranges.begin(), ranges.end());
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges.front().first, 0);
  for (std::size_t i = 1; i < ranges.size(); ++i) EXPECT_EQ(ranges[i].first, ranges[i - 1].second);
  EXPECT_EQ(ranges.back().second, 1000);
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 1u);  // the caller is one of them
}

TEST(ParallelRanges, SmallWorkRunsInlineAndErrorsReachTheCaller) {
  int calls = 0;
  tdml::util::parallel_ranges(15, 4, 16, [&](std::int64_t first, std::int64_t last) {
    EXPECT_EQ(first, 0);
    EXPECT_EQ(last, 15);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  tdml::util::parallel_ranges(0, 4, 1, [&](std::int64_t, std::int64_t) { ++calls; });
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(tdml::util::parallel_ranges(100, 2, 1,
                                           [](std::int64_t first, std::int64_t) {
                                             if (first > 0) throw std::runtime_error("range 2");
                                           }),
               std::runtime_error);
}

}  // namespace

#pragma once
// Deterministic seeds for federated simulation: every random draw of a round (a client's
// Gaussian noise, its poisoned rows, a partition) gets its own seed derived from the run seed
// and small integers, so results do not depend on the order clients are simulated in.
#include <cstdint>

namespace tdml::fl {

// SplitMix64 finaliser: a bijective mix of 64 bits.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Seed for (base, a, b, c): e.g. derive_seed(run_seed, round, client, kSaltGaussian).
inline std::uint64_t derive_seed(std::uint64_t base, std::uint64_t a, std::uint64_t b = 0,
                                 std::uint64_t c = 0) {
  return mix64(mix64(mix64(mix64(base) ^ a) ^ b) ^ c);
}

}  // namespace tdml::fl

#pragma once
// TDML_AVX2_CLONES before a kernel: a clone for CPUs with AVX2, chosen at load time (GCC's
// function multiversioning), and the portable build's SSE2 clone elsewhere. The clone is picked by
// the CPU's features ("avx2"), not its model: an "arch=haswell" clone was never picked on AMD
// CPUs. Both clones do the same float operations in the same order (ISO C++ mode: no FMA
// contraction). Not under the sanitizers, whose runtimes and ifunc resolvers do not mix
// everywhere. Used by the pairwise distances and the column sorting network.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define TDML_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TDML_AVX2_CLONES
#endif

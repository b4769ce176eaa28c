#pragma once
// How this process's heap serves tensor memory on the CPU.
//
// glibc serves a large allocation with a fresh mmap and unmaps it on free (blocks above a
// threshold that grows to at most 32 MiB). A training step allocates the same activation sizes
// every step, so each of those tensors costs, every time, one page fault and a kernel zeroing
// per 4 KiB page: TinyCNN's first activation at batch 128 is 33.5 MB, and on the 2-core
// machine this was a third of its epoch time. keep_freed_memory() turns both mmap and heap
// trimming off, so freed blocks are reused; the resident size then stays at its high-water
// mark, as with PyTorch's caching CUDA allocator.
#include <string>

namespace tdml::util {

// Called by `tdml` at start-up (TDML_MALLOC=keep-freed, the default). Does nothing where the
// user set TDML_MALLOC=system or glibc's own MALLOC_MMAP_MAX_ / MALLOC_TRIM_THRESHOLD_, or
// where the C library is not glibc.
// Returns what is in force: "keep-freed" or "system (...why...)".
std::string keep_freed_memory();

// For a long-running service (`fl server`), after keep_freed_memory(): blocks of 1 MiB and more
// get their own mapping, returned on free; the heap is trimmed once 4 MiB lie free at its top;
// all threads share one heap (arena). The resident size then follows what is in use. Under
// keep-freed, a federation server with 50 reconnecting clients grew by 5 to 130 MiB a round
// (1.0 to 1.7 GiB over 20 rounds): every thread's arena kept its own high-water mark and big
// blocks no longer fit between the small ones (scripts/bench/federation.sh churn, docs/
// federation.md). Leaves glibc's own settings alone where the user chose them (TDML_MALLOC=system,
// MALLOC_* in the environment). Returns what is in force, as keep_freed_memory() does.
std::string return_freed_memory();

// What keep_freed_memory() or return_freed_memory() put in force ("system" until it is called), for run records.
const std::string& allocator_mode();

// Hands free heap memory back to the system, so that the resident size measures what is in use
// (the batch-size search calls it before each probe).
void release_free_memory();

}  // namespace tdml::util

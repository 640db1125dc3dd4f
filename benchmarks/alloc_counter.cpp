// Counts the heap allocations a benchmark program makes through operator new, so the
// benchmarks can report allocations per request. Linked into the benchmark programs only.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace bench {

namespace {
std::atomic<std::uint64_t> allocations{0};

void* counted_alloc(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  if (void* p = std::malloc(n)) return p;
  throw std::bad_alloc();
}

void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(al);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
}  // namespace

std::uint64_t allocation_count() noexcept { return allocations.load(std::memory_order_relaxed); }

}  // namespace bench

void* operator new(std::size_t n) { return bench::counted_alloc(n); }
void* operator new[](std::size_t n) { return bench::counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t al) { return bench::counted_aligned_alloc(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return bench::counted_aligned_alloc(n, al); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return bench::counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

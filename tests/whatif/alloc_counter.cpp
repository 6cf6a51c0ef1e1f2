// Replaces the global operator new/delete of the test binary that links it, to count heap
// allocations (whatif_compiled_differential_test: the compiled evaluation must not allocate).
// A separate translation unit, so GCC does not inline these into callers (its
// -Wmismatched-new-delete then misreads malloc/free pairs).
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> count{0};
}  // namespace

std::size_t allocations_so_far() { return count.load(std::memory_order_relaxed); }

void* operator new(std::size_t n) {
    count.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

// ThreadSanitizer suppressions built into the unit tests (only a TSan build consults them).
//
// Asio counts references with fetch_sub(release) followed by atomic_thread_fence(acquire)
// (boost/asio/detail/atomic_count.hpp), and TSan does not model fences (GCC says so with
// -Wtsan). An any_io_executor holding a strand shares its target through such a count, so
// when two threads drop copies of one (a producer thread posting to a consumer's strand),
// the thread that frees it is reported as racing with the other's decrement. That report
// is false; only it is suppressed.
extern "C" const char* __tsan_default_suppressions() {
  return "race:boost::asio::execution::detail::shared_target_executor::~shared_target_executor\n";
}

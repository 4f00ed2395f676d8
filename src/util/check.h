// Assertions. LARES_CHECK is always on and guards invariants that protect
// data; LARES_DCHECK is compiled into debug and test builds only. Neither is
// ever used on bytes read from disk or network: those are validated and
// rejected with Status::corruption.
#pragma once

namespace lares::detail {
[[noreturn]] void check_failed(const char* expr, const char* file, int line);
}  // namespace lares::detail

#define LARES_CHECK(cond)                                                  \
  do {                                                                     \
    if (!(cond)) ::lares::detail::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)

#ifdef NDEBUG
#define LARES_DCHECK(cond) \
  do {                     \
  } while (false && (cond))
#else
#define LARES_DCHECK(cond) LARES_CHECK(cond)
#endif

#include "fuzz/seeds.h"

namespace lares::fuzz {

Seeds key_file_seeds() { return {}; }

}  // namespace lares::fuzz

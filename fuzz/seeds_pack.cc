#include "fuzz/seeds.h"

namespace lares::fuzz {

Seeds pack_seeds() { return {}; }

}  // namespace lares::fuzz

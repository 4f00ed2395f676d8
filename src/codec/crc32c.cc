#include "codec/crc32c.h"

#include <isa-l/crc.h>

namespace lares {

uint32_t crc32c_extend(uint32_t crc, ByteView data) {
  // ISA-L works on the un-inverted register; the standard CRC inverts in and out.
  return ~crc32_iscsi(const_cast<uint8_t*>(data.data()), static_cast<int>(data.size()), ~crc);
}

uint32_t crc32c(ByteView data) { return crc32c_extend(0, data); }

}  // namespace lares

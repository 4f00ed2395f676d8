// CRC-32C (Castagnoli), the checksum of every shard block and label.
// Backed by ISA-L's crc32_iscsi, which uses the SSE4.2/PCLMUL instructions.
#pragma once

#include <cstdint>

#include "util/bytes.h"

namespace lares {

// Standard CRC-32C: crc32c("123456789") == 0xE3069283.
uint32_t crc32c(ByteView data);
// Continues a running CRC: crc32c_extend(crc32c(a), b) == crc32c(a ++ b).
uint32_t crc32c_extend(uint32_t crc, ByteView data);

}  // namespace lares

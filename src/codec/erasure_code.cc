#include "codec/erasure_code.h"

#include <isa-l/erasure_code.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace lares {

ErasureCode::ErasureCode(int k, int r) : k_(k), r_(r) {
  LARES_CHECK(k >= 1 && k <= kMaxData && r >= 0 && r <= kMaxParity);
  const int rows = k + r;
  matrix_.resize(static_cast<size_t>(rows * k));
  // A Cauchy matrix keeps every k x k submatrix invertible for any k, r we allow.
  gf_gen_cauchy1_matrix(matrix_.data(), rows, k);
  if (r > 0) {
    encode_tables_.resize(static_cast<size_t>(k * r * 32));
    ec_init_tables(k, r, &matrix_[static_cast<size_t>(k * k)], encode_tables_.data());
  }
}

void ErasureCode::encode(const std::vector<ByteView>& data,
                         const std::vector<MutableByteView>& parity) const {
  LARES_CHECK(static_cast<int>(data.size()) == k_ && static_cast<int>(parity.size()) == r_);
  const size_t length = data[0].size();
  if (r_ == 0 || length == 0) return;  // (memcpy from a null span is undefined even for 0 bytes)
  for (const auto& d : data) LARES_CHECK(d.size() == length);
  for (const auto& p : parity) LARES_CHECK(p.size() == length);
  if (k_ == 1) {
    for (const auto& p : parity) std::memcpy(p.data(), data[0].data(), length);
    return;
  }
  std::vector<uint8_t*> in(static_cast<size_t>(k_));
  std::vector<uint8_t*> out(static_cast<size_t>(r_));
  for (int i = 0; i < k_; ++i) in[i] = const_cast<uint8_t*>(data[i].data());
  for (int i = 0; i < r_; ++i) out[i] = parity[i].data();
  ec_encode_data(static_cast<int>(length), k_, r_, const_cast<uint8_t*>(encode_tables_.data()),
                 in.data(), out.data());
}

Status ErasureCode::reconstruct(const std::vector<ByteView>& shards,
                                const std::vector<int>& rebuild,
                                const std::vector<MutableByteView>& out,
                                size_t shard_length) const {
  const int rows = k_ + r_;
  LARES_CHECK(static_cast<int>(shards.size()) == rows && rebuild.size() == out.size());
  for (const auto& o : out) LARES_CHECK(o.size() == shard_length);
  std::vector<int> present;
  for (int i = 0; i < rows && static_cast<int>(present.size()) < k_; ++i) {
    if (!shards[i].empty() || shard_length == 0) present.push_back(i);
  }
  if (static_cast<int>(present.size()) < k_) {
    return Status::unavailable("only " + std::to_string(present.size()) + " of the " +
                               std::to_string(k_) + " shards needed to rebuild are readable");
  }
  for (int idx : present) LARES_CHECK(shards[idx].size() == shard_length);
  if (rebuild.empty() || shard_length == 0) return Status::ok();
  if (k_ == 1) {
    for (const auto& o : out) std::memcpy(o.data(), shards[present[0]].data(), shard_length);
    return Status::ok();
  }
  // Invert the k x k submatrix of the rows we have: it maps those shards back to the data.
  const size_t kk = static_cast<size_t>(k_ * k_);
  std::vector<uint8_t> sub(kk), inverse(kk);
  for (int i = 0; i < k_; ++i) {
    std::memcpy(&sub[static_cast<size_t>(i * k_)], &matrix_[static_cast<size_t>(present[i] * k_)],
                static_cast<size_t>(k_));
  }
  if (gf_invert_matrix(sub.data(), inverse.data(), k_) != 0) {
    return Status::corruption("erasure code matrix is singular");  // cannot happen for Cauchy
  }
  // Each wanted row = (its encoding row) x inverse, expressed over the present shards.
  const int wanted = static_cast<int>(rebuild.size());
  std::vector<uint8_t> decode_matrix(static_cast<size_t>(wanted * k_), 0);
  for (int w = 0; w < wanted; ++w) {
    const int row = rebuild[w];
    LARES_CHECK(row >= 0 && row < rows);
    for (int j = 0; j < k_; ++j) {
      uint8_t acc = 0;
      for (int t = 0; t < k_; ++t) {
        acc ^= gf_mul(matrix_[static_cast<size_t>(row * k_ + t)],
                      inverse[static_cast<size_t>(t * k_ + j)]);
      }
      decode_matrix[static_cast<size_t>(w * k_ + j)] = acc;
    }
  }
  std::vector<uint8_t> tables(static_cast<size_t>(k_ * wanted * 32));
  ec_init_tables(k_, wanted, decode_matrix.data(), tables.data());
  std::vector<uint8_t*> in(static_cast<size_t>(k_));
  std::vector<uint8_t*> outs(static_cast<size_t>(wanted));
  for (int i = 0; i < k_; ++i) in[i] = const_cast<uint8_t*>(shards[present[i]].data());
  for (int w = 0; w < wanted; ++w) outs[w] = out[w].data();
  ec_encode_data(static_cast<int>(shard_length), k_, wanted, tables.data(), in.data(), outs.data());
  return Status::ok();
}

}  // namespace lares

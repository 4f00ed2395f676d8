#include "pool/device.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "pool/label.h"
#include "util/aligned_buffer.h"
#include "util/file.h"
#include "util/json_file.h"

namespace lares {

Status prepare_device_folder(const std::string& dir) {
  RETURN_IF_ERROR(make_dirs(dir));
  auto label = read_label(dir);
  if (label.is_ok()) {
    return Status::already_exists(dir + " already belongs to pool '" + label->pool_name +
                                  "'; use 'lares pool import' or empty the folder first");
  }
  ASSIGN_OR_RETURN(auto names, list_dir(dir));
  for (const auto& n : names) {
    if (n != "lost+found") {
      return Status::failed_precondition(dir + " is not empty (has '" + n +
                                         "'); give Lares an empty folder");
    }
  }
  return make_dirs(dir + "/shards");
}

std::string device_state_name(DeviceState state) {
  return state == DeviceState::kOnline ? "ONLINE" : "FAULTED";
}

Device::Device(std::string path, std::string id, DeviceFaults* faults)
    : path_(std::move(path)),
      id_(std::move(id)),
      number_(std::strtoull(id_.c_str(), nullptr, 16)),
      faults_(faults) {}

std::string Device::shard_dir(const std::string& hash) const {
  return path_ + "/shards/" + hash.substr(0, 2);
}

std::string Device::shard_path(const std::string& hash) const {
  return shard_dir(hash) + "/" + hash;
}

Result<OpenShard> Device::open_shard(const std::string& hash) const {
  OpenShard shard;
  shard.path = shard_path(hash);
  if (faults_ != nullptr) RETURN_IF_ERROR(faults_->before_read(id_, shard.path));
  ASSIGN_OR_RETURN(UniqueFd fd, open_file(shard.path, O_RDONLY));
  Bytes head(ShardHeader::kAlignment);
  ssize_t n = ::pread(fd.get(), head.data(), head.size(), 0);
  if (n < 0) return Status::from_errno(errno, "read " + shard.path);
  head.resize(static_cast<size_t>(n));
  auto size = peek_header_size(head);
  if (!size.is_ok()) return size.status().with_context(shard.path);
  if (*size > head.size()) {
    if (head.size() < ShardHeader::kAlignment) {
      return Status::corruption(shard.path + ": shard file is truncated inside its header");
    }
    head.resize(*size);
    RETURN_IF_ERROR(pread_exact(fd.get(), MutableByteView(head).subspan(ShardHeader::kAlignment),
                                ShardHeader::kAlignment, shard.path));
  }
  auto header = decode_shard_header(head);
  if (!header.is_ok()) return header.status().with_context(shard.path);
  shard.header = std::move(header).value();
  shard.fd = fd.get();
  shard.file = std::make_shared<UniqueFd>(std::move(fd));
  return shard;
}

Status Device::read_shard_data(const OpenShard& shard, uint64_t offset, MutableByteView out) const {
  if (faults_ != nullptr) RETURN_IF_ERROR(faults_->before_read(id_, shard.path));
  return pread_exact(shard.fd, out, shard.header.header_size() + offset, shard.path);
}

Status Device::read_shard_direct(const OpenShard& shard, MutableByteView out) const {
  if (faults_ != nullptr) RETURN_IF_ERROR(faults_->before_read(id_, shard.path));
  const uint64_t offset = shard.header.header_size();
  // The same descriptor (so the very file whose header was checked) is
  // switched to direct I/O; it belongs to this one read.
  const int flags = ::fcntl(shard.fd, F_GETFL);
  if (AlignedBuffer::is_aligned(out) && offset % AlignedBuffer::kAlignment == 0 && flags >= 0 &&
      ::fcntl(shard.fd, F_SETFL, flags | O_DIRECT) == 0) {
    Status st = pread_exact(shard.fd, out, offset, shard.path);
    (void)::fcntl(shard.fd, F_SETFL, flags);
    return st;
  }
  return pread_exact(shard.fd, out, offset, shard.path);
}

Result<std::string> Device::write_shard_tmp(const std::string& hash, ByteView header, ByteView data,
                                            uint64_t put_id) const {
  std::string dir = shard_dir(hash);
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%016llx.tmp", static_cast<unsigned long long>(put_id));
  std::string tmp = dir + "/" + hash + suffix;
  if (faults_ != nullptr) RETURN_IF_ERROR(faults_->before_write(id_, tmp));
  // One level only: if the device folder itself vanished (a disk unmounted
  // under us) this must fail, not quietly recreate it on the wrong disk.
  if (::mkdir(dir.c_str(), 0755) == 0) {
    // A new fan-out folder's own name must be durable before anything
    // published inside it counts as durable.
    RETURN_IF_ERROR(fsync_dir(path_ + "/shards"));
  } else if (errno != EEXIST) {
    return Status::from_errno(errno, "mkdir " + dir);
  }
  // Direct I/O skips the page cache copy (most of a buffered write's CPU
  // time) and keeps a big put from evicting the household's cached files.
  // Filesystems without it (tmpfs) get an ordinary buffered write.
  const int flags = O_WRONLY | O_CREAT | O_TRUNC;
  Result<UniqueFd> fd = Status::invalid_argument("unaligned");
  if (AlignedBuffer::is_aligned(header) && AlignedBuffer::is_aligned(data)) {
    fd = open_file(tmp, flags | O_DIRECT, 0644);
  }
  if (!fd.is_ok() && fd.status().code() == Code::kInvalidArgument) fd = open_file(tmp, flags, 0644);
  if (!fd.is_ok()) return fd.status();
  Status st = pwritev_all(fd->get(), {header, data}, 0, tmp);
  if (st.is_ok() && ::fdatasync(fd->get()) != 0) st = Status::from_errno(errno, "fdatasync " + tmp);
  if (!st.is_ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return tmp;
}

void Device::note_io_error() {
  counters_.read_errors.fetch_add(1);
  if (io_errors_session_.fetch_add(1) + 1 >= kFaultAfterIoErrors) set_state(DeviceState::kFaulted);
}

std::string encode_counters(const CounterValues& v) {
  nlohmann::json j = {{"read_errors", v.read_errors},
                      {"checksum_errors", v.checksum_errors},
                      {"repaired", v.repaired}};
  return j.dump(2) + "\n";
}

Result<CounterValues> decode_counters(std::string_view text) {
  ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, "counters.json"));
  if (!j.is_object()) return Status::corruption("counters.json is not an object");
  CounterValues v;
  for (auto [key, field] :
       {std::pair{"read_errors", &v.read_errors}, std::pair{"checksum_errors", &v.checksum_errors},
        std::pair{"repaired", &v.repaired}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    RETURN_IF_ERROR(json_field(j, key, "counters.json", field));
  }
  return v;
}

Status Device::load_counters() {
  auto text = read_file(join_path(path_, "counters.json"));
  if (!text.is_ok()) {
    return text.status().code() == Code::kNotFound ? Status::ok() : text.status();
  }
  ASSIGN_OR_RETURN(CounterValues v, decode_counters(as_chars(*text)));
  counters_.read_errors = v.read_errors;
  counters_.checksum_errors = v.checksum_errors;
  counters_.repaired = v.repaired;
  return Status::ok();
}

Status Device::save_counters() const {
  CounterValues v{counters_.read_errors.load(), counters_.checksum_errors.load(),
                  counters_.repaired.load()};
  return write_file_atomic(join_path(path_, "counters.json"), as_bytes(encode_counters(v)));
}

uint64_t Device::used_bytes() const {
  uint64_t total = 0;
  auto fanouts = list_dir(path_ + "/shards");
  if (!fanouts.is_ok()) return 0;
  for (const auto& fanout : *fanouts) {
    std::string dir = path_ + "/shards/" + fanout;
    auto names = list_dir(dir);
    if (!names.is_ok()) continue;
    for (const auto& name : *names) {
      struct stat st;
      if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        total += static_cast<uint64_t>(st.st_blocks) * 512;
      }
    }
  }
  return total;
}

}  // namespace lares

#include "fs/backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "chunks/chunker.h"
#include "fs/file_meta.h"
#include "util/file.h"

namespace lares {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadBufferBytes = size_t{8} << 20;

std::string default_snapshot_name() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string child_path(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string child_rel(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

bool excluded(const std::vector<std::string>& patterns, const std::string& name,
              const std::string& rel) {
  for (const auto& p : patterns) {
    if (p.find('/') == std::string::npos) {
      if (fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
    } else {
      const char* pattern = p.c_str() + (p[0] == '/' ? 1 : 0);
      if (fnmatch(pattern, rel.c_str(), FNM_PATHNAME) == 0) return true;
    }
  }
  return false;
}

Result<std::vector<std::string>> read_dir_names(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Status::from_errno(errno, "opendir " + path);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return Status::from_errno(err, "readdir " + path);
  std::sort(names.begin(), names.end());
  return names;
}

// Chunks waiting for a worker to compress, encrypt and pack them.
class BlobQueue {
 public:
  BlobQueue(Repository& repo, size_t threads, size_t max_bytes)
      : repo_(repo), max_bytes_(max_bytes) {
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  }
  ~BlobQueue() { (void)close(); }

  // Blocks while too many bytes wait. Returns the first worker error, if any.
  Status push(const ChunkId& id, Bytes data) {
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return queued_bytes_ < max_bytes_ || !error_.is_ok(); });
    if (!error_.is_ok()) return error_;
    queued_bytes_ += data.size();
    jobs_.push_back({id, std::move(data)});
    work_.notify_one();
    return Status::ok();
  }

  // Waits for every job, stops the workers, returns the first error.
  Status close() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    work_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  struct Job {
    ChunkId id;
    Bytes data;
  };

  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !jobs_.empty() || closing_; });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      auto added = error_seen_.load() ? Result<bool>(false)
                                      : repo_.add_blob(BlobType::kData, job.id, job.data);
      std::lock_guard lock(mu_);
      queued_bytes_ -= job.data.size();
      if (!added.is_ok() && error_.is_ok()) {
        error_ = added.status();
        error_seen_ = true;
      }
      space_.notify_all();
    }
  }

  Repository& repo_;
  const size_t max_bytes_;
  std::mutex mu_;
  std::condition_variable work_, space_;
  std::deque<Job> jobs_;
  size_t queued_bytes_ = 0;
  bool closing_ = false;
  Status error_;
  std::atomic<bool> error_seen_{false};
  std::vector<std::thread> workers_;
};

// Adds up the sizes under a folder for the progress ETA, in its own thread.
class SizeScanner {
 public:
  explicit SizeScanner(std::string root) : thread_([this, root] { scan(root); }) {}
  ~SizeScanner() {
    stop_ = true;
    thread_.join();
  }
  uint64_t bytes() const { return bytes_.load(); }
  bool done() const { return done_.load(); }

 private:
  void scan(const std::string& root) {
    std::vector<std::string> stack{root};
    while (!stack.empty() && !stop_) {
      std::string dir = std::move(stack.back());
      stack.pop_back();
      auto names = read_dir_names(dir);
      if (!names.is_ok()) continue;
      for (const auto& name : *names) {
        std::string path = child_path(dir, name);
        struct stat st{};
        if (::lstat(path.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
          stack.push_back(path);
        } else if (S_ISREG(st.st_mode)) {
          bytes_ += static_cast<uint64_t>(st.st_size);
        }
      }
    }
    done_ = true;
  }
  std::atomic<uint64_t> bytes_{0};
  std::atomic<bool> done_{false}, stop_{false};
  std::thread thread_;
};

class Backup {
 public:
  Backup(Repository& repo, const BackupOptions& options, BlobQueue& queue)
      : repo_(repo), options_(options), queue_(queue) {
    auto params = Chunker::create(repo.config().chunker);
    LARES_CHECK(params.is_ok());
    chunker_.emplace(std::move(*params));
    buffer_.resize(kReadBufferBytes + repo.config().chunker.size_bytes_max);
  }

  // Builds the tree of `path` (a folder) and returns its id. `parent` is the
  // tree of the same folder in the previous snapshot, if any.
  Result<ChunkId> dir(const std::string& path, const std::string& rel, const Tree* parent) {
    if (options_.keep_going && !options_.keep_going()) {
      return Status::failed_precondition("backup interrupted");
    }
    ASSIGN_OR_RETURN(std::vector<std::string> names, read_dir_names(path));
    std::map<std::string, const Node*> previous;
    if (parent != nullptr) {
      for (const auto& n : parent->nodes) previous.emplace(n.name, &n);
    }
    Tree tree;
    tree.nodes.reserve(names.size());
    for (const auto& name : names) {
      const std::string child = child_path(path, name);
      const std::string child_rel_path = child_rel(rel, name);
      if (excluded(options_.excludes, name, child_rel_path)) continue;
      if (name.size() > kMaxNameLength) {
        skip(child_rel_path, "name longer than 255 bytes");
        continue;
      }
      Node node;
      Status st = capture_metadata(child, &node);
      if (!st.is_ok()) {
        skip(child_rel_path, st.message());
        continue;
      }
      node.name = name;
      // Access times are not kept: reading (this backup included) moves them,
      // and an unchanged folder must encode to the same tree blob every time.
      // Restore sets atime to mtime.
      node.atime_ns = node.mtime_ns;
      auto prev_it = previous.find(name);
      const Node* prev = prev_it == previous.end() ? nullptr : prev_it->second;
      if (node.type == NodeType::kDir) {
        std::optional<Tree> prev_tree;
        if (prev != nullptr && prev->type == NodeType::kDir) {
          auto loaded = load_tree(repo_, prev->subtree);
          if (loaded.is_ok()) prev_tree = std::move(*loaded);
        }
        auto sub = dir(child, child_rel_path, prev_tree ? &*prev_tree : nullptr);
        if (!sub.is_ok()) {
          if (sub.status().code() == Code::kFailedPrecondition || fatal_) return sub.status();
          skip(child_rel_path, sub.status().message());
          continue;
        }
        node.subtree = *sub;
        node.size = 0;
        ++progress_.dirs;
      } else if (node.type == NodeType::kFile) {
        st = file(child, prev, &node);
        if (!st.is_ok()) {
          if (fatal_) return st;
          skip(child_rel_path, st.message());
          continue;
        }
        ++progress_.files;
      }
      tree.nodes.push_back(std::move(node));
      report(false);
    }
    sort_tree(tree);
    Status valid = validate_tree(tree);
    if (!valid.is_ok()) return valid.with_context(rel.empty() ? "/" : rel + ": ");
    Bytes encoded = encode_tree(tree);
    ChunkId id = repo_.blob_id(encoded);
    auto added = repo_.add_blob(BlobType::kTree, id, encoded);
    if (!added.is_ok()) {
      fatal_ = true;
      return added.status();
    }
    return id;
  }

  Status file(const std::string& path, const Node* prev, Node* node) {
    if (prev != nullptr && prev->type == NodeType::kFile && prev->size == node->size &&
        prev->mtime_ns == node->mtime_ns && prev->ctime_ns == node->ctime_ns &&
        prev->inode == node->inode && prev->device == node->device) {
      bool all_there = std::all_of(prev->extents.begin(), prev->extents.end(), [&](const Extent& e) {
        return !e.id || repo_.has_blob(*e.id);
      });
      if (all_there) {
        node->extents = prev->extents;
        progress_.bytes_done += node->size;
        return Status::ok();
      }
    }
    // The other names of a hard-linked file read in this backup: same content.
    const auto link_key = std::make_pair(node->device, node->inode);
    if (node->nlink > 1) {
      auto it = links_.find(link_key);
      if (it != links_.end() && it->second.ctime_ns == node->ctime_ns) {
        node->extents = it->second.extents;
        node->size = it->second.size;
        progress_.bytes_done += node->size;
        return Status::ok();
      }
    }
    RETURN_IF_ERROR(read_file_content(path, node));
    if (node->nlink > 1) links_[link_key] = {node->extents, node->size, node->ctime_ns};
    return Status::ok();
  }

  Status read_file_content(const std::string& path, Node* node) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
    if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Status::from_errno(errno, "open");
    UniqueFd guard(fd);
    struct stat st{};
    if (::fstat(fd, &st) != 0) return Status::from_errno(errno, "fstat");
    if (!S_ISREG(st.st_mode) || st.st_ino != node->inode) {
      return Status::failed_precondition("changed while being read");
    }
    ++files_read_;
    node->extents.clear();
    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t pos = 0;
    while (pos < size) {
      off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
      uint64_t data_start;
      if (data < 0) {
        if (errno == ENXIO) {
          data_start = size;  // only a hole remains
        } else if (errno == EINVAL) {
          data_start = pos;  // no SEEK_DATA on this filesystem: all data
        } else {
          return Status::from_errno(errno, "lseek");
        }
      } else {
        data_start = static_cast<uint64_t>(data);
      }
      if (data_start > pos) {
        uint64_t hole_end = std::min(data_start, size);
        node->extents.push_back({std::nullopt, hole_end - pos});
        pos = hole_end;
        if (pos >= size) break;
      }
      off_t hole = ::lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
      uint64_t data_end = hole < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(hole), size);
      if (data_end <= pos) data_end = size;
      ASSIGN_OR_RETURN(uint64_t got, read_region(fd, pos, data_end, node));
      pos += got;
      if (got < data_end - (pos - got)) break;  // the file shrank while being read
    }
    // The snapshot holds the bytes read, whatever the file did meanwhile.
    uint64_t total = 0;
    for (const auto& e : node->extents) total += e.length;
    node->size = total;
    return Status::ok();
  }

  uint64_t files_read() const { return files_read_; }
  std::vector<std::string>& skipped() { return skipped_; }
  BackupProgress& progress() { return progress_; }
  void set_scanner(const SizeScanner* scanner) { scanner_ = scanner; }

  void report(bool final_call) {
    if (!options_.progress) return;
    auto now = Clock::now();
    if (!final_call && now - last_report_ < std::chrono::milliseconds(200)) return;
    last_report_ = now;
    if (scanner_ != nullptr) {
      progress_.bytes_total = scanner_->bytes();
      progress_.total_known = scanner_->done();
    }
    progress_.new_bytes_stored = repo_.added_bytes_stored();
    progress_.skipped = skipped_.size();
    options_.progress(progress_);
  }

 private:
  // Reads [start, end) through the chunker; returns the bytes read (less than
  // asked if the file shrank).
  Result<uint64_t> read_region(int fd, uint64_t start, uint64_t end, Node* node) {
    size_t held = 0;   // bytes of buffer_ not yet cut into chunks
    uint64_t done = 0; // bytes consumed into chunks
    uint64_t pos = start;
    std::vector<ChunkExtent> cuts;
    bool eof = false;
    while (!eof) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kReadBufferBytes, end - pos));
      size_t got = 0;
      while (got < want) {
        ssize_t n = ::pread(fd, buffer_.data() + held + got, want - got,
                            static_cast<off_t>(pos + got));
        if (n < 0) {
          if (errno == EINTR) continue;
          return Status::from_errno(errno, "read");
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
      }
      pos += got;
      eof = got < want || pos >= end;
      cuts.clear();
      chunker_->feed(ByteView(buffer_.data() + held, got), &cuts);
      if (eof) chunker_->finish(&cuts);
      held += got;
      size_t consumed = 0;
      for (const auto& cut : cuts) {
        // Extents are offsets in the region stream; `done` is where buffer_ starts.
        size_t off = static_cast<size_t>(cut.offset - done);
        LARES_CHECK(off == consumed);
        RETURN_IF_ERROR(emit(ByteView(buffer_.data() + off, cut.size_bytes), node));
        consumed += cut.size_bytes;
      }
      if (consumed > 0) {
        std::memmove(buffer_.data(), buffer_.data() + consumed, held - consumed);
        held -= consumed;
        done += consumed;
      }
      report(false);
    }
    LARES_CHECK(held == 0);
    return pos - start;
  }

  Status emit(ByteView chunk, Node* node) {
    ChunkId id = repo_.blob_id(chunk);
    node->extents.push_back({id, chunk.size()});
    progress_.bytes_done += chunk.size();
    if (repo_.has_blob(id)) return Status::ok();
    Bytes copy(chunk.begin(), chunk.end());
    Status st = queue_.push(id, std::move(copy));
    if (!st.is_ok()) fatal_ = true;
    return st;
  }

  void skip(const std::string& rel, const std::string& why) {
    skipped_.push_back(rel + ": " + why);
  }

  Repository& repo_;
  const BackupOptions& options_;
  BlobQueue& queue_;
  std::optional<Chunker> chunker_;
  Bytes buffer_;
  std::vector<std::string> skipped_;
  BackupProgress progress_;
  uint64_t files_read_ = 0;
  bool fatal_ = false;
  const SizeScanner* scanner_ = nullptr;
  Clock::time_point last_report_{};
  struct LinkedContent {
    std::vector<Extent> extents;
    uint64_t size = 0;
    int64_t ctime_ns = 0;
  };
  std::map<std::pair<uint64_t, uint64_t>, LinkedContent> links_;
};

}  // namespace

Result<Tree> load_tree(Repository& repo, const ChunkId& id) {
  ASSIGN_OR_RETURN(Bytes bytes, repo.load_blob(id, BlobType::kTree));
  auto tree = decode_tree(bytes);
  if (!tree.is_ok()) return tree.status().with_context("tree " + id.hex() + ": ");
  return tree;
}

Result<BackupResult> backup(Repository& repo, const std::string& folder,
                            const BackupOptions& options) {
  RETURN_IF_ERROR(validate_dataset_name(options.dataset));
  const std::string name = options.name.empty() ? default_snapshot_name() : options.name;
  RETURN_IF_ERROR(validate_snapshot_name(name));
  char* real = ::realpath(folder.c_str(), nullptr);
  if (real == nullptr) return Status::from_errno(errno, "backup source " + folder);
  std::string source = real;
  ::free(real);
  struct stat st{};
  if (::stat(source.c_str(), &st) != 0) return Status::from_errno(errno, "stat " + source);
  if (!S_ISDIR(st.st_mode)) {
    return Status::invalid_argument(source + " is not a folder; back up the folder that holds it");
  }

  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> earlier, repo.list_snapshots(options.dataset));
  for (const auto& s : earlier) {
    if (s.name == name) {
      return Status::already_exists("dataset '" + options.dataset + "' already has a snapshot '" +
                                    name + "'; choose another --name");
    }
  }
  const SnapshotRecord* parent = nullptr;
  for (auto it = earlier.rbegin(); it != earlier.rend(); ++it) {
    if (it->source == source) {
      parent = &*it;
      break;
    }
  }
  std::optional<Tree> parent_tree;
  if (parent != nullptr) {
    auto loaded = load_tree(repo, parent->tree);
    if (loaded.is_ok()) parent_tree = std::move(*loaded);
  }

  auto started = Clock::now();
  uint64_t blobs_before = repo.added_blobs();
  uint64_t bytes_before = repo.added_bytes_stored();
  size_t threads = options.threads != 0 ? options.threads
                                        : std::max<size_t>(1, std::thread::hardware_concurrency());
  // Enough queued chunks to keep every worker busy while the walker reads; more
  // would only raise the peak memory.
  BlobQueue queue(repo, threads, size_t{16} << 20);
  Backup walker(repo, options, queue);
  std::optional<SizeScanner> scanner;
  if (options.progress) {
    scanner.emplace(source);
    walker.set_scanner(&*scanner);
  }
  auto root = walker.dir(source, "", parent_tree ? &*parent_tree : nullptr);
  Status queued = queue.close();
  if (!root.is_ok()) return root.status();
  RETURN_IF_ERROR(queued);
  RETURN_IF_ERROR(repo.flush());
  walker.report(true);

  BackupResult result;
  SnapshotRecord& snap = result.snapshot;
  snap.dataset = options.dataset;
  snap.name = name;
  snap.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  snap.tree = *root;
  snap.parent = parent != nullptr ? parent->id : "";
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  snap.hostname = host;
  snap.source = source;
  snap.excludes = options.excludes;
  snap.files = walker.progress().files;
  snap.dirs = walker.progress().dirs + 1;
  snap.bytes = walker.progress().bytes_done;
  snap.new_blobs = repo.added_blobs() - blobs_before;
  snap.new_bytes_stored = repo.added_bytes_stored() - bytes_before;
  snap.duration_s = std::chrono::duration<double>(Clock::now() - started).count();
  RETURN_IF_ERROR(repo.put_snapshot(&snap));
  result.skipped = std::move(walker.skipped());
  result.files_read = walker.files_read();
  return result;
}

}  // namespace lares

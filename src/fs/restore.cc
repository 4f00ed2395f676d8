#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "fs/backup.h"
#include "fs/file_meta.h"
#include "util/file.h"

namespace lares {
namespace {

// Runs jobs on a few threads; push() blocks while `limit` jobs wait.
class Workers {
 public:
  Workers(size_t threads, size_t limit) : limit_(limit) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~Workers() { (void)wait(); }

  void push(std::function<Status()> job) {
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return jobs_.size() < limit_; });
    jobs_.push_back(std::move(job));
    work_.notify_one();
  }

  // Waits for every job; returns the first error.
  Status wait() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    work_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    std::lock_guard lock(mu_);
    return error_;
  }

  bool failed() {
    std::lock_guard lock(mu_);
    return !error_.is_ok();
  }

 private:
  void run() {
    for (;;) {
      std::function<Status()> job;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !jobs_.empty() || closing_; });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        space_.notify_one();
        if (!error_.is_ok()) continue;  // drain without running after a failure
      }
      Status st = job();
      if (!st.is_ok()) {
        std::lock_guard lock(mu_);
        if (error_.is_ok()) error_ = st;
      }
    }
  }

  const size_t limit_;
  std::mutex mu_;
  std::condition_variable work_, space_;
  std::deque<std::function<Status()>> jobs_;
  bool closing_ = false;
  Status error_;
  std::vector<std::thread> threads_;
};

Status remove_tree(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::ok() : Status::from_errno(errno, "lstat " + path);
  }
  if (S_ISDIR(st.st_mode)) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, list_dir(path));
    for (const auto& n : names) RETURN_IF_ERROR(remove_tree(path + "/" + n));
    if (::rmdir(path.c_str()) != 0) return Status::from_errno(errno, "rmdir " + path);
    return Status::ok();
  }
  if (::unlink(path.c_str()) != 0) return Status::from_errno(errno, "unlink " + path);
  return Status::ok();
}

class Restorer {
 public:
  Restorer(Repository& repo, const SnapshotRecord& snap, const RestoreOptions& options,
           size_t threads)
      : repo_(repo), snap_(snap), options_(options), workers_(threads, threads * 4) {}

  Status dir(const Tree& tree, const std::string& path, const std::string& rel) {
    for (const Node& node : tree.nodes) {
      if (workers_.failed()) return Status::ok();  // the error comes from wait()
      const std::string p = path + "/" + node.name;
      const std::string r = rel.empty() ? node.name : rel + "/" + node.name;
      RETURN_IF_ERROR(entry(node, p, r));
    }
    return Status::ok();
  }

  Status entry(const Node& node, const std::string& p, const std::string& r) {
    if (options_.overwrite) {
      struct stat st{};
      if (::lstat(p.c_str(), &st) == 0 && !(node.type == NodeType::kDir && S_ISDIR(st.st_mode))) {
        RETURN_IF_ERROR(remove_tree(p));
      }
    }
    switch (node.type) {
      case NodeType::kDir: {
        if (::mkdir(p.c_str(), 0700) != 0 && !(errno == EEXIST && options_.overwrite)) {
          return Status::from_errno(errno, "mkdir " + p);
        }
        ASSIGN_OR_RETURN(Tree sub, load_tree_named(node.subtree, r));
        RETURN_IF_ERROR(dir(sub, p, r));
        dirs_meta_.push_back({p, node});
        ++result_.dirs;
        return Status::ok();
      }
      case NodeType::kFile: {
        if (node.nlink > 1) {
          auto key = std::make_pair(node.device, node.inode);
          auto it = links_.find(key);
          if (it != links_.end()) {
            if (::link(it->second.c_str(), p.c_str()) != 0) {
              return Status::from_errno(errno, "link " + p);
            }
            ++result_.files;  // a name of the file, as the snapshot counts it
            return Status::ok();
          }
          links_.emplace(key, p);
        }
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) return Status::from_errno(errno, "create " + p);
        auto job = std::make_shared<FileJob>();
        job->fd = UniqueFd(fd);
        job->node = node;
        job->path = p;
        job->rel = r;
        ++result_.files;
        result_.bytes += node.size;
        // The final size first: holes are never written, so they stay holes.
        if (::ftruncate(fd, static_cast<off_t>(node.size)) != 0) {
          return Status::from_errno(errno, "truncate " + p);
        }
        // Large files are written in pieces by several workers at once.
        std::vector<std::pair<size_t, size_t>> pieces;
        size_t start = 0;
        uint64_t bytes = 0;
        for (size_t i = 0; i < node.extents.size(); ++i) {
          bytes += node.extents[i].length;
          if (bytes >= kPieceBytes) {
            pieces.emplace_back(start, i + 1);
            start = i + 1;
            bytes = 0;
          }
        }
        if (start < node.extents.size() || pieces.empty()) {
          pieces.emplace_back(start, node.extents.size());
        }
        job->pieces_left = pieces.size();
        for (const auto& [first, last] : pieces) {
          workers_.push([this, job, first = first, last = last] { return write_piece(*job, first, last); });
        }
        return Status::ok();
      }
      default: {
        RETURN_IF_ERROR(create_special(p, node));
        return apply(p, node);
      }
    }
  }

  Status finish() {
    RETURN_IF_ERROR(workers_.wait());
    // Deepest folders were pushed first: their times are set after their
    // children stopped changing them.
    for (const auto& [path, node] : dirs_meta_) RETURN_IF_ERROR(apply(path, node));
    return Status::ok();
  }

  Result<Tree> load_tree_named(const ChunkId& id, const std::string& rel) {
    auto tree = load_tree(repo_, id);
    if (!tree.is_ok()) {
      return tree.status().with_context("folder '" + (rel.empty() ? "/" : rel) + "' of snapshot " +
                                        snap_.dataset + "@" + snap_.name + ": ");
    }
    return tree;
  }

  RestoreResult& result() { return result_; }

 private:
  struct FileJob {
    UniqueFd fd;
    Node node;
    std::string path, rel;
    std::atomic<size_t> pieces_left{0};
  };
  static constexpr uint64_t kPieceBytes = uint64_t{32} << 20;

  // Writes extents [first, last) of a file; the last piece to finish applies
  // the metadata.
  Status write_piece(FileJob& job, size_t first, size_t last) {
    uint64_t offset = 0;
    for (size_t i = 0; i < first; ++i) offset += job.node.extents[i].length;
    for (size_t i = first; i < last; ++i) {
      const Extent& e = job.node.extents[i];
      if (e.id) {
        auto data = repo_.load_blob(*e.id, BlobType::kData);
        if (!data.is_ok()) {
          return data.status().with_context("file '" + job.rel + "' of snapshot " +
                                            snap_.dataset + "@" + snap_.name + ": ");
        }
        if (data->size() != e.length) {
          return Status::corruption("file '" + job.rel + "': chunk length differs from the tree");
        }
        RETURN_IF_ERROR(pwrite_all(job.fd.get(), *data, offset, job.path));
        bytes_done_ += e.length;
      }
      offset += e.length;
    }
    if (--job.pieces_left != 0) return Status::ok();
    if (options_.progress) {
      std::lock_guard lock(mu_);
      options_.progress({result_.files, bytes_done_.load(), snap_.bytes});
    }
    return apply(job.path, job.node);
  }

  Status apply(const std::string& p, const Node& node) {
    ApplyWarnings warnings;
    Status st = apply_metadata(p, node, &warnings);
    if (!warnings.messages.empty()) {
      std::lock_guard lock(mu_);
      result_.warnings.insert(result_.warnings.end(), warnings.messages.begin(),
                              warnings.messages.end());
    }
    return st;
  }

  Repository& repo_;
  const SnapshotRecord& snap_;
  const RestoreOptions& options_;
  Workers workers_;
  std::mutex mu_;
  RestoreResult result_;
  std::atomic<uint64_t> bytes_done_{0};
  std::map<std::pair<uint64_t, uint64_t>, std::string> links_;
  std::vector<std::pair<std::string, Node>> dirs_meta_;
};

}  // namespace

Result<RestoreResult> restore(Repository& repo, const SnapshotRecord& snapshot,
                              const std::string& target, const RestoreOptions& options) {
  size_t threads = options.threads != 0 ? options.threads
                                        : std::max<size_t>(1, std::thread::hardware_concurrency());
  Restorer restorer(repo, snapshot, options, threads);
  ASSIGN_OR_RETURN(Tree tree, restorer.load_tree_named(snapshot.tree, ""));

  // Walk down to --path.
  const Node* single = nullptr;
  Tree holder;
  std::string rel;
  if (!options.path.empty()) {
    size_t start = 0;
    std::string path = options.path;
    while (!path.empty() && path.back() == '/') path.pop_back();
    while (start < path.size()) {
      size_t slash = path.find('/', start);
      std::string part = path.substr(start, slash == std::string::npos ? std::string::npos
                                                                       : slash - start);
      start = slash == std::string::npos ? path.size() : slash + 1;
      if (part.empty() || part == ".") continue;
      auto it = std::find_if(tree.nodes.begin(), tree.nodes.end(),
                             [&](const Node& n) { return n.name == part; });
      if (it == tree.nodes.end()) {
        return Status::not_found("snapshot " + snapshot.dataset + "@" + snapshot.name +
                                 " has no '" + options.path + "'");
      }
      rel = rel.empty() ? part : rel + "/" + part;
      if (it->type == NodeType::kDir) {
        ASSIGN_OR_RETURN(Tree sub, restorer.load_tree_named(it->subtree, rel));
        tree = std::move(sub);
      } else {
        if (start < path.size()) {
          return Status::not_found("'" + rel + "' in the snapshot is not a folder");
        }
        holder.nodes.push_back(*it);
        single = &holder.nodes.back();
      }
    }
  }

  struct stat st{};
  if (::lstat(target.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::already_exists(target + " exists and is not a folder");
    ASSIGN_OR_RETURN(std::vector<std::string> names, list_dir(target));
    if (!names.empty() && !options.overwrite) {
      return Status::already_exists(target +
                                    " is not empty; restore into a new folder, or pass --overwrite "
                                    "to replace what is there");
    }
  } else if (errno == ENOENT) {
    RETURN_IF_ERROR(make_dirs(target));
  } else {
    return Status::from_errno(errno, "lstat " + target);
  }

  // A folder's contents go into the target, which stands for the folder
  // itself (counted, as the snapshot counts its root).
  if (single == nullptr) ++restorer.result().dirs;
  Status walked = single != nullptr ? restorer.entry(*single, target + "/" + single->name, rel)
                                    : restorer.dir(tree, target, rel);
  Status finished = restorer.finish();
  RETURN_IF_ERROR(walked);
  RETURN_IF_ERROR(finished);
  return std::move(restorer.result());
}

}  // namespace lares

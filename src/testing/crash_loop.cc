#include "testing/crash_loop.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "testing/pool_fixture.h"

namespace lares::testing {
namespace {

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

Bytes CrashLoopModel::contents(uint64_t data_seed) const {
  return test_bytes(data_seed, static_cast<size_t>(data_seed % (max_object_bytes_ + 1)));
}

void CrashLoopModel::run_writer(const OpenStore& open, const NewName& new_name, uint64_t seed,
                                int fd) const {
  auto store = open();
  if (!store.is_ok()) _exit(3);
  SeededRandom random(seed);
  std::vector<std::string> names;
  for (const auto& [name, s] : committed_) names.push_back(name);
  for (int j = 0;; ++j) {
    CrashEvent e;
    const uint64_t dice = random.uniform(10);
    if (dice < 2 && !names.empty()) {
      e = {'R', names[random.uniform(names.size())], 0};
    } else if (dice < 4 && !names.empty()) {
      e = {'P', names[random.uniform(names.size())], random.next()};
    } else {
      e = {'P', new_name(random, seed, j), random.next()};
    }
    const std::string begin =
        "B " + std::string(1, e.op) + " " + e.name + " " + std::to_string(e.data_seed) + "\n";
    if (::write(fd, begin.data(), begin.size()) < 0) _exit(4);
    const Status st =
        e.op == 'P' ? (*store)->put(e.name, contents(e.data_seed)) : (*store)->remove(e.name);
    if (!st.is_ok()) _exit(5);
    if (e.op == 'R') names.erase(std::find(names.begin(), names.end(), e.name));
    if (e.op == 'P' && std::find(names.begin(), names.end(), e.name) == names.end()) {
      names.push_back(e.name);
    }
    if (::write(fd, "E\n", 2) < 0) _exit(4);
  }
}

Result<std::optional<CrashEvent>> CrashLoopModel::run_round(const OpenStore& open,
                                                            const NewName& new_name, uint64_t seed,
                                                            uint32_t kill_after_us) {
  int fds[2];
  if (::pipe(fds) != 0) return Status::from_errno(errno, "pipe");
  const pid_t child = ::fork();
  if (child < 0) return Status::from_errno(errno, "fork");
  if (child == 0) {
    ::close(fds[0]);
    run_writer(open, new_name, seed, fds[1]);
  }
  ::close(fds[1]);
  ::usleep(kill_after_us);
  ::kill(child, SIGKILL);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  const std::string log = read_all(fds[0]);
  ::close(fds[0]);
  if (!WIFSIGNALED(wstatus)) {
    return Status::failed_precondition("writer exited early with " +
                                       std::to_string(WEXITSTATUS(wstatus)));
  }
  // Replay the log into the model; remember the operation in flight.
  std::optional<CrashEvent> in_flight;
  size_t pos = 0;
  while (pos < log.size()) {
    const size_t end = log.find('\n', pos);
    if (end == std::string::npos) break;  // a torn last line: its op never started
    const std::string line = log.substr(pos, end - pos);
    pos = end + 1;
    if (line == "E") {
      if (!in_flight) return Status::corruption("log: 'E' without 'B'");
      if (in_flight->op == 'P') committed_[in_flight->name] = in_flight->data_seed;
      if (in_flight->op == 'R') committed_.erase(in_flight->name);
      in_flight.reset();
      continue;
    }
    char op;
    char name[256];
    unsigned long long data_seed;
    if (std::sscanf(line.c_str(), "B %c %255s %llu", &op, name, &data_seed) != 3) {
      return Status::corruption("log: bad line '" + line + "'");
    }
    in_flight = CrashEvent{op, name, data_seed};
  }
  return in_flight;
}

Status CrashLoopModel::verify(ObjectStore& store, const std::optional<CrashEvent>& in_flight) {
  for (const auto& [name, data_seed] : committed_) {
    if (in_flight && in_flight->name == name) continue;
    auto got = store.get(name);
    if (!got.is_ok()) return got.status().with_context("lost committed object " + name);
    if (*got != contents(data_seed)) return Status::corruption(name + " differs");
  }
  if (in_flight) {  // all or nothing: the old value (or absent) or the new one
    auto got = store.get(in_flight->name);
    auto before = committed_.find(in_flight->name);
    if (got.is_ok()) {
      const bool is_new = in_flight->op == 'P' && *got == contents(in_flight->data_seed);
      const bool is_old = before != committed_.end() && *got == contents(before->second);
      if (!is_new && !is_old) return Status::corruption("torn object " + in_flight->name);
      committed_[in_flight->name] = is_new ? in_flight->data_seed : before->second;
    } else if (got.status().code() == Code::kNotFound) {
      committed_.erase(in_flight->name);
    } else {
      return got.status().with_context(in_flight->name);
    }
  }
  ASSIGN_OR_RETURN(auto names, store.list(""));
  if (names.size() != committed_.size()) {
    return Status::corruption("store lists " + std::to_string(names.size()) + " objects, " +
                              std::to_string(committed_.size()) + " are committed");
  }
  return Status::ok();
}

}  // namespace lares::testing

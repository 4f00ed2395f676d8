// `lares object <verb>`: put, get, list, rm. A debugging and scripting noun:
// it stores whole files as pool objects, with no chunking or encryption.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "util/bytes.h"
#include "util/file.h"

namespace lares::cli {
namespace {

constexpr size_t kStdioBufferBytes = 1 << 16;

Result<Bytes> read_stdin() {
  Bytes data;
  Bytes buffer(kStdioBufferBytes);
  for (;;) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), stdin);
    data.insert(data.end(), buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(n));
    if (n < buffer.size()) break;
  }
  if (std::ferror(stdin)) return Status::io_error("reading standard input failed");
  return data;
}

// `file` is a path or "-" for standard input.
Result<Bytes> read_input(const std::string& file) {
  if (file == "-") return read_stdin();
  return read_file(file);
}

// `file` is a path (replaced atomically) or "-" for standard output.
Status write_output(const std::string& file, ByteView data) {
  if (file != "-") return write_file_atomic(file, data);
  size_t written = std::fwrite(data.data(), 1, data.size(), stdout);
  if (written != data.size() || std::fflush(stdout) != 0) {
    return Status::io_error("writing standard output failed");
  }
  return Status::ok();
}

}  // namespace

Result<ExitCode> object_put(const Arguments& args) {
  RETURN_IF_ERROR(validate_object_name(args.object));
  ASSIGN_OR_RETURN(Bytes data, read_input(args.file));
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadWrite));
  RETURN_IF_ERROR(pool->put(args.object, data));
  std::printf("stored '%s' (%s) in pool '%s'\n", args.object.c_str(),
              format_size(data.size()).c_str(), args.pool.c_str());
  return ExitCode::kOk;
}

Result<ExitCode> object_get(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadOnly));
  ASSIGN_OR_RETURN(Bytes data, pool->get(args.object, args.offset, args.length));
  RETURN_IF_ERROR(write_output(args.file, data));
  return ExitCode::kOk;
}

Result<ExitCode> object_list(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadOnly));
  ASSIGN_OR_RETURN(std::vector<std::string> names, pool->list(args.prefix));
  if (args.json) {
    print_json(names);
  } else {
    for (const auto& name : names) std::printf("%s\n", name.c_str());
  }
  return ExitCode::kOk;
}

Result<ExitCode> object_rm(const Arguments& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pool> pool,
                   open_registered_pool(args.pool, OpenMode::kReadWrite));
  RETURN_IF_ERROR(pool->remove(args.object));
  std::printf("removed '%s' from pool '%s'\n", args.object.c_str(), args.pool.c_str());
  return ExitCode::kOk;
}

}  // namespace lares::cli

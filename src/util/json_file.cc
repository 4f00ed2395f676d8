#include "util/json_file.h"

#include "util/file.h"

namespace lares {

Result<nlohmann::json> parse_json(std::string_view text, const std::string& what) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Status::corruption(what + " is not valid JSON");
  return value;
}

Result<nlohmann::json> read_json_file(const std::string& path) {
  ASSIGN_OR_RETURN(Bytes bytes, read_file(path));
  return parse_json(as_chars(bytes), path);
}

Status write_json_file(const std::string& path, const nlohmann::json& value) {
  std::string text = value.dump(2) + "\n";
  return write_file_atomic(path, as_bytes(text));
}

}  // namespace lares

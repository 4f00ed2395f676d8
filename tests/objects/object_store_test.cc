// The object naming rule every backend relies on.
#include "objects/object_store.h"

#include <gtest/gtest.h>

namespace lares {
namespace {

TEST(ObjectNameTest, AcceptsOrdinaryNames) {
  for (const char* name : {"a", "packs/ab/0123", "refs/home@2026-11-23", "x.y-z_1", "a/b/c/d"}) {
    EXPECT_TRUE(validate_object_name(name).is_ok()) << name;
  }
}

TEST(ObjectNameTest, RejectsNamesThatDoNotMapToOnePath) {
  for (const char* name : {"", "/abs", "a//b", "a/", "./a", "a/./b", "a/../b", "..", "a b",
                           "tab\there", "pack.tmp", "dir/x.tmp"}) {
    Status st = validate_object_name(name);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << "'" << name << "'";
  }
  EXPECT_EQ(validate_object_name(std::string(1025, 'a')).code(), Code::kInvalidArgument);
  EXPECT_TRUE(validate_object_name(std::string(1024, 'a')).is_ok());
}

}  // namespace
}  // namespace lares

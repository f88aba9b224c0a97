// Text-format errors: every one names the file, the 1-based line and column, and what is wrong.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/apps_config/config_test_util.h"

namespace ff::apps::test {
namespace {

TrainConfig parse(const std::string& text) { return parse_train_config(text, "test.prototxt"); }

TEST(ConfigSyntaxErrors, MissingColonNamesLineAndColumn) {
  // line 3, "0.1" starts at column 6
  expect_error([] { parse("data { format: \"synthetic\" }\noptimizer {\n  lr 0.1\n}\n"); },
               {"test.prototxt:3:6:", "Expected \":\""});
}

TEST(ConfigSyntaxErrors, UnclosedSectionIsReported) {
  const std::string message = error_of([] { parse("optimizer {\n  lr: 0.1\n"); });
  EXPECT_EQ(message.rfind("test.prototxt:", 0), 0u) << message;
  EXPECT_NE(message.find("test.prototxt:3:1: unexpected end of the text: a section is not closed"), std::string::npos)
      << message;
}

TEST(ConfigSyntaxErrors, UnknownKeyNamesTheKeySectionAndValidKeys) {
  expect_error([] { parse("data { format: \"synthetic\" }\noptimizer {\n  lrr: 0.1\n}\n"); },
               {"test.prototxt:3:3:", "unknown key \"lrr\" in section optimizer", "keys there: type, batch_size, lr,"});
}

TEST(ConfigSyntaxErrors, UnknownTopLevelKey) {
  expect_error([] { parse("data { format: \"synthetic\" }\nfp16: true\n"); },
               {"test.prototxt:2:1:", "unknown key \"fp16\" in the top level", "precision"});
}

TEST(ConfigSyntaxErrors, WrongTypes) {
  expect_error([] { parse("optimizer {\n  batch_size: 1.5\n}\n"); }, {"test.prototxt:2:15:", "Expected integer"});
  expect_error([] { parse("optimizer { lr: \"fast\" }\n"); }, {"test.prototxt:1:17:", "Expected double"});
  expect_error([] { parse("model { network: r50 }\n"); },
               {"test.prototxt:1:18:", "Expected string", "(strings are quoted: \"r50\")"});
  expect_error([] { parse("logging {\n  resume: maybe\n}\n"); }, {"test.prototxt:2:11:", "boolean"});
  expect_error([] { parse("optimizer { seed: -1 }\n"); }, {"test.prototxt:1:"});
  expect_error([] { parse("data { num_workers: 9999999999 }\n"); }, {"test.prototxt:1:", "out of range"});
  // A section written as a key, and a key written as a section.
  expect_error([] { parse("optimizer: 0.1\n"); }, {"test.prototxt:1:"});
  expect_error([] { parse("optimizer { lr { } }\n"); }, {"test.prototxt:1:"});
}

TEST(ConfigSyntaxErrors, KeyGivenTwiceIsAnError) {
  expect_error([] { parse("optimizer {\n  lr: 0.1\n  lr: 0.2\n}\n"); },
               {"test.prototxt:3:3: key \"lr\" is given twice in one section"});
  // So is a section given twice.
  expect_error([] { parse("data { format: \"synthetic\" }\ndata { path: \"/d\" }\n"); },
               {"test.prototxt:2:1: key \"data\" is given twice in one section"});
}

TEST(ConfigSyntaxErrors, GarbageIsAnErrorNotACrash) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  const std::vector<std::string> inputs = {binary, std::string(5000, '{'), "model " + std::string(5000, '{'),
                                           "\"unterminated", "model { network: \"r50", std::string("\0\0", 2),
                                           "}", "model {}}"};
  for (const std::string& text : inputs) {
    const std::string message = error_of([&] { parse(text); });
    EXPECT_EQ(message.rfind("test.prototxt", 0), 0u) << message;
  }
}

TEST(ConfigSyntaxErrors, LoadNamesTheFileAndMissingFile) {
  const std::string path = ::testing::TempDir() + "/ff_config_syntax_test.prototxt";
  {
    std::ofstream out(path);
    out << "# comment\nmodel {\n  netwrk: \"r50\"\n}\n";
  }
  expect_error([&] { load_train_config(path); }, {path + ":3:3:", "unknown key \"netwrk\" in section model"});
  expect_error([] { load_train_config("/nonexistent/dir/none.prototxt"); },
               {"cannot open config file '/nonexistent/dir/none.prototxt'"});
}

}  // namespace
}  // namespace ff::apps::test

// The subcommands of convert_dataset (apps/convert_dataset/main.cpp parses the command line).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace ff::apps {

// A bad command line (missing or malformed option): exit status 2 rather than 1.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parsed "--name value" options and "--flag" switches of one subcommand.
struct Args {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;

  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string get(const std::string& name) const;  // required: throws UsageError naming the option
  std::string get_or(const std::string& name, const std::string& fallback) const;
  int64_t get_int(const std::string& name, int64_t fallback, int64_t min_value) const;
  bool flag(const std::string& name) const { return switches.count(name) != 0; }
};

int rec_to_ofrecord(const Args& args);
int folder_to_ofrecord(const Args& args);
int inspect_bin(const Args& args);
int inspect_ofrecord(const Args& args);
int inspect_rec(const Args& args);
int dump_pickle(const Args& args);

}  // namespace ff::apps

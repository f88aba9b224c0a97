// The command-line convention the small apps share (train, model_info, model_bench,
// make_synthetic): `--flag value` pairs and value-less switches; --help or -h prints the usage to
// stdout and exits 0; a usage error prints its reason and the usage to stderr and exits 2.
// Header-only, so that apps which do not link faceflow_apps can use it too.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ff::apps {

struct CommandLineUsage {
  const char* program;  // every message starts "<program>: "
  const char* summary;  // what --help prints after "<program>: "
  const char* text;     // the "usage: ..." lines, each ending in '\n'

  // Prints "<program>: <why>" and the usage text, to stdout when asked for (code 0) and to
  // stderr otherwise, then exits with `code`.
  [[noreturn]] void exit_with(const std::string& why, int code) const {
    std::fprintf(code == 0 ? stdout : stderr, "%s: %s\n%s", program, why.c_str(), text);
    std::exit(code);
  }
  [[noreturn]] void fail(const std::string& why) const { exit_with(why, 2); }
};

// Walks argv[1..]. A flag for which take_switch(flag) returns true takes no value; every other
// flag takes the next argument, and take_value(flag, value) returns false for a flag it does not
// know. --help/-h, a missing value and an unknown flag end the process through `usage`.
template <typename TakeSwitch, typename TakeValue>
void parse_flags(int argc, char** argv, const CommandLineUsage& usage, const TakeSwitch& take_switch,
                 const TakeValue& take_value) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage.exit_with(usage.summary, 0);
    if (take_switch(flag)) continue;
    if (i + 1 >= argc) usage.fail("missing value for " + flag);
    const std::string value = argv[++i];
    if (!take_value(flag, value)) usage.fail("unknown option " + flag);
  }
}

// For programs whose every flag takes a value.
template <typename TakeValue>
void parse_flags(int argc, char** argv, const CommandLineUsage& usage, const TakeValue& take_value) {
  parse_flags(argc, argv, usage, [](const std::string&) { return false; }, take_value);
}

// "mbf,r50" -> {"mbf", "r50"}; empty pieces ("a,,b", a trailing comma) are dropped.
inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= s.size();) {
    const size_t comma = std::min(s.find(',', start), s.size());
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace ff::apps

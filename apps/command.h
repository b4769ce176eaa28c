#pragma once
// How `tdml` finds its commands: each apps/<command>.cpp registers itself with a static
// Registration, so adding a command never touches main.cpp.
#include <cxxopts.hpp>
#include <string>
#include <vector>

namespace tdml::app {

// A command gets the arguments after its name (argv[0] is "tdml <name>") and returns the exit
// code. It may throw tdml::Error / tdml::UsageError; main turns those into one line + exit code.
using CommandFn = int (*)(int argc, char** argv);

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

struct Registration {
  Registration(const char* name, const char* summary, CommandFn run);
};

const std::vector<Command>& commands();

// Options in this group are parsed but not listed by --help (a positional word's slot).
inline constexpr const char kHiddenGroup[] = "hidden";

// Parses argv with `opts` (adds --help, -v/--verbose, -q/--quiet and sets up logging).
// Returns false when --help was printed (the command should return 0).
bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out);
// The same for a command that passes on what it does not know (`tdml fl grid`, to its cells):
// the arguments `opts` does not recognise, in their order, go to passed_on instead of an error
// (call opts.allow_unrecognised_options() first, or unknown options are still an error).
bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out,
           std::vector<std::string>& passed_on);

}  // namespace tdml::app

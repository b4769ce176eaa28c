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

// Parses argv with `opts` (adds --help, -v/--verbose, -q/--quiet and sets up logging).
// Returns false when --help was printed (the command should return 0).
bool parse(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out);

}  // namespace tdml::app

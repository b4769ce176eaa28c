// `tdml models`: the model zoo with parameter counts and sizes (table or --json).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "tdml/models/model.h"
#include "tdml/models/state_dict.h"

namespace {

int models_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "List the models tdml trains, with their parameter counts");
  opts.add_options()("json", "Print JSON instead of a table")(
      "classes", "Number of output classes", cxxopts::value<int>()->default_value("10"));
  cxxopts::ParseResult args;
  if (!tdml::app::parse(opts, argc, argv, args)) return 0;
  const int classes = args["classes"].as<int>();

  nlohmann::json rows = nlohmann::json::array();
  for (const auto& info : tdml::models::list_models()) {
    auto model = tdml::models::make_model(info.name, classes);
    auto sd = tdml::models::state_dict(*model);
    rows.push_back({{"name", info.name},
                    {"parameters", tdml::models::parameter_count(*model)},
                    {"bytes", tdml::models::parameter_bytes(*model)},
                    {"state_dict_keys", sd.size()},
                    {"blocks", model->blocks().size()},
                    {"description", info.description}});
  }
  if (args.count("json")) {
    std::cout << nlohmann::json{{"num_classes", classes}, {"models", rows}}.dump(2) << "\n";
    return 0;
  }
  std::printf("%-14s %12s %12s  %s\n", "model", "parameters", "bytes", "description");
  for (const auto& r : rows) {
    std::printf("%-14s %12lld %12lld  %s\n", r["name"].get<std::string>().c_str(),
                static_cast<long long>(r["parameters"].get<std::int64_t>()),
                static_cast<long long>(r["bytes"].get<std::int64_t>()),
                r["description"].get<std::string>().c_str());
  }
  return 0;
}

const tdml::app::Registration kModels("models", "List the models with parameter counts and sizes",
                                      models_main);

}  // namespace

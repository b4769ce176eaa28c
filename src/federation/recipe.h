#pragma once
// The recipe a federation server sends with every round (Task.recipe_json): what the clients
// train and how. A client's own options never change it.
#include <nlohmann/json.hpp>

#include "tdml/fl/options.h"

namespace tdml::federation {

nlohmann::json recipe_json(const fl::RunnerOptions& o);
// A client's RunnerOptions from the server's recipe (throws tdml::Error on a malformed one).
fl::RunnerOptions recipe_options(const nlohmann::json& recipe, const torch::Device& device);

}  // namespace tdml::federation

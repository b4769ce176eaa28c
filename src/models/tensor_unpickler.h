#pragma once
// Private to src/models: reads the pickle of a torch.save zip that holds a dict of tensors.
//
// LibTorch's own Unpickler turns collections.OrderedDict into None (it only expects it as a
// tensor's empty backward-hook dict), so it cannot read Python's
// torch.save(model.state_dict()). This reader understands exactly what such files contain:
// dicts and OrderedDicts (their _metadata is ignored), tuples, lists, scalars, strings, and
// tensors rebuilt by torch._utils._rebuild_tensor_v2 / _rebuild_parameter from storages in
// data/<key> records. Anything else (custom classes, arbitrary globals) is refused, which also
// makes loading a file safe: nothing is executed.
#include <string>

#include "tdml/models/state_dict.h"

namespace tdml::models::detail {

// Reads `path` (a zip written by torch.save, torch::pickle_save or save_tensors) whose pickle is
// a dict of str -> tensor. Throws tdml::Error naming the path and what was unexpected.
StateDict read_tensor_dict(const std::string& path);

}  // namespace tdml::models::detail

#include "tdml/models/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tensor_unpickler.h"

namespace tdml::models {
namespace {

// PyTorch's Module.state_dict() order: own parameters, own buffers, then each child.
void collect(const torch::nn::Module& m, const std::string& prefix, StateDict& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) {
    if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value().detach());
  }
  for (const auto& b : m.named_buffers(/*recurse=*/false)) {
    if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value().detach());
  }
  for (const auto& c : m.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

std::string shape_str(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// "'a', 'b', 'c' and 2 more"
std::string key_list(const std::vector<std::string>& keys) {
  constexpr std::size_t kShown = 5;
  std::string s;
  for (std::size_t i = 0; i < keys.size() && i < kShown; ++i) {
    s += (i ? ", '" : "'") + keys[i] + "'";
  }
  if (keys.size() > kShown) s += " and " + std::to_string(keys.size() - kShown) + " more";
  return s;
}

}  // namespace

StateDict state_dict(const torch::nn::Module& m) {
  StateDict out;
  collect(m, "", out);
  return out;
}

void load_state_dict(torch::nn::Module& m, const StateDict& sd, bool strict) {
  StateDict own = state_dict(m);
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < own.size(); ++i) index.emplace(own[i].first, i);

  // Check everything first so a failed load leaves the module untouched.
  std::vector<std::string> unexpected, mismatched, mistyped, duplicate;
  std::unordered_set<std::string> seen;
  std::vector<std::pair<std::size_t, const torch::Tensor*>> copies;
  for (const auto& [key, value] : sd) {
    if (!seen.insert(key).second) {
      duplicate.push_back(key);
      continue;
    }
    auto it = index.find(key);
    if (it == index.end()) {
      unexpected.push_back(key);
      continue;
    }
    const auto& target = own[it->second].second;
    if (!value.defined() || value.sizes() != target.sizes()) {
      mismatched.push_back(key + "' (checkpoint " +
                           (value.defined() ? shape_str(value) : "undefined") + ", model " +
                           shape_str(target) + ")");
      continue;
    }
    // PyTorch's load_state_dict converts silently; a float64 tensor where the model has float32
    // is another model's checkpoint (or a damaged one), so it is refused, naming it.
    if (value.scalar_type() != target.scalar_type()) {
      mistyped.push_back(key + "' (checkpoint " + std::string(c10::toString(value.scalar_type())) +
                         ", model " + c10::toString(target.scalar_type()) + ")");
      continue;
    }
    copies.emplace_back(it->second, &value);
  }
  std::vector<std::string> missing;
  for (const auto& [key, value] : own) {
    if (!seen.count(key)) missing.push_back(key);
  }

  std::string problems;
  auto add = [&problems](const std::string& what) {
    problems += (problems.empty() ? "" : "; ") + what;
  };
  if (!duplicate.empty()) add("duplicate key(s) " + key_list(duplicate));
  if (!mismatched.empty()) {
    std::string s;
    for (std::size_t i = 0; i < mismatched.size() && i < 5; ++i)
      s += (i ? ", '" : "'") + mismatched[i];
    if (mismatched.size() > 5) s += " and " + std::to_string(mismatched.size() - 5) + " more";
    add("size mismatch for " + s);
  }
  if (!mistyped.empty()) {
    std::string s;
    for (std::size_t i = 0; i < mistyped.size() && i < 5; ++i) s += (i ? ", '" : "'") + mistyped[i];
    if (mistyped.size() > 5) s += " and " + std::to_string(mistyped.size() - 5) + " more";
    add("dtype mismatch for " + s);
  }
  if (strict && !unexpected.empty()) add("unexpected key(s) " + key_list(unexpected));
  if (strict && !missing.empty()) {
    add("missing key(s) " + key_list(missing) + " (" + std::to_string(missing.size()) + " of " +
        std::to_string(own.size()) + ")");
  }
  if (!problems.empty()) {
    throw Error("cannot load state dict into " + m.name() + ": " + problems +
                " (is the checkpoint for this model?)");
  }

  torch::NoGradGuard no_grad;
  for (const auto& [i, value] : copies) own[i].second.copy_(*value);
}

void save_tensors(const std::string& path, const StateDict& sd) {
  // A plain dict (insertion-ordered in Python) of CPU tensors, without the type tags that
  // torch::pickle_save adds and torch.load(weights_only=True) refuses.
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [key, value] : sd) {
    TDML_CHECK(value.defined(), "cannot save " << path << ": tensor '" << key << "' is undefined");
    TDML_CHECK(!dict.contains(key), "cannot save " << path << ": duplicate key '" << key << "'");
    dict.insert(key, value.detach().cpu());
  }
  std::vector<char> pickle;
  torch::jit::Pickler pickler(
      [&pickle](const char* data, size_t n) { pickle.insert(pickle.end(), data, data + n); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(dict);
  pickler.stop();

  // The layout of torch.save's zip: archive/data.pkl plus one archive/data/<n> per storage.
  std::string bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&bytes](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  const auto& tensors = pickler.tensorData();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    auto wtd = torch::jit::getWriteableTensorData(tensors[i], /*to_cpu=*/true);
    writer.writeRecord("data/" + std::to_string(i), wtd.data(), wtd.sizeInBytes());
  }
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  util::write_file_atomic(path, bytes);
}

StateDict load_tensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path + ": " + std::strerror(errno));
  char head[4] = {};
  in.read(head, 4);
  if (in.gcount() != 4 || std::memcmp(head, "PK\x03\x04", 4) != 0) {
    throw Error("cannot load tensors from " + path +
                ": not a zip archive (expected a file from tdml or Python's torch.save)");
  }
  return detail::read_tensor_dict(path);
}

}  // namespace tdml::models

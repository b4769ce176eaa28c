#include "tensor_unpickler.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

#include "tdml/util/error.h"

namespace tdml::models::detail {
namespace {

struct Obj;
using Ptr = std::shared_ptr<Obj>;

// A Python value as far as state-dict pickles need them.
struct Obj {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kTuple,
    kList,
    kDict,
    kGlobal,
    kStorage,
    kTensor
  };
  Kind kind = Kind::kNone;
  std::int64_t i = 0;
  double f = 0;
  std::string s;                             // str; "module.name" of a global
  std::vector<Ptr> items;                    // tuple / list
  std::vector<std::pair<Ptr, Ptr>> entries;  // dict, in insertion order
  at::Storage storage;                       // storage
  at::ScalarType dtype = at::kFloat;         // storage
  at::Tensor tensor;                         // tensor
  // Containers: nesting depth, and whether another object holds this one. A container is
  // filled only while nothing holds it, so no pickle can make a cycle of shared_ptrs (a leak)
  // and `depth` stays exact (deep nesting would overflow the stack in the destructors).
  int depth = 0;
  bool held = false;

  static Ptr make(Kind k) {
    auto p = std::make_shared<Obj>();
    p->kind = k;
    return p;
  }
};

at::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, at::ScalarType> types = {
      {"torch.FloatStorage", at::kFloat},
      {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},
      {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},
      {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
      {"torch.ComplexFloatStorage", at::kComplexFloat},
      {"torch.ComplexDoubleStorage", at::kComplexDouble}};
  auto it = types.find(global);
  if (it == types.end()) throw Error("unsupported storage type " + global);
  return it->second;
}

// A state dict nests 4 deep (dict, rebuild arguments, sizes, int); Python's pickle allows ~1000.
constexpr int kMaxDepth = 100;

class Reader {
 public:
  Reader(caffe2::serialize::PyTorchStreamReader& zip, const char* data, std::size_t size)
      : zip_(zip), p_(data), end_(data + size) {}

  Ptr run() {
    for (;;) {
      const char op = byte();
      switch (op) {
        case '\x80':
          byte();
          break;  // PROTO
        case '\x95':
          bytes(8);
          break;  // FRAME
        case '.':
          return pop();  // STOP
        case '(':
          marks_.push_back(stack_.size());
          break;
        case 'N':
          push(Obj::make(Obj::Kind::kNone));
          break;
        case '\x88':
          push_bool(true);
          break;
        case '\x89':
          push_bool(false);
          break;
        case 'K':
          push_int(static_cast<unsigned char>(byte()));
          break;
        case 'M':
          push_int(le_uint(2));
          break;
        case 'J':
          push_int(static_cast<std::int32_t>(le_uint(4)));
          break;
        case '\x8a':
          push_long1();
          break;
        case 'G':
          push_float();
          break;
        case 'X':
          push_str(le_uint(4));
          break;
        case '\x8c':
          push_str(static_cast<unsigned char>(byte()));
          break;
        case '\x8d':
          push_str(le_uint(8));
          break;
        case '}':
          push(Obj::make(Obj::Kind::kDict));
          break;
        case ']':
          push(Obj::make(Obj::Kind::kList));
          break;
        case ')':
          push(Obj::make(Obj::Kind::kTuple));
          break;
        case 't':
          push_tuple(pop_mark());
          break;
        case '\x85':
          push_tuple(pop_n(1));
          break;
        case '\x86':
          push_tuple(pop_n(2));
          break;
        case '\x87':
          push_tuple(pop_n(3));
          break;
        case 's':
          set_items(pop_n(2));
          break;
        case 'u':
          set_items(pop_mark());
          break;
        case 'a':
          append(pop_n(1));
          break;
        case 'e':
          append(pop_mark());
          break;
        case 'q':
          memo_[static_cast<unsigned char>(byte())] = top();
          break;
        case 'r':
          memo_[le_uint(4)] = top();
          break;
        case '\x94':
          memo_[memo_.size()] = top();
          break;
        case 'h':
          push(memo(static_cast<unsigned char>(byte())));
          break;
        case 'j':
          push(memo(le_uint(4)));
          break;
        case 'c': {
          std::string module = line();
          push_global(module, line());
          break;
        }
        case '\x93': {
          Ptr name = pop();
          Ptr module = pop();
          push_global(module->s, name->s);
          break;
        }
        case 'Q':
          push(persistent_load(pop()));
          break;
        case 'R': {
          auto args = pop();
          auto fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b':
          pop();
          break;  // BUILD: OrderedDict's _metadata; not part of the tensors
        case '0':
          pop();
          break;  // POP
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(op));
          throw Error(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

 private:
  char byte() {
    if (p_ >= end_) throw Error("the pickle ends early");
    return *p_++;
  }
  const char* bytes(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) throw Error("the pickle ends early");
    const char* at = p_;
    p_ += n;
    return at;
  }
  std::uint64_t le_uint(int n) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes(static_cast<std::size_t>(n)));
    std::uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | b[k];
    return v;
  }
  std::string line() {
    const char* start = p_;
    while (byte() != '\n') {
    }
    return std::string(start, p_ - 1);
  }

  void push(Ptr v) { stack_.push_back(std::move(v)); }
  Ptr top() {
    if (stack_.empty()) throw Error("malformed pickle (empty stack)");
    return stack_.back();
  }
  Ptr pop() {
    Ptr v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<Ptr> pop_n(std::size_t n) {
    if (stack_.size() < n + (marks_.empty() ? 0 : marks_.back())) throw Error("malformed pickle");
    std::vector<Ptr> out(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return out;
  }
  std::vector<Ptr> pop_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) throw Error("malformed pickle (no mark)");
    std::size_t at = marks_.back();
    marks_.pop_back();
    std::vector<Ptr> out(stack_.begin() + static_cast<std::ptrdiff_t>(at), stack_.end());
    stack_.resize(at);
    return out;
  }
  Ptr memo(std::uint64_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) throw Error("malformed pickle (memo " + std::to_string(i) + ")");
    return it->second;
  }

  void push_bool(bool b) {
    auto v = Obj::make(Obj::Kind::kBool);
    v->i = b;
    push(v);
  }
  void push_int(std::int64_t i) {
    auto v = Obj::make(Obj::Kind::kInt);
    v->i = i;
    push(v);
  }
  void push_long1() {
    const auto n = static_cast<unsigned char>(byte());
    if (n > 8) throw Error("integer too large in pickle");
    const auto* b = reinterpret_cast<const unsigned char*>(bytes(n));
    std::uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | b[k];
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign-extend
    push_int(static_cast<std::int64_t>(v));
  }
  void push_float() {
    const char* b = bytes(8);
    std::uint64_t bits = 0;
    for (int k = 0; k < 8; ++k)
      bits = (bits << 8) | static_cast<unsigned char>(b[k]);  // big-endian
    auto v = Obj::make(Obj::Kind::kFloat);
    std::memcpy(&v->f, &bits, 8);
    push(v);
  }
  void push_str(std::uint64_t n) {
    auto v = Obj::make(Obj::Kind::kStr);
    v->s.assign(bytes(n), n);
    push(v);
  }
  void push_tuple(std::vector<Ptr> items) {
    auto v = Obj::make(Obj::Kind::kTuple);
    hold(*v, items);
    v->items = std::move(items);
    push(v);
  }
  // Marks `items` as held by `container` (which must not be held yet) and updates its depth.
  void hold(Obj& container, const std::vector<Ptr>& items) {
    for (const auto& x : items) x->held = true;
    if (container.held) throw Error("malformed pickle (a container filled after it was stored)");
    for (const auto& x : items) container.depth = std::max(container.depth, x->depth + 1);
    if (container.depth > kMaxDepth) {
      throw Error("malformed pickle (nested deeper than " + std::to_string(kMaxDepth) + ")");
    }
  }
  void push_global(const std::string& module, const std::string& name) {
    auto v = Obj::make(Obj::Kind::kGlobal);
    v->s = module + "." + name;
    push(v);
  }
  void set_items(std::vector<Ptr> kv) {
    Ptr dict = top();
    if (dict->kind != Obj::Kind::kDict || kv.size() % 2) throw Error("malformed pickle (setitems)");
    hold(*dict, kv);
    for (std::size_t k = 0; k < kv.size(); k += 2) dict->entries.emplace_back(kv[k], kv[k + 1]);
  }
  void append(std::vector<Ptr> items) {
    Ptr list = top();
    if (list->kind != Obj::Kind::kList) throw Error("malformed pickle (append)");
    hold(*list, items);
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> the storage in data/<key>.
  Ptr persistent_load(const Ptr& pid) {
    if (pid->kind != Obj::Kind::kTuple || pid->items.size() < 5 || pid->items[0]->s != "storage") {
      throw Error("unsupported persistent id (expected a tensor storage)");
    }
    const std::string& key = pid->items[2]->s;
    auto it = storages_.find(key);
    if (it != storages_.end()) return it->second;
    auto v = Obj::make(Obj::Kind::kStorage);
    v->dtype = storage_dtype(pid->items[1]->s);
    auto [data, size] = zip_.getRecord("data/" + key);
    v->storage = at::Storage(at::Storage::use_byte_size_t(), size, std::move(data), nullptr, false);
    storages_.emplace(key, v);
    return v;
  }

  static std::vector<std::int64_t> ints(const Ptr& tuple) {
    std::vector<std::int64_t> out;
    for (const auto& x : tuple->items) out.push_back(x->i);
    return out;
  }

  Ptr reduce(const Ptr& fn, const Ptr& args) {
    if (fn->kind != Obj::Kind::kGlobal || args->kind != Obj::Kind::kTuple) {
      throw Error("malformed pickle (reduce)");
    }
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") return Obj::make(Obj::Kind::kDict);
    if (fn->s == "torch._utils._rebuild_tensor_v2" && a.size() >= 4 &&
        a[0]->kind == Obj::Kind::kStorage) {
      auto v = Obj::make(Obj::Kind::kTensor);
      v->tensor = at::empty({0}, at::TensorOptions().dtype(a[0]->dtype))
                      .set_(a[0]->storage, a[1]->i, ints(a[2]), ints(a[3]));
      return v;
    }
    if (fn->s == "torch._utils._rebuild_parameter" && !a.empty() &&
        a[0]->kind == Obj::Kind::kTensor) {
      return a[0];
    }
    throw Error("unsupported object " + fn->s + " (only dicts of tensors are read)");
  }

  caffe2::serialize::PyTorchStreamReader& zip_;
  const char* p_;
  const char* end_;
  std::vector<Ptr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ptr> memo_;
  std::unordered_map<std::string, Ptr> storages_;
};

}  // namespace

StateDict read_tensor_dict(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);
    if (zip.hasRecord("byteorder")) {
      auto [data, size] = zip.getRecord("byteorder");
      std::string order(static_cast<const char*>(data.get()), size);
      if (order != "little") throw Error("tensors stored " + order + "-endian");
    }
    auto [data, size] = zip.getRecord("data.pkl");
    Reader reader(zip, static_cast<const char*>(data.get()), size);
    Ptr root = reader.run();
    if (root->kind != Obj::Kind::kDict) throw Error("it does not hold a dict");
    StateDict out;
    for (const auto& [k, v] : root->entries) {
      if (k->kind != Obj::Kind::kStr || v->kind != Obj::Kind::kTensor) {
        throw Error("it holds a dict entry that is not str -> tensor");
      }
      out.emplace_back(k->s, v->tensor);
    }
    return out;
  } catch (const Error& e) {
    throw Error("cannot load tensors from " + path + ": " + e.what());
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error("cannot load tensors from " + path + ": " + what.substr(0, what.find('\n')));
  }
}

}  // namespace tdml::models::detail

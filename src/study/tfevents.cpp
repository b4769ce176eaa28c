#include "tdml/study/tfevents.h"

#include <array>
#include <chrono>
#include <cstring>

#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/system.h"

namespace tdml::study {
namespace {

constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

const std::array<std::uint32_t, 256>& crc_table() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // reflected
      t[i] = c;
    }
    return t;
  }();
  return table;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Protocol-buffer wire format pieces (only what Event/Summary/Value need).
void put_varint(std::string& s, std::uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}
void put_key(std::string& s, int field, int wire) { put_varint(s, (field << 3) | wire); }
template <typename T>
void put_fixed(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86/ARM little-endian, as the wire format
  s.append(b, sizeof(T));
}
void put_bytes(std::string& s, int field, const std::string& v) {
  put_key(s, field, 2);
  put_varint(s, v.size());
  s += v;
}

std::string event_header(double wall, std::int64_t step) {
  std::string e;
  put_key(e, 1, 1);  // Event.wall_time: double
  put_fixed(e, wall);
  put_key(e, 2, 0);  // Event.step: int64
  put_varint(e, static_cast<std::uint64_t>(step));
  return e;
}

// A minimal decoder over one message's bytes.
struct ProtoReader {
  const std::string& s;
  std::size_t pos = 0;
  std::size_t end;
  ProtoReader(const std::string& str, std::size_t b, std::size_t e) : s(str), pos(b), end(e) {}
  bool done() const { return pos >= end; }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      TDML_CHECK(pos < end, "truncated varint");
      auto b = static_cast<unsigned char>(s[pos++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw Error("varint too long");
  }
  template <typename T>
  T fixed() {
    TDML_CHECK(pos + sizeof(T) <= end, "truncated fixed field");
    T v;
    std::memcpy(&v, s.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::pair<std::size_t, std::size_t> bytes() {
    auto n = varint();
    TDML_CHECK(pos + n <= end, "truncated length-delimited field");
    std::pair<std::size_t, std::size_t> r{pos, pos + n};
    pos += n;
    return r;
  }
  void skip(int wire) {
    switch (wire) {
      case 0:
        varint();
        break;
      case 1:
        fixed<std::uint64_t>();
        break;
      case 2:
        bytes();
        break;
      case 5:
        fixed<std::uint32_t>();
        break;
      default:
        throw Error("unsupported wire type " + std::to_string(wire));
    }
  }
};

std::string u64_bytes(std::uint64_t v) {
  std::string s;
  put_fixed(s, v);
  return s;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t n) {
  const auto& t = crc_table();
  auto p = static_cast<const unsigned char*>(data);
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::uint32_t masked_crc32c(const void* data, std::size_t n) {
  const std::uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + kMaskDelta;
}

EventWriter::EventWriter(const std::string& dir) {
  util::make_dirs(dir);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<long long>(now_seconds())) +
          "." + util::host_name() + ".tdml";
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error("cannot create TensorBoard event file " + path_);
  std::string e = event_header(now_seconds(), 0);
  put_bytes(e, 3, "brain.Event:2");  // Event.file_version
  write_record(e);
}

void EventWriter::add_scalar(const std::string& tag, std::int64_t step, double value) {
  std::string v;
  put_bytes(v, 1, tag);  // Summary.Value.tag
  put_key(v, 2, 5);      // Summary.Value.simple_value: float
  put_fixed(v, static_cast<float>(value));
  std::string summary;
  put_bytes(summary, 1, v);  // Summary.value (repeated)
  std::string e = event_header(now_seconds(), step);
  put_bytes(e, 5, summary);  // Event.summary
  write_record(e);
}

void EventWriter::write_record(const std::string& data) {
  const std::string len = u64_bytes(data.size());
  std::string rec = len;
  put_fixed(rec, masked_crc32c(len.data(), len.size()));
  rec += data;
  put_fixed(rec, masked_crc32c(data.data(), data.size()));
  out_.write(rec.data(), static_cast<std::streamsize>(rec.size()));
  out_.flush();
  if (!out_) throw Error("cannot write TensorBoard event file " + path_);
}

std::vector<ScalarEvent> read_event_file(const std::string& path) {
  const std::string s = util::read_file(path);
  std::vector<ScalarEvent> out;
  std::size_t pos = 0;
  for (int index = 0; pos < s.size(); ++index) {
    const std::string where = path + ": record " + std::to_string(index);
    if (pos + 12 > s.size()) throw Error(where + ": truncated header");
    std::uint64_t len;
    std::uint32_t len_crc, data_crc;
    std::memcpy(&len, s.data() + pos, 8);
    std::memcpy(&len_crc, s.data() + pos + 8, 4);
    if (len_crc != masked_crc32c(s.data() + pos, 8)) throw Error(where + ": bad length CRC");
    if (pos + 12 + len + 4 > s.size()) throw Error(where + ": truncated data");
    const std::size_t b = pos + 12, e = b + len;
    std::memcpy(&data_crc, s.data() + e, 4);
    if (data_crc != masked_crc32c(s.data() + b, len)) throw Error(where + ": bad data CRC");
    pos = e + 4;

    ScalarEvent ev;
    try {
      ProtoReader r(s, b, e);
      while (!r.done()) {
        auto key = r.varint();
        int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
        if (field == 1 && wire == 1) {
          ev.wall_time = r.fixed<double>();
        } else if (field == 2 && wire == 0) {
          ev.step = static_cast<std::int64_t>(r.varint());
        } else if (field == 3 && wire == 2) {
          auto [fb, fe] = r.bytes();
          ev.file_version = s.substr(fb, fe - fb);
        } else if (field == 5 && wire == 2) {
          auto [sb, se] = r.bytes();
          ProtoReader sum(s, sb, se);
          while (!sum.done()) {
            auto k = sum.varint();
            if (k != ((1 << 3) | 2)) {
              sum.skip(static_cast<int>(k & 7));
              continue;
            }
            auto [vb, ve] = sum.bytes();
            ProtoReader val(s, vb, ve);
            while (!val.done()) {
              auto vk = val.varint();
              if (vk == ((1 << 3) | 2)) {
                auto [tb, te] = val.bytes();
                ev.tag = s.substr(tb, te - tb);
              } else if (vk == ((2 << 3) | 5)) {
                ev.value = val.fixed<float>();
              } else {
                val.skip(static_cast<int>(vk & 7));
              }
            }
          }
        } else {
          r.skip(wire);
        }
      }
    } catch (const Error& err) {
      throw Error(where + ": bad Event proto: " + err.what());
    }
    out.push_back(ev);
  }
  return out;
}

}  // namespace tdml::study

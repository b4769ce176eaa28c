#include "tdml/ledger/canonical_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tdml/util/error.h"

namespace tdml::ledger {

std::string python_float_repr(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  // Shortest round-trip digits from to_chars in scientific form "d.ddde[+-]XX", then Python's
  // layout rule (format_float_short, mode 'r'): exponent form when decpt <= -4 or decpt > 16.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  auto e = s.find('e');
  std::string mant = s.substr(0, e);
  int exp10 = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  const int ndigits = static_cast<int>(digits.size());
  const int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  std::string out = sign;
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (ndigits > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
  } else if (decpt <= 0) {
    out += "0." + std::string(-decpt, '0') + digits;
  } else if (decpt < ndigits) {
    out += digits.substr(0, decpt) + "." + digits.substr(decpt);
  } else {
    out += digits + std::string(decpt - ndigits, '0') + ".0";
  }
  return out;
}

namespace {

void append_u16(std::string& out, unsigned v) {
  char b[8];
  std::snprintf(b, sizeof b, "\\u%04x", v);
  out += b;
}

// Python's encode_basestring_ascii: printable ASCII as is, short escapes, the rest \uXXXX.
void append_string(std::string& out, const std::string& s) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c >= 0x20 && c <= 0x7e) {
            out += static_cast<char>(c);
          } else {
            append_u16(out, c);
          }
      }
      continue;
    }
    int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (len == 0 || c >= 0xf8 || i + len > s.size()) {
      throw Error("canonical JSON: string is not valid UTF-8 (byte " + std::to_string(i) + ")");
    }
    unsigned cp = c & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        throw Error("canonical JSON: string is not valid UTF-8 (byte " + std::to_string(i + k) +
                    ")");
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    static const unsigned kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw Error("canonical JSON: string is not valid UTF-8 (byte " + std::to_string(i) + ")");
    }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      append_u16(out, 0xd800 | (cp >> 10));
      append_u16(out, 0xdc00 | (cp & 0x3ff));
    } else {
      append_u16(out, cp);
    }
  }
  out += '"';
}

// Deeper input is refused (a ledger nests 4 levels): recursion must not overflow the stack on
// a crafted line (fuzz/regressions/ledger/deep-nesting-stack-overflow.jsonl).
constexpr int kMaxDepth = 64;

void append_value(std::string& out, const nlohmann::json& v, int depth = 0) {
  using T = nlohmann::json::value_t;
  if (depth > kMaxDepth) {
    throw Error("canonical JSON: nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  switch (v.type()) {
    case T::null:
      out += "null";
      break;
    case T::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case T::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      break;
    case T::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      break;
    case T::number_float:
      out += python_float_repr(v.get<double>());
      break;
    case T::string:
      append_string(out, v.get_ref<const std::string&>());
      break;
    case T::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        append_value(out, e, depth + 1);
      }
      out += ']';
      break;
    }
    case T::object: {
      // nlohmann::json keeps keys in a std::map: UTF-8 byte order is code point order, which is
      // how Python sorts str keys.
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ',';
        first = false;
        append_string(out, it.key());
        out += ':';
        append_value(out, it.value(), depth + 1);
      }
      out += '}';
      break;
    }
    default:
      throw Error("canonical JSON: binary or discarded values cannot be serialised");
  }
}

}  // namespace

std::string canonical_json(const nlohmann::json& value) {
  std::string out;
  append_value(out, value);
  return out;
}

}  // namespace tdml::ledger

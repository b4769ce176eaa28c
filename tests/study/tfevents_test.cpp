#include "tdml/study/tfevents.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "support/test_support.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"

namespace {

using tdml::study::crc32c;
using tdml::study::masked_crc32c;

TEST(TfEvents, Crc32cMatchesKnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const std::uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TfEvents, WritesFramedRecordsThatReadBack) {
  tdml::test::TempDir dir;
  std::string path;
  {
    tdml::study::EventWriter w(dir / "cell");
    path = w.path();
    w.add_scalar("loss/train", 1, 2.25);
    w.add_scalar("throughput/images_per_s", 1, 1234.5);
    w.add_scalar("loss/train", 2, 1.5);
  }
  EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
  auto ev = tdml::study::read_event_file(path);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");
  EXPECT_GT(ev[0].wall_time, 1.7e9);
  EXPECT_EQ(ev[1].tag, "loss/train");
  EXPECT_EQ(ev[1].step, 1);
  EXPECT_FLOAT_EQ(ev[1].value, 2.25f);
  EXPECT_EQ(ev[2].tag, "throughput/images_per_s");
  EXPECT_FLOAT_EQ(ev[2].value, 1234.5f);
  EXPECT_EQ(ev[3].step, 2);
  EXPECT_FLOAT_EQ(ev[3].value, 1.5f);

  // The framing by hand: uint64 length, masked CRC of it, data, masked CRC of the data.
  const std::string bytes = tdml::util::read_file(path);
  std::uint64_t len = 0;
  std::memcpy(&len, bytes.data(), 8);
  std::uint32_t len_crc = 0, data_crc = 0;
  std::memcpy(&len_crc, bytes.data() + 8, 4);
  std::memcpy(&data_crc, bytes.data() + 12 + len, 4);
  EXPECT_EQ(len_crc, masked_crc32c(bytes.data(), 8));
  EXPECT_EQ(data_crc, masked_crc32c(bytes.data() + 12, len));
  EXPECT_NE(bytes.substr(12, len).find("brain.Event:2"), std::string::npos);
}

TEST(TfEvents, ReaderRejectsCorruptionAndTruncation) {
  tdml::test::TempDir dir;
  std::string path;
  {
    tdml::study::EventWriter w(dir.path());
    path = w.path();
    w.add_scalar("accuracy/test", 1, 0.5);
  }
  std::string bytes = tdml::util::read_file(path);
  std::string flipped = bytes;
  flipped[flipped.size() - 6] ^= 0x01;  // a byte of the last record's data
  tdml::util::write_file_atomic(dir / "flipped", flipped);
  try {
    tdml::study::read_event_file(dir / "flipped");
    FAIL() << "a flipped data byte was not detected";
  } catch (const tdml::Error& e) {
    EXPECT_NE(std::string(e.what()).find("record 1: bad data CRC"), std::string::npos) << e.what();
  }
  tdml::util::write_file_atomic(dir / "short", bytes.substr(0, bytes.size() - 3));
  EXPECT_THROW(tdml::study::read_event_file(dir / "short"), tdml::Error);
  std::string badlen = bytes;
  badlen[0] ^= 0x02;
  tdml::util::write_file_atomic(dir / "badlen", badlen);
  EXPECT_THROW(tdml::study::read_event_file(dir / "badlen"), tdml::Error);
}

}  // namespace

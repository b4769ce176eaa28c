#pragma once
// TensorBoard event files (events.out.tfevents.*) without TensorFlow: scalars only.
// Record framing (TFRecord): uint64 length (little-endian), masked CRC32C of those 8 bytes,
// the data, masked CRC32C of the data. Each record is an Event protocol buffer, hand-encoded:
// the first holds file_version "brain.Event:2", the others one Summary with one simple_value.
// `tensorboard --logdir DIR` reads what EventWriter writes.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace tdml::study {

// CRC-32C (Castagnoli), and TFRecord's mask of it: ((c >> 15) | (c << 17)) + 0xa282ead8.
std::uint32_t crc32c(const void* data, std::size_t n);
std::uint32_t masked_crc32c(const void* data, std::size_t n);

// Appends scalar events to DIR/events.out.tfevents.<unix seconds>.<host>.tdml. Every write is
// flushed, so a reader (or a crash) sees whole records. Not thread-safe; not copyable.
class EventWriter {
 public:
  // Creates DIR if needed; throws tdml::Error when the file cannot be opened.
  explicit EventWriter(const std::string& dir);
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One scalar point of series `tag` at `step` (wall time: now).
  void add_scalar(const std::string& tag, std::int64_t step, double value);
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::string path_;
  std::ofstream out_;
};

// One decoded event: a scalar (tag non-empty), or the file-version header (file_version set).
struct ScalarEvent {
  double wall_time = 0;
  std::int64_t step = 0;
  std::string file_version;
  std::string tag;
  float value = 0;
};

// Reads an event file back, checking the framing and both CRCs of every record; throws
// tdml::Error naming the file and the record on a bad CRC, a truncated record or a bad proto.
std::vector<ScalarEvent> read_event_file(const std::string& path);

}  // namespace tdml::study

// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the input as a CIFAR binary batch, read by data::vision::CIFAR10 (test and
// train: five batches, the same file) and CIFAR100 (coarse and fine labels).  Each reader must
// accept exactly the inputs that are a whole, positive number of records with every label byte
// in range, and give back the records; otherwise fail with a gluino::Error.  Anything else
// (another exception, a wrong size, label or pixel) is a crash.
#include <gluino/data/vision/cifar.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "fuzz_common.hpp"

namespace {
namespace fs = std::filesystem;
using gluino::data::vision::CIFAR10;
using gluino::data::vision::CIFAR100;

constexpr std::size_t pixels = 3072;

void check(bool ok) {
  if (!ok) std::abort();
}

// A folder whose batch files (CIFAR-10's test_batch.bin, data_batch_1..5.bin; CIFAR-100's
// test.bin, train.bin) are all symlinks to the input file; removed at exit.
struct Root {
  std::string dir;
  explicit Root(const std::string& input) : dir(input + "-root") {
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"test_batch.bin", "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                          "data_batch_4.bin", "data_batch_5.bin", "test.bin", "train.bin"})
      fs::create_symlink(input, fs::path(dir) / f);
  }
  ~Root() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Whether the bytes are a whole, positive number of `label_bytes + 3072`-byte records whose label
// bytes are all below `classes[k]`.
bool valid(const std::uint8_t* data, std::size_t size, std::size_t label_bytes, const std::size_t* classes) {
  const std::size_t record = label_bytes + pixels;
  if (size == 0 || size % record != 0) return false;
  for (std::size_t r = 0; r < size / record; ++r)
    for (std::size_t k = 0; k < label_bytes; ++k)
      if (data[r * record + k] >= classes[k]) return false;
  return true;
}

// A dataset read from `copies` copies of the input: its size, labels (byte label_index of each
// record), pixels, and the first and last samples decoded as HWC.
template <class D>
void check_dataset(const D& ds, const std::uint8_t* data, std::size_t size, std::size_t label_bytes,
                   std::size_t label_index, std::size_t copies) {
  const std::size_t record = label_bytes + pixels, n = size / record;
  check(ds.size() == n * copies);
  check(ds.label_bytes().size() == n * copies && ds.pixel_bytes().size() == n * copies * pixels);
  for (std::size_t i = 0; i < n * copies; ++i) {
    const std::uint8_t* rec = data + (i % n) * record;
    check(ds.label_bytes()[i] == rec[label_index]);
    check(std::equal(rec + label_bytes, rec + record, ds.pixel_bytes().begin() + std::ptrdiff_t(i * pixels)));
  }
  for (std::size_t i : {std::size_t{0}, n * copies - 1}) {
    const auto s = ds.get(i);
    check(s.data.shape() == gluino::Shape{32, 32, 3} && s.label.shape() == gluino::Shape{});
    const std::uint8_t* rec = data + (i % n) * record;
    check(s.label.item() == float(rec[label_index]));
    for (std::size_t p : {std::size_t{0}, std::size_t{33}, std::size_t{1023}})
      for (std::size_t c = 0; c < 3; ++c) check(s.data.data()[p * 3 + c] == float(rec[label_bytes + c * 1024 + p]));
  }
  bool threw = false;
  try {
    (void)ds.get(n * copies);
  } catch (const gluino::ValueError&) {
    threw = true;
  }
  check(threw);
}

// Reads with `make`; it must succeed (then the dataset is checked) exactly when `ok`.
template <class Make>
void read(Make make, bool ok, const std::uint8_t* data, std::size_t size, std::size_t label_bytes,
          std::size_t label_index, std::size_t copies) {
  try {
    const auto ds = make();
    check(ok);
    check_dataset(ds, data, size, label_bytes, label_index, copies);
  } catch (const gluino::Error& e) {
    if (ok) std::fprintf(stderr, "fuzz_cifar: a valid batch did not read: %s\n", e.what());
    check(!ok);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gluino_fuzz::RemoveInputAtExit cleanup{".cifar.bin"};
  const std::string& path = gluino_fuzz::write_input(data, size, ".cifar.bin");
  static const Root root(path);
  const std::size_t c10[] = {10}, c100[] = {20, 100};
  const bool ok10 = valid(data, size, 1, c10), ok100 = valid(data, size, 2, c100);
  read([&] { return CIFAR10<float>(root.dir, {.train = false}); }, ok10, data, size, 1, 0, 1);
  read([&] { return CIFAR10<float>(root.dir); }, ok10, data, size, 1, 0, 5);
  read([&] { return CIFAR100<float>(root.dir, {.train = false}); }, ok100, data, size, 2, 0, 1);
  read([&] { return CIFAR100<float>(root.dir, {.fine_label = true}); }, ok100, data, size, 2, 1, 1);
  return 0;
}

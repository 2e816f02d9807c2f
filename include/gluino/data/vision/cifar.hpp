// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The CIFAR-10 and CIFAR-100 datasets, read from the official binary version's files.  Mirrors
/// gluon.data.vision.CIFAR10 and CIFAR100.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/data/dataset.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::data::vision {

/// Options of CIFAR10.
struct CIFAR10Options {
  /// The five training batches (50000 images) or, when false, the test batch (10000).  Gluon: train=.
  bool train = true;
};

/// Options of CIFAR100.
struct CIFAR100Options {
  /// Labels from the 100 fine classes, or (false, Gluon's default) the 20 coarse ones.  Gluon: fine_label=.
  bool fine_label = false;
  /// The training file (50000 images) or, when false, the test file (10000).  Gluon: train=.
  bool train = true;
};

/// What CIFAR10 and CIFAR100 share: records of label byte(s) and 3072 pixel bytes (the red, green
/// and blue 32x32 planes), read whole into memory; sample i is (data (32, 32, 3) with values
/// 0..255 as T, HWC as Gluon gives; label a 0-d array holding the class as T).
template <class Derived, class T>
class CIFARBinary : public DatasetBase<Derived, T> {
 public:
  std::size_t size() const override { return labels_->size(); }
  Sample<T> get(std::size_t i) const override {
    this->check_index(i, name_);
    NDArray<T> x(Shape{side, side, 3});
    const std::uint8_t* src = pixels_->data() + i * record_pixels;  // (3, 32, 32)
    T* dst = x.data();
    for (std::size_t p = 0; p < side * side; ++p)
      for (std::size_t c = 0; c < 3; ++c) dst[p * 3 + c] = static_cast<T>(src[c * side * side + p]);
    NDArray<T> y{Shape{}};
    y.data()[0] = static_cast<T>((*labels_)[i]);
    return {std::move(x), std::move(y)};
  }
  /// The folder the files were read from.
  const std::string& root() const { return root_; }
  /// The label bytes (N) and pixel bytes (N * 3072, each record's planes CHW, as in the files).
  const std::vector<std::uint8_t>& label_bytes() const { return *labels_; }
  const std::vector<std::uint8_t>& pixel_bytes() const { return *pixels_; }

  static constexpr std::size_t side = 32, record_pixels = 3 * 32 * 32;

 protected:
  // How a variant's files are laid out: label bytes per record (each one's name and number of
  // classes: every one is checked, whichever is returned), and which one is the label.
  struct Layout {
    const char* name;
    const char* env_var;
    const char* subfolder;
    std::size_t label_bytes, label_index;
    const char* label_names[2];
    std::size_t classes[2];
    const char* url;
  };
  void load(const Layout& layout, std::string root, const std::vector<std::string>& files) {
    namespace fs = std::filesystem;
    name_ = layout.name;
    if (root.empty()) {
      const char* env = std::getenv(layout.env_var);
      root = env ? env : "";
    }
    GLUINO_CHECK(ValueError, !root.empty(), layout.name, ": no root folder given and $", layout.env_var,
                 " is not set. To get the files: download ", layout.url, ", unpack it, and pass the folder as root");
    root_ = root;
    std::error_code ec;
    const std::string dir =
        fs::is_directory(fs::path(root) / layout.subfolder, ec) ? root + "/" + layout.subfolder : root;
    auto labels = std::make_shared<std::vector<std::uint8_t>>();
    auto pixels = std::make_shared<std::vector<std::uint8_t>>();
    const std::size_t record = layout.label_bytes + record_pixels;
    for (const std::string& f : files) {
      const std::string path = dir + "/" + f;
      GLUINO_CHECK(ValueError, fs::is_regular_file(path, ec), layout.name, ": cannot find '", path, "' (root: the ",
                   "argument, else $", layout.env_var, "). To get the files: download ", layout.url,
                   " and unpack it into root");
      const std::uintmax_t bytes = fs::file_size(path, ec);
      GLUINO_CHECK(ValueError, !ec && bytes > 0 && bytes % record == 0, layout.name, ": '", path, "' holds ", bytes,
                   " bytes, not a whole number of ", record, "-byte records (", layout.label_bytes,
                   " label byte(s) + 3072 pixel bytes)");
      std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
      GLUINO_CHECK(ValueError, in != nullptr, layout.name, ": cannot open '", path, "'");
      const std::size_t n = static_cast<std::size_t>(bytes) / record;
      std::vector<std::uint8_t> rec(record);
      pixels->reserve(pixels->size() + n * record_pixels);
      for (std::size_t r = 0; r < n; ++r) {
        GLUINO_CHECK(ValueError, std::fread(rec.data(), 1, record, in.get()) == record, layout.name, ": '", path,
                     "': read failed at record ", r);
        for (std::size_t k = 0; k < layout.label_bytes; ++k)
          GLUINO_CHECK(ValueError, rec[k] < layout.classes[k], layout.name, ": '", path, "': ", layout.label_names[k],
                       " ", int(rec[k]), " of record ", r, " is not a class 0-", layout.classes[k] - 1);
        labels->push_back(rec[layout.label_index]);
        pixels->insert(pixels->end(), rec.begin() + static_cast<std::ptrdiff_t>(layout.label_bytes), rec.end());
      }
    }
    labels_ = std::move(labels);
    pixels_ = std::move(pixels);
  }

 private:
  const char* name_ = "CIFAR";
  std::string root_;
  std::shared_ptr<const std::vector<std::uint8_t>> labels_, pixels_;
};

/// 32x32 colour images in 10 classes (airplane, automobile, ..., truck: class_names()).
/// Mirrors gluon.data.vision.CIFAR10.  Reads the binary version (cifar-10-binary.tar.gz, from
/// https://www.cs.toronto.edu/~kriz/cifar.html, unpacked): data_batch_1.bin .. data_batch_5.bin
/// (train) or test_batch.bin, each a sequence of 3073-byte records (1 label byte, 3072 pixel
/// bytes: CHW), looked for in root/cifar-10-batches-bin/ (as the archive unpacks, and as Gluon
/// reads) and else in root itself.  root "" = $GLUINO_CIFAR10_DATA.  Samples: see CIFARBinary.
/// A missing file, a size that is not a whole number of records, or a label out of range is a
/// ValueError naming the file.  Unlike Gluon, nothing is downloaded.
template <class T = float>
class CIFAR10 : public CIFARBinary<CIFAR10<T>, T> {
 public:
  explicit CIFAR10(std::string root = "", CIFAR10Options opt = {}) {
    std::vector<std::string> files;
    if (opt.train)
      for (int b = 1; b <= 5; ++b) files.push_back("data_batch_" + std::to_string(b) + ".bin");
    else
      files.push_back("test_batch.bin");
    this->load({"CIFAR10", "GLUINO_CIFAR10_DATA", "cifar-10-batches-bin", 1, 0, {"label", ""}, {10, 0},
                "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"},
               std::move(root), files);
  }
  explicit CIFAR10(CIFAR10Options opt) : CIFAR10("", opt) {}
  /// "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck".
  static const std::vector<std::string>& class_names() {
    static const std::vector<std::string> names{"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};
    return names;
  }
};

/// 32x32 colour images in 100 fine classes grouped in 20 coarse ones.  Mirrors
/// gluon.data.vision.CIFAR100(fine_label=False, train=True).  Reads the binary version
/// (cifar-100-binary.tar.gz): train.bin or test.bin, records of a coarse label byte, a fine
/// label byte and 3072 pixel bytes, in root/cifar-100-binary/ or root; root "" =
/// $GLUINO_CIFAR100_DATA.  Samples as CIFAR10's, the label coarse or fine as asked.  Both labels
/// of every record are checked whichever is asked for (a coarse label out of 0-19 or a fine one
/// out of 0-99 is a ValueError naming the file and record): a file reads or fails alike either way.
template <class T = float>
class CIFAR100 : public CIFARBinary<CIFAR100<T>, T> {
 public:
  explicit CIFAR100(std::string root = "", CIFAR100Options opt = {}) {
    this->load({"CIFAR100", "GLUINO_CIFAR100_DATA", "cifar-100-binary", 2, opt.fine_label ? 1u : 0u,
                {"coarse label", "fine label"}, {20, 100}, "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"},
               std::move(root), {opt.train ? "train.bin" : "test.bin"});
  }
  explicit CIFAR100(CIFAR100Options opt) : CIFAR100("", opt) {}
};

}  // namespace gluino::data::vision

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_DATA_VISION_CIFAR_INSTANTIATIONS(X, T) \
  X class CIFARBinary<CIFAR10<T>, T>; \
  X class CIFARBinary<CIFAR100<T>, T>; \
  X class CIFAR10<T>; \
  X class CIFAR100<T>;
namespace gluino::data::vision {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_DATA_VISION_CIFAR_INSTANTIATIONS)
}  // namespace gluino::data::vision

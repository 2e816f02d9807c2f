// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The MNIST and Fashion-MNIST datasets, read from the official IDX files (.gz or raw).
/// Mirrors gluon.data.vision.MNIST and FashionMNIST.  Needs zlib and OpenSSL's libcrypto
/// (`-lz -lcrypto`; CMake ZLIB::ZLIB and OpenSSL::Crypto).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/data/dataset.hpp"
#include "gluino/data/idx.hpp"
#include "gluino/data/sha256.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::data::vision {

/// Options of MNIST and FashionMNIST.
struct MNISTOptions {
  /// The training split (60000 images) or, when false, the test split (10000).  Gluon: train=.
  bool train = true;
  /// Check the decompressed files against the official SHA-256 values.  Only files of the
  /// official sizes are checked (a cut-down fixture is not); MNIST has no published values here,
  /// so for it only the structure is checked.  Not in Gluon (which checks SHA-1 on download).
  bool verify = true;
};
using FashionMNISTOptions = MNISTOptions;

/// The Fashion-MNIST class names, by label.
inline const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

/// Handwritten digits: 28x28 grey images with labels 0-9.  Mirrors gluon.data.vision.MNIST.
/// Sample i: data (28, 28, 1) with values 0..255 as T (HWC, like Gluon), label a 0-d array
/// holding the class as T.  Files: train-images-idx3-ubyte, train-labels-idx1-ubyte,
/// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz, in `root`.
/// root "" = $GLUINO_MNIST_DATA, else /usr/share/datasets/mnist.  Unlike Gluon, nothing is
/// downloaded: a missing file is a ValueError that says where to get it.
template <class T = float>
class MNIST : public Dataset<T> {
 public:
  explicit MNIST(std::string root = "", MNISTOptions opt = {}) : MNIST(mnist_info(), std::move(root), opt) {}
  explicit MNIST(MNISTOptions opt) : MNIST("", opt) {}

  std::size_t size() const override { return labels_->size(); }
  Sample<T> get(std::size_t i) const override {
    this->check_index(i, info_.name);
    const std::size_t n = height_ * width_;
    NDArray<T> x(Shape{height_, width_, 1});
    const std::uint8_t* src = images_->data() + i * n;
    T* dst = x.data();
    for (std::size_t k = 0; k < n; ++k) dst[k] = static_cast<T>(src[k]);
    NDArray<T> y{Shape{}};
    y.data()[0] = static_cast<T>((*labels_)[i]);
    return {x, y};
  }
  std::shared_ptr<const Dataset<T>> clone() const override { return std::make_shared<MNIST>(*this); }

  /// The folder the files were read from.
  const std::string& root() const { return root_; }
  /// Every image as one (N, 28, 28, 1) array of values 0..255.
  NDArray<T> images() const {
    NDArray<T> x(Shape{size(), height_, width_, 1});
    std::transform(images_->begin(), images_->end(), x.begin(), [](std::uint8_t v) { return static_cast<T>(v); });
    return x;
  }
  /// Every label as one (N,) array.
  NDArray<T> labels() const {
    NDArray<T> y(Shape{size()});
    std::transform(labels_->begin(), labels_->end(), y.begin(), [](std::uint8_t v) { return static_cast<T>(v); });
    return y;
  }
  /// The raw pixel bytes (N * 28 * 28, row-major) and label bytes (N).
  const std::vector<std::uint8_t>& image_bytes() const { return *images_; }
  const std::vector<std::uint8_t>& label_bytes() const { return *labels_; }
  /// Class names by label: "0".."9".
  static const std::vector<std::string>& class_names() {
    static const std::vector<std::string> names{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    return names;
  }

 protected:
  // What distinguishes MNIST from Fashion-MNIST: names, where to look, how to get the files, hashes.
  struct Info {
    const char* name;
    const char* env_var;
    const char* default_root;
    const char* how_to_get;
    // decompressed SHA-256 of train images, train labels, test images, test labels ("" = unknown)
    const char* sha256[4];
  };
  static Info mnist_info() {
    return {"MNIST", "GLUINO_MNIST_DATA", "/usr/share/datasets/mnist",
            "download the four .gz files of the official MNIST release (http://yann.lecun.com/exdb/mnist/) into "
            "one folder, and pass it as root or set GLUINO_MNIST_DATA",
            {"", "", "", ""}};
  }
  MNIST(const Info& info, std::string root, MNISTOptions opt) : info_(info), opt_(opt) {
    namespace fs = std::filesystem;
    if (root.empty()) {
      const char* env = std::getenv(info_.env_var);
      root = (env && *env) ? env : info_.default_root;
    }
    root_ = root;
    const std::string prefix = opt.train ? "train" : "t10k";
    const std::string img_path = find(prefix + "-images-idx3-ubyte");
    const std::string lab_path = find(prefix + "-labels-idx1-ubyte");
    const std::size_t official_n = opt.train ? 60000 : 10000;
    const int h = opt.train ? 0 : 2;

    Sha256 img_hash, lab_hash;
    IdxReadOptions img_opt{.expected_ndim = 3}, lab_opt{.expected_ndim = 1};
    if (opt.verify) {
      img_opt.on_bytes = [&](const std::uint8_t* p, std::size_t n) { img_hash.update(p, n); };
      lab_opt.on_bytes = [&](const std::uint8_t* p, std::size_t n) { lab_hash.update(p, n); };
    }
    IdxArray img = read_idx(img_path, img_opt);
    IdxArray lab = read_idx(lab_path, lab_opt);
    GLUINO_CHECK(ValueError, img.dims[0] == lab.dims[0], info_.name, ": '", img_path, "' holds ", img.dims[0],
                 " images but '", lab_path, "' holds ", lab.dims[0], " labels");
    GLUINO_CHECK(ValueError, img.dims[1] > 0 && img.dims[2] > 0, info_.name, ": '", img_path,
                 "' has empty images: dimensions (", img.dims[0], ", ", img.dims[1], ", ", img.dims[2], ")");
    for (std::size_t i = 0; i < lab.data.size(); ++i)
      GLUINO_CHECK(ValueError, lab.data[i] < 10, info_.name, ": '", lab_path, "': label ", int(lab.data[i]),
                   " at index ", i, " is not a class 0-9");
    if (opt.verify && img.dims[0] == official_n) {
      check_hash(img_path, img_hash.hex_digest(), info_.sha256[h]);
      check_hash(lab_path, lab_hash.hex_digest(), info_.sha256[h + 1]);
    }
    height_ = img.dims[1];
    width_ = img.dims[2];
    images_ = std::make_shared<const std::vector<std::uint8_t>>(std::move(img.data));
    labels_ = std::make_shared<const std::vector<std::uint8_t>>(std::move(lab.data));
  }

 private:
  // "<root>/<stem>" if it exists, else "<root>/<stem>.gz"; ValueError saying how to get it.
  std::string find(const std::string& stem) const {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const std::string& p : {root_ + "/" + stem, root_ + "/" + stem + ".gz"})
      if (fs::is_regular_file(p, ec)) return p;
    ::gluino::detail::raise<ValueError>(info_.name, ": cannot find ", stem, "(.gz) in '", root_, "'",
                                        " (root: the argument, else $", info_.env_var, ", else ",
                                        info_.default_root, "). To get the files: ", info_.how_to_get);
  }
  void check_hash(const std::string& path, const std::string& got, const char* want) const {
    if (want[0] == '\0') return;
    GLUINO_CHECK(ValueError, got == want, info_.name, ": '", path, "' is not the official file: SHA-256 of its ",
                 "decompressed content is ", got, ", expected ", want,
                 ". Reinstall or re-download it, or pass .verify = false");
  }

  Info info_;
  MNISTOptions opt_;
  std::string root_;
  std::size_t height_ = 0, width_ = 0;
  std::shared_ptr<const std::vector<std::uint8_t>> images_, labels_;
};

/// Zalando's Fashion-MNIST: 28x28 grey images of clothing in 10 classes (see class_names()).
/// Mirrors gluon.data.vision.FashionMNIST; samples as MNIST's.  root "" = $GLUINO_DATA, else
/// /usr/share/datasets/fashion-mnist (Debian's package dataset-fashion-mnist installs the
/// official files there).  With .verify, files of the official sizes must match the official
/// decompressed SHA-256 values.
template <class T = float>
class FashionMNIST : public MNIST<T> {
 public:
  explicit FashionMNIST(std::string root = "", FashionMNISTOptions opt = {})
      : MNIST<T>(fashion_info(), std::move(root), opt) {}
  explicit FashionMNIST(FashionMNISTOptions opt) : FashionMNIST("", opt) {}
  std::shared_ptr<const Dataset<T>> clone() const override { return std::make_shared<FashionMNIST>(*this); }
  /// "T-shirt/top", "Trouser", ..., "Ankle boot", by label.
  static const std::vector<std::string>& class_names() { return fashion_mnist_class_names(); }

 private:
  static typename MNIST<T>::Info fashion_info() {
    return {"FashionMNIST", "GLUINO_DATA", "/usr/share/datasets/fashion-mnist",
            "install Debian's package dataset-fashion-mnist (`sudo apt-get install dataset-fashion-mnist`; files "
            "under /usr/share/datasets/fashion-mnist), or download the official files "
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (same folder; "
            "see github.com/zalandoresearch/fashion-mnist) into one folder, and pass it as root or set GLUINO_DATA",
            {"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}};
  }
};

}  // namespace gluino::data::vision

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_DATA_VISION_DATASETS_INSTANTIATIONS(X, T) \
  X class MNIST<T>; \
  X class FashionMNIST<T>;
namespace gluino::data::vision {
GLUINO_DATA_EXTERN_INSTANTIATIONS(GLUINO_DATA_VISION_DATASETS_INSTANTIATIONS)
}  // namespace gluino::data::vision

// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A dataset of image files in one folder per class.  Mirrors gluon.data.vision.ImageFolderDataset.
/// Decodes with libpng and libjpeg (gluino/data/vision/image.hpp: Debian's libpng-dev, libjpeg-dev).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/warning.hpp"
#include "gluino/data/dataset.hpp"
#include "gluino/data/vision/image.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::data::vision {

/// Options of ImageFolderDataset.
struct ImageFolderOptions {
  /// 1: colour images (H, W, 3), RGB; 0: grey (H, W, 1).  Gluon: flag.
  int flag = 1;
};

/// The images under `root`, one subfolder per class: root/cat/1.jpg, root/dog/a.png, ...
/// The classes are the subfolders' names in sorted (byte) order, `synsets()`, and an image's
/// label is its folder's index there; items are listed in that order, files sorted by name
/// within a folder (subfolders are not searched).  Files whose extension is not .jpg, .jpeg or
/// .png (any case) are skipped with a warning, as are files directly in root, as Gluon does.
/// Images are decoded on each get(): sample i is (image (H, W, C) with values 0..255 as T, label
/// a 0-d array holding the class index as T); a file that cannot be decoded (corrupt, truncated,
/// not an image) gives a ValueError naming it.  Mirrors gluon.data.vision.ImageFolderDataset(root,
/// flag); Gluon's transform= is transform_first here.
template <class T = float>
class ImageFolderDataset : public DatasetBase<ImageFolderDataset<T>, T> {
 public:
  /// An (image path, label) pair.  Gluon: dataset.items.
  using Item = std::pair<std::string, std::size_t>;

  explicit ImageFolderDataset(const std::string& root, ImageFolderOptions opt = {}) : root_(root), opt_(opt) {
    namespace fs = std::filesystem;
    GLUINO_CHECK(ValueError, opt.flag == 0 || opt.flag == 1,
                 "ImageFolderDataset: flag must be 1 (colour) or 0 (grey), got ", opt.flag);
    std::error_code ec;
    GLUINO_CHECK(ValueError, fs::is_directory(root, ec), "ImageFolderDataset: '", root, "' is not a folder");
    auto synsets = std::make_shared<std::vector<std::string>>();
    auto items = std::make_shared<std::vector<Item>>();
    for (const fs::path& folder : sorted_entries(root)) {
      if (!fs::is_directory(folder, ec)) {
        gluino::warn("ImageFolderDataset: ignoring '" + folder.string() + "', which is not a folder");
        continue;
      }
      const std::size_t label = synsets->size();
      synsets->push_back(folder.filename().string());
      for (const fs::path& file : sorted_entries(folder)) {
        std::string ext = file.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
          gluino::warn("ImageFolderDataset: ignoring '" + file.string() + "' of type '" + ext +
                       "': only .jpg, .jpeg and .png are read");
          continue;
        }
        items->emplace_back(file.string(), label);
      }
    }
    synsets_ = std::move(synsets);
    items_ = std::move(items);
  }

  std::size_t size() const override { return items_->size(); }
  Sample<T> get(std::size_t i) const override {
    this->check_index(i, "ImageFolderDataset");
    const Item& item = (*items_)[i];
    NDArray<T> x = imdecode<T>(read_file_bytes(item.first, "ImageFolderDataset"), {.flag = opt_.flag}, item.first);
    NDArray<T> y{Shape{}};
    y.data()[0] = static_cast<T>(item.second);
    return {std::move(x), std::move(y)};
  }

  /// The class names (the subfolders, sorted); label k is synsets()[k].  Gluon: synsets.
  const std::vector<std::string>& synsets() const { return *synsets_; }
  /// Every (path, label), in sample order.  Gluon: items.
  const std::vector<Item>& items() const { return *items_; }
  const std::string& root() const { return root_; }

 private:
  static std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir) {
    std::error_code ec;
    std::vector<std::filesystem::path> out;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      out.push_back(it->path());
    GLUINO_CHECK(ValueError, !ec, "ImageFolderDataset: cannot list '", dir.string(), "': ", ec.message());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.filename().string() < b.filename().string(); });
    return out;
  }

  std::string root_;
  ImageFolderOptions opt_;
  std::shared_ptr<const std::vector<std::string>> synsets_;
  std::shared_ptr<const std::vector<Item>> items_;
};

}  // namespace gluino::data::vision

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_DATA_VISION_IMAGE_FOLDER_INSTANTIATIONS(X, T) \
  X class ImageFolderDataset<T>;
namespace gluino::data::vision {
GLUINO_DATA_EXTERN_INSTANTIATIONS(GLUINO_DATA_VISION_IMAGE_FOLDER_INSTANTIATIONS)
}  // namespace gluino::data::vision

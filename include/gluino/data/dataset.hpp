// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Datasets: an indexable collection of (data, label) samples.  Mirrors gluon.data.Dataset,
/// ArrayDataset, SimpleDataset and Dataset.transform / transform_first.
#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/random.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::detail {
inline random::Generator*& sample_generator_slot() {
  thread_local random::Generator* gen = nullptr;
  return gen;
}
}  // namespace gluino::detail

namespace gluino::data {

/// The generator that random transforms (vision::transforms::RandomCrop, ...) draw from when
/// given none: while a DataLoader assembles a batch, a generator seeded for that batch alone
/// (from the loader's seed, the epoch and the batch's index), so that a batch's content is the
/// same whichever thread builds it and whatever num_workers is; elsewhere the calling thread's
/// random::default_generator().  Not in Gluon (whose transforms draw from the global generator).
inline random::Generator& sample_generator() {
  random::Generator* gen = ::gluino::detail::sample_generator_slot();
  return gen ? *gen : random::default_generator();
}

/// RAII: makes `gen` the calling thread's sample_generator() until the scope ends (then the
/// previous one is back).  The DataLoader opens one around each batch it assembles.
class SampleGeneratorScope {
 public:
  explicit SampleGeneratorScope(random::Generator& gen) : prev_(::gluino::detail::sample_generator_slot()) {
    ::gluino::detail::sample_generator_slot() = &gen;
  }
  SampleGeneratorScope(const SampleGeneratorScope&) = delete;
  SampleGeneratorScope& operator=(const SampleGeneratorScope&) = delete;
  ~SampleGeneratorScope() { ::gluino::detail::sample_generator_slot() = prev_; }

 private:
  random::Generator* prev_;
};

/// One sample: data and label arrays.  Supports structured bindings: `auto [x, y] = ds.get(i);`.
template <class T = float>
struct Sample {
  NDArray<T> data;
  NDArray<T> label;
};

template <class T>
class TransformedDataset;

/// The interface of a dataset of samples of NDArray<T>.  Mirrors gluon.data.Dataset.
/// Implementations are cheap to copy (they share their arrays), and clone() returns such a
/// copy; DataLoader and transform_first keep a clone, so a temporary dataset may be passed.
/// get() must be safe to call from several threads at once (a DataLoader's workers); random
/// choices in it should draw from sample_generator().
/// To write one, derive from DatasetBase<YourDataset, T>, which supplies clone().
template <class T = float>
class Dataset {
 public:
  using value_type = T;
  virtual ~Dataset() = default;
  /// Number of samples.  Gluon: len(dataset).
  virtual std::size_t size() const = 0;
  /// Sample i, for i < size() (ValueError otherwise).  Gluon: dataset[i].
  virtual Sample<T> get(std::size_t i) const = 0;
  /// A shallow copy (shared arrays) that owns itself.
  virtual std::shared_ptr<const Dataset<T>> clone() const = 0;

  /// A dataset whose samples are fn(data, label), computed on access.
  /// Gluon: dataset.transform(fn, lazy=True).
  TransformedDataset<T> transform(std::function<Sample<T>(const NDArray<T>&, const NDArray<T>&)> fn) const;
  /// A dataset whose samples are (fn(data), label), computed on access; fn is, e.g., a
  /// vision::transforms::Compose.  Gluon: dataset.transform_first(fn, lazy=True).
  TransformedDataset<T> transform_first(std::function<NDArray<T>(const NDArray<T>&)> fn) const;

 protected:
  /// ValueError "<name>: index i out of range for a dataset of n samples" unless i < size().
  void check_index(std::size_t i, const char* name) const {
    GLUINO_CHECK(ValueError, i < size(), name, ": index ", i, " out of range for a dataset of ", size(), " samples");
  }
};

/// Base of concrete datasets: implements clone() by copying the derived object (CRTP).
template <class Derived, class T = float>
class DatasetBase : public Dataset<T> {
 public:
  std::shared_ptr<const Dataset<T>> clone() const override {
    return std::make_shared<Derived>(static_cast<const Derived&>(*this));
  }
};

/// A dataset with a transformation applied lazily to each sample.  Made by Dataset::transform
/// and Dataset::transform_first.
template <class T = float>
class TransformedDataset : public DatasetBase<TransformedDataset<T>, T> {
 public:
  using Fn = std::function<Sample<T>(const NDArray<T>&, const NDArray<T>&)>;
  TransformedDataset(std::shared_ptr<const Dataset<T>> base, Fn fn) : base_(std::move(base)), fn_(std::move(fn)) {
    GLUINO_CHECK(ValueError, base_ != nullptr, "TransformedDataset: no base dataset");
    GLUINO_CHECK(ValueError, static_cast<bool>(fn_), "TransformedDataset: empty transform function");
  }
  std::size_t size() const override { return base_->size(); }
  Sample<T> get(std::size_t i) const override {
    Sample<T> s = base_->get(i);
    return fn_(s.data, s.label);
  }

 private:
  std::shared_ptr<const Dataset<T>> base_;
  Fn fn_;
};

template <class T>
TransformedDataset<T> Dataset<T>::transform(std::function<Sample<T>(const NDArray<T>&, const NDArray<T>&)> fn) const {
  return TransformedDataset<T>(clone(), std::move(fn));
}

template <class T>
TransformedDataset<T> Dataset<T>::transform_first(std::function<NDArray<T>(const NDArray<T>&)> fn) const {
  GLUINO_CHECK(ValueError, static_cast<bool>(fn), "transform_first: empty transform function");
  return TransformedDataset<T>(clone(), [fn = std::move(fn)](const NDArray<T>& x, const NDArray<T>& y) {
    return Sample<T>{fn(x), y};
  });
}

/// Samples taken along the first axis of a data array and a label array of the same length:
/// sample i is (data[i], label[i]), views sharing the arrays' storage.  Mirrors
/// gluon.data.ArrayDataset(data, label) (two arrays).
template <class T = float>
class ArrayDataset : public DatasetBase<ArrayDataset<T>, T> {
 public:
  /// data: (N, ...), label: (N, ...) or (N,).  ShapeError when the first dimensions differ.
  ArrayDataset(NDArray<T> data, NDArray<T> label) : data_(std::move(data)), label_(std::move(label)) {
    GLUINO_CHECK(ShapeError, data_.defined() && label_.defined() && data_.ndim() >= 1 && label_.ndim() >= 1,
                 "ArrayDataset: data and label must be defined arrays with at least one axis");
    GLUINO_CHECK(ShapeError, data_.shape(0) == label_.shape(0),
                 "ArrayDataset: data and label differ in length: ", data_.shape(), " vs ", label_.shape());
  }
  std::size_t size() const override { return data_.shape(0); }
  /// (data[i], label[i]); views of the arrays (writes through them change the dataset).
  Sample<T> get(std::size_t i) const override {
    this->check_index(i, "ArrayDataset");
    return {row(data_, i), row(label_, i)};
  }
  const NDArray<T>& data() const { return data_; }
  const NDArray<T>& label() const { return label_; }

 private:
  static NDArray<T> row(const NDArray<T>& a, std::size_t i) {
    Shape rest;
    for (std::size_t d = 1; d < a.ndim(); ++d) rest.push_back(a.shape()[d]);
    return a.view_as(rest, i * rest.size());
  }
  NDArray<T> data_, label_;
};

/// A dataset over a list of samples.  Mirrors gluon.data.SimpleDataset.
template <class T = float>
class SimpleDataset : public DatasetBase<SimpleDataset<T>, T> {
 public:
  explicit SimpleDataset(std::vector<Sample<T>> samples)
      : samples_(std::make_shared<const std::vector<Sample<T>>>(std::move(samples))) {}
  std::size_t size() const override { return samples_->size(); }
  Sample<T> get(std::size_t i) const override {
    this->check_index(i, "SimpleDataset");
    return (*samples_)[i];
  }

 private:
  std::shared_ptr<const std::vector<Sample<T>>> samples_;
};

}  // namespace gluino::data

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_DATA_DATASET_INSTANTIATIONS(X, T) \
  X class Dataset<T>; \
  X class ArrayDataset<T>; \
  X class SimpleDataset<T>; \
  X class TransformedDataset<T>;
namespace gluino::data {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_DATA_DATASET_INSTANTIATIONS)
}  // namespace gluino::data

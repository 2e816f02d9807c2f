// SPDX-License-Identifier: Apache-2.0
#pragma once
/// DataLoader: iterates over a Dataset in mini-batches.  Mirrors gluon.data.DataLoader.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/core/random.hpp"
#include "gluino/data/dataset.hpp"
#include "gluino/data/sampler.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::data {

/// One mini-batch: data (B, ...sample data shape) and label (B, ...sample label shape).
/// Supports structured bindings: `for (auto [x, y] : loader)`.
template <class T = float>
struct Batch {
  NDArray<T> data;
  NDArray<T> label;
};

/// Options of DataLoader, in the order of gluon.data.DataLoader's keyword arguments.
struct DataLoaderOptions {
  /// Samples per batch (> 0).
  std::size_t batch_size = 1;
  /// Visit the samples in a new random order each epoch.
  bool shuffle = false;
  /// What to do with the last, incomplete batch: "keep" it (smaller), "discard" it, or
  /// "rollover" its samples into the next epoch (which then starts with them).
  std::string last_batch = "keep";
  /// Seed of the loader's own generator (shuffling); unset = drawn from
  /// random::default_generator() when the loader is made (so random::seed() governs it).
  /// Not in Gluon, which shuffles with NumPy's global generator.
  std::optional<std::uint64_t> seed{};
  /// Assemble the next batch on one background thread while the current one is used (that
  /// thread runs gluino's kernels single-threaded).  Gluon: prefetch / num_workers (here at
  /// most one worker thread).
  bool prefetch = false;
  /// Which samples each epoch visits, in order (shared: a SplitSampler for distributed training);
  /// null = every sample, shuffled or not.  Not with shuffle (the sampler orders).  Gluon: sampler.
  std::shared_ptr<Sampler> sampler = nullptr;
};

/// Iterates over a dataset in batches: `for (auto [x, y] : loader) ...` is one epoch; each new
/// loop is a new epoch (a new permutation when shuffling, from the loader's own generator, so
/// the same seed gives the same sequence of epochs).  Samples are copied into one batch array
/// allocated per batch, of shape (B,) + the sample's shape; all samples must have the shape of
/// sample 0.  Mirrors gluon.data.DataLoader(dataset, batch_size, shuffle, last_batch=...).
/// Differences from Gluon: no batchify_fn; `prefetch` uses one thread, not processes.
/// The loader keeps a clone of the dataset (so a temporary dataset may be passed).  A loader is
/// not thread-safe; only one epoch of it should be iterated at a time.
template <class T = float>
class DataLoader {
  struct Epoch;  // below; named here for Iterator (clang needs it declared first)

 public:
  DataLoader(const Dataset<T>& dataset, DataLoaderOptions opt = {})
      : dataset_(dataset.clone()), opt_(std::move(opt)) {
    GLUINO_CHECK(ValueError, opt_.batch_size > 0, "DataLoader: batch_size must be > 0");
    GLUINO_CHECK(ValueError, opt_.last_batch == "keep" || opt_.last_batch == "discard" || opt_.last_batch == "rollover",
                 "DataLoader: last_batch must be \"keep\", \"discard\" or \"rollover\", got \"", opt_.last_batch, "\"");
    GLUINO_CHECK(ValueError, !(opt_.sampler && opt_.shuffle), "DataLoader: shuffle must be false when a sampler "
                 "is given (the sampler decides the order)");
    gen_.seed(opt_.seed ? *opt_.seed : random::default_generator().next_u64());
  }

  /// Number of batches the next epoch yields.  Gluon: len(loader).
  std::size_t size() const {
    const std::size_t epoch = opt_.sampler ? opt_.sampler->length(dataset_->size()) : dataset_->size();
    const std::size_t n = epoch + (opt_.last_batch == "rollover" ? carry_.size() : 0);
    return opt_.last_batch == "keep" ? (n + opt_.batch_size - 1) / opt_.batch_size : n / opt_.batch_size;
  }
  const Dataset<T>& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return opt_; }

  class Sentinel {};
  /// An input iterator over one epoch's batches.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const Batch<T>*;
    using reference = const Batch<T>&;
    const Batch<T>& operator*() const { return epoch_->current; }
    const Batch<T>* operator->() const { return &epoch_->current; }
    Iterator& operator++() {
      epoch_->advance();
      return *this;
    }
    friend bool operator==(const Iterator& it, Sentinel) { return it.epoch_->done; }

   private:
    friend class DataLoader;
    explicit Iterator(std::shared_ptr<Epoch> e) : epoch_(std::move(e)) {}
    std::shared_ptr<Epoch> epoch_;
  };

  /// Starts a new epoch and returns its first batch's iterator.
  Iterator begin() {
    std::vector<std::size_t> order;
    if (opt_.last_batch == "rollover") order = std::move(carry_);
    carry_.clear();
    std::size_t n = dataset_->size();
    const std::size_t first = order.size();
    if (opt_.sampler) {
      std::vector<std::size_t> picked = opt_.sampler->next_epoch(n);
      for (std::size_t i : picked)
        GLUINO_CHECK(ValueError, i < n, "DataLoader: the sampler gave index ", i, " for a dataset of ", n, " samples");
      order.insert(order.end(), picked.begin(), picked.end());
      n = picked.size();
    } else {
      order.resize(first + n);
      std::iota(order.begin() + static_cast<std::ptrdiff_t>(first), order.end(), std::size_t(0));
    }
    if (opt_.shuffle)  // Fisher-Yates over this epoch's new indices
      for (std::size_t i = n; i > 1; --i) std::swap(order[first + i - 1], order[first + gen_.randint(i)]);
    const std::size_t bs = opt_.batch_size, full = order.size() / bs * bs;
    if (opt_.last_batch == "rollover") carry_.assign(order.begin() + static_cast<std::ptrdiff_t>(full), order.end());
    if (opt_.last_batch != "keep") order.resize(full);
    auto e = std::make_shared<Epoch>(dataset_, std::move(order), bs, opt_.prefetch);
    e->advance();
    return Iterator(std::move(e));
  }
  Sentinel end() const { return {}; }

 private:
  // One pass over a fixed index order.  With prefetch, a worker thread assembles batch k+1 into
  // `slot` while the consumer holds batch k; the destructor stops and joins it.
  struct Epoch {
    Epoch(std::shared_ptr<const Dataset<T>> ds, std::vector<std::size_t> order, std::size_t bs, bool prefetch)
        : ds_(std::move(ds)), order_(std::move(order)), bs_(bs), n_batches_((order_.size() + bs - 1) / bs) {
      if (prefetch && n_batches_ > 1) worker_ = std::thread([this] { work(); });
    }
    Epoch(const Epoch&) = delete;
    Epoch& operator=(const Epoch&) = delete;
    ~Epoch() {
      if (worker_.joinable()) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          stop_ = true;
        }
        cv_.notify_all();
        worker_.join();
      }
    }
    // Makes `current` the next batch, or sets done.
    void advance() {
      if (next_ >= n_batches_) {
        done = true;
        current = {};
        return;
      }
      if (!worker_.joinable()) {
        current = assemble(next_++);
        return;
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return slot_.has_value() || error_; });
      if (!slot_) {  // the worker failed on this batch: rethrow its exception here
        done = true;
        std::rethrow_exception(error_);
      }
      current = std::move(*slot_);
      slot_.reset();
      ++next_;
      lock.unlock();
      cv_.notify_all();
    }
    void work() {
      gluino::set_num_threads(1);  // this thread's own setting: transforms here leave the cores to training
      try {
        for (std::size_t k = 0; k < n_batches_; ++k) {
          {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !slot_.has_value(); });
            if (stop_) return;
          }
          Batch<T> b = assemble(k);
          {
            std::lock_guard<std::mutex> lock(mu_);
            slot_ = std::move(b);
          }
          cv_.notify_all();
        }
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          error_ = std::current_exception();
        }
        cv_.notify_all();
      }
    }
    // Batch k: samples order_[k*bs, ...) copied into one (B, ...) data and label array each.
    Batch<T> assemble(std::size_t k) const {
      autograd::pause no_record;  // transforms inside get() must not be recorded
      const std::size_t b0 = k * bs_, b1 = std::min(order_.size(), b0 + bs_), nb = b1 - b0;
      Batch<T> out;
      for (std::size_t j = 0; j < nb; ++j) {
        const Sample<T> s = ds_->get(order_[b0 + j]);
        GLUINO_CHECK(ShapeError, s.data.defined() && s.label.defined(), "DataLoader: sample ", order_[b0 + j],
                     " has an undefined data or label array");
        if (j == 0) {
          out.data = NDArray<T>(with_batch(nb, s.data.shape()));
          out.label = NDArray<T>(with_batch(nb, s.label.shape()));
        }
        copy_into(out.data, j, s.data, order_[b0 + j], "data");
        copy_into(out.label, j, s.label, order_[b0 + j], "label");
      }
      return out;
    }
    static Shape with_batch(std::size_t n, const Shape& s) {
      GLUINO_CHECK(ShapeError, s.ndim() < Shape::max_dims, "DataLoader: sample shape ", s, " has too many axes to batch");
      Shape out{n};
      for (std::size_t d : s) out.push_back(d);
      return out;
    }
    static void copy_into(NDArray<T>& batch, std::size_t j, const NDArray<T>& x, std::size_t index, const char* what) {
      const std::size_t n = batch.size() / batch.shape(0);
      if (x.size() != n || x.ndim() + 1 != batch.ndim() ||
          !std::equal(x.shape().begin(), x.shape().end(), batch.shape().begin() + 1)) {
        Shape first;
        for (std::size_t d = 1; d < batch.ndim(); ++d) first.push_back(batch.shape()[d]);
        ::gluino::detail::raise<ShapeError>("DataLoader: sample ", index, " has ", what, " shape ", x.shape(),
                                            ", unlike the batch's first sample ", first);
      }
      std::memcpy(batch.data() + j * n, x.data(), n * sizeof(T));
    }

    Batch<T> current;
    bool done = false;

    std::shared_ptr<const Dataset<T>> ds_;
    std::vector<std::size_t> order_;
    std::size_t bs_, n_batches_, next_ = 0;
    std::thread worker_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<Batch<T>> slot_;
    std::exception_ptr error_;
    bool stop_ = false;
  };

  std::shared_ptr<const Dataset<T>> dataset_;
  DataLoaderOptions opt_;
  random::Generator gen_;
  std::vector<std::size_t> carry_;  // rollover: samples left from the previous epoch
};

template <class T>
DataLoader(const Dataset<T>&, DataLoaderOptions) -> DataLoader<T>;
template <class T>
DataLoader(const Dataset<T>&) -> DataLoader<T>;

}  // namespace gluino::data

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_DATA_DATALOADER_INSTANTIATIONS(X, T) \
  X class DataLoader<T>;
namespace gluino::data {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_DATA_DATALOADER_INSTANTIATIONS)
}  // namespace gluino::data

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
#include <system_error>
#include <thread>
#include <utility>
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

/// The most worker threads a DataLoader takes (num_workers); more is a ValueError at construction
/// rather than a failure to start threads mid-run.  Not in Gluon (which does not bound it).
inline constexpr std::size_t max_num_workers = 1024;

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
  /// Threads that assemble batches in parallel (fetching the samples, running the dataset's
  /// transforms, copying into the batch arrays); batches still arrive in order.  0 = in the
  /// caller's thread (unless prefetch is set).  Worker threads run gluino's kernels
  /// single-threaded.  At most max_num_workers.  Gluon: num_workers (processes there, threads here).
  std::size_t num_workers = 0;
  /// Batches assembled ahead of the one in use, by the worker threads.  Unset = 2 * num_workers
  /// (Gluon's default); with num_workers = 0, a value p > 0 (or `true`, i.e. 1) starts one
  /// background thread that keeps p batches ahead.  With workers, 0 counts as 1, and more than
  /// the epoch's batches counts as that many.  Gluon: prefetch.
  std::optional<std::size_t> prefetch{};
  /// Which samples each epoch visits, in order (shared: a SplitSampler for distributed training);
  /// null = every sample, shuffled or not.  Not with shuffle (the sampler orders).  Gluon: sampler.
  std::shared_ptr<Sampler> sampler = nullptr;
};

/// Iterates over a dataset in batches: `for (auto [x, y] : loader) ...` is one epoch; each new
/// loop is a new epoch (a new permutation when shuffling, from the loader's own generator, so
/// the same seed gives the same sequence of epochs).  Samples are copied into one batch array
/// allocated per batch, of shape (B,) + the sample's shape; all samples must have the shape of
/// sample 0.  Mirrors gluon.data.DataLoader(dataset, batch_size, shuffle, last_batch=...).
/// With num_workers > 0, a pool of threads assembles up to `prefetch` batches ahead, in any order,
/// and the loop receives them in order; a batch's content does not depend on num_workers (random
/// transforms draw from sample_generator(), seeded per batch).  An exception thrown while
/// assembling batch k is rethrown by the loop when it reaches batch k; with or without workers the
/// epoch then ends (the iterator equals end(), and ++ on it does nothing), as a Gluon loop's
/// generator that raised.
/// Leaving a loop early, or destroying the loader, stops and joins the threads.  A sampler's epoch
/// must be as long as its length() says (size() counts with it): ValueError otherwise.  When begin() fails
/// (a sampler's error, threads that cannot start: a gluino Error naming num_workers), the loader
/// is as before the call: the rollover carry and the shuffling generator are unchanged.
/// Differences from Gluon: no batchify_fn; workers are threads, not processes.
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
    GLUINO_CHECK(ValueError, opt_.num_workers <= max_num_workers, "DataLoader: num_workers ", opt_.num_workers,
                 " is more than max_num_workers (", max_num_workers, ")");
    GLUINO_CHECK(ValueError, !(opt_.sampler && opt_.shuffle), "DataLoader: shuffle must be false when a sampler "
                 "is given (the sampler decides the order)");
    const std::uint64_t seed = opt_.seed ? *opt_.seed : random::default_generator().next_u64();
    gen_.seed(seed);
    sample_seed_ = random::detail::mix64(seed ^ 0x5a3c9e17d2b4f681ULL);  // batch generators: apart from gen_'s stream
  }

  /// Number of batches the next epoch yields.  Gluon: len(loader).
  std::size_t size() const {
    const std::size_t epoch = opt_.sampler ? opt_.sampler->length(dataset_->size()) : dataset_->size();
    const std::size_t n = epoch + (opt_.last_batch == "rollover" ? carry_.size() : 0);
    // n / bs rounded up without n + bs - 1, which wraps for a batch_size near SIZE_MAX
    return n / opt_.batch_size + (opt_.last_batch == "keep" && n % opt_.batch_size != 0);
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
    // carry_, gen_ and epochs_ change only once the epoch is made: a sampler's error, or threads
    // that cannot start, leave them for the next try.
    std::vector<std::size_t> order;
    if (opt_.last_batch == "rollover") order = carry_;
    std::size_t n = dataset_->size();
    const std::size_t first = order.size();
    if (opt_.sampler) {
      std::vector<std::size_t> picked = opt_.sampler->next_epoch(n);
      const std::size_t promised = opt_.sampler->length(n);  // what size() counted the batches with
      GLUINO_CHECK(ValueError, picked.size() == promised, "DataLoader: the sampler gave ", picked.size(),
                   " indices for an epoch, but its length() is ", promised);
      for (std::size_t i : picked)
        GLUINO_CHECK(ValueError, i < n, "DataLoader: the sampler gave index ", i, " for a dataset of ", n, " samples");
      order.insert(order.end(), picked.begin(), picked.end());
      n = picked.size();
    } else {
      order.resize(first + n);
      std::iota(order.begin() + static_cast<std::ptrdiff_t>(first), order.end(), std::size_t(0));
    }
    random::Generator gen = gen_;
    if (opt_.shuffle)  // Fisher-Yates over this epoch's new indices
      for (std::size_t i = n; i > 1; --i) std::swap(order[first + i - 1], order[first + gen.randint(i)]);
    const std::size_t bs = opt_.batch_size, full = order.size() / bs * bs;
    std::vector<std::size_t> carry(
        order.begin() + static_cast<std::ptrdiff_t>(opt_.last_batch == "rollover" ? full : order.size()), order.end());
    if (opt_.last_batch != "keep") order.resize(full);
    const std::size_t workers = opt_.num_workers > 0 ? opt_.num_workers : (opt_.prefetch.value_or(0) > 0 ? 1 : 0);
    const std::size_t ahead = std::max<std::size_t>(1, opt_.prefetch.value_or(2 * opt_.num_workers));
    const std::uint64_t epoch_seed = random::detail::mix64(sample_seed_ + 0x9e3779b97f4a7c15ULL * (epochs_ + 1));
    std::shared_ptr<Epoch> e;
    try {
      e = std::make_shared<Epoch>(dataset_, std::move(order), bs, epoch_seed, workers, ahead);
    } catch (const std::system_error& err) {  // std::thread could not start one (the Epoch stopped the others)
      ::gluino::detail::raise<Error>("DataLoader: could not start worker thread (num_workers ", opt_.num_workers,
                                     ", prefetch ", ahead, "): ", err.what());
    }
    gen_ = gen;
    carry_ = std::move(carry);
    ++epochs_;
    e->advance();
    return Iterator(std::move(e));
  }
  Sentinel end() const { return {}; }

 private:
  // One pass over a fixed index order.  With workers, each thread claims the lowest batch not yet
  // claimed, while fewer than `ahead` batches are waiting to be used, and leaves the batch (or
  // the exception that stopped it) in slots_[k % ahead]; the consumer takes batch k from there.
  // A claim of batch k needs k < next_ + ahead, so slot k % ahead is free by then.  The
  // destructor stops the workers (they finish the batch in hand) and joins them.
  struct Epoch {
    struct Slot {
      std::optional<Batch<T>> batch;
      std::exception_ptr error;
    };
    Epoch(std::shared_ptr<const Dataset<T>> ds, std::vector<std::size_t> order, std::size_t bs, std::uint64_t seed,
          std::size_t workers, std::size_t ahead)
        : ds_(std::move(ds)), order_(std::move(order)), bs_(bs),
          n_batches_(order_.size() / bs + (order_.size() % bs != 0)),  // rounded up, without wrapping
          seed_(seed), slots_(workers > 0 ? std::max<std::size_t>(1, std::min(ahead, n_batches_)) : 0) {
      workers = std::min(workers, n_batches_);
      try {
        for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
      } catch (...) {  // a thread could not start: stop the others before unwinding
        stop();
        throw;
      }
    }
    Epoch(const Epoch&) = delete;
    Epoch& operator=(const Epoch&) = delete;
    ~Epoch() { stop(); }
    void stop() {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      for (std::thread& t : workers_)
        if (t.joinable()) t.join();
    }
    // Makes `current` the next batch, or sets done.  An exception from batch k ends the epoch (as a
    // Python generator that raised): advancing further is a no-op, and never waits for stopped workers.
    void advance() {
      if (done) return;
      if (next_ >= n_batches_) {
        done = true;
        current = {};
        return;
      }
      if (workers_.empty()) {
        try {
          current = assemble(next_++);
        } catch (...) {
          done = true;
          current = {};
          throw;
        }
        return;
      }
      std::unique_lock<std::mutex> lock(mu_);
      Slot& slot = slots_[next_ % slots_.size()];
      cv_.wait(lock, [&] { return slot.batch.has_value() || slot.error; });
      if (slot.error) {  // assembling this batch failed on a worker: rethrow it here, and end the epoch
        done = true;
        stop_ = true;  // the workers leave the batches after this one
        std::exception_ptr error = std::exchange(slot.error, nullptr);
        lock.unlock();
        cv_.notify_all();
        current = {};
        std::rethrow_exception(error);
      }
      current = std::move(*slot.batch);
      slot.batch.reset();
      ++next_;
      lock.unlock();
      cv_.notify_all();
    }
    void work() {
      gluino::set_num_threads(1);  // this thread's own setting: transforms here leave the cores to training
      for (;;) {
        std::size_t k;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return stop_ || claimed_ >= n_batches_ || claimed_ < next_ + slots_.size(); });
          if (stop_ || claimed_ >= n_batches_) return;
          k = claimed_++;
        }
        Slot result;
        try {
          result.batch = assemble(k);
        } catch (...) {
          result.error = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          slots_[k % slots_.size()] = std::move(result);
        }
        cv_.notify_all();
      }
    }
    // Batch k: samples order_[k*bs, ...) copied into one (B, ...) data and label array each.
    Batch<T> assemble(std::size_t k) const {
      autograd::pause no_record;  // transforms inside get() must not be recorded
      random::Generator gen(random::detail::mix64(seed_ + k));
      SampleGeneratorScope scope(gen);  // random transforms of this batch draw from gen, on any thread
      const std::size_t b0 = k * bs_, b1 = b0 + std::min(bs_, order_.size() - b0), nb = b1 - b0;
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
    std::size_t bs_, n_batches_;
    std::uint64_t seed_;
    std::size_t next_ = 0;     // the batch advance() delivers next (guarded by mu_ when there are workers)
    std::size_t claimed_ = 0;  // batches claimed by the workers (mu_)
    std::vector<Slot> slots_;  // (mu_)
    bool stop_ = false;        // (mu_)
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::thread> workers_;
  };

  std::shared_ptr<const Dataset<T>> dataset_;
  DataLoaderOptions opt_;
  random::Generator gen_;
  std::uint64_t sample_seed_ = 0;  // seeds the batches' sample_generator()
  std::uint64_t epochs_ = 0;
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

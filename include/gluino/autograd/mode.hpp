// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Recording, training and anomaly-detection flags (thread-local) and the RAII scopes that set
/// them: record, pause, train_mode, predict_mode, detect_anomaly.  Mirrors mxnet.autograd's context managers.

namespace gluino::autograd {

namespace detail {
struct ModeState {
  bool recording = false;
  bool training = false;
  bool anomaly = false;  // detect_anomaly: check every op's output and gradients for NaN / inf
};
/// The calling thread's flags.  Scopes below restore what they found, so they nest.
inline ModeState& mode_state() {
  thread_local ModeState state;
  return state;
}
/// Saves the flags on construction and restores them on destruction.
class ModeGuard {
 public:
  ModeGuard(bool recording, bool training) : saved_(mode_state()) {
    mode_state().recording = recording;
    mode_state().training = training;
  }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;
  ~ModeGuard() { mode_state() = saved_; }

 private:
  ModeState saved_;
};
}  // namespace detail

/// True inside a record scope (and not paused): ops on arrays that need gradients build a graph.
inline bool is_recording() { return detail::mode_state().recording; }
/// True in train mode: Dropout drops and BatchNorm uses batch statistics.  Gluon: is_training().
inline bool is_training() { return detail::mode_state().training; }
/// Sets the recording flag and returns its previous value.  Gluon: set_recording.
inline bool set_recording(bool on) {
  bool old = detail::mode_state().recording;
  detail::mode_state().recording = on;
  return old;
}
/// Sets the training flag and returns its previous value.  Gluon: set_training.
inline bool set_training(bool on) {
  bool old = detail::mode_state().training;
  detail::mode_state().training = on;
  return old;
}

/// Records operations for backward() while alive.  Gluon: `with autograd.record(train_mode=True):`.
/// `autograd::record rec;` records in train mode; `autograd::record rec{false};` in predict mode.
class record : detail::ModeGuard {
 public:
  explicit record(bool train_mode = true) : ModeGuard(true, train_mode) {}
};
/// Stops recording while alive (predict mode unless told otherwise).  Gluon: autograd.pause().
class pause : detail::ModeGuard {
 public:
  explicit pause(bool train_mode = false) : ModeGuard(false, train_mode) {}
};
/// Train mode without changing recording.  Gluon: autograd.train_mode().
class train_mode : detail::ModeGuard {
 public:
  train_mode() : ModeGuard(is_recording(), true) {}
};
/// Predict mode without changing recording.  Gluon: autograd.predict_mode().
class predict_mode : detail::ModeGuard {
 public:
  predict_mode() : ModeGuard(is_recording(), false) {}
};

/// True inside a detect_anomaly scope (on this thread).
inline bool is_anomaly_enabled() { return detail::mode_state().anomaly; }

/// While alive (on this thread), every op checks its output, and backward() every gradient it
/// computes, for NaN and infinity, and throws AnomalyError (gluino/autograd/anomaly.hpp) naming
/// the first op, forward or backward, that made a non-finite value from finite ones, with its
/// shapes.  Costs a pass over every result: a debugging aid.  PyTorch: autograd.detect_anomaly.
/// `autograd::detect_anomaly guard{false};` turns the checks off inside an enabled scope.
class detect_anomaly {
 public:
  explicit detect_anomaly(bool enabled = true) : saved_(detail::mode_state().anomaly) {
    detail::mode_state().anomaly = enabled;
  }
  detect_anomaly(const detect_anomaly&) = delete;
  detect_anomaly& operator=(const detect_anomaly&) = delete;
  ~detect_anomaly() { detail::mode_state().anomaly = saved_; }

 private:
  bool saved_;
};

}  // namespace gluino::autograd

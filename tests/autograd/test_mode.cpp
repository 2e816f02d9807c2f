// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/mode.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>

using namespace gluino;

namespace {
/// (is_recording, is_training) as a pair, for compact checks.
std::pair<bool, bool> flags() { return {autograd::is_recording(), autograd::is_training()}; }
const std::pair<bool, bool> off{false, false};
}  // namespace

TEST_SUITE("autograd/mode") {
TEST_CASE("defaults: not recording, predict mode") { CHECK(flags() == off); }

TEST_CASE("record: train mode by default, predict mode with record{false}") {
  {
    autograd::record rec;
    CHECK(flags() == std::pair{true, true});
  }
  CHECK(flags() == off);
  {
    autograd::record rec{false};
    CHECK(flags() == std::pair{true, false});
  }
  CHECK(flags() == off);
}

TEST_CASE("pause: stops recording, predict mode unless told otherwise") {
  autograd::record rec;
  {
    autograd::pause p;
    CHECK(flags() == std::pair{false, false});
  }
  CHECK(flags() == std::pair{true, true});
  {
    autograd::pause p{true};
    CHECK(flags() == std::pair{false, true});
  }
  CHECK(flags() == std::pair{true, true});
}

TEST_CASE("train_mode and predict_mode keep the recording flag") {
  {
    autograd::train_mode t;
    CHECK(flags() == std::pair{false, true});
    {
      autograd::predict_mode p;
      CHECK(flags() == std::pair{false, false});
    }
    CHECK(flags() == std::pair{false, true});
  }
  CHECK(flags() == off);
  autograd::record rec;
  {
    autograd::predict_mode p;
    CHECK(flags() == std::pair{true, false});
    autograd::train_mode t;
    CHECK(flags() == std::pair{true, true});
  }
  CHECK(flags() == std::pair{true, true});
}

TEST_CASE("scopes nest and restore exactly what they found") {
  {
    autograd::record outer{false};
    CHECK(flags() == std::pair{true, false});
    {
      autograd::pause p;
      CHECK(flags() == std::pair{false, false});
      {
        autograd::record inner;
        CHECK(flags() == std::pair{true, true});
        {
          autograd::predict_mode pm;
          CHECK(flags() == std::pair{true, false});
        }
        CHECK(flags() == std::pair{true, true});
      }
      CHECK(flags() == std::pair{false, false});
      {
        autograd::train_mode tm;
        CHECK(flags() == std::pair{false, true});
      }
    }
    CHECK(flags() == std::pair{true, false});
  }
  CHECK(flags() == off);
}

TEST_CASE("flags are restored when a scope is left by an exception") {
  try {
    autograd::record rec;
    autograd::train_mode tm;
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  CHECK(flags() == off);
}

TEST_CASE("set_recording and set_training return the previous value") {
  CHECK(autograd::set_recording(true) == false);
  CHECK(autograd::is_recording());
  CHECK(autograd::set_recording(false) == true);
  CHECK(autograd::set_training(true) == false);
  CHECK(autograd::is_training());
  CHECK(autograd::set_training(false) == true);
  CHECK(flags() == off);
  {
    autograd::record rec;
    autograd::set_training(false);  // a scope restores flags changed inside it too
    CHECK(flags() == std::pair{true, false});
  }
  CHECK(flags() == off);
}

TEST_CASE("flags are per thread") {
  autograd::record rec;
  std::pair<bool, bool> seen{true, true};
  std::thread t([&] { seen = flags(); });
  t.join();
  CHECK(seen == off);
  CHECK(flags() == std::pair{true, true});
}
}

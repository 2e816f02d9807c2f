// SPDX-License-Identifier: Apache-2.0
// The main job: train the tutorial's LeNet on Fashion-MNIST and show it working.
//
//   train_lenet [--data DIR] [--epochs 10] [--batch-size 256] [--optimizer sgd|adam] [--lr 0.1]
//               [--momentum 0.9] [--wd 5e-4] [--schedule onecycle|constant] [--threads 2]
//               [--seed 42] [--output lenet.safetensors] [--metrics lenet-metrics.csv]
//               [--curve lenet-curve.svg] [--limit N] [--resume] [--export lenet.onnx]
//
// Default recipe (why: see README): inputs normalised with the training set's mean and std,
// Xavier initialisation, SGD with momentum 0.9 and weight decay 5e-4 under a one-cycle
// learning-rate schedule peaking at 0.1, batch 256, 10 epochs.  Writes the parameters
// (safetensors), the trainer's state next to them (for --resume), a metrics CSV and an SVG
// learning curve.  The same seed and thread count give the same losses.  --resume continues
// from the last finished epoch: the checkpoint keeps the epoch, the step, the recipe (checked
// field by field: another batch size, optimizer, seed or data set is an error) and the metrics,
// so the metrics CSV is output only.  --momentum is SGD's: with --optimizer adam it is an error,
// not ignored.  --export also writes the trained network as an ONNX model
// (input "data" of shape (batch, 1, 28, 28), normalised as here; output "output", the logits),
// which examples/predict_onnx.cpp and ONNX Runtime run without this program's code.
#include <gluino/data/dataloader.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/detail/atomic_file.hpp>  // the metrics CSV is written as the checkpoint is
#include <gluino/gluino.hpp>

#include "support/fashion_mnist.hpp"
#include "support/cli.hpp"
#if GLUINO_EXAMPLES_ONNX
#include <gluino/onnx/export.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <locale>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace gluino;

namespace {

struct Options {
  std::string data;  // "" = the library default ($GLUINO_DATA or Debian's package folder)
  int epochs = 10;
  std::size_t batch_size = 256;
  std::string optimizer = "sgd";
  double lr = 0.1;
  double momentum = 0.9;
  bool momentum_given = false;  // --momentum on the command line: refused with --optimizer adam
  double wd = 5e-4;
  std::string schedule = "onecycle";
  int threads = 2;
  std::uint64_t seed = 42;
  std::string output = "lenet.safetensors";
  std::string metrics = "lenet-metrics.csv";
  std::string curve = "lenet-curve.svg";
  std::size_t limit = 0;  // 0 = every training image
  bool resume = false;
  std::string onnx_path;  // --export: "" = no ONNX file
};

void usage() {
  std::cout << "usage: train_lenet [--data DIR] [--epochs N] [--batch-size N] [--optimizer sgd|adam] [--lr X]\n"
               "                   [--momentum X (sgd only)] [--wd X] [--schedule onecycle|constant] [--threads N]\n"
               "                   [--seed N] [--output FILE] [--metrics FILE] [--curve FILE] [--limit N] [--resume]\n"
               "                   [--export FILE.onnx]\n";
}

/// The trainer state's file, beside the parameters: lenet.safetensors -> lenet.trainer.safetensors.
std::string states_path(const std::string& output) {
  std::filesystem::path p(output);
  return (p.parent_path() / (p.stem().string() + ".trainer.safetensors")).string();
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      GLUINO_CHECK(ValueError, i + 1 < argc, "train_lenet: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--data") o.data = value();
    else if (a == "--epochs") o.epochs = example::int_arg(a, value());
    else if (a == "--batch-size") o.batch_size = example::size_arg(a, value());
    else if (a == "--optimizer") o.optimizer = value();
    else if (a == "--lr") o.lr = example::real_arg(a, value());
    else if (a == "--momentum") {
      o.momentum = example::real_arg(a, value());
      o.momentum_given = true;
    }
    else if (a == "--wd") o.wd = example::real_arg(a, value());
    else if (a == "--schedule") o.schedule = value();
    else if (a == "--threads") o.threads = example::int_arg(a, value());
    else if (a == "--seed") o.seed = example::whole_number(a, value());
    else if (a == "--output") o.output = value();
    else if (a == "--metrics") o.metrics = value();
    else if (a == "--curve") o.curve = value();
    else if (a == "--limit") o.limit = example::size_arg(a, value());
    else if (a == "--resume") o.resume = true;
    else if (a == "--export") o.onnx_path = value();
    else {
      usage();
      detail::raise<ValueError>("train_lenet: unknown option '", a, "'");
    }
  }
#if !GLUINO_EXAMPLES_ONNX
  GLUINO_CHECK(ValueError, o.onnx_path.empty(), "train_lenet: --export: this build has no ONNX support (install "
               "Debian's libonnx-dev and libprotobuf-dev and configure again)");
#endif
  GLUINO_CHECK(ValueError, o.epochs > 0 && o.batch_size > 0 && o.threads > 0,
               "train_lenet: epochs, batch size and threads must be positive");
  GLUINO_CHECK(ValueError, o.optimizer == "sgd" || o.optimizer == "adam", "train_lenet: --optimizer must be sgd or adam");
  // An option the chosen optimizer would not use is refused, not silently ignored.
  GLUINO_CHECK(ValueError, !o.momentum_given || o.optimizer == "sgd", "train_lenet: --momentum applies to --optimizer "
               "sgd only; ", o.optimizer, " has no momentum option (its running mean of the gradients is beta1, "
               "0.9): drop --momentum or use --optimizer sgd");
  GLUINO_CHECK(ValueError, o.schedule == "onecycle" || o.schedule == "constant",
               "train_lenet: --schedule must be onecycle or constant");
  // The files are checked now, not after the first epoch's training.
  std::vector<std::pair<std::string, std::string>> files{
      {"--output", o.output}, {"--metrics", o.metrics}, {"--curve", o.curve}};
  if (!o.onnx_path.empty()) files.emplace_back("--export", o.onnx_path);
  for (const auto& [option, path] : files) example::output_file(option, path);
  files.emplace_back("the trainer state beside --output", states_path(o.output));
  example::distinct_files(files);
  return o;
}

struct EpochRow {
  int epoch;
  double loss, train_acc, test_acc, seconds, img_per_s;
};

/// The metrics as CSV text: what the metrics file holds and what the checkpoint keeps (the
/// checkpoint's copy is the one --resume reads; the file is output only).  Numbers in the
/// classic locale whatever the global one: under a German one 0.92 would be "0,92", a column
/// more for every reader of the CSV.
std::string metrics_csv(const std::vector<EpochRow>& rows) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  out << "epoch,train_loss,train_acc,test_acc,seconds,img_per_s\n";
  for (const auto& r : rows)
    out << r.epoch << ',' << r.loss << ',' << r.train_acc << ',' << r.test_acc << ',' << r.seconds << ','
        << r.img_per_s << '\n';
  return out.str();
}

std::vector<EpochRow> parse_metrics(const std::string& text, const std::string& where) {
  std::vector<EpochRow> rows;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    EpochRow r{};
    GLUINO_CHECK(ValueError,
                 std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.loss, &r.train_acc, &r.test_acc,
                             &r.seconds, &r.img_per_s) == 6 && r.epoch == static_cast<int>(rows.size()) + 1,
                 "train_lenet: ", where, ": malformed metrics row '", line, "'");
    rows.push_back(r);
  }
  return rows;
}

/// Writes the metrics CSV as the checkpoint's files are written (detail::write_file_atomically):
/// a temporary beside it, synced, then renamed over it, so that an interrupted write or a crash
/// leaves the previous file whole.
void write_metrics(const std::string& path, const std::vector<EpochRow>& rows) {
  const std::string text = metrics_csv(rows);
  gluino::detail::write_file_atomically(path, "train_lenet: '" + path + "': ",
                                        [&](std::ostream& out) { out << text; });
}

/// The recipe: everything that makes a run's numbers what they are.  Kept in the checkpoint
/// (metadata "train_lenet.<field>") and compared field by field on --resume.  The thread count is
/// left out on purpose (it changes the last bits, not the recipe); --epochs may grow.
std::map<std::string, std::string> recipe(const Options& o, const data::vision::FashionMNIST<float>& train,
                                          std::size_t train_size, std::size_t test_size) {
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  // FNV-1a over the training images and labels, 4 bytes at a time: another data set, or the same
  // one changed, gives another value.
  std::uint64_t h = 1469598103934665603ull;
  for (const NDArray<float>& a : {train.images(), train.labels()})
    for (float v : a) {
      std::uint32_t bits;
      std::memcpy(&bits, &v, 4);
      h = (h ^ bits) * 1099511628211ull;
    }
  return {{"batch_size", std::to_string(o.batch_size)},
          {"optimizer", o.optimizer},
          {"lr", num(o.lr)},
          {"momentum", o.optimizer == "sgd" ? num(o.momentum) : "-"},
          {"wd", num(o.wd)},
          {"schedule", o.schedule},
          {"seed", std::to_string(o.seed)},
          {"limit", std::to_string(o.limit)},
          {"train_size", std::to_string(train_size)},
          {"test_size", std::to_string(test_size)},
          {"train_checksum", std::to_string(h)}};
}

/// The option that sets a recipe field, for messages.
std::string option_of(const std::string& field) {
  if (field == "train_size" || field == "test_size" || field == "train_checksum") return "the data set (--data)";
  std::string opt = "--" + field;
  std::replace(opt.begin(), opt.end(), '_', '-');
  return opt;
}

/// What a resumed run starts from: the last finished epoch and its history.
struct Checkpoint {
  int epoch = 0;
  std::vector<EpochRow> history;
};

/// Checks that the checkpoint (parameters + trainer state) was written by this recipe and is
/// consistent, then loads it.  The metrics CSV is not read: the checkpoint carries its history.
Checkpoint resume(const Options& o, const std::string& states, const std::map<std::string, std::string>& want,
                  std::size_t steps_per_epoch, nn::Sequential& net, Trainer& trainer) {
  GLUINO_CHECK(ValueError, std::filesystem::exists(o.output) && std::filesystem::exists(states),
               "train_lenet: --resume needs '", o.output, "' and '", states, "' from an earlier run");
  const auto smeta = io::read_safetensors_header(states).metadata;
  const auto pmeta = io::read_safetensors_header(o.output).metadata;
  auto get = [&](const std::map<std::string, std::string>& meta, const std::string& file, const std::string& key) {
    auto it = meta.find("train_lenet." + key);
    GLUINO_CHECK(ValueError, it != meta.end(), "train_lenet: --resume: '", file, "' has no '", key,
                 "' in its metadata (not a checkpoint of train_lenet); start afresh without --resume");
    return it->second;
  };
  for (const auto& [field, value] : want) {
    const std::string saved = get(smeta, states, field);
    GLUINO_CHECK(ValueError, saved == value, "train_lenet: --resume: the checkpoint '", states, "' was written with ",
                 field, " ", saved, " but this run has ", field, " ", value, " (", option_of(field),
                 "); resume with the checkpoint's settings or start afresh without --resume");
  }
  Checkpoint c;
  const std::string epoch = get(smeta, states, "epoch"), step = get(smeta, states, "step");
  GLUINO_CHECK(ValueError, get(pmeta, o.output, "epoch") == epoch && get(pmeta, o.output, "step") == step,
               "train_lenet: --resume: '", o.output, "' is at epoch ", get(pmeta, o.output, "epoch"), " but '", states,
               "' at epoch ", epoch, " (an interrupted save?); start afresh without --resume");
  c.epoch = example::int_arg("--resume: the checkpoint's epoch", epoch);
  const std::uint64_t saved_step = example::whole_number("--resume: the checkpoint's step", step);
  GLUINO_CHECK(ValueError, c.epoch >= 1 && saved_step == static_cast<std::uint64_t>(c.epoch) * steps_per_epoch,
               "train_lenet: --resume: '", states, "' says epoch ", epoch, " and step ", step, ", but an epoch has ",
               steps_per_epoch, " steps");
  GLUINO_CHECK(ValueError, c.epoch < o.epochs, "train_lenet: --resume: the checkpoint has finished epoch ", c.epoch,
               " and --epochs is ", o.epochs, ": nothing to train; pass a larger --epochs to train on");
  c.history = parse_metrics(get(smeta, states, "history"), states);
  GLUINO_CHECK(ValueError, c.history.size() == static_cast<std::size_t>(c.epoch), "train_lenet: --resume: '", states,
               "' holds ", c.history.size(), " metrics rows for epoch ", c.epoch);
  const std::string planned = get(smeta, states, "epochs");
  if (planned != std::to_string(o.epochs) && o.schedule == "onecycle")
    std::printf("note: the checkpoint was written for %s epochs, this run has --epochs %d: the one-cycle schedule "
                "now spans %d epochs\n", planned.c_str(), o.epochs, o.epochs);
  net.load_parameters(o.output);
  trainer.load_states(states);
  GLUINO_CHECK(ValueError, trainer.optimizer().num_update() == saved_step, "train_lenet: --resume: '", states,
               "' holds ", trainer.optimizer().num_update(), " updates, not step ", step);
  return c;
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

/// Accuracy of net over a loader, in predict mode.
double evaluate(nn::Sequential& net, data::DataLoader<float>& loader) {
  metric::Accuracy acc;
  autograd::predict_mode predict;
  for (auto [x, y] : loader) acc.update(y, net(x));
  return acc.get().second;
}

int run(const Options& o) {
  set_num_threads(o.threads);
  gluino::random::seed(o.seed);
  const auto wall0 = std::chrono::steady_clock::now();

  data::vision::FashionMNIST<float> train_raw(o.data, {.train = true}), test_raw(o.data, {.train = false});
  auto train_set = example::normalised(train_raw, o.limit);
  auto test_set = example::normalised(test_raw, 0);
  // Each epoch's shuffle comes from seed + epoch, so that --resume sees the same data order as
  // an uninterrupted run.
  auto train_loader_for = [&](int epoch) {
    return data::DataLoader<float>(train_set, {.batch_size = o.batch_size, .shuffle = true,
                                               .seed = o.seed + static_cast<std::uint64_t>(epoch)});
  };
  data::DataLoader<float> test_loader(test_set, {.batch_size = 1000});
  const std::size_t steps_per_epoch = train_loader_for(0).size();
  GLUINO_CHECK(ValueError, o.schedule != "onecycle" || steps_per_epoch * static_cast<std::size_t>(o.epochs) >= 2,
               "train_lenet: the one-cycle schedule needs at least 2 steps, this run has ",
               steps_per_epoch * static_cast<std::size_t>(o.epochs), " (", o.epochs, " epoch(s) of ", steps_per_epoch,
               " batch(es) of up to ", o.batch_size, " from ", train_set.size(),
               " images); use more --epochs, a smaller --batch-size or --schedule constant");

  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  (void)(*net)(nd::zeros<float>({1, 1, 28, 28}));  // infer the deferred shapes

  std::shared_ptr<optim::LRScheduler> schedule;
  if (o.schedule == "onecycle")
    schedule = std::make_shared<optim::OneCycleScheduler>(steps_per_epoch * static_cast<std::size_t>(o.epochs),
                                                          optim::OneCycleSchedulerOptions{.base_lr = o.lr});
  std::shared_ptr<optim::BasicOptimizer<float>> optimizer;
  if (o.optimizer == "sgd")
    optimizer = std::make_shared<optim::SGD>(
        optim::SGDOptions{.learning_rate = o.lr, .momentum = o.momentum, .wd = o.wd, .lr_scheduler = schedule});
  else
    optimizer = std::make_shared<optim::Adam>(optim::AdamOptions{.learning_rate = o.lr, .wd = o.wd, .lr_scheduler = schedule});
  Trainer trainer(net->collect_params(), optimizer);
  loss::SoftmaxCrossEntropyLoss loss_fn;

  const auto run_recipe = recipe(o, train_raw, train_set.size(), test_set.size());
  std::vector<EpochRow> history;
  if (o.resume) history = resume(o, states_path(o.output), run_recipe, steps_per_epoch, *net, trainer).history;

  std::printf("gluino %s | LeNet | Fashion-MNIST: %zu train / %zu test | batch %zu | %s lr %g%s | %d threads | GEMM: %s\n",
              gluino::version().c_str(), train_set.size(), test_set.size(), o.batch_size, o.optimizer.c_str(), o.lr,
              o.schedule == "onecycle" ? " one-cycle" : "", get_num_threads(), gluino::kernels::gemm_backend().c_str());
  if (o.resume) std::printf("resuming after epoch %zu from %s\n", history.size(), o.output.c_str());
  std::fflush(stdout);

  const bool tty = isatty(STDOUT_FILENO);
  for (int epoch = static_cast<int>(history.size()) + 1; epoch <= o.epochs; ++epoch) {
    metric::Accuracy train_acc;
    double loss_sum = 0;
    std::size_t seen = 0, step = 0;
    auto train_loader = train_loader_for(epoch);
    const auto t0 = std::chrono::steady_clock::now();
    for (auto [x, y] : train_loader) {
      NDArray<float> out, l;
      {
        autograd::record rec;
        out = (*net)(x);
        l = loss_fn(out, y);
      }
      l.backward();
      trainer.step(x.shape(0));
      loss_sum += l.sum().asscalar();
      train_acc.update(y, out);
      seen += x.shape(0);
      ++step;
      if (tty && (step % 5 == 0 || step == steps_per_epoch)) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int width = 28, filled = static_cast<int>(width * step / steps_per_epoch);
        std::printf("\r\033[2Kepoch %d/%d [%s>%s] %zu/%zu  loss %.3f  %.0f img/s  ETA %s", epoch, o.epochs,
                    std::string(filled, '=').c_str(), std::string(width - filled, ' ').c_str(), step, steps_per_epoch,
                    loss_sum / double(seen), double(seen) / secs,
                    clock_text(secs / double(step) * double(steps_per_epoch - step)).c_str());
        std::fflush(stdout);
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double test_acc = evaluate(*net, test_loader);
    history.push_back({epoch, loss_sum / double(seen), train_acc.get().second, test_acc, secs, double(seen) / secs});
    const auto& r = history.back();
    std::printf("%sepoch %d/%d  loss %.3f  train-acc %.3f  test-acc %.3f  %.1f s  %.0f img/s\n", tty ? "\r\033[2K" : "",
                epoch, o.epochs, r.loss, r.train_acc, r.test_acc, r.seconds, r.img_per_s);
    std::fflush(stdout);
    // Checkpoint every epoch, so that --resume continues from the last finished one: the epoch,
    // step, recipe and metrics go into the checkpoint.  Each save is atomic; a crash between the
    // two leaves files of different epochs, which --resume detects.
    const std::string step_text = std::to_string(static_cast<std::size_t>(epoch) * steps_per_epoch);
    std::map<std::string, std::string> meta{{"train_lenet.epoch", std::to_string(epoch)},
                                            {"train_lenet.step", step_text}};
    net->save_parameters(o.output, meta);
    for (const auto& [field, value] : run_recipe) meta["train_lenet." + field] = value;
    meta["train_lenet.epochs"] = std::to_string(o.epochs);
    meta["train_lenet.history"] = metrics_csv(history);
    trainer.save_states(states_path(o.output), meta);
    write_metrics(o.metrics, history);
  }

  std::vector<double> loss, tr, te;
  for (const auto& r : history) loss.push_back(r.loss), tr.push_back(r.train_acc), te.push_back(r.test_acc);
  // Atomic itself: a temporary beside it, synced and renamed over it.
  utils::write_svg(o.curve, {{"LeNet on Fashion-MNIST: training loss", {{"train loss", loss}}},
                             {"accuracy", {{"train", tr}, {"test", te}}}});
#if GLUINO_EXAMPLES_ONNX
  if (!o.onnx_path.empty()) {
    export_onnx(*net, o.onnx_path, {1, 1, 28, 28});
    std::printf("exported %s (ONNX, opset 13)\n", o.onnx_path.c_str());
  }
#endif
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("saved %s, metrics in %s, learning curve in %s (%.1f s in all)\n", o.output.c_str(), o.metrics.c_str(),
              o.curve.c_str(), total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", example::error_line("train_lenet", e).c_str());
    return 1;
  }
}

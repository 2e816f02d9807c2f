// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora of the fuzz targets (committed under tests/fuzz/corpus/<target>/):
//   make_seeds <fashion-mnist-mini folder> <corpus folder>
// Deterministic: running it again rewrites the same files.  See tests/fuzz/README.md.
#include <gluino/data/idx.hpp>
#include <gluino/io/safetensors.hpp>
#include <gluino/nn/parameter_io.hpp>
#include <gluino/optim/trainer.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "../support/idx_bytes.hpp"
#include "../support/image_write.hpp"
#include "fuzz_lenet.hpp"

using namespace gluino;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {
fs::path out_dir;

void write(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(out_dir / target);
  std::ofstream f(out_dir / target / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
Bytes read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
Bytes idx_bytes(const data::IdxArray& a) {
  Bytes h{0, 0, 8, static_cast<std::uint8_t>(a.dims.size())};
  for (std::size_t d : a.dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<std::uint8_t>(d >> s));
  h.insert(h.end(), a.data.begin(), a.data.end());
  return h;
}
// gzip with a fixed header (no name, no time), so that the seeds are reproducible.
Bytes gzip(const Bytes& raw, int level = 9) {
  z_stream zs{};
  deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&zs, raw.size()) + 32);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
using gluino_test::gzip_bomb;
Bytes header_only(const std::vector<std::uint32_t>& dims) { return gluino_test::idx_header(dims); }
data::IdxArray first(const data::IdxArray& a, std::size_t n) {
  std::size_t per = 1;
  for (std::size_t i = 1; i < a.dims.size(); ++i) per *= a.dims[i];
  data::IdxArray b{a.dims, {a.data.begin(), a.data.begin() + static_cast<std::ptrdiff_t>(n * per)}};
  b.dims[0] = n;
  return b;
}
// Saves through the library (atomic save) to a scratch file and returns the bytes.
template <class Save>
Bytes saved(Save save) {
  const fs::path p = fs::temp_directory_path() / ("gluino-make-seeds-" + std::to_string(::getpid()));
  save(p.string());
  Bytes b = read(p);
  fs::remove(p);
  return b;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_seeds <fashion-mnist-mini folder> <corpus folder>\n";
    return 2;
  }
  const fs::path mini = argv[1];
  out_dir = argv[2];

  // IDX: slices of the fixture, raw and gzip; odd shapes; today's bombs, small.
  const auto images = data::read_idx((mini / "train-images-idx3-ubyte.gz").string(), {.expected_ndim = 3});
  const auto labels = data::read_idx((mini / "train-labels-idx1-ubyte.gz").string(), {.expected_ndim = 1});
  const std::vector<std::pair<std::string, Bytes>> raw = {
      {"labels-10", idx_bytes(first(labels, 10))},
      {"labels-100", idx_bytes(labels)},
      {"images-1", idx_bytes(first(images, 1))},
      {"images-3", idx_bytes(first(images, 3))},
      {"bytes-2x3x1x1x2x1", idx_bytes(data::IdxArray{{2, 3, 1, 1, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}})},
      {"empty-0x28x28", idx_bytes(data::IdxArray{{0, 28, 28}, {}})},
  };
  for (const auto& [name, b] : raw) {
    write("idx_raw", name + ".idx", b);
    write("idx_gzip", name + ".idx", b);  // compressed by the target itself
    write("idx_gzip", name + ".idx.gz", gzip(b));
  }
  write("idx_gzip", "labels-100-official.idx.gz", read(mini / "train-labels-idx1-ubyte.gz"));
  {
    const Bytes b = idx_bytes(first(labels, 10));
    Bytes two = gzip(Bytes(b.begin(), b.begin() + 12));
    const Bytes rest = gzip(Bytes(b.begin() + 12, b.end()));
    two.insert(two.end(), rest.begin(), rest.end());
    write("idx_gzip", "labels-10-two-members.idx.gz", two);
    Bytes garbage = gzip(b);
    garbage.insert(garbage.end(), {'j', 'u', 'n', 'k'});
    write("idx_gzip", "regression-trailing-garbage.idx.gz", garbage);
  }
  // Today's bombs, small: 16 MiB of zeros after a 10x28x28 payload (read in full before), and
  // 1 MiB of zeros under a header announcing 2 GiB (allocated in full before).
  write("idx_gzip", "regression-bomb-extra-16mib.idx.gz", gzip_bomb(header_only({10, 28, 28}), 16));
  write("idx_gzip", "regression-bomb-announces-2gib.idx.gz", gzip_bomb(header_only({2048, 1024, 1024}), 1));
  write("idx_raw", "regression-announces-2gib.idx", header_only({2048, 1024, 1024}));

  // safetensors: small files of both dtypes (LeNet's are ~700 KB: only the checkpoint targets get them).
  const auto net = gluino_fuzz::make_lenet();
  {
    random::seed(7);
    std::vector<std::pair<std::string, NDArray<float>>> f32 = {
        {"scalar", nd::full<float>(Shape{}, 1.5f)},
        {"matrix", nd::arange<float>(0, 6).reshape({2, 3})},
        {"empty", nd::zeros<float>({0, 4})},
        {"column", nd::ones<float>({3, 1})}};
    const Bytes small = saved([&](const std::string& p) { io::save_safetensors<float>(p, f32, {{"format", "np"}}); });
    std::vector<std::pair<std::string, NDArray<double>>> f64 = {
        {"w", nd::arange<double>(0, 8).reshape({2, 2, 2})}, {"b", nd::full<double>({2}, -0.25)}};
    const Bytes wide = saved([&](const std::string& p) { io::save_safetensors<double>(p, f64); });
    const Bytes none = saved([&](const std::string& p) { io::save_safetensors<float>(p, {}); });
    for (const char* target : {"safetensors_float", "safetensors_double"}) {
      write(target, "f32-four-tensors.safetensors", small);
      write(target, "f64-two-tensors.safetensors", wide);
      write(target, "no-tensors.safetensors", none);
    }
  }

  // Checkpoints of LeNet: its parameters, and a trainer's states after one step (SGD with momentum; Adam).
  write("load_parameters", "lenet.params", saved([&](const std::string& p) { net->save_parameters(p); }));
  write("load_parameters", "no-tensors.params",
        saved([&](const std::string& p) { io::save_safetensors<float>(p, {}); }));
  for (const auto& [opt, options] : std::vector<std::pair<std::string, optim::OptimizerOptions>>{
           {"sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}}}, {"adam", {{"learning_rate", 0.001}}}}) {
    Trainer trainer(net->collect_params(), opt, options);
    trainer.step(1);
    write("trainer_states", "lenet-" + opt + ".states", saved([&](const std::string& p) { trainer.save_states(p); }));
  }
  // Small PNG and JPEG images (tests/support/image_write.hpp: libpng, libjpeg): grey, grey + alpha,
  // RGB, RGBA, 16-bit, palette and interlaced PNG; baseline and progressive, RGB and grey JPEG.
  {
    Bytes px(16 * 12 * 4);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 29 % 256);
    auto first = [&](int c) { return Bytes(px.begin(), px.begin() + 16 * 12 * c); };
    const fs::path dir = out_dir / "imdecode";
    fs::create_directories(dir);
    using gluino::test::encode_jpeg, gluino::test::encode_png, gluino::test::write_image_file;
    for (int c : {1, 2, 3, 4}) {
      const std::string name = c == 1 ? "grey" : c == 2 ? "grey-alpha" : c == 3 ? "rgb" : "rgba";
      write_image_file(dir / (name + ".png"), encode_png(16, 12, c, first(c)));
    }
    write_image_file(dir / "rgb16.png", encode_png(16, 12, 3, first(3), {.bit_depth = 16}));
    write_image_file(dir / "rgb-interlaced.png", encode_png(16, 12, 3, first(3), {.interlace = true}));
    Bytes few(16 * 12 * 3);  // 16 colours, for a palette
    for (std::size_t i = 0; i < few.size(); ++i) few[i] = static_cast<std::uint8_t>((i / 3 % 16) * 16 + i % 3);
    write_image_file(dir / "palette.png", encode_png(16, 12, 3, few, {.palette = true}));
    for (int c : {3, 1})
      for (bool progressive : {false, true})
        write_image_file(dir / (std::string(c == 3 ? "rgb" : "grey") + (progressive ? "-progressive" : "") + ".jpg"),
                         encode_jpeg(16, 12, c, first(c), 80, progressive));
    write_image_file(dir / "rgb-arithmetic.jpg", encode_jpeg(16, 12, 3, first(3), 80, false, true));
    write_image_file(dir / "cmyk.jpg", encode_jpeg(16, 12, 4, first(4), 80));
  }
  // CIFAR batches (records of label bytes and 3072 pixel bytes): CIFAR-10's (one label byte) and
  // CIFAR-100's (coarse, fine), one to three records; and CIFAR-100 records with a label out of range.
  {
    auto cifar = [](const std::vector<Bytes>& labels) {
      Bytes b;
      for (std::size_t r = 0; r < labels.size(); ++r) {
        b.insert(b.end(), labels[r].begin(), labels[r].end());
        for (std::size_t i = 0; i < 3072; ++i) b.push_back(static_cast<std::uint8_t>((r * 7 + i * 5 + i / 32) % 256));
      }
      return b;
    };
    write("cifar", "cifar10-1.bin", cifar({{3}}));
    write("cifar", "cifar10-3.bin", cifar({{0}, {9}, {5}}));
    write("cifar", "cifar100-1.bin", cifar({{19, 99}}));
    write("cifar", "cifar100-2.bin", cifar({{0, 0}, {7, 42}}));
    write("cifar", "regression-cifar100-coarse-20.bin", cifar({{20, 42}}));
    write("cifar", "regression-cifar100-fine-100.bin", cifar({{3, 100}}));
  }
  std::cout << "make_seeds: wrote the seeds under " << out_dir << "\n";
  return 0;
}

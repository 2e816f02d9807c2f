// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/dataset.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("data/dataset") {
TEST_CASE("ArrayDataset: sample i is (data[i], label[i]) as views") {
  auto x = nd::arange<float>(12).reshape({3, 2, 2});
  auto y = nd::array<float>({5, 6, 7});
  data::ArrayDataset<float> ds(x, y);
  CHECK(ds.size() == 3);
  auto [d, l] = ds.get(1);
  CHECK(d.shape() == Shape{2, 2});
  CHECK(d.to_vector() == std::vector<float>{4, 5, 6, 7});
  CHECK(l.shape() == Shape{});
  CHECK(l.item() == 6);
  x.at(1, 0, 0) = 40;  // views share the storage
  CHECK(ds.get(1).data.at(0, 0) == 40);
}
TEST_CASE("ArrayDataset: errors") {
  CHECK_THROWS_WITH_AS(data::ArrayDataset<float>(nd::zeros<float>({3, 2}), nd::zeros<float>({4})),
                       doctest::Contains("differ in length: (3, 2) vs (4,)"), ShapeError);
  data::ArrayDataset<float> ds(nd::zeros<float>({3, 2}), nd::zeros<float>({3}));
  CHECK_THROWS_WITH_AS(ds.get(3), doctest::Contains("ArrayDataset: index 3 out of range for a dataset of 3 samples"),
                       ValueError);
}
TEST_CASE("transform_first applies to the data only, lazily, and outlives its source") {
  int calls = 0;
  data::TransformedDataset<double> t = [&] {
    data::ArrayDataset<double> ds(nd::arange<double>(6).reshape({3, 2}), nd::array<double>({0, 1, 2}));
    return ds.transform_first([&](const NDArray<double>& x) {
      ++calls;
      return x * 10.0;
    });
  }();  // the source dataset is gone; t keeps a clone
  CHECK(calls == 0);
  CHECK(t.size() == 3);
  auto [d, l] = t.get(2);
  CHECK(calls == 1);
  CHECK(d.to_vector() == std::vector<double>{40, 50});
  CHECK(l.item() == 2);
  // Chains, and transform() sees both.
  auto t2 = t.transform([](const NDArray<double>& x, const NDArray<double>& y) {
    return data::Sample<double>{x + 1.0, y * 2.0};
  });
  auto s = t2.get(1);
  CHECK(s.data.to_vector() == std::vector<double>{21, 31});
  CHECK(s.label.item() == 2);
  CHECK_THROWS_AS(t.transform_first({}), ValueError);
}
TEST_CASE("SimpleDataset and a user dataset through DatasetBase") {
  data::SimpleDataset<float> simple({{nd::array<float>({1, 2}), nd::array<float>({0})}});
  CHECK(simple.size() == 1);
  CHECK(simple.get(0).data.to_vector() == std::vector<float>{1, 2});
  CHECK_THROWS_AS(simple.get(1), ValueError);

  struct Squares : data::DatasetBase<Squares, float> {
    std::size_t size() const override { return 4; }
    data::Sample<float> get(std::size_t i) const override {
      check_index(i, "Squares");
      return {nd::full<float>({1}, float(i * i)), nd::full<float>({}, float(i))};
    }
  };
  const data::Dataset<float>& base = Squares{};
  auto c = base.clone();
  CHECK(c->size() == 4);
  CHECK(c->get(3).data.item() == 9);
}
}

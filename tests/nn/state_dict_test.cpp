// nn::Module::state_dict / load_state_dict: keys, round trip, errors, dtype rule.
#include <gtest/gtest.h>

#include "framework/autograd/autograd.h"
#include "framework/nn/nn.h"
#include "tests/nn/nn_test_util.h"

namespace ff::nn {
namespace {

using testing::all_equal;
using testing::error_message;
using testing::expect_error_containing;
using testing::values;

// conv -> bn -> prelu -> flatten -> linear -> bn1d, the shape of arcface_torch's stem and head.
std::shared_ptr<Sequential> make_model(uint64_t seed) {
  auto conv = std::make_shared<Conv2d>(Conv2dOptions(3, 4, 3).set_padding(1).set_bias(false));
  auto bn = std::make_shared<BatchNorm2d>(4);
  auto prelu = std::make_shared<PReLU>(4);
  auto fc = std::make_shared<Linear>(4 * 5 * 5, 6);
  auto features = std::make_shared<BatchNorm1d>(6);
  Generator gen(seed);
  conv->reset_parameters(&gen);
  fc->reset_parameters(&gen);
  init::normal_(bn->weight, 1.0, 0.1, &gen);
  init::normal_(prelu->weight, 0.25, 0.05, &gen);
  {
    autograd::NoGradGuard no_grad;
    bn->running_mean.fill_(static_cast<double>(seed));
    features->num_batches_tracked.fill_(static_cast<double>(seed));
  }
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      conv, bn, prelu, std::make_shared<Flatten>(), fc, features});
}

TEST(StateDict, KeysHoldParametersAndBuffers) {
  auto model = make_model(1);
  std::vector<std::string> keys;
  for (const auto& [key, value] : model->state_dict()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "0.weight", "1.bias", "1.num_batches_tracked", "1.running_mean", "1.running_var", "1.weight",
                      "2.weight", "4.bias", "4.weight", "5.bias", "5.num_batches_tracked", "5.running_mean",
                      "5.running_var", "5.weight"}));
  const StateDict dict = model->state_dict();
  EXPECT_EQ(dict.at("5.num_batches_tracked").dtype(), DType::Int64);
  EXPECT_EQ(dict.at("5.num_batches_tracked").dim(), 0);
  // Detached views of the module's tensors.
  EXPECT_FALSE(dict.at("4.weight").requires_grad());
  EXPECT_EQ(dict.at("4.weight").storage(), model->parameter("4.weight").storage());
}

TEST(StateDict, NonPersistentBuffersAreLeftOut) {
  Linear linear(2, 2);
  linear.register_buffer("scratch", zeros({2}), /*persistent=*/false);
  EXPECT_EQ(linear.state_dict().size(), 2u);
  EXPECT_EQ(linear.buffers().size(), 1u);
}

TEST(StateDict, RoundTripCopiesValuesInPlaceAndBumpsVersions) {
  auto source = make_model(1);
  auto target = make_model(2);
  const StateDict src = source->state_dict();
  std::map<std::string, uint64_t> versions_before;
  std::map<std::string, Tensor> handles_before;
  for (const auto& [key, value] : target->state_dict()) {
    versions_before[key] = value.version();
    handles_before[key] = value;
  }
  for (const std::string key : {"0.weight", "1.weight", "1.running_mean", "2.weight", "4.weight", "4.bias",
                                "5.num_batches_tracked"}) {
    EXPECT_FALSE(all_equal(handles_before[key], src.at(key))) << key << " should differ before loading";
  }
  const LoadStateDictResult result = target->load_state_dict(src);
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(result.unexpected_keys.empty());
  for (const auto& [key, value] : target->state_dict()) {
    EXPECT_TRUE(all_equal(value, src.at(key))) << key;
    EXPECT_GT(value.version(), versions_before[key]) << key;
    EXPECT_EQ(value.storage(), handles_before[key].storage()) << key << " must be written in place";
    EXPECT_NE(value.storage(), src.at(key).storage()) << key << " must not alias the source";
  }
  EXPECT_TRUE(target->parameter("0.weight").requires_grad());
  EXPECT_TRUE(target->parameter("0.weight").is_leaf());

  // Same outputs afterwards.
  source->eval();
  target->eval();
  const Tensor x = testing::random_input({2, 3, 5, 5}, 9);
  testing::expect_close((*source)(x), (*target)(x), 0.0);
}

TEST(StateDict, ReportsMissingUnexpectedAndShapeMismatchesInOneError) {
  auto model = make_model(1);
  StateDict dict = make_model(2)->state_dict();
  const StateDict original = model->state_dict();
  const std::vector<double> weight_before = values(model->parameter("4.weight"));
  dict.erase("1.running_var");
  dict.erase("4.bias");
  dict["extra.weight"] = zeros({2});
  dict["4.weight"] = zeros({6, 99});
  dict["2.weight"] = zeros({5});
  const std::string msg = error_message([&] { model->load_state_dict(dict); });
  for (const std::string part :
       {"Sequential", "missing keys (2)", "\"1.running_var\"", "\"4.bias\"", "unexpected keys (1)",
        "\"extra.weight\"", "size mismatch for \"4.weight\": checkpoint has [6, 99], model has [6, 100]",
        "size mismatch for \"2.weight\": checkpoint has [5], model has [4]"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "message lacks \"" << part << "\":\n" << msg;
  }
  // Nothing was written: validation happens before any copy.
  EXPECT_EQ(values(model->parameter("4.weight")), weight_before);
  EXPECT_EQ(values(model->parameter("0.weight")), values(original.at("0.weight")));
}

TEST(StateDict, NonStrictSkipsKeyProblemsButNotShapes) {
  auto model = make_model(1);
  auto other = make_model(2);
  StateDict dict = other->state_dict();
  dict.erase("4.bias");
  dict["extra"] = zeros({1});
  const LoadStateDictResult result = model->load_state_dict(dict, /*strict=*/false);
  EXPECT_EQ(result.missing_keys, std::vector<std::string>{"4.bias"});
  EXPECT_EQ(result.unexpected_keys, std::vector<std::string>{"extra"});
  EXPECT_TRUE(all_equal(model->parameter("4.weight"), other->parameter("4.weight")));
  EXPECT_FALSE(all_equal(model->parameter("4.bias"), other->parameter("4.bias")));

  dict["4.weight"] = zeros({1});
  expect_error_containing([&] { model->load_state_dict(dict, false); },
                          {"size mismatch for \"4.weight\"", "[1]", "[6, 100]"});
}

TEST(StateDict, DTypeRule) {
  // Floating values are converted to the module's floating dtype.
  Linear linear(2, 3);
  StateDict dict = linear.state_dict();
  dict["weight"] = full({3, 2}, 0.5, DType::Float64);
  dict["bias"] = full({3}, -1.0, DType::Float16);
  linear.load_state_dict(dict);
  EXPECT_EQ(linear.weight.dtype(), DType::Float32);
  EXPECT_EQ(values(linear.weight), std::vector<double>(6, 0.5));
  EXPECT_EQ(values(linear.bias), std::vector<double>(3, -1.0));

  // Floating <-> integral is refused, listed with the other mismatches.
  BatchNorm1d bn(3);
  StateDict bn_dict = bn.state_dict();
  bn_dict["num_batches_tracked"] = full({}, 3.0, DType::Float32);
  bn_dict["running_mean"] = zeros({3}, DType::Int64);
  expect_error_containing([&] { bn.load_state_dict(bn_dict); },
                          {"dtype mismatch for \"num_batches_tracked\": checkpoint has float32, model has int64",
                           "dtype mismatch for \"running_mean\": checkpoint has int64, model has float32"});
  bn_dict["num_batches_tracked"] = full({}, 3.0, DType::Int32);  // integral -> integral is fine
  bn_dict["running_mean"] = zeros({3});
  bn.load_state_dict(bn_dict);
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 3);

  bn_dict["running_var"] = Tensor();
  expect_error_containing([&] { bn.load_state_dict(bn_dict); }, {"\"running_var\"", "undefined"});
}

TEST(StateDict, LoadsIntoAFloat64Model) {
  auto source = make_model(1);
  auto target = make_model(2);
  target->to(DType::Float64);
  target->load_state_dict(source->state_dict());
  EXPECT_EQ(target->parameter("4.weight").dtype(), DType::Float64);
  testing::expect_close(target->parameter("4.weight"), source->parameter("4.weight"), 0.0);
}

}  // namespace
}  // namespace ff::nn

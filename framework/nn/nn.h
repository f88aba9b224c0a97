// FaceFlow's nn module system, one include for all of it:
//   Module (registration, traversal, state_dict, to(), printing), nn::init, and the layers.
#pragma once

#include "framework/nn/init.h"
#include "framework/nn/layers/batch_norm.h"
#include "framework/nn/layers/conv2d.h"
#include "framework/nn/layers/dropout.h"
#include "framework/nn/layers/flatten.h"
#include "framework/nn/layers/linear.h"
#include "framework/nn/layers/module_list.h"
#include "framework/nn/layers/pool.h"
#include "framework/nn/layers/prelu.h"
#include "framework/nn/layers/relu.h"
#include "framework/nn/layers/sequential.h"
#include "framework/nn/module.h"

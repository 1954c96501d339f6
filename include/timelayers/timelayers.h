/* timelayers: recurrent neural-network language models in C.
 * The umbrella header: includes every public header. */
#ifndef TIMELAYERS_H
#define TIMELAYERS_H

#include "timelayers/status.h"
#include "timelayers/tensor.h"
#include "timelayers/rng.h"
#include "timelayers/layer.h"
#include "timelayers/affine.h"
#include "timelayers/rnn.h"
#include "timelayers/model.h"
#include "timelayers/gradcheck.h"
#include "timelayers/generate.h"
#include "timelayers/checkpoint.h"

#endif

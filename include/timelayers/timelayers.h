/* timelayers: recurrent neural-network language models in C.
 * The umbrella header: includes every public header. */
#ifndef TIMELAYERS_H
#define TIMELAYERS_H

#include "timelayers/status.h"
#include "timelayers/tensor.h"
#include "timelayers/rng.h"
#include "timelayers/layer.h"
#include "timelayers/layer_config.h"
#include "timelayers/affine.h"
#include "timelayers/rnn.h"
#include "timelayers/embedding.h"
#include "timelayers/softmax_loss.h"
#include "timelayers/lstm.h"
#include "timelayers/dropout.h"
#include "timelayers/gru.h"
#include "timelayers/attention.h"
#include "timelayers/concat.h"
#include "timelayers/model.h"
#include "timelayers/gradcheck.h"
#include "timelayers/generate.h"
#include "timelayers/optim.h"
#include "timelayers/clip.h"
#include "timelayers/vocab.h"
#include "timelayers/corpus.h"
#include "timelayers/batcher.h"
#include "timelayers/checkpoint.h"
#include "timelayers/init.h"
#include "timelayers/schedule.h"
#include "timelayers/lm.h"
#include "timelayers/eval.h"
#include "timelayers/train.h"
#include "timelayers/seq2seq.h"
#include "timelayers/pairs.h"
#include "timelayers/seq2seq_train.h"
#include "timelayers/comm.h"      /* data parallelism; the MPI transport: timelayers/mpi.h */
#include "timelayers/threads.h"
#include "timelayers/version.h"

#endif

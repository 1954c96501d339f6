#!/usr/bin/python3
"""Convert LSTM, GRU and RNN language models between PyTorch and timelayers.

The model is  nn.Embedding(V, D) -> nn.LSTM(D, H, num_layers=L) -> nn.Linear(H, V),
or the same with nn.GRU or nn.RNN (tanh), whose state dict is, by default,

    embed.weight (V, D)
    lstm.weight_ih_l{k} (4H, D or H)   lstm.weight_hh_l{k} (4H, H)
    lstm.bias_ih_l{k} (4H)             lstm.bias_hh_l{k} (4H)
    fc.weight (V, H)                   fc.bias (V)

(gru.* with 3H rows for a GRU, rnn.* with H rows for an RNN), and the
timelayers model is TimeEmbedding -> TimeLSTM (or TimeGRU, TimeRNN) x L ->
TimeAffine -> TimeSoftmaxWithLoss (docs/checkpoint-format.md). timelayers
acts on row vectors (W is (in, out), the transpose of PyTorch's).

Stacks whose layers differ in width, e.g. LSTM(8, 12) -> LSTM(12, 6), do not
fit one nn.LSTM: on the PyTorch side they are a numbered list of modules of
one layer each (an nn.ModuleList, by default `rnns`: rnns.0.weight_ih_l0,
rnns.1.weight_ih_l0, ...). to-torch writes that layout when the widths
differ (or with --per-layer); to-timelayers reads either.

RNN: the same layout; timelayers' one bias is bias_ih + bias_hh and going
back bias_ih = b, bias_hh = 0, as for the LSTM: timelayers -> PyTorch ->
timelayers is exact, PyTorch -> timelayers -> PyTorch folds the two biases
into bias_ih. nn.RNN must use nonlinearity='tanh' (a state dict does not
record it; relu has no TimeRNN twin); a TimeRNN with the sigmoid activation
has no nn.RNN twin and is refused.

LSTM: timelayers orders the gates f, g, i, o where PyTorch orders them
i, f, g, o: block j of ours is block [1, 2, 0, 3][j] of PyTorch's, and our one
bias is bias_ih + bias_hh (docs/semantics.md). Going back, bias_hh is zero.

GRU: the same gate order r, z, n on both sides; b = bias_ih + bias_hh in the
r and z blocks and bias_ih in the n block, bhn = the n block of bias_hh (r
multiplies it, so it stays apart). Going back, bias_ih = b and bias_hh =
[0, 0, bhn]. Both directions are exact.

Tying (fc.weight is embed.weight, D = H): a state dict whose two tensors
share storage (torch.save keeps the sharing of `fc.weight = embed.weight`), or
any with --tie, becomes a TimeAffine that uses the embedding's table; going
back, fc.weight is embed.weight again. Dropout has no weights: to-timelayers
--dropout P [--dropout-kind K] [--rec-dropout P] puts TimeDropout layers
where `timelayers train --dropout` does (after the embedding and each
recurrent layer) and the rate into each TimeLSTM or TimeGRU; to-torch reports the
dropout it leaves out (nn.Dropout modules carry nothing in a state dict).

Vocabulary: to-torch --vocab-out writes {"level": "word" or "char",
"tokens": [...]}, and to-timelayers --vocab takes that (the level comes
with it) or a bare JSON list of tokens (then --level, default word).

Checkpoints are safetensors files, read and written here with json and
struct only. Needs Debian's python3-torch and nothing else.

    torch_convert.py to-timelayers model.pt out.safetensors --vocab-from train.txt
    torch_convert.py to-torch model.safetensors model.pt
"""
import argparse
import array
import collections
import json
import os
import re
import struct
import sys
import tempfile

import torch

TORCH_TO_TL = (1, 2, 0, 3)      # i,f,g,o -> f,g,i,o
TL_TO_TORCH = (2, 0, 1, 3)      # f,g,i,o -> i,f,g,o
VOCAB_MAX_TOKEN = 1024          # TL_VOCAB_MAX_TOKEN (include/timelayers/vocab.h)
HEADER_MAX = 100_000_000        # the C reader's limit on the JSON header
DTYPES = {"F32": ("f", torch.float32), "F64": ("d", torch.float64)}


class ConvertError(Exception):
    """A problem with the input, reported as one line without a traceback."""


# ---- safetensors ------------------------------------------------------------------------

def tensor_bytes(t, code):
    """The tensor's values, row-major, as little-endian bytes of array type code."""
    a = array.array(code, t.detach().reshape(-1).tolist())
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def write_safetensors(path, metadata, tensors, dtype="F32"):
    """Write [(name, tensor)] in order with the metadata (a dict of strings).

    The header is padded with spaces so that the data starts at a multiple of
    8 bytes, as the C writer does; the file is written to a temporary name and
    renamed, so a failure never leaves half a file under path."""
    code = DTYPES[dtype][0]
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        blob = tensor_bytes(t, code)
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for blob in blobs:
                f.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_safetensors(path):
    """Return (metadata, {name: tensor}) of a safetensors file of F32/F64 tensors."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ConvertError("%s: %d bytes is too short for a safetensors file" % (path, len(buf)))
    (n,) = struct.unpack("<Q", buf[:8])
    if n > min(len(buf) - 8, HEADER_MAX):
        raise ConvertError("%s: header length %d exceeds the file" % (path, n))
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s: the header is not UTF-8 JSON: %s" % (path, e)) from None
    if not isinstance(header, dict):
        raise ConvertError("%s: the header is not a JSON object" % path)
    metadata = header.pop("__metadata__", {})
    base, tensors = 8 + n, {}
    for name, e in header.items():
        try:
            code, torch_dtype = DTYPES[e["dtype"]]
            shape, (begin, end) = [int(d) for d in e["shape"]], e["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConvertError("%s: tensor '%s' is not an F32 or F64 tensor with a shape and "
                               "data_offsets" % (path, name)) from None
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= len(buf) - base or end - begin != count * struct.calcsize(code):
            raise ConvertError("%s: tensor '%s' has bad data_offsets %s for shape %s"
                               % (path, name, e["data_offsets"], shape))
        a = array.array(code)
        a.frombytes(buf[base + begin:base + end])
        if sys.byteorder == "big":
            a.byteswap()
        t = torch.frombuffer(a, dtype=torch_dtype) if count else torch.zeros(0, dtype=torch_dtype)
        tensors[name] = t.clone().reshape(shape)
    return metadata, tensors


# ---- vocabulary -------------------------------------------------------------------------

def text_tokens(path, level):
    """The tokens of a text file, exactly as the C corpus loader reads them
    (lib/data/corpus.c): word level splits on space, \\t, \\v, \\f, \\r and makes
    each newline the token <eos>; char level takes every code point."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        raise ConvertError("%s: NUL byte at offset %d (a corpus must be text)"
                           % (path, data.index(b"\0")))
    if level == "char":
        try:
            return list(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ConvertError("%s: invalid UTF-8 at byte offset %d" % (path, e.start)) from None
    tokens = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        for word in re.split(rb"[ \t\v\f\r]+", line):
            if not word:
                continue
            if len(word) > VOCAB_MAX_TOKEN:
                raise ConvertError("%s: line %d: a word of %d bytes is longer than the maximum %d"
                                   % (path, i + 1, len(word), VOCAB_MAX_TOKEN))
            try:
                tokens.append(word.decode("utf-8"))
            except UnicodeDecodeError:
                raise ConvertError("%s: line %d: a word is not valid UTF-8" % (path, i + 1)) \
                    from None
        if i + 1 < len(lines):
            tokens.append("<eos>")
    return tokens


def vocab_from_text(path, level):
    """Ids in order of first appearance, as `timelayers train` builds them."""
    vocab = list(dict.fromkeys(text_tokens(path, level)))
    if not vocab:
        raise ConvertError("%s: no tokens (the text is empty or only white space)" % path)
    return vocab


def vocab_from_json(path, level):
    """(tokens, level): a JSON list of distinct tokens in id order, or the object
    {"level": ..., "tokens": [...]} that to-torch --vocab-out writes. level is
    the one given (None: the file's, else word); it must agree with the file's."""
    with open(path, encoding="utf-8") as f:
        try:
            vocab = json.load(f)
        except ValueError as e:
            raise ConvertError("%s: not JSON: %s" % (path, e)) from None
    if isinstance(vocab, dict):
        if set(vocab) != {"level", "tokens"} or vocab["level"] not in ("word", "char"):
            raise ConvertError("%s: expected a JSON list of tokens or an object with \"level\" "
                               "(word or char) and \"tokens\"" % path)
        if level is not None and level != vocab["level"]:
            raise ConvertError("%s: the vocabulary is %s level, not %s (--level)"
                               % (path, vocab["level"], level))
        level, vocab = vocab["level"], vocab["tokens"]
    level = level or "word"
    if not isinstance(vocab, list) or not vocab or not all(isinstance(s, str) for s in vocab):
        raise ConvertError("%s: expected a non-empty JSON list of strings" % path)
    seen = {}
    for i, s in enumerate(vocab):
        if s in seen:
            raise ConvertError("%s: token %d (%r) repeats token %d" % (path, i, s, seen[s]))
        seen[s] = i
        bad = (not s or "\0" in s or (level == "word" and re.search(r"[ \t\n\v\f\r]", s))
               or (level == "char" and len(s) != 1 and s != "<unk>"))
        if bad:
            raise ConvertError("%s: token %d (%r) is not a %s-level token" % (path, i, s, level))
    return vocab, level


# ---- PyTorch -> timelayers --------------------------------------------------------------

def permute_gates(t, order):
    """Reorder the four H-wide gate blocks along dimension 0."""
    blocks = t.chunk(4, dim=0)
    return torch.cat([blocks[j] for j in order], dim=0)


def storage_ptr(t):
    """Where t's storage starts (untyped_storage since torch 2.0, storage before)."""
    return (t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()).data_ptr()


def load_state_dict(path):
    """(the tensors as float64, {name: first name of the same storage and view})."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds; all mean "not a state dict we can read"
        raise ConvertError("%s: cannot load a state dict (%s); save it with "
                           "torch.save(model.state_dict(), path)" % (path, e)) from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConvertError("%s: not a state dict of tensors; save it with "
                           "torch.save(model.state_dict(), path)" % path)
    views, aliases = {}, {}
    for name, t in sd.items():
        if not t.is_floating_point():
            raise ConvertError("%s: tensor '%s' has dtype %s, not floating point"
                               % (path, name, t.dtype))
        view = (storage_ptr(t), t.storage_offset(), tuple(t.shape), t.stride())
        aliases[name] = views.setdefault(view, name)
    return (collections.OrderedDict((k, v.detach().to(torch.float64)) for k, v in sd.items()),
            aliases)


def stack_of(sd, name):
    """The modules of the recurrent stack called name: [name] for one nn.LSTM,
    nn.GRU or nn.RNN of any num_layers, or [name.0, name.1, ...] for a numbered
    list of them (an nn.ModuleList); [] when there is neither."""
    if name + ".weight_ih_l0" in sd:
        return [name]
    mods = []
    while "%s.%d.weight_ih_l0" % (name, len(mods)) in sd:
        mods.append("%s.%d" % (name, len(mods)))
    return mods


def find_modules(sd, args):
    """The names of the embedding, the recurrent stack and the linear layer in
    the state dict: --embed/--rnn/--fc when given, else embed, lstm or gru or
    rnn or rnns, fc when present, else detected: the recurrent stack is the one
    module with weight_ih_l0, or the numbered list of them, and of the other
    modules the first in the state dict is the embedding and the second the
    linear layer (registration order). Returns (embed, [rnn modules], fc)."""
    given = [args.embed, args.rnn, args.fc]
    modules = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in sd))
    for i, defaults in enumerate((("embed",), ("lstm", "gru", "rnn", "rnns"), ("fc",))):
        present = [d for d in defaults if (stack_of(sd, d) if i == 1 else d in modules)]
        if given[i] is None and len(present) == 1:
            given[i] = present[0]
    embed, rnn, fc = given
    if rnn is None:
        found = [m for m in modules if m + ".weight_ih_l0" in sd]
        parents = {m.rsplit(".", 1)[0] for m in found}
        if len(found) == 1:
            rnn = found[0]
        elif len(parents) == 1 and stack_of(sd, parents.pop()) == found:
            rnn = found[0].rsplit(".", 1)[0]
        else:
            raise ConvertError("expected one nn.LSTM, nn.GRU or nn.RNN (a tensor named "
                               "<name>.weight_ih_l0) or a numbered list of them (<name>.0, "
                               "<name>.1, ...), found %s; name it with --rnn" % (found or "none"))
    rnns = stack_of(sd, rnn)
    if not rnns:
        raise ConvertError("no tensor '%s.weight_ih_l0' or '%s.0.weight_ih_l0': not an nn.LSTM, "
                           "nn.GRU or nn.RNN (or a list of them) named '%s'" % (rnn, rnn, rnn))
    rest = [m for m in modules if m not in (embed, fc) and m not in rnns]
    if len(rest) != (embed is None) + (fc is None):
        raise ConvertError("cannot tell the embedding and the linear layer among the modules "
                           "%s; name them with --embed and --fc" % modules)
    if embed is None:
        embed = rest.pop(0)
    if fc is None:
        fc = rest.pop(0)
    return embed, rnns, fc


def take(sd, name, ndim, used, optional=False):
    if name not in sd:
        if optional:
            return None
        raise ConvertError("tensor '%s' is missing" % name)
    t = sd[name]
    if t.dim() != ndim:
        raise ConvertError("tensor '%s' has shape %s; expected %d dimensions"
                           % (name, tuple(t.shape), ndim))
    used.add(name)
    return t


def expect_shape(name, t, shape):
    if tuple(t.shape) != tuple(shape):
        raise ConvertError("tensor '%s' has shape %s, expected %s" % (name, tuple(t.shape),
                                                                    tuple(shape)))


# The recurrent kinds by gate blocks per layer: PyTorch's module and timelayers' type.
KINDS = {4: ("LSTM", "TimeLSTM"), 3: ("GRU", "TimeGRU"), 1: ("RNN", "TimeRNN")}


def recurrent_layers(sd, prefixes, D, used):
    """(kind, [(in, out, [(suffix, tensor)])]): timelayers' widths and parameters
    for each layer k of each module of the stack: nn.LSTM (Wx, Wh, b), nn.GRU
    (Wx, Wh, b, bhn) or nn.RNN (Wx, Wh, b); kind is the number of gate blocks,
    4, 3 or 1, told by the first weight_hh_l0's shape and the same throughout.
    Each layer's input is the previous layer's output (D for the first)."""
    for name in sd:
        if any(name.startswith(p + ".") for p in prefixes) and name.endswith("_reverse"):
            raise ConvertError("'%s': bidirectional recurrent modules are not supported" % name)
        if any(name.startswith(p + ".weight_hr_l") for p in prefixes):
            raise ConvertError("'%s': LSTMs with proj_size are not supported" % name)
    layers, G, width = [], None, D
    for prefix in prefixes:
        k, H = 0, None
        while "%s.weight_ih_l%d" % (prefix, k) in sd:
            names = ["%s.%s_l%d" % (prefix, w, k)
                     for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            w_ih, w_hh = (take(sd, n, 2, used) for n in names[:2])
            b_ih, b_hh = (take(sd, n, 1, used, optional=True) for n in names[2:])
            if H is None:
                H = w_hh.shape[1]
                g = w_hh.shape[0] // H if H and w_hh.shape[0] % H == 0 else 0
                if g not in KINDS or G not in (None, g):
                    raise ConvertError("'%s' has shape %s: not %s" % (
                        names[1], tuple(w_hh.shape), "an LSTM's (4H, H), a GRU's (3H, H) or an "
                        "RNN's (H, H)" if G is None else "%s's like the layers before it"
                        % ("an " + KINDS[G][0])))
                G = g
            expect_shape(names[0], w_ih, (G * H, width))
            expect_shape(names[1], w_hh, (G * H, H))
            if (b_ih is None) != (b_hh is None):
                raise ConvertError("layer %d of '%s' has only one of bias_ih and bias_hh"
                                   % (k, prefix))
            if b_ih is None:        # bias=False
                b_ih = b_hh = torch.zeros(G * H, dtype=torch.float64)
            expect_shape(names[2], b_ih, (G * H,))
            expect_shape(names[3], b_hh, (G * H,))
            if G == 4:
                params = [("Wx", permute_gates(w_ih, TORCH_TO_TL).t()),
                          ("Wh", permute_gates(w_hh, TORCH_TO_TL).t()),
                          ("b", permute_gates(b_ih + b_hh, TORCH_TO_TL))]
            elif G == 3:
                b = b_ih.clone()
                b[:2 * H] += b_hh[:2 * H]
                params = [("Wx", w_ih.t()), ("Wh", w_hh.t()), ("b", b), ("bhn", b_hh[2 * H:])]
            else:
                params = [("Wx", w_ih.t()), ("Wh", w_hh.t()), ("b", b_ih + b_hh)]
            layers.append((width, H, params))
            width = H
            k += 1
    return G, layers


def layer_config(kind, in_dim, out_dim, **fields):
    """One entry of the "architecture" metadata (format version 2): the widths, then the
    layer's named fields, keys in the C writer's order."""
    return collections.OrderedDict([("type", kind), ("in_dim", in_dim), ("out_dim", out_dim)]
                                   + list(fields.items()))


def to_timelayers(args):
    sd, aliases = load_state_dict(args.input)
    embed, rnns, fc = find_modules(sd, args)
    used = set()
    W_embed = take(sd, embed + ".weight", 2, used)
    V, D = W_embed.shape
    G, layers = recurrent_layers(sd, rnns, D, used)
    H = layers[-1][1]
    torch_kind, tl_kind = KINDS[G]
    if args.rec_dropout and G == 1:
        raise ConvertError("--rec-dropout: recurrent dropout is an option of the LSTM and the "
                           "GRU, not of the RNN")
    W_fc = take(sd, fc + ".weight", 2, used)
    expect_shape(fc + ".weight", W_fc, (V, H))
    tied = args.tie or aliases[fc + ".weight"] == aliases[embed + ".weight"]
    if tied and not torch.equal(W_fc, W_embed):
        raise ConvertError("--tie: '%s.weight' differs from '%s.weight'; a tied model has one "
                           "table" % (fc, embed))
    b_fc = take(sd, fc + ".bias", 1, used, optional=True)
    if b_fc is None:            # nn.Linear(bias=False)
        b_fc = torch.zeros(V, dtype=torch.float64)
    expect_shape(fc + ".bias", b_fc, (V,))
    unused = [k for k in sd if k not in used]
    if unused:
        raise ConvertError("tensors %s are not part of an Embedding -> %s -> Linear model"
                           % (unused, torch_kind))

    if args.vocab_from:
        level = args.level or "word"
        vocab = vocab_from_text(args.vocab_from, level)
    else:
        vocab, level = vocab_from_json(args.vocab, args.level)
    if len(vocab) != V:
        raise ConvertError("the vocabulary has %d tokens but the model's embedding has %d rows"
                           % (len(vocab), V))

    # The stack tl_lm_create builds (include/timelayers/lm.h), dropout included.
    tensors = [("layers.0.W", W_embed)]
    arch = [layer_config("TimeEmbedding", V, D)]
    dropout = {"p": args.dropout, "locked": args.dropout_kind == "locked"}
    rec = {"rec_dropout": args.rec_dropout} if args.rec_dropout else {}
    if args.dropout:
        arch.append(layer_config("TimeDropout", D, D, **dropout))
    # TimeRNN's activation 0 is tanh, nn.RNN's default nonlinearity.
    fields = dict(rec, activation=0) if G == 1 else rec
    for in_dim, out_dim, params in layers:
        tensors += [("layers.%d.%s" % (len(arch), name), t) for name, t in params]
        arch.append(layer_config(tl_kind, in_dim, out_dim, stateful=True, **fields))
        if args.dropout:
            arch.append(layer_config("TimeDropout", H, H, **dropout))
    n = len(arch)
    if tied:
        arch.append(layer_config("TimeAffine", H, V, tied={"layer": 0}))
    else:
        tensors.append(("layers.%d.W" % n, W_fc.t()))
        arch.append(layer_config("TimeAffine", H, V))
    tensors.append(("layers.%d.b" % n, b_fc))
    arch.append(layer_config("TimeSoftmaxWithLoss", V, 0, norm=0))
    metadata = collections.OrderedDict([
        ("format", "timelayers"), ("format_version", "2"), ("dtype", "F32"),
        ("architecture", json.dumps(arch, separators=(",", ":"))),
        ("converted_from", "PyTorch state dict " + os.path.basename(args.input)),
        ("vocab.level", level),
        ("vocab", json.dumps(vocab, separators=(",", ":"), ensure_ascii=False)),
    ])
    write_safetensors(args.output, metadata, tensors)
    extras = (["tied"] if tied else []) + (["dropout %g (%s)" % (args.dropout, args.dropout_kind)]
                                           if args.dropout else []) \
        + (["recurrent dropout %g" % args.rec_dropout] if args.rec_dropout else [])
    print("wrote %s: Embedding(%d, %d) -> %s -> Linear(%d, %d)%s, vocabulary %d (%s level)"
          % (args.output, V, D, describe_stack(torch_kind, [(i, o) for i, o, _ in layers]), H, V,
             "".join(", " + e for e in extras), V, level))


def describe_stack(kind, widths):
    """LSTM(8, 12) x 2, or LSTM(8, 12) -> LSTM(12, 6) when the widths differ."""
    if len(set(widths[1:])) <= 1 and (len(widths) == 1 or widths[0][1] == widths[1][1]):
        return "%s(%d, %d) x %d" % (kind, widths[0][0], widths[0][1], len(widths))
    return " -> ".join("%s(%d, %d)" % (kind, i, o) for i, o in widths)


# ---- timelayers -> PyTorch --------------------------------------------------------------

def to_torch(args):
    metadata, tensors = read_safetensors(args.input)
    if metadata.get("format") != "timelayers" or metadata.get("format_version") not in ("1", "2"):
        raise ConvertError("%s: not a timelayers checkpoint of format version 1 or 2"
                           % args.input)
    try:
        arch = json.loads(metadata["architecture"])
        kinds = [layer["type"] for layer in arch]
        # Dropout has no weights: the layers around it are what PyTorch gets.
        index = [i for i, k in enumerate(kinds) if k != "TimeDropout"]
        dropout = [(i, float(arch[i]["p"]), bool(arch[i].get("locked", False)))
                   for i, k in enumerate(kinds) if k == "TimeDropout"]
        rec_dropout = {float(layer.get("rec_dropout", 0)) for layer in arch}
        kinds = [kinds[i] for i in index]
        widths = [(int(arch[i]["in_dim"]), int(arch[i]["out_dim"])) for i in index[1:-2]]
        # TimeRNN's activation: "activation" in format version 2, "variant" in 1.
        sigmoid = [i for i in index if arch[i]["type"] == "TimeRNN"
                   and int(arch[i].get("activation", arch[i].get("variant", 0))) != 0]
        tied = arch[index[-2]].get("tied") if len(index) > 2 else None
        if tied is not None and tied != {"layer": 0}:
            raise ValueError
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ConvertError("%s: missing or malformed \"architecture\" metadata"
                           % args.input) from None
    tl_kind = kinds[1] if len(kinds) > 1 else None
    recurrent = {v[1]: v[0] for v in KINDS.values()}
    if (len(kinds) < 4 or kinds[0] != "TimeEmbedding" or kinds[-2:] != ["TimeAffine",
                                                                       "TimeSoftmaxWithLoss"]
            or tl_kind not in recurrent or any(k != tl_kind for k in kinds[1:-2])):
        raise ConvertError("%s: the model is %s; only TimeEmbedding -> TimeLSTM, TimeGRU or "
                           "TimeRNN (one or more, all of one kind) -> TimeAffine -> "
                           "TimeSoftmaxWithLoss, with TimeDropout anywhere between, converts to "
                           "PyTorch" % (args.input, " -> ".join(kinds)))
    if sigmoid:
        raise ConvertError("%s: layer %d is a TimeRNN with the sigmoid activation; nn.RNN has "
                           "only tanh and relu" % (args.input, sigmoid[0]))
    torch_kind = recurrent[tl_kind]
    if args.vocab_out and "vocab" not in metadata:
        raise ConvertError("%s: no \"vocab\" metadata to write" % args.input)
    # One nn.LSTM of num_layers L needs one hidden size; otherwise one module per layer.
    per_layer = args.per_layer or len({o for _, o in widths}) != 1
    embed, fc = args.embed or "embed", args.fc or "fc"
    rnn = args.rnn or ("rnns" if per_layer else torch_kind.lower())
    n = len(kinds) - 2

    def get(name):
        if name not in tensors:
            raise ConvertError("%s: tensor '%s' is missing" % (args.input, name))
        return tensors[name]

    sd = collections.OrderedDict([(embed + ".weight", get("layers.0.W"))])
    for k in range(n - 1):
        i = index[k + 1]
        Wx, Wh, b = (get("layers.%d.%s" % (i, w)) for w in ("Wx", "Wh", "b"))
        if tl_kind == "TimeLSTM":
            w_ih, w_hh = permute_gates(Wx.t(), TL_TO_TORCH), permute_gates(Wh.t(), TL_TO_TORCH)
            b_ih, b_hh = permute_gates(b, TL_TO_TORCH), torch.zeros_like(b)
        elif tl_kind == "TimeGRU":
            bhn = get("layers.%d.bhn" % i)
            w_ih, w_hh, b_ih = Wx.t(), Wh.t(), b
            b_hh = torch.cat([torch.zeros_like(b[:2 * len(bhn)]), bhn])
        else:
            w_ih, w_hh, b_ih, b_hh = Wx.t(), Wh.t(), b, torch.zeros_like(b)
        name = "%s.%d.%%s_l0" % (rnn, k) if per_layer else "%s.%%s_l%d" % (rnn, k)
        for part, t in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih),
                        ("bias_hh", b_hh)):
            sd[name % part] = t.contiguous()
    # Tied: the embedding's tensor itself, so that torch.save stores one table.
    affine = index[n]
    sd[fc + ".weight"] = sd[embed + ".weight"] if tied else get("layers.%d.W" % affine).t().contiguous()
    sd[fc + ".bias"] = get("layers.%d.b" % affine)
    torch.save(sd, args.output)
    V, D = sd[embed + ".weight"].shape
    H = widths[-1][1]
    if per_layer:
        stack = "nn.ModuleList %s of %s" % (rnn, " -> ".join(
            "nn.%s(%d, %d)" % (torch_kind, i, o) for i, o in widths))
    else:
        stack = "nn.%s(%d, %d, num_layers=%d)" % (torch_kind, D, H, n - 1)
    print("wrote %s: nn.Embedding(%d, %d) -> %s -> nn.Linear(%d, %d)%s"
          % (args.output, V, D, stack, H, V,
             " (tied: fc.weight = embed.weight)" if tied else ""))
    for i, p, locked in dropout:
        print("left out (no weights): layer %d, dropout %g after %s%s" % (
            i, p, arch[i - 1]["type"], " (locked: one mask per row and feature over the steps "
            "of a call; nn.Dropout draws per element)" if locked else ""))
    rec_dropout.discard(0.0)
    if rec_dropout:
        print("left out: recurrent dropout %s inside the %s layers (nn.%s has none)"
              % (", ".join("%g" % r for r in sorted(rec_dropout)), torch_kind, torch_kind))
    if args.vocab_out:
        level = metadata.get("vocab.level", "word")
        try:
            tokens = json.loads(metadata["vocab"])
        except ValueError:
            raise ConvertError("%s: the \"vocab\" metadata is not JSON" % args.input) from None
        with open(args.vocab_out, "w", encoding="utf-8") as f:
            f.write(json.dumps({"level": level, "tokens": tokens}, ensure_ascii=False,
                               separators=(",", ":")) + "\n")
        print("wrote %s: the vocabulary (%s level), {\"level\": ..., \"tokens\": [...] in id "
              "order}" % (args.vocab_out, level))


# ---- command line -----------------------------------------------------------------------

def rate(text):
    """A dropout rate in [0, 1)."""
    try:
        p = float(text)
    except ValueError:
        p = -1.0
    if not 0 <= p < 1:
        raise argparse.ArgumentTypeError("%r is not a rate in [0, 1)" % text)
    return p


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Convert an Embedding -> LSTM, GRU or RNN -> Linear language model between a "
        "PyTorch "
        "state dict (.pt) and a timelayers checkpoint (.safetensors).",
        epilog="See docs/checkpoint-format.md, section \"PyTorch interop\".")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def module_options(q, detect):
        how = ("Defaults: embed, lstm or gru or rnn or rnns, fc when the state dict has them; "
               "otherwise the module with weight_ih_l0 (or the numbered list NAME.0, NAME.1, ... "
               "of such modules) is the recurrent stack, and of the two others the first is "
               "the embedding and the second the linear layer." if detect else
               "Defaults: embed, lstm or gru or rnn (after the model's cell; rnns for one module "
               "per layer), fc.")
        g = q.add_argument_group("module names in the state dict", how)
        g.add_argument("--embed", metavar="NAME", help="the nn.Embedding")
        g.add_argument("--rnn", "--lstm", "--gru", dest="rnn", metavar="NAME",
                       help="the nn.LSTM, nn.GRU or nn.RNN, or the list NAME.0, NAME.1, ... of "
                       "them (one module per layer)")
        g.add_argument("--fc", metavar="NAME", help="the nn.Linear")

    q = sub.add_parser("to-timelayers", help="PyTorch state dict -> timelayers checkpoint",
                       description="Convert torch.save(model.state_dict()) of nn.Embedding -> "
                       "nn.LSTM, nn.GRU or nn.RNN (tanh) (one or more layers, unidirectional, no "
                       "projection; or a numbered list of such modules, whose widths may differ) "
                       "-> nn.Linear into a timelayers checkpoint that `timelayers "
                       "info/eval/sample` open.")
    q.add_argument("input", help="the .pt state dict")
    q.add_argument("output", help="the .safetensors checkpoint to write")
    v = q.add_mutually_exclusive_group(required=True)
    v.add_argument("--vocab-from", metavar="TEXT",
                   help="build the vocabulary from this text as `timelayers train` does (ids "
                   "in order of first appearance; word level: newline is <eos>)")
    v.add_argument("--vocab", metavar="JSON",
                   help="the vocabulary: what to-torch --vocab-out writes ({\"level\": ..., "
                   "\"tokens\": [...]}, the level included) or a JSON list in id order")
    q.add_argument("--level", choices=("word", "char"),
                   help="tokenization level (default: the --vocab file's, else word)")
    q.add_argument("--tie", action="store_true",
                   help="the linear layer uses the embedding's table (its weight must equal "
                   "it; detected without this option when the two share storage)")
    q.add_argument("--dropout", type=rate, default=0.0, metavar="P",
                   help="TimeDropout of rate P after the embedding and each recurrent layer, "
                   "as `timelayers train --dropout` (default 0: none)")
    q.add_argument("--dropout-kind", choices=("standard", "locked"), default="standard",
                   help="the masks of --dropout (default standard)")
    q.add_argument("--rec-dropout", type=rate, default=0.0, metavar="P",
                   help="recurrent dropout of rate P inside each TimeLSTM or TimeGRU "
                   "(default 0)")
    module_options(q, True)
    q.set_defaults(run=to_timelayers)

    q = sub.add_parser("to-torch", help="timelayers checkpoint -> PyTorch state dict",
                       description="Convert a timelayers checkpoint of TimeEmbedding -> TimeLSTM, "
                       "TimeGRU or TimeRNN (tanh) (one or more, of one kind) -> TimeAffine into a "
                       "state dict for nn.Embedding -> nn.LSTM, nn.GRU or nn.RNN -> nn.Linear "
                       "(LSTM and RNN: bias_hh is zero, bias_ih holds the whole bias; GRU: "
                       "bias_hh is zero but for the n block, b_hn). Layers of different widths "
                       "become one module of one layer each, rnns.0, rnns.1, ...")
    q.add_argument("input", help="the .safetensors checkpoint")
    q.add_argument("output", help="the .pt state dict to write")
    q.add_argument("--vocab-out", metavar="JSON",
                   help="also write the vocabulary, {\"level\": \"word\" or \"char\", "
                   "\"tokens\": [...] in id order}, which to-timelayers --vocab reads back")
    q.add_argument("--per-layer", action="store_true",
                   help="one module of one layer per recurrent layer (NAME.0, NAME.1, ...; an "
                   "nn.ModuleList) even when the widths are equal")
    module_options(q, False)
    q.set_defaults(run=to_torch)

    args = p.parse_args(argv)
    try:
        args.run(args)
    except ConvertError as e:
        sys.exit("torch_convert.py: error: %s" % e)
    except OSError as e:
        sys.exit("torch_convert.py: error: %s" % e)


if __name__ == "__main__":
    main()

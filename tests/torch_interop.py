"""PyTorch side of tests/torch_interop.sh (run with Debian's /usr/bin/python3).

    make TEXT MODEL.pt --level word|char --layers L --seed S [--cell lstm|gru]
                       [--tie] [--dropout P]
        write a text with repeating structure and a random nn.Embedding ->
        nn.LSTM (or nn.GRU) -> nn.Linear model for it (its state dict); --tie:
        fc.weight = embed.weight (D = H); --dropout: nn.Dropout after the
        embedding and the recurrent module (no weights)
    ppl MODEL.pt TEXT VOCAB.json --level word|char
        perplexity as `timelayers eval --mode stream` computes it: batch 1,
        state carried across chunks of 35 from zeros, every target scored, in
        evaluation mode; tied when fc.weight shares embed.weight's storage
    compare ORIGINAL.pt ROUNDTRIP.pt
        the round trip reproduces every weight exactly and the bias sum
        bias_ih + bias_hh to float32 rounding (a GRU's n blocks exactly), and
        a tied table stays one tensor
    rename MODEL.pt OUT.pt
        the same state dict with the names of PyTorch's word_language_model
        example (encoder, rnn, decoder), which the converter must detect
    bad KIND OUT.pt
        write a state dict the converter must refuse

The tokenizer here is deliberately not the converter's: for the texts that
make writes (single spaces, ASCII words) it is plain str.split.
"""
import argparse
import json
import random
import sys

import torch

CHUNK = 35                      # timelayers eval's default --time


class LM(torch.nn.Module):
    """Embedding -> [Dropout] -> nn.LSTM or nn.GRU, registered as `lstm` or
    `gru` -> [Dropout] -> Linear, whose weight is the embedding's when tied
    (BetterRnnlm, PyTorch's word_language_model --tied)."""

    def __init__(self, V, D, H, layers, cell="lstm", tie=False, dropout=0.0, **rnn_options):
        super().__init__()
        self.embed = torch.nn.Embedding(V, D)
        self.cell = cell
        module = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        setattr(self, cell, module(D, H, num_layers=layers, batch_first=True, **rnn_options))
        self.fc = torch.nn.Linear(H, V)
        if tie:
            self.fc.weight = self.embed.weight
        self.drop = torch.nn.Dropout(dropout)

    def forward(self, x, state=None):
        y, state = getattr(self, self.cell)(self.drop(self.embed(x)), state)
        return self.fc(self.drop(y)), state


def shares(sd, a, b):
    """Whether state-dict entries a and b are one tensor (tying survives torch.save)."""
    def ptr(t):     # untyped_storage since torch 2.0, storage before
        return (t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()).data_ptr()
    return ptr(sd[a]) == ptr(sd[b])


def make_text(rng, level):
    """About 400 words of sentences from a small grammar, one per line."""
    subjects = ["the cat", "a dog", "the old man", "my sister", "the bird"]
    verbs = ["sat on", "looked at", "ran to", "jumped over", "sang near"]
    objects = ["the mat", "a log", "the river", "the red house", "a tall tree"]
    if level == "char":
        objects.append("the café")
    lines = []
    while sum(len(line.split()) for line in lines) < 400:
        lines.append(" ".join([rng.choice(subjects), rng.choice(verbs), rng.choice(objects)]))
        if rng.random() < 0.3:
            lines[-1] += " and " + rng.choice(verbs) + " " + rng.choice(objects)
    return "\n".join(lines) + "\n"


def tokens(text, level):
    return list(text) if level == "char" else text.replace("\n", " <eos> ").split()


def cmd_make(a):
    rng = random.Random(a.seed)
    text = make_text(rng, a.level)
    with open(a.text, "w", encoding="utf-8") as f:
        f.write(text)
    V = len(set(tokens(text, a.level)))
    torch.manual_seed(a.seed)
    model = LM(V, 20 if a.tie else 12, 20, a.layers, a.cell, a.tie, a.dropout)
    # Weights large enough that the gates saturate differently: a gate-order
    # or transpose mistake changes the perplexity by far more than 1e-4.
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    torch.save(model.state_dict(), a.model)
    print("made %s: V=%d, %d %s layers%s, %d tokens of text"
          % (a.model, V, a.layers, a.cell.upper(), ", tied" if a.tie else "",
             len(tokens(text, a.level))))


def cmd_ppl(a):
    sd = torch.load(a.model)
    V, D = sd["embed.weight"].shape
    cell = "gru" if "gru.weight_hh_l0" in sd else "lstm"
    H = sd[cell + ".weight_hh_l0"].shape[1]
    layers = sum(k.startswith(cell + ".weight_ih_l") for k in sd)
    model = LM(V, D, H, layers, cell, shares(sd, "embed.weight", "fc.weight"), 0.5).double()
    model.load_state_dict(sd)
    model.eval()
    with open(a.vocab, encoding="utf-8") as f:
        ids = {w: i for i, w in enumerate(json.load(f))}
    with open(a.text, encoding="utf-8") as f:
        seq = torch.tensor([ids[w] for w in tokens(f.read(), a.level)])
    total, state = 0.0, None
    with torch.no_grad():
        for pos in range(0, len(seq) - 1, CHUNK):
            x = seq[pos:pos + CHUNK][None, :len(seq) - 1 - pos]
            t = seq[pos + 1:pos + 1 + x.shape[1]]
            scores, state = model(x, state)
            total += torch.nn.functional.cross_entropy(scores[0], t, reduction="sum").item()
    mean = total / (len(seq) - 1)
    print("%.9g %.9g" % (torch.tensor(mean).exp().item(), mean))


def cmd_compare(a):
    orig, back = torch.load(a.original), torch.load(a.roundtrip)
    if list(orig) != list(back):
        sys.exit("FAIL: the round trip has tensors %s, expected %s" % (list(back), list(orig)))
    tied = shares(orig, "embed.weight", "fc.weight")
    if shares(back, "embed.weight", "fc.weight") != tied:
        sys.exit("FAIL: the round trip %s the tying of fc.weight and embed.weight"
                 % ("lost" if tied else "added"))
    worst = 0.0
    for name in orig:
        if ".bias_hh_" in name:
            continue
        if ".bias_ih_" in name:
            hh = name.replace(".bias_ih_", ".bias_hh_")
            want = (orig[name].double() + orig[hh].double()).float()
            got = back[name] + back[hh]
            # A GRU keeps its n blocks apart (r multiplies b_hn): both exact.
            folded = len(orig[name]) // 3 * 2 if name.startswith("gru.") else len(orig[name])
            if back[hh][:folded].abs().max() != 0:
                sys.exit("FAIL: %s is not zero after the round trip" % hh)
            if not (torch.equal(back[hh][folded:], orig[hh][folded:])
                    and torch.equal(back[name][folded:], orig[name][folded:])):
                sys.exit("FAIL: the n blocks of %s and %s differ after the round trip"
                         % (name, hh))
            worst = max(worst, ((got - want).abs() / want.abs().clamp(min=1e-30)).max().item())
            if not torch.equal(got, want):
                sys.exit("FAIL: %s + bias_hh differs from the float32 sum of the originals"
                         % name)
        elif not torch.equal(orig[name], back[name]):
            sys.exit("FAIL: %s differs after the round trip (max abs diff %g)"
                     % (name, (orig[name] - back[name]).abs().max().item()))
    print("round trip: %d tensors equal%s; bias sums equal to float32 rounding (max rel diff %g)"
          % (len(orig), ", fc.weight is embed.weight" if tied else "", worst))


def cmd_rename(a):
    names = {"embed": "encoder", "lstm": "rnn", "gru": "rnn", "fc": "decoder"}
    sd = torch.load(a.model)
    torch.save({names[k.split(".")[0]] + k[k.index("."):]: v for k, v in sd.items()}, a.out)


def cmd_bad(a):
    """State dicts the converter must refuse."""
    torch.manual_seed(0)
    options = {"bidirectional": {"bidirectional": True}, "proj": {"proj_size": 3}}[a.kind]
    torch.save(LM(10, 4, 6, 1, **options).state_dict(), a.model)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("make")
    q.add_argument("text")
    q.add_argument("model")
    q.add_argument("--level", choices=("word", "char"), default="word")
    q.add_argument("--layers", type=int, default=2)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    q.add_argument("--tie", action="store_true")
    q.add_argument("--dropout", type=float, default=0.0)
    q.set_defaults(run=cmd_make)
    q = sub.add_parser("ppl")
    q.add_argument("model")
    q.add_argument("text")
    q.add_argument("vocab")
    q.add_argument("--level", choices=("word", "char"), default="word")
    q.set_defaults(run=cmd_ppl)
    q = sub.add_parser("compare")
    q.add_argument("original")
    q.add_argument("roundtrip")
    q.set_defaults(run=cmd_compare)
    q = sub.add_parser("rename")
    q.add_argument("model")
    q.add_argument("out")
    q.set_defaults(run=cmd_rename)
    q = sub.add_parser("bad")
    q.add_argument("kind", choices=("bidirectional", "proj"))
    q.add_argument("model")
    q.set_defaults(run=cmd_bad)
    a = p.parse_args()
    a.run(a)


if __name__ == "__main__":
    main()

"""Does a vector trained from a built personality dataset steer? Trains mean_diff and bipo vectors with `steer train --dataset`
(the last `--num-heldout` rows held out), then on those held-out rows' A/B questions (in-character answer as 1. on even rows,
2. on odd rows, as train makes them) measures P(in-character answer) = P(its number) / (P(1) + P(2)) while steering at each
multiplier, with a 95% bootstrap interval over the rows, and the swing P(+m) − P(−m) with its own interval (rows resampled
jointly). Embedded model, CPU.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/personality_swing.py --dataset runs/extro/caa_dataset_....jsonl [--layer 15]
"""
import argparse, contextlib, io, tempfile, time
from pathlib import Path
import torch
from steer.core import read_json
from steer.evaluate import heldout_pairs, pair_margins
from steer.models import load_model
from steer.train import train
from steer.vectors import load_vector

def interval(values:torch.Tensor, draws:int, gen:torch.Generator) -> tuple[float, float]:
    "95% percentile bootstrap interval of the mean of `values` (rows resampled; columns, if any, resampled jointly)"
    idx = torch.randint(0, len(values), (draws, len(values)), generator=gen)
    means = values[idx].mean(1)
    return means.quantile(0.025).item(), means.quantile(0.975).item()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--layer', type=int, default=15)
    ap.add_argument('--multipliers', default='-4,0,4')
    ap.add_argument('--num-heldout', type=int, default=16)
    ap.add_argument('--methods', default='mean_diff,bipo')
    ap.add_argument('--draws', type=int, default=10000)
    a = ap.parse_args()
    mults = [float(m) for m in a.multipliers.split(',')]
    lm, tok = load_model()
    gen = torch.Generator().manual_seed(0)
    out = Path(tempfile.mkdtemp(prefix='swing_'))
    print(f"{a.dataset}: layer {a.layer}, {a.num_heldout} held-out rows, multipliers {a.multipliers}, 95% bootstrap ({a.draws} draws)")
    print(f"| method | train s | " + ' | '.join(f'P(in-character) at {m:+g}' for m in mults) + f" | swing P({mults[-1]:+g}) − P({mults[0]:+g}) |")
    print('|---|---|' + '---|' * len(mults) + '---|')
    for method in a.methods.split(','):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):   # train's own lines would break the table
            paths = train(dataset=a.dataset, method=method, layers=str(a.layer), num_heldout=a.num_heldout, output_dir=str(out/method), no_progress=True)
        took = time.perf_counter() - t
        vec, meta = load_vector(paths['safetensors']), read_json(paths['json'])
        pairs, source = heldout_pairs(meta)
        probs = []
        for m in mults:
            if m == 0: probs.append(torch.sigmoid(pair_margins(lm, tok, pairs)))
            else:
                with vec.apply(lm, m, [a.layer]): probs.append(torch.sigmoid(pair_margins(lm, tok, pairs)))
        cells = [f"{p.mean().item():.4f} [{lo:.4f}, {hi:.4f}]" for p in probs for lo, hi in [interval(p, a.draws, gen)]]
        swing = probs[-1] - probs[0]
        lo, hi = interval(swing, a.draws, gen)
        print(f"| {method} | {took:.1f} | " + ' | '.join(cells) + f" | {swing.mean().item():+.4f} [{lo:+.4f}, {hi:+.4f}] |", flush=True)
    print(f"held-out rows: {source}")

if __name__ == '__main__': main()

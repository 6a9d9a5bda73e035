"""Extraction speed, agreement and memory: steer vs steering-vectors 0.12.2 vs a bare forward pass.

In one process, on the embedded model (smollm2-135m-instruct, all 30 layers), on the same contrast pairs:

* steering-vectors' `train_steering_vector` (mean of positive minus negative at the last token) at batch size 1
  (its default) and at each of `--sv-batch-sizes`, keeping its best;
* steer's `extract_vector(method='mean_diff')`;
* a bare transformers forward pass (`model.model`: no hooks, no LM head) over the schedule steer's hooks reader
  runs (`plan_pair_groups` + `run_pair_group`: each group's shared head once into a cache, then the pairs as token
  trees packed into rows of 256, each shared token once) — the floor for reading these pairs through the model's own
  forward. steer's default packed reader (`steer.packed_llama.packed_pass`, Llama-family models) runs below it: its
  matrix products see no padding and its deepest block runs attention and MLP for the read tokens only;
* a bare forward pass over the full texts (every side's whole text, length-sorted batches), for reference.

It does this for two forms of the same pairs: the free-text pairs as written (`prompt`, `positive`, `negative`),
and CAA-style A/B items built from them (the two answers as choices (A)/(B), alternating which is first; the
completions are "(A"/"(B"), converted with `steer.pairs.caa_to_pairs`. Times are the minimum over `--repeats`
runs, interleaved so machine load hits every contender alike. It prints the ratios and the per-layer cosine
between the two libraries' vectors.

Then peak memory of steer's extraction at `--memory-pairs` (default 100 and 2,000; pairs are cycled to reach the
count and numbered at the start of their prompts so that all are distinct), each in a fresh subprocess: the process's peak RSS (VmHWM, model included; not ru_maxrss, which a
subprocess inherits from the benchmark process it was forked from) and the extraction's own
peak RSS growth (sampled every 5 ms by `steer.compute.PeakMemory`).

steering-vectors pins transformers<5 but works with transformers 5 when installed without its dependencies; keep
it out of the project's environment (see benchmarks/README.md):

    .venv/bin/pip install --no-deps --target benchmarks/.deps steering-vectors==0.12.2
    .venv/bin/python benchmarks/extract.py
"""
from __future__ import annotations
import argparse, glob, json, os, resource, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE/'.deps'))
import torch
from steer.models import load_model, format_chat
from steer.pairs import ContrastPair, caa_to_pairs, read_contrast_pairs, tokenize_pair, text_tokens, length_sorted_batches
from steer.packing import plan_pair_groups, run_pair_group, max_head
from steer.compute import PeakMemory
from steer.extract import extract_vector
from steer.core import SteerError


def load_pairs(pattern:str, n:int) -> list[ContrastPair]:
    "The first `n` pairs of the contrast files matching `pattern`, taken round-robin across files"
    files = sorted(glob.glob(pattern))
    if not files: raise SteerError(f"no contrast files match {pattern!r}")
    per_file = [read_contrast_pairs(f) for f in files]
    pairs, i = [], 0
    while len(pairs) < n and any(i < len(p) for p in per_file):
        pairs += [p[i] for p in per_file if i < len(p)]
        i += 1
    if len(pairs) < n: raise SteerError(f"only {len(pairs)} pairs in {pattern!r}, asked for {n}")
    return pairs[:n]


def ab_items(pairs:list[ContrastPair]) -> list[dict]:
    "CAA-style A/B items from free-text pairs: the answers become the choices, the positive first in every other item"
    items = []
    for i, p in enumerate(pairs):
        first, second = (p.positive, p.negative) if i % 2 == 0 else (p.negative, p.positive)
        items.append({'question': f'{p.prompt}\n\nChoices:\n (A) {first}\n (B) {second}', 'system': p.system,
                      'answer_matching_behavior': '(A)' if i % 2 == 0 else '(B)',
                      'answer_not_matching_behavior': '(B)' if i % 2 == 0 else '(A)'})
    return items


def sv_extract(model, tokenizer, pairs, batch_size:int):
    "steering-vectors 0.12.2 mean-difference vector over all layers, as a {layer: tensor} dict"
    from steering_vectors import train_steering_vector
    samples = [(format_chat(tokenizer, p.prompt, p.system, p.positive), format_chat(tokenizer, p.prompt, p.system, p.negative)) for p in pairs]
    sv = train_steering_vector(model, tokenizer, samples, layers=None, layer_type='decoder_block', read_token_index=-1,
                               batch_size=batch_size, show_progress=False)
    return {l: v.float().cpu() for l, v in sv.layer_activations.items()}


@torch.inference_mode()
def bare_forward_pairs(model, tokenizer, pairs, batch_size:int) -> int:
    "model.model (no hooks, no LM head) over exactly the schedule steer runs: group heads once, then packed token trees"
    pad, tokens = tokenizer.pad_token_id or 0, [tokenize_pair(tokenizer, p) for p in pairs]
    total = 0
    for group in plan_pair_groups(tokens, batch_size, longest_head=max_head(model.config)):
        for _ in run_pair_group(model, group, model.model, pad): pass
        total += group.real_tokens()
    return total


@torch.inference_mode()
def bare_forward_texts(model, tokenizer, pairs, batch_size:int) -> int:
    "Forward every side's full text (length-sorted, left padded) through model.model; returns tokens"
    texts = [text_tokens(tokenizer, format_chat(tokenizer, p.prompt, p.system, c)) for p in pairs for c in (p.positive, p.negative)]
    for batch in length_sorted_batches([len(t) for t in texts], batch_size):
        enc = tokenizer.pad({'input_ids': [texts[i] for i in batch]}, return_tensors='pt', padding_side='left')
        model.model(**enc, position_ids=(enc['attention_mask'].cumsum(-1) - 1).clamp(min=0), use_cache=False)
    return sum(len(t) for t in texts)


def timed(fn):
    "Wall seconds, CPU seconds of this process (all threads) and the result of fn()"
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def speed(model, tokenizer, pairs, label:str, args) -> dict:
    print(f'\n== {label}: {len(pairs)} pairs, all {model.config.num_hidden_layers} layers, read at the last token ==', flush=True)
    n_layers = model.config.num_hidden_layers
    runs = {'steer': lambda: extract_vector(model, tokenizer, pairs, layers='all', batch_size=args.steer_batch_size, progress=False, reader=args.reader),
            'bare forward, steer tokens': lambda: bare_forward_pairs(model, tokenizer, pairs, args.steer_batch_size),
            'bare forward, full texts': lambda: bare_forward_texts(model, tokenizer, pairs, args.steer_batch_size)}
    for b in args.sv_batch_sizes: runs[f'steering-vectors batch {b}'] = (lambda b=b: sv_extract(model, tokenizer, pairs, b))
    wall, cpu, outputs = {k: float('inf') for k in runs}, {k: float('inf') for k in runs}, {}
    extract_vector(model, tokenizer, pairs[:4], layers='all', progress=False, reader=args.reader)   # warm up (page in weights, kernels)
    for r in range(args.repeats):
        for name, fn in runs.items():
            if name == 'steering-vectors batch 1' and r > 0 and not args.repeat_batch1: continue
            w, c, out = timed(fn)
            wall[name], cpu[name], outputs[name] = min(wall[name], w), min(cpu[name], c), out
            print(f'  run {r + 1}: {name:32s} {w:8.2f} s wall {c:8.2f} s CPU  (load {os.getloadavg()[0]:.1f})', flush=True)
    sv_names = [k for k in runs if k.startswith('steering-vectors')]
    vec, m = outputs['steer'], outputs['steer'].metadata
    report = {'label': label, 'pairs': len(pairs), 'wall_seconds': wall, 'cpu_seconds': cpu, 'reader': m['reader'],
              'tokens_processed': m['tokens_processed'], 'tokens_full_texts': m['tokens_full_texts']}
    print(f'\n  {"minimum over runs":32s} {"wall s":>8s} {"/ steer":>8s} {"CPU s":>8s} {"/ steer":>8s}')
    for name in runs: print(f'  {name:32s} {wall[name]:8.2f} {wall[name] / wall["steer"]:7.2f}x {cpu[name]:8.2f} {cpu[name] / cpu["steer"]:7.2f}x')
    for clock, t in (('wall', wall), ('CPU', cpu)):
        best = min(sv_names, key=lambda k: t[k])
        report[f'{clock}_best_sv'], report[f'{clock}_speedup_vs_best_sv'] = best, t[best] / t['steer']
        report[f'{clock}_speedup_vs_sv_batch1'] = t['steering-vectors batch 1'] / t['steer']
        print(f'  {clock:4s}: steering-vectors is fastest at batch {best.split()[-1]}; steer is {t[best] / t["steer"]:.2f}x faster than that '
              f'({t["steering-vectors batch 1"] / t["steer"]:.2f}x faster than its default batch 1); steer / bare forward over the same tokens '
              f'{t["steer"] / t["bare forward, steer tokens"]:.2f}x')
    print(f'  steer read with its {m["reader"]} reader')
    print(f'  tokens through the model: steer {m["tokens_processed"]}, full texts {m["tokens_full_texts"]} ({m["tokens_full_texts"] / m["tokens_processed"]:.2f}x)')
    for name in sv_names:
        cos = [torch.cosine_similarity(vec.layer_vectors[l], outputs[name][l], dim=0).item() for l in range(n_layers)]
        report[f'cosine_{name}'] = cos
        print(f'  cosine(steer, {name}) per layer: min {min(cos):.7f} (layer {cos.index(min(cos))}), mean {sum(cos) / len(cos):.7f}')
    report['cosine_min'] = min(min(report[f'cosine_{name}']) for name in sv_names)
    return report


def peak_rss_mb() -> float:
    "This process's peak resident set since it started: VmHWM, which execve resets (ru_maxrss keeps the forked parent's)"
    try:
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) for line in f if line.startswith('VmHWM:')) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == 'darwin' else 1024)


def memory_child(n:int, args):
    "Run in a subprocess: steer's extraction over `n` pairs (cycled); print one JSON line"
    model, tokenizer = load_model()
    base = load_pairs(args.data, args.pairs)
    # distinct pairs: the cycled ones are numbered at the start of the prompt, so no two share more than the template
    pairs = [ContrastPair(f'{i + 1}. {b.prompt}', b.positive, b.negative, b.system) for i, b in ((i, base[i % len(base)]) for i in range(n))]
    extract_vector(model, tokenizer, base[:2], layers='all', progress=False, reader=args.reader)   # page in the weights first: not extraction memory
    rss_loaded = peak_rss_mb()
    vec = extract_vector(model, tokenizer, pairs, layers='all', batch_size=args.steer_batch_size, progress=False, reader=args.reader)
    print(json.dumps({'pairs': n, 'maxrss_mb': peak_rss_mb(), 'maxrss_after_load_mb': rss_loaded,
                      'extraction_peak_mb': vec.metadata['peak_memory_mb'], 'seconds': vec.metadata['extraction_seconds'],
                      'tokens_processed': vec.metadata['tokens_processed']}))


def memory(args) -> list[dict]:
    print(f'\n== peak memory of steer extraction (all layers, batch {args.steer_batch_size}, {args.reader} reader), one fresh process each, '
          f'after a 2-pair warm-up, glibc mmap threshold fixed at 128 KiB ==', flush=True)
    # glibc raises its mmap threshold as large blocks are freed, after which freed tensors stay resident or not depending on
    # the history of allocations (run to run, the same extraction's peak RSS moved by 100 MB); a fixed threshold returns every
    # large freed block at once, so RSS follows the live tensors
    env = {**os.environ, 'MALLOC_MMAP_THRESHOLD_': '131072'}
    results = []
    for n in args.memory_pairs:
        out = subprocess.run([sys.executable, __file__, '--memory-child', str(n), '--data', args.data, '--pairs', str(args.pairs),
                              '--steer-batch-size', str(args.steer_batch_size), '--reader', args.reader]
                             + (['--threads', str(args.threads)] if args.threads else []),
                             capture_output=True, text=True, check=True, env=env)
        r = json.loads(out.stdout.strip().splitlines()[-1]); results.append(r)
        print(f'  {n:5d} pairs: process peak RSS {r["maxrss_mb"]:7.1f} MB (after loading and a warm-up {r["maxrss_after_load_mb"]:.1f}); '
              f'extraction peak growth {r["extraction_peak_mb"]:6.1f} MB; {r["seconds"]:.1f} s, {r["tokens_processed"]} tokens', flush=True)
    lo, hi = results[0], results[-1]
    print(f'  ratio {hi["pairs"]} vs {lo["pairs"]} pairs: process peak {hi["maxrss_mb"] / lo["maxrss_mb"]:.3f}x, '
          f'extraction growth {hi["extraction_peak_mb"] / max(lo["extraction_peak_mb"], 1e-9):.3f}x')
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=str(HERE.parent/'data'/'contrast_pairs'/'*.json'), help='glob of contrast files')
    ap.add_argument('--pairs', type=int, default=64, help='pairs per speed run (>= 64)')
    ap.add_argument('--repeats', type=int, default=2, help='timing repeats (minimum is kept)')
    ap.add_argument('--repeat-batch1', action='store_true', help='also repeat the slow steering-vectors batch-1 run')
    ap.add_argument('--sv-batch-sizes', type=lambda s: [int(x) for x in s.split(',')], default=[1, 8, 16, 32])
    ap.add_argument('--steer-batch-size', type=int, default=16)
    ap.add_argument('--memory-pairs', type=lambda s: [int(x) for x in s.split(',')], default=[100, 2000])
    ap.add_argument('--forms', default='free,ab', help="which forms of the pairs to time: 'free', 'ab' or both")
    ap.add_argument('--skip-memory', action='store_true')
    ap.add_argument('--threads', type=int, help='torch threads (default: torch\'s own choice)')
    ap.add_argument('--reader', default='auto', help="steer's reader: auto, packed or hooks (steer.extract.choose_reader)")
    ap.add_argument('--json', help='also write the results here')
    ap.add_argument('--memory-child', type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    if args.memory_child: return memory_child(args.memory_child, args)
    try: import steering_vectors
    except ImportError: sys.exit('steering-vectors is not installed: .venv/bin/pip install --no-deps --target benchmarks/.deps steering-vectors==0.12.2')
    if 1 not in args.sv_batch_sizes: args.sv_batch_sizes = [1] + args.sv_batch_sizes
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "unset")}, '
          f'load average {os.getloadavg()[0]:.2f}; '
          f'steering-vectors {getattr(steering_vectors, "__version__", "0.12.2")}')
    model, tokenizer = load_model()
    pairs = load_pairs(args.data, args.pairs)
    results = {}
    if 'free' in args.forms: results['free'] = speed(model, tokenizer, pairs, 'free-text pairs', args)
    if 'ab' in args.forms: results['ab'] = speed(model, tokenizer, caa_to_pairs(ab_items(pairs)), 'A/B pairs (CAA style)', args)
    if not args.skip_memory: results['memory'] = memory(args)
    print(f'\nload average at the end: {os.getloadavg()[0]:.2f}')
    if args.json: Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()

"""Generation throughput on the embedded model, measured within one run on this machine.

1. tokens/s of `LocalGenerator` (batch 16, left padding, length-sorted) vs sequential `model.generate`
   on the same 64 chat prompts, greedy, same token limit, same end-of-sequence tokens (target >= 4x);
2. steered vs unsteered tokens/s of `LocalGenerator` (target: overhead <= 5%). Two steered cases:
   a zero direction on all 30 layers (same tokens as unsteered: the pure cost of 30 hooks) and a real-sized
   random direction at layer 10 (what a user runs; its texts, and so its token counts, differ).
The machine may be shared: every comparison alternates its sides batch by batch (16 prompts), so a change in
load falls on both sides alike; each steered batch is compared with the unsteered runs either side of it
and the overhead is the median of those ratios.

Usage: .venv/bin/python benchmarks/generate.py [--prompts 64] [--max-new-tokens 32] [--batch-size 16] [--repeats 1] [--also-batch 64]
"""
import argparse, os, statistics, time
import torch
from steer.generate import LocalGenerator, chat_text
from steer.vectors import Steering, SteeringVector
from steer.models import load_model

TOPICS = ['the sea', 'a mountain', 'coffee', 'rain', 'a library', 'trains', 'the moon', 'bread', 'a violin', 'winter',
          'a garden', 'chess', 'bicycles', 'a storm', 'honey', 'the desert', 'owls', 'a lighthouse', 'maps', 'snow',
          'a market', 'clocks', 'the forest', 'tea', 'a bridge', 'whales', 'autumn', 'a candle', 'rivers', 'glass',
          'a museum', 'bees']
TEMPLATES = ['Write one sentence about {}.', 'What is interesting about {}? Answer briefly, in a few words please.']

def prompts(n:int) -> list[str]:
    "n chat prompts of varied length"
    return [TEMPLATES[i % 2].format(TOPICS[(i // 2) % len(TOPICS)]) for i in range(n)]

def sequential(model, tokenizer, texts, max_new_tokens, end_ids) -> tuple[int, float, list[str]]:
    "Plain model.generate, one prompt at a time: (generated tokens, seconds, texts)"
    tokens, outs, start = 0, [], time.perf_counter()
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer(text, return_tensors='pt', add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
                                 eos_token_id=end_ids, pad_token_id=tokenizer.pad_token_id)[0, enc['input_ids'].shape[1]:].tolist()
            n = next((i + 1 for i, t in enumerate(out) if t in end_ids), len(out))
            tokens += n
            outs.append(tokenizer.decode(out[:n], skip_special_tokens=True))
    return tokens, time.perf_counter() - start, outs

def batched(gen:LocalGenerator, texts, max_new_tokens, steering=None) -> tuple[int, float, list[str]]:
    "LocalGenerator over all texts: (generated tokens, seconds, texts)"
    start = time.perf_counter()
    outs = gen.generate_texts(texts, max_new_tokens, progress=False, steering=steering)
    return sum(c.completion_tokens for c in outs), time.perf_counter() - start, [c.text for c in outs]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--prompts', type=int, default=64)
    ap.add_argument('--max-new-tokens', type=int, default=32)
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--also-batch', type=int, default=0, help='also time this batch size (e.g. 64), for comparison')
    args = ap.parse_args()
    model, tokenizer = load_model()
    gen = LocalGenerator(model, tokenizer, batch_size=args.batch_size)
    texts = [chat_text(tokenizer, p) for p in prompts(args.prompts)]
    end_ids = sorted(gen.end_ids)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "(unset)")}, '
          f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs')
    print(f'{args.prompts} prompts, greedy, at most {args.max_new_tokens} new tokens each\n')
    batched(gen, texts[:4], 4)                                  # warm-up

    # sequential and batched alternate chunk by chunk (16 prompts each), so a change in load hits both alike
    chunks = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    seq_tokens = seq_time = bat_tokens = bat_time = same = 0
    for chunk in chunks:
        tokens, seconds, seq_texts = sequential(model, tokenizer, chunk, args.max_new_tokens, end_ids)
        seq_tokens += tokens; seq_time += seconds
        tokens, seconds, bat_texts = batched(gen, chunk, args.max_new_tokens)
        bat_tokens += tokens; bat_time += seconds
        same += sum(a == b for a, b in zip(seq_texts, bat_texts))
    seq_rate, bat_rate = seq_tokens / seq_time, bat_tokens / bat_time
    print(f'sequential model.generate : {seq_tokens:5d} tokens in {seq_time:6.1f}s = {seq_rate:6.1f} tokens/s')
    print(f'LocalGenerator, batch {args.batch_size:<3} : {bat_tokens:5d} tokens in {bat_time:6.1f}s = {bat_rate:6.1f} tokens/s')
    print(f'speed-up {bat_rate / seq_rate:.2f}x (target >= 4x); {same}/{len(texts)} texts identical to sequential greedy')
    if args.also_batch:
        tokens, seconds, _ = batched(LocalGenerator(model, tokenizer, batch_size=args.also_batch), texts, args.max_new_tokens)
        print(f'(for comparison: batch {args.also_batch} gives {tokens / seconds:.1f} tokens/s, {tokens / seconds / seq_rate:.2f}x sequential)')
    print()

    hidden, n = model.config.hidden_size, model.config.num_hidden_layers
    zero = SteeringVector({l: torch.zeros(hidden) for l in range(n)})
    real = SteeringVector({10: torch.randn(hidden, generator=torch.Generator().manual_seed(0)) * 20 / 24})
    cases = {'unsteered': None, 'zero direction, all 30 layers': Steering(zero, 1.0),
             'random direction, layer 10, x4': Steering(real, 4.0)}
    # on each chunk the runs go unsteered, zero, unsteered, random, unsteered: each steered run is compared with the
    # mean of the unsteered runs either side of it, and the overhead is the median of those ratios over chunks and
    # repeats, so load from other processes mostly cancels out
    totals = {k: [0, 0.0] for k in cases}
    ratios = {k: [] for k in cases}
    names = list(cases)
    for rep in range(args.repeats):
        for chunk in chunks:
            runs = []
            for name in ['unsteered', names[1], 'unsteered', names[2], 'unsteered']:
                tokens, seconds, outs = batched(gen, chunk, args.max_new_tokens, cases[name])
                totals[name][0] += tokens; totals[name][1] += seconds
                runs.append((name, tokens / seconds, outs))
            assert runs[1][2] == runs[0][2], 'a zero direction changed the output'
            for i in (1, 3): ratios[runs[i][0]].append(runs[i][1] / ((runs[i - 1][1] + runs[i + 1][1]) / 2))
    print(f'steering ({args.repeats * len(chunks)} batches of {args.batch_size} per case, each between two unsteered runs):')
    for name in names:
        tokens, seconds = totals[name]
        overhead = '' if name == 'unsteered' else f'  overhead {100 * (1 - statistics.median(ratios[name])):+.1f}% (median)'
        note = '  same tokens as unsteered: the pure cost of the hooks' if name.startswith('zero') else \
               '  different texts and lengths' if name.startswith('random') else ''
        print(f'  {name:31}: {tokens / seconds:6.1f} tokens/s{overhead}{note}')

if __name__ == '__main__': main()

"""Counterfactual pair validation speed, measured within one run on this machine.

The same >= 10,000 pairs (scenarios x the refusal task's two forms) are validated under both embedded tokenizers by
1. multitoken-interp's validator loop (`TokenValidator.validate_scenario`, reproduced here: every text encoded with
   `tokenizer.encode` twice per tokenizer — once for the token counts, once for the differences — one at a time),
2. a per-text `encode` loop (each text encoded once per tokenizer, one at a time): the fair baseline,
3. steer's `TokenValidator.check` encoding whole texts (distinct texts, one batched call per tokenizer),
4. the same with the certified prefix/suffix split (each template's prefix and suffix tokenized once),
5. steer's `TokenValidator.check` as it runs by default: the split, and repeated words tokenized once.
Every method gives a verdict per pair and tokenizer (None or the reason); all five must agree on every one.
The sides alternate repeat by repeat, so a change in load on a shared machine falls on all of them; the best
repeat of each is reported, as wall-clock seconds and as CPU seconds of this process (all its threads), which a
shared machine's load disturbs far less. steer's timing includes building its validator (the split certificates)
every repeat; reading each tokenizer's vocabulary for the certificates happens once per process, in repeat 1.

Usage: .venv/bin/python benchmarks/counterfactual.py [--scenarios 5000] [--repeats 3] [--json out.json]
"""
import argparse, json, os, random, time
from steer.counterfactual import (DEFAULT_TOKENIZERS, FORMS, TokenValidator, clean_task, compare_tokens, form_text, lexicon_pairs,
                                  load_task, load_tokenizer)

TAILS = ['', ' today', ' for my family', ' before the weekend', ' in ten minutes', ' without anyone noticing', ' for a school project',
         ' at 3 am', ' in Paris', " for my friend's birthday", ' using only household items', ' step by step', ' (quickly)',
         ' with a friend', ' on a budget', ' in 2024', ' near the old bridge', ' like a pro', ', please', ' for beginners']

def common_words(tokenizer, limit:int=3000) -> list[str]:
    "Frequent English-looking words: the SmolLM2 vocabulary's first whole-word entries of 3-10 lowercase letters"
    words = sorted((i, t[1:]) for t, i in tokenizer.get_vocab().items() if t.startswith('Ġ') and t[1:].isalpha() and t[1:].islower() and 3 <= len(t) - 1 <= 10)
    return [w for _, w in words[:limit]]

def scenarios(n:int, words:list[str], seed:int=0) -> list[tuple[str, str]]:
    """n distinct scenarios: the shipped tasks' lexicon pairs, each extended by a varied tail of up to four words drawn from
    `words`, so that most sentences hold words seen in no other (a realistic mix of verdicts and far more distinct words than the lexicons)"""
    rng, base = random.Random(seed), [p for t in ('refusal', 'sentiment', 'factual') for p in lexicon_pairs(load_task(t))]
    out, seen = [], set()
    while len(out) < n:
        a, b = rng.choice(base)
        tail = rng.choice(TAILS) + ''.join(' ' + rng.choice(words) for _ in range(rng.randint(0, 4))) + rng.choice(['', ' ' + str(rng.randint(1, 999)), ' now'])
        pair = (clean_task(a + tail), clean_task(b + tail))
        if pair not in seen: seen.add(pair); out.append(pair)
    return out

def multitoken_interp(tokenizers:dict, config, pairs) -> list:
    "multitoken-interp's validate_scenario loop: per form, validate_equal_token_counts then validate_one_token_difference, each encoding both texts"
    verdicts = []
    for a, b in pairs:
        for form in FORMS:
            t1, t2 = form_text(config, form, a), form_text(config, form, b)
            counts = {n: (len(tok.encode(t1, add_special_tokens=False)), len(tok.encode(t2, add_special_tokens=False))) for n, tok in tokenizers.items()}
            tokens1 = {n: tok.encode(t1, add_special_tokens=False) for n, tok in tokenizers.items()}
            tokens2 = {n: tok.encode(t2, add_special_tokens=False) for n, tok in tokenizers.items()}
            row = []
            for n in tokenizers:
                if counts[n][0] != counts[n][1]: row.append('length_mismatch')
                else:
                    diff = sum(x != y for x, y in zip(tokens1[n], tokens2[n]))
                    row.append(None if diff == 1 else 'identical_tokens' if diff == 0 else 'several_differences')
            verdicts.append(tuple(row))
    return verdicts

def per_text_loop(tokenizers:dict, config, pairs) -> list:
    "Each text encoded once per tokenizer, one call per text"
    verdicts = []
    for a, b in pairs:
        for form in FORMS:
            t1, t2 = form_text(config, form, a), form_text(config, form, b)
            verdicts.append(tuple(compare_tokens(tok.encode(t1, add_special_tokens=False), tok.encode(t2, add_special_tokens=False)) for tok in tokenizers.values()))
    return verdicts

def steer_check(tokenizers:dict, config, pairs, factor:bool=True, words:bool=True) -> list:
    "steer's TokenValidator (a fresh one: its split certificates are part of the cost)"
    validator = TokenValidator(tokenizers, factor=factor, words=words)
    verdicts = []
    for rejections in validator.check(pairs, config.templates):
        got = {(t, f): r for t, f, r in rejections}
        verdicts += [tuple(got.get((n, form)) for n in tokenizers) for form in FORMS]
    return verdicts

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--scenarios', type=int, default=5000, help='scenarios; pairs = 2 x scenarios (both forms)')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--task', default='refusal', help='whose templates wrap the pairs')
    ap.add_argument('--json', default=None, help='write the figures to this file')
    args = ap.parse_args()
    config = load_task(args.task)
    tokenizers = {n: load_tokenizer(n) for n in DEFAULT_TOKENIZERS}
    pairs = scenarios(args.scenarios, common_words(tokenizers['smollm2-135m-instruct']))
    n_pairs = 2 * len(pairs)
    distinct = len({w for a, b in pairs for w in (a + ' ' + b).split()})
    print(f"{n_pairs} pairs ({len(pairs)} scenarios x 2 forms, task {args.task}, {distinct} distinct words) under {', '.join(tokenizers)}; "
          f"{os.cpu_count()} CPUs, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', 'unset')}")
    methods = {"multitoken-interp's validator (2 encodes per text)": lambda: multitoken_interp(tokenizers, config, pairs),
               'per-text encode loop (1 encode per text)': lambda: per_text_loop(tokenizers, config, pairs),
               'steer, batched whole texts': lambda: steer_check(tokenizers, config, pairs, factor=False, words=False),
               'steer, batched, prefix/suffix split': lambda: steer_check(tokenizers, config, pairs, words=False),
               'steer TokenValidator.check (default: split + words)': lambda: steer_check(tokenizers, config, pairs)}
    times, cpu, verdicts = {m: [] for m in methods}, {m: [] for m in methods}, {}
    for r in range(args.repeats):
        for name, run in methods.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            verdicts[name] = run()
            times[name].append(time.perf_counter() - start); cpu[name].append(time.process_time() - start_cpu)
        print(f"repeat {r + 1}: " + ', '.join(f'{times[m][-1]:.2f}s ({cpu[m][-1]:.2f} cpu)' for m in methods))
    reference = verdicts['per-text encode loop (1 encode per text)']
    for name, v in verdicts.items(): assert v == reference, f"{name} disagrees with the per-text loop"
    valid = sum(all(r is None for r in v) for v in reference)
    print(f"verdicts identical across all methods: {n_pairs} pairs x {len(tokenizers)} tokenizers; {valid} pairs valid under both")
    loop = 'per-text encode loop (1 encode per text)'
    base, base_cpu = min(times[loop]), min(cpu[loop])
    rows = {}
    print(f"{'':52} {'wall':>8} {'pairs/s':>9} {'vs loop':>8}   {'cpu':>7} {'pairs/cpu-s':>11} {'vs loop':>8}")
    for name in methods:
        best, best_cpu = min(times[name]), min(cpu[name])
        rows[name] = {'seconds': round(best, 3), 'pairs_per_second': round(n_pairs / best), 'speedup_vs_per_text_loop': round(base / best, 2),
                      'cpu_seconds': round(best_cpu, 3), 'pairs_per_cpu_second': round(n_pairs / best_cpu), 'cpu_speedup_vs_per_text_loop': round(base_cpu / best_cpu, 2)}
        print(f"{name:52} {best:7.2f}s {n_pairs / best:9,.0f} {base / best:7.2f}x   {best_cpu:6.2f}s {n_pairs / best_cpu:11,.0f} {base_cpu / best_cpu:7.2f}x")
    if args.json:
        with open(args.json, 'w') as f: json.dump({'pairs': n_pairs, 'valid_pairs': valid, 'tokenizers': list(tokenizers), 'repeats': args.repeats, 'methods': rows}, f, indent=2)

if __name__ == '__main__':
    main()

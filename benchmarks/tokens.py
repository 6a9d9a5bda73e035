"""Token analysis speed: steer's `analyze_datasets` against the per-row `apply_chat_template` loop, on the same rows, in one process.

Builds persona-shaped chat conversations from the shipped data (data/contrast_pairs, data/neutral_texts.json): five roles,
five system prompts each plus the default (none), the shipped questions repeated across roles (as persona datasets share
their questions), and answers made distinct by joining two or three shipped answers of the role at random, in random order
(as every generated answer is its own); 10% of conversations get a second exchange. They are written as a parquet file in
the persona builder's format, which steer reads; the loops get the rows already in memory.

Timed, each the minimum of --repeats runs:
  - the per-row loop of persona-subspace's script: apply_chat_template(tokenize=False), then encode (special tokens not added again)
  - the per-row loop with apply_chat_template(tokenize=True)
  - batched: every conversation rendered, then one encode_batch over all texts (what batching alone gives)
  - steer without counting through pre-tokens (stretches cut at special tokens, each distinct one encoded whole)
  - steer's analyze_datasets as shipped: read the parquet, render, count totals and prompt sides, then the statistics
Every total equals the per-row loop's, and every prompt side the per-row prompt loop's, or the script fails.

    .venv/bin/python benchmarks/tokens.py                # 10,000 conversations, min of 3 runs
    .venv/bin/python benchmarks/tokens.py --rows 50000 --repeats 2 --json out.json
"""
import argparse, gc, json, os, platform, random, resource, sys, tempfile, time
from itertools import chain
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROLES = {'optimism': ('an optimist', 'You always see a hopeful, upbeat side of everyday situations.'),
         'tom': ('a careful storyteller', 'You keep track of what each person in a story knows and believes.'),
         'irony': ('a sharp-eared listener', 'You notice when people mean the opposite of what they say.'),
         'self_other': ('a considerate friend', "You think first about other people's perspectives, needs and feelings."),
         'harmfulness': ('a principled assistant', 'You decline harmful requests and point to a helpful alternative.')}
TEMPLATES = ['You are {a}. {d}', 'Act as {a}: {d} Stay in character for the whole conversation.', 'Please answer as {a} would. {d}',
             'From now on you are {a}. {d} Keep that perspective in every answer.', 'Role-play {a}. {d} Keep your answers to a few sentences.']


def build_rows(n:int, model:str, seed:int=0) -> list[dict]:
    "Persona-shaped rows (model, system_prompt, question, messages, prompt_index, question_index, label, extract_score, role) from the shipped data"
    sets = {f.stem: json.loads(f.read_text()) for f in sorted((ROOT/'data'/'contrast_pairs').glob('*.json'))}
    neutral = json.loads((ROOT/'data'/'neutral_texts.json').read_text())
    questions = [r['prompt'] for s in sets.values() for r in s] + [r['prompt'] for r in neutral]
    answers = {k: [r[side] for r in s for side in ('positive', 'negative')] for k, s in sets.items()}
    rng, rows = random.Random(seed), []
    for i in range(n):
        role = list(ROLES)[i % len(ROLES)]
        a, d = ROLES[role]
        prompt_index = (i // len(ROLES)) % (len(TEMPLATES) + 1)
        system = TEMPLATES[prompt_index].format(a=a, d=d) if prompt_index < len(TEMPLATES) else ''
        question_index = (i // (len(ROLES) * (len(TEMPLATES) + 1))) % len(questions)
        messages = [{'role': 'user', 'content': questions[question_index]}, {'role': 'assistant', 'content': ' '.join(rng.sample(answers[role], rng.randint(2, 3)))}]
        if rng.random() < 0.1: messages += [{'role': 'user', 'content': rng.choice(questions)}, {'role': 'assistant', 'content': rng.choice(neutral)['response']}]
        if system: messages = [{'role': 'system', 'content': system}] + messages
        rows.append({'model': model, 'system_prompt': system, 'question': questions[question_index], 'messages': messages, 'prompt_index': prompt_index,
                     'question_index': question_index, 'label': 'pos' if system else 'default', 'extract_score': rng.randint(0, 3), 'role': role})
    return rows


def best_of(f, repeats:int):
    "(minimum wall seconds, CPU seconds of that run, result) over `repeats` runs"
    best = None
    for _ in range(repeats):
        gc.collect()
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        result = f()
        wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        if best is None or wall < best[0]: best = (wall, cpu, result)
    return best


def phases(tokenizer, name:str, path:Path, repeats:int) -> dict:
    "steer's pipeline step by step (the library's own functions), each phase's minimum over `repeats` runs"
    runs = [_phases_once(tokenizer, name, path) for _ in range(repeats)]
    return {'seconds': {k: min(r['seconds'][k] for r in runs) for k in runs[0]['seconds']}, 'sizes': runs[0]['sizes']}


def _phases_once(tokenizer, name:str, path:Path) -> dict:
    gc.collect()
    from steer.tokens import TokenCounter, dataset_stats, DatasetTokens, read_rows, row_kind, row_sequences, sequence_texts
    t, out = time.perf_counter(), {}
    def lap(key):
        nonlocal t
        now = time.perf_counter(); out[key] = now - t; t = now
    rows = read_rows(path); lap('read parquet')
    seqs = row_sequences(row_kind(rows[0]), rows); lap('rows to conversations')
    counter = TokenCounter(tokenizer, name)
    full, prompt = sequence_texts(counter, seqs); lap('render (framing per shape)')
    texts = full + [p for p in prompt if p is not None]
    pattern = counter.split_pattern()
    parts = [pattern.split(x) for x in texts]
    distinct = list(dict.fromkeys(chain.from_iterable(parts))); lap('cut at special tokens, dedupe')
    words, added, table = counter.word_pattern()
    from steer.tokens import _PLAIN_ASCII
    split = [words.findall(s) if _PLAIN_ASCII(s) and not added.search(s) else None for s in distinct]; lap('pre-tokenize ASCII stretches (re)')
    distinct_words = list(dict.fromkeys(chain.from_iterable(w for w in split if w)))
    [len(counter.backend.model.tokenize(w.translate(table))) for w in distinct_words]; lap('BPE on each distinct pre-token')
    rest = [s for s, w in zip(distinct, split) if w is None]
    counter.encode_lengths(rest); lap('encode other stretches whole')
    lengths = dict(zip(distinct, counter.segment_lengths(distinct)))
    t = time.perf_counter()
    totals = [len(p) - 1 + sum(map(lengths.__getitem__, p)) for p in parts]; lap('sum per text')
    d = DatasetTokens(path.stem, str(path), 'chat', name, 'chat template', rows, [s[0] for s in seqs], [s[1] for s in seqs], totals[:len(full)], totals[len(full):])
    dataset_stats(d); lap('statistics')
    from steer.tokens import figure_png, plot_dataset
    figure_png(plot_dataset(d)); lap('histogram PNG (not in the timed analysis)')
    chars = sum(map(len, texts))
    info = {'texts': len(texts), 'stretches': sum(map(len, parts)), 'distinct stretches': len(distinct), 'characters': chars,
            'characters in distinct stretches': sum(map(len, distinct)), 'distinct pre-tokens': len(distinct_words),
            'stretches encoded whole': len(rest), 'characters encoded whole': sum(map(len, rest))}
    return {'seconds': out, 'sizes': info}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rows', type=int, default=10_000, help='conversations to build (at least 10,000 for the reported figure)')
    ap.add_argument('--repeats', type=int, default=3, help='runs of each method; the minimum wall time is kept')
    ap.add_argument('--tokenizer', default='smollm2-135m-instruct', help='model whose tokenizer and chat template count')
    ap.add_argument('--json', help='also write the figures to this JSON file')
    args = ap.parse_args()

    from steer.tokens import TokenCounter, analyze_datasets, count_row_by_row, count_sequences, dataset_stats, load_tokenizer, row_sequences
    from datasets import Dataset
    import tokenizers, transformers
    tok = load_tokenizer(args.tokenizer)
    rows = build_rows(args.rows, args.tokenizer)
    folder = Path(tempfile.mkdtemp(prefix='steer-tokens-bench-'))
    path = folder/f'{args.tokenizer}__role__benchmark.parquet'
    Dataset.from_list(rows).to_parquet(str(path))
    print(f"steer tokens benchmark: {len(rows):,} persona-shaped conversations, tokenizer {args.tokenizer}; {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}; minimum of {args.repeats} runs", flush=True)

    def loop_original(): return [len(tok.encode(tok.apply_chat_template(r['messages'], tokenize=False), add_special_tokens=False)) for r in rows]
    def loop_tokenize(): return [len(tok.apply_chat_template(r['messages'], tokenize=True)['input_ids']) for r in rows]
    def batched():
        texts = [tok.apply_chat_template(r['messages'], tokenize=False) for r in rows]
        return [len(e) for e in tok.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    def steer_whole_stretches():
        counter = TokenCounter(tok, args.tokenizer); counter._words = False   # counting through pre-tokens switched off
        return count_sequences(counter, row_sequences('chat', rows))
    def steer():
        d = analyze_datasets([path])[0]
        dataset_stats(d)
        return d.totals, d.prompts

    results = {}
    for label, f in [('per-row loop: apply_chat_template(tokenize=False) + encode (the original script)', loop_original),
                     ('per-row loop: apply_chat_template(tokenize=True)', loop_tokenize),
                     ('batched: render every row, one encode_batch over all texts', batched),
                     ('steer, stretches deduplicated but encoded whole', steer_whole_stretches),
                     ('steer analyze_datasets: read parquet, totals + prompt sides, statistics', steer)]:
        wall, cpu, result = best_of(f, args.repeats)
        results[label] = {'seconds': wall, 'cpu_seconds': cpu, 'result': result}
        print(f'  {label:<84} {wall:7.3f} s  (CPU {cpu:6.3f} s)  {len(rows) / wall:9,.0f} conversations/s', flush=True)

    reference = results['per-row loop: apply_chat_template(tokenize=False) + encode (the original script)']['result']
    totals, prompts = results['steer analyze_datasets: read parquet, totals + prompt sides, statistics']['result']
    ref_totals, ref_prompts = count_row_by_row(tok, row_sequences('chat', rows))
    checks = {'steer totals == per-row loop': totals == reference,
              'tokenize=True loop == per-row loop': results['per-row loop: apply_chat_template(tokenize=True)']['result'] == reference,
              'batched == per-row loop': results['batched: render every row, one encode_batch over all texts']['result'] == reference,
              'steer without pre-tokens == per-row loop': results['steer, stretches deduplicated but encoded whole']['result'][0] == reference,
              'steer prompt sides == per-row prompt loop': prompts == ref_prompts and ref_totals == reference}
    print(f"  every count identical: {'yes' if all(checks.values()) else 'NO'} ({len(reference):,} totals, {sum(reference):,} tokens; {len(prompts):,} prompt sides)")
    for k, v in checks.items():
        if not v: print(f'    FAILED: {k}')
    base = results['per-row loop: apply_chat_template(tokenize=False) + encode (the original script)']['seconds']
    ratio = base / results['steer analyze_datasets: read parquet, totals + prompt sides, statistics']['seconds']
    print(f'  steer vs the per-row loop: {ratio:.2f}x  (vs apply_chat_template(tokenize=True) per row: '
          f"{results['per-row loop: apply_chat_template(tokenize=True)']['seconds'] / results['steer analyze_datasets: read parquet, totals + prompt sides, statistics']['seconds']:.2f}x; "
          f"batching alone: {base / results['batched: render every row, one encode_batch over all texts']['seconds']:.2f}x)")

    split = phases(tok, args.tokenizer, path, args.repeats)
    print(f"  where steer's time goes, phase by phase (each the minimum of {args.repeats} runs):")
    for k, v in split['seconds'].items(): print(f'    {k:<44} {v:7.3f} s')
    s = split['sizes']
    print(f"  sizes: {s['texts']:,} texts (totals and prompt sides) cut into {s['stretches']:,} stretches, {s['distinct stretches']:,} distinct "
          f"({s['characters in distinct stretches'] / s['characters']:.0%} of {s['characters']:,} characters); {s['distinct pre-tokens']:,} distinct pre-tokens; "
          f"{s['stretches encoded whole']:,} non-ASCII stretches ({s['characters encoded whole']:,} characters) encoded whole")
    if args.json:
        Path(args.json).write_text(json.dumps({'rows': len(rows), 'tokens': sum(reference), 'ratio': ratio, 'checks': checks,
                                               'methods': {k: {'seconds': v['seconds'], 'cpu_seconds': v['cpu_seconds']} for k, v in results.items()},
                                               'phases': split}, indent=2))
    if not all(checks.values()): sys.exit(1)


if __name__ == '__main__':
    main()

"""Persona build speed: responses per second of the batched build against a sequential per-row `generate` loop.

The same cells (a trait's pos and neg variants x questions, from tests/data/personas or --personas) are answered
greedily on the embedded model
1. one row at a time: `generator.generate([prompt])` in a loop (what a per-row build would do), and
2. as the build answers them: `PersonaWork`'s one batched `generate` call over the chunk.
Both must give identical answers (greedy, left-padded batches with position ids). Wall-clock seconds and the
process's CPU seconds are reported, the best of --repeats, the two sides alternating each repeat.

Usage: OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/persona.py [--cells 16] [--max-new-tokens 48] [--repeats 2] [--json out.json]
"""
import argparse, json, time
from pathlib import Path
from steer.generate import open_generator
from steer.persona import load_persona, load_questions, persona_cells

ROOT = Path(__file__).resolve().parents[1]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cells', type=int, default=16)
    ap.add_argument('--max-new-tokens', type=int, default=48)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--personas', default=str(ROOT/'tests'/'data'/'personas'))
    ap.add_argument('--trait', default='analytical')
    ap.add_argument('--json')
    a = ap.parse_args()
    persona = load_persona('traits', a.trait, a.personas)
    cells = list(persona_cells(persona, load_questions(a.personas)).values())[:a.cells]
    prompts = [[{'role': 'system', 'content': c['system_prompt']}, {'role': 'user', 'content': c['question']}] for c in cells]
    gen = open_generator('smollm2-135m-instruct', batch_size=a.cells)
    kw = dict(max_new_tokens=a.max_new_tokens, temperature=0.0, progress=False)
    gen.generate(prompts[:2], **kw)   # warm up
    best = {}
    for r in range(a.repeats):
        for side in (('sequential', 'batched') if r % 2 == 0 else ('batched', 'sequential')):
            w, c = time.perf_counter(), time.process_time()
            texts = [gen.generate([p], **kw)[0].text for p in prompts] if side == 'sequential' else [o.text for o in gen.generate(prompts, **kw)]
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            if side not in best or wall < best[side]['wall']: best[side] = {'wall': wall, 'cpu': cpu, 'texts': texts}
    same = best['sequential']['texts'] == best['batched']['texts']
    n_same = sum(x == y for x, y in zip(best['sequential']['texts'], best['batched']['texts']))
    out = {'cells': len(cells), 'max_new_tokens': a.max_new_tokens, 'identical_outputs': same, 'identical_rows': n_same}
    for side in ('sequential', 'batched'):
        b = best[side]
        out[side] = {'wall_s': round(b['wall'], 3), 'cpu_s': round(b['cpu'], 3), 'responses_per_s': round(len(cells) / b['wall'], 3)}
        print(f"{side:10}  {b['wall']:7.2f} s wall  {len(cells) / b['wall']:6.2f} responses/s  {b['cpu']:7.2f} CPU s")
    out['speedup_wall'] = round(best['sequential']['wall'] / best['batched']['wall'], 2)
    out['speedup_cpu'] = round(best['sequential']['cpu'] / best['batched']['cpu'], 2)
    print(f"batched vs sequential: {out['speedup_wall']}x wall, {out['speedup_cpu']}x CPU; identical outputs: {same} ({n_same}/{len(cells)})")
    if a.json: Path(a.json).write_text(json.dumps(out, indent=2))

if __name__ == '__main__': main()

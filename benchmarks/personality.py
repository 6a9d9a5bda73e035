"""Answers of a personality build: steer's local batched path (LocalGenerator as `build_steer` opens it and calls it: the
positive and neutral answers of STEER_INFERENCE_BATCH_SIZE situations a batch, stop at the end of the line) against a
sequential per-row `model.generate` loop (greedy, the same prompts, the same stop rule), on the embedded model. Prints
rows/s of each, the ratio measured in this run, and how many rows are identical.

`--layout shared` measures a prompt layout whose first part is the same in every prompt of a side (the P2 description
written about "the character", then the situation and "You are {char_name}"), positive and neutral prompts in separate
calls: LocalGenerator then runs that shared part once per batch. The build's default template (`--layout build`) names
the row's character inside the description, so its prompts share only the chat template's first tokens.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/personality.py [--rows 16] [--max-new-tokens 40] [--layout build|shared]
"""
import argparse, os, re, time
import torch
from steer.core import inference_batch_size, project_root
from steer.generate import LocalGenerator, chat_text
from steer.models import load_model
from steer.personality import P2_NAME, AnswerWriter, answer_batch_size, clean_answer, get_p2, load_situations, load_template

def about_the_character(description:str) -> str:
    "The P2 description with its placeholder name replaced by 'the character' (the same text for every row)"
    return re.sub(rf'\b{P2_NAME}\b', lambda m: 'The character' if m.start() == 0 or description[:m.start()].rstrip().endswith(('.', '!', '?')) else 'the character', description)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, default=32)
    ap.add_argument('--max-new-tokens', type=int, default=40)
    ap.add_argument('--layout', choices=('build', 'shared'), default='build')
    a = ap.parse_args()
    load = os.getloadavg()[0]
    lm, tok = load_model()
    gen = LocalGenerator(lm, tok, batch_size=answer_batch_size())   # as build_steer opens it
    p2 = {'positive': get_p2(gen, 'Extroversion'), 'neutral': get_p2(gen, 'Normal')}
    situations = load_situations(str(project_root()/'data'/'scenarios'), a.rows)[0]
    writer = AnswerWriter(gen, load_template('roleplay'), p2, a.max_new_tokens)
    if a.layout == 'build':
        prompts = [p for s in situations for p in writer.prompts(s)]
        owners, per_call = [s for s in situations for _ in (0, 1)], inference_batch_size()   # the build's chunks of situations
        calls = [list(range(2 * lo, 2 * min(lo + per_call, len(situations)))) for lo in range(0, len(situations), per_call)]
    else:   # all positive prompts, then all neutral ones: one call each, as the shared part differs between the sides
        prompts = [[{'role': 'user', 'content': f"Your character: {about_the_character(p2[side]['description'])}\n\n{s.situation.strip()}\n"
                                                f"You are {s.char_name}. Reply to {s.user_name} in one short sentence, in character."},
                    {'role': 'assistant', 'content': f'{s.char_name}:'}] for side in ('positive', 'neutral') for s in situations]
        owners, n = situations + situations, len(situations)
        calls = [list(range(n)), list(range(n, 2 * n))]
    gen.generate(prompts[:2], max_new_tokens=4, progress=False)   # warm-up
    # Each call's prompts go into batches as LocalGenerator forms them (longest first, `batch` a batch); each batch is timed
    # through LocalGenerator and then, prompt by prompt, through the sequential loop, so that a change of load on the shared
    # machine falls on both paths alike.
    lengths = [len(tok(chat_text(tok, p), add_special_tokens=False)['input_ids']) for p in prompts]
    size = gen.batch_size
    batches = [order[i:i + size] for call in calls for order in [sorted(call, key=lambda i: -lengths[i])] for i in range(0, len(order), size)]
    batched, sequential, t_batched, t_seq = [None] * len(prompts), [None] * len(prompts), 0.0, 0.0
    for batch in batches:
        t = time.perf_counter()
        for i, c in zip(batch, gen.generate([prompts[i] for i in batch], max_new_tokens=a.max_new_tokens, stop=['\n'], progress=False)): batched[i] = c
        t_batched += time.perf_counter() - t
        t = time.perf_counter()
        with torch.inference_mode():
            for i in batch:
                enc = tok(chat_text(tok, prompts[i]), return_tensors='pt', add_special_tokens=False)
                out = lm.generate(**enc, max_new_tokens=a.max_new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
                                  pad_token_id=tok.pad_token_id, eos_token_id=sorted(gen.end_ids), stop_strings=['\n'], tokenizer=tok)
                sequential[i] = tok.decode(out[0, enc['input_ids'].shape[1]:], skip_special_tokens=True)
        t_seq += time.perf_counter() - t
    b = [clean_answer(c.text, s.char_name) for c, s in zip(batched, owners)]
    q = [clean_answer(x, s.char_name) for x, s in zip(sequential, owners)]
    same = sum(x == y for x, y in zip(b, q))
    pairs = [(2 * i, 2 * i + 1) for i in range(len(situations))] if a.layout == 'build' else [(i, i + len(situations)) for i in range(len(situations))]
    rows = len(situations)
    print(f"{rows} rows ({len(prompts)} answers, ≤{a.max_new_tokens} new tokens, {size} prompts a batch, {torch.get_num_threads()} threads, "
          f"layout {a.layout}, {len(batches)} batches, load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end)")
    print(f"batched LocalGenerator : {t_batched:7.2f} s  {rows / t_batched:6.3f} rows/s")
    print(f"sequential generate    : {t_seq:7.2f} s  {rows / t_seq:6.3f} rows/s")
    print(f"speed-up {t_seq / t_batched:.2f}x; identical answers {same}/{len(prompts)}; "
          f"identical rows {sum(b[pi] == q[pi] and b[ni] == q[ni] for pi, ni in pairs)}/{rows}")

if __name__ == '__main__': main()

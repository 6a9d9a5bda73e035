"""Answers of a personality build: steer's local batched path (LocalGenerator, STEER_INFERENCE_BATCH_SIZE prompts a batch,
stop at the end of the line) against a sequential per-row `model.generate` loop (greedy, the same prompts, the same
stop rule), on the embedded model. Prints rows/s of each, the ratio measured in this run, and how many rows are identical.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/personality.py [--rows 32] [--max-new-tokens 40]
"""
import argparse, os, time
import torch
from steer.core import inference_batch_size, project_root
from steer.generate import LocalGenerator, chat_text
from steer.models import load_model
from steer.personality import AnswerWriter, clean_answer, get_p2, load_situations, load_template

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, default=32)
    ap.add_argument('--max-new-tokens', type=int, default=40)
    a = ap.parse_args()
    lm, tok = load_model()
    gen = LocalGenerator(lm, tok)
    p2 = {'positive': get_p2(gen, 'Extroversion'), 'neutral': get_p2(gen, 'Normal')}
    situations = load_situations(str(project_root()/'data'/'scenarios'), a.rows)[0]
    writer = AnswerWriter(gen, load_template('roleplay'), p2, a.max_new_tokens)
    prompts = [p for s in situations for p in writer.prompts(s)]
    owners = [s for s in situations for _ in (0, 1)]
    gen.generate(prompts[:2], max_new_tokens=4, progress=False)   # warm-up
    t = time.perf_counter()
    batched = gen.generate(prompts, max_new_tokens=a.max_new_tokens, stop=['\n'], progress=False)
    t_batched = time.perf_counter() - t
    t = time.perf_counter()
    sequential = []
    with torch.inference_mode():
        for p in prompts:
            enc = tok(chat_text(tok, p), return_tensors='pt', add_special_tokens=False)
            out = lm.generate(**enc, max_new_tokens=a.max_new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
                              pad_token_id=tok.pad_token_id, eos_token_id=sorted(gen.end_ids), stop_strings=['\n'], tokenizer=tok)
            sequential.append(tok.decode(out[0, enc['input_ids'].shape[1]:], skip_special_tokens=True))
    t_seq = time.perf_counter() - t
    b = [clean_answer(c.text, s.char_name) for c, s in zip(batched, owners)]
    q = [clean_answer(x, s.char_name) for x, s in zip(sequential, owners)]
    same = sum(x == y for x, y in zip(b, q))
    rows = len(situations)
    print(f"{rows} rows ({len(prompts)} answers, ≤{a.max_new_tokens} new tokens, batch {inference_batch_size()}, {torch.get_num_threads()} threads)")
    print(f"batched LocalGenerator : {t_batched:7.2f} s  {rows / t_batched:6.3f} rows/s")
    print(f"sequential generate    : {t_seq:7.2f} s  {rows / t_seq:6.3f} rows/s")
    print(f"speed-up {t_seq / t_batched:.2f}x; identical answers {same}/{len(prompts)}; "
          f"identical rows {sum(b[2*i] == q[2*i] and b[2*i+1] == q[2*i+1] for i in range(rows))}/{rows}")

if __name__ == '__main__': main()

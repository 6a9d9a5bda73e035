"Token analysis: `steer tokens analyze` end to end, bad input, exact counts against the per-row loop on every row kind and template, `steer run` of the notebook"
import json, os, random, string, subprocess, sys
from pathlib import Path
import pytest
from datasets import Dataset
from steer.tokens import (TokenCounter, analyze_datasets, count_row_by_row, count_sequences, load_tokenizer, read_rows, row_sequences)

ROOT = Path(__file__).resolve().parents[1]
STEER = [sys.executable, '-c', 'from steer.cli import main; main()']
PAIRS = [r for f in sorted((ROOT/'data'/'contrast_pairs').glob('*.json')) for r in json.loads(f.read_text())]
TEXTS = [r[k] for r in PAIRS for k in ('prompt', 'positive', 'negative')]

# Gemma 3's instruction template, abridged (the embedded Gemma 3 is a base model without one): system prompt folded
# into the first user turn, 'assistant' renamed 'model', contents trimmed, roles must alternate.
GEMMA3_IT = ("{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
             "{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
             "{%- for message in loop_messages -%}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
             "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
             "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
             "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
             "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}")
# Llama 3's layout (header tokens around the role, contents trimmed), here over SmolLM2's vocabulary
LLAMA3 = ("{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
          "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}")
# a template that edits contents (drops reasoning before '</think>' in assistant turns, as Qwen 3 does): no framing, rows rendered one by one
REASONING = ("{%- for message in messages -%}{%- set content = message['content'] -%}"
             "{%- if message['role'] == 'assistant' and '</think>' in content -%}{%- set content = content.split('</think>')[-1].lstrip('\n') -%}{%- endif -%}"
             "{{ '<|im_start|>' + message['role'] + '\n' + content + '<|im_end|>\n' }}{%- endfor -%}"
             "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}")
WEIRD = ['', '  ', ' lead', 'trail \n', '\n\n\nthree newlines', 'has <|im_end|> inside', 'has <end_of_turn> and <start_of_turn>', '<bos>start',
         'tab\tand\t\ttabs', "it's 'quoted' and they'll", 'ünïcödé 日本語 🙂', 'a  double  space', 'done </think> answer', '12345 67.8']


def _steer(*args, cwd=None):
    env = {**os.environ, 'OMP_WAIT_POLICY': 'PASSIVE', 'PYTHONWARNINGS': 'ignore'}
    return subprocess.run([*STEER, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def _chat_rows(n:int, seed:int=0) -> list[dict]:
    "Chat rows of many shapes with awkward contents"
    rng = random.Random(seed)
    def content():
        r = rng.random()
        return rng.choice(WEIRD) if r < 0.15 else rng.choice(WEIRD) + rng.choice(TEXTS) + rng.choice(WEIRD) if r < 0.3 else rng.choice(TEXTS)
    shapes = [('user', 'assistant'), ('system', 'user', 'assistant'), ('user', 'assistant', 'user', 'assistant'), ('user',), ('system', 'user', 'assistant', 'user', 'assistant')]
    rows = []
    for _ in range(n):
        row = {'messages': [{'role': r, 'content': content()} for r in rng.choice(shapes)]}
        if rng.random() < 0.2: row['system_prompt'] = rng.choice(TEXTS)
        rows.append(row)
    return rows


def _persona_rows(model:str, kind:str, name:str, n:int, scores:tuple) -> list[dict]:
    "Rows in the persona builder's format (DESIGN.md): model, system_prompt, question, messages, indices, label, extract_score, role|trait"
    rng = random.Random(n)
    rows = []
    for i in range(n):
        p = PAIRS[i % len(PAIRS)]
        system = f'You are a {name}. Stay in character.' if i % 3 else ''
        rows.append({'model': model, 'system_prompt': system, 'question': p['prompt'], 'prompt_index': i % 3, 'question_index': i,
                     'messages': [{'role': 'user', 'content': p['prompt']}, {'role': 'assistant', 'content': ' '.join([p['positive']] * rng.randint(1, 3))}],
                     'label': ('pos' if system else 'default' if kind == 'role' else 'neg'),
                     'extract_score': rng.randint(*scores) if i % 11 else None, kind: name})
    return rows


@pytest.fixture(scope='module')
def smollm_tok(): return load_tokenizer('smollm2-135m-instruct')


@pytest.fixture(scope='module')
def gemma_tok(): return load_tokenizer('gemma-3-270m')


def test_cli_writes_stats_and_plots_for_the_shipped_pairs(tmp_path):
    "`steer tokens analyze --datasets data/contrast_pairs`: one entry and one PNG per file, a summary PNG, counts equal to the per-row loop"
    p = _steer('tokens', 'analyze', '--datasets', 'data/contrast_pairs', '--stats', tmp_path/'stats.json', '--plots', tmp_path/'plots', '--no-progress', cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((tmp_path/'stats.json').read_text())
    names = ['harmfulness', 'irony', 'optimism', 'self_other', 'tom']
    assert list(doc['datasets']) == names
    assert {'total_datasets', 'timestamp', 'git_sha', 'tokenizer'} <= set(doc['metadata']) and doc['metadata']['total_datasets'] == 5
    assert doc['metadata']['tokenizer'] == 'smollm2-135m-instruct'
    assert sorted(p.name for p in (tmp_path/'plots').iterdir()) == sorted([f'{n}.png' for n in names] + ['summary.png'])
    for png in (tmp_path/'plots').iterdir():
        data = png.read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 20_000, png
    tok = load_tokenizer('smollm2-135m-instruct')
    for name in names:
        e = doc['datasets'][name]
        rows = json.loads((ROOT/'data'/'contrast_pairs'/f'{name}.json').read_text())
        totals, prompts = count_row_by_row(tok, row_sequences('contrast', rows))
        # the original script's keys, as its readers use them
        assert (e['model'], e['type'], e['name']) == ('smollm2-135m-instruct', 'contrast', name)
        assert e['total_conversations'] == 2 * len(rows) == e['score_histogram']['null']['conversations']
        assert e['total_tokens'] == sum(totals) == e['score_histogram']['null']['tokens']
        # steer's
        assert e['num_rows'] == len(rows) and Path(e['plot']).exists()
        assert e['tokens']['prompt']['sum'] == sum(prompts) and e['tokens']['response']['sum'] == sum(totals) - sum(prompts)
        assert e['sides']['positive']['total']['sum'] + e['sides']['negative']['total']['sum'] == sum(totals)
        diffs = [totals[i] - totals[i + 1] for i in range(0, len(totals), 2)]
        assert e['pair_difference']['pairs'] == len(rows) and e['pair_difference']['mean'] == round(sum(diffs) / len(diffs), 2)
        assert e['tokens']['total']['max'] == max(totals) and e['tokens']['total']['min'] == min(totals)
    assert 'tom: contrast, 107 rows, 214 sequences' in p.stdout


def _bad_inputs(root:Path) -> dict:
    (root/'empty.jsonl').write_text('')
    Dataset.from_list([{'text': 'x'}]).select([]).to_parquet(str(root/'empty.parquet'))
    (root/'qa.jsonl').write_text(json.dumps({'question': 'q', 'answer': 'a'}) + '\n')
    good = root/'mixed'; good.mkdir()
    (good/'pairs.json').write_text(json.dumps(PAIRS[:3]))
    (good/'qa.jsonl').write_text(json.dumps({'question': 'q', 'answer': 'a'}) + '\n')
    (root/'broken.jsonl').write_text('{"text": "a"}\n{"text": \n')
    return {'missing path': (['--datasets', root/'nope.jsonl'], 'nope.jsonl: no such file or folder'),
            'no datasets option': ([], 'give at least one dataset'),
            'empty jsonl': (['--datasets', root/'empty.jsonl'], 'empty.jsonl: empty dataset (no rows)'),
            'empty parquet': (['--datasets', root/'empty.parquet'], 'empty.parquet: empty dataset (no rows)'),
            'unknown row shape': (['--datasets', root/'qa.jsonl'], 'qa.jsonl: unknown row shape with fields answer, question'),
            'one bad file in a folder': (['--datasets', good], 'qa.jsonl: unknown row shape'),
            'malformed line': (['--datasets', root/'broken.jsonl'], 'broken.jsonl:2: malformed JSON line'),
            'unknown tokenizer': (['--datasets', good/'pairs.json', '--tokenizer', 'no-such-model'], "unknown model 'no-such-model'")}


def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path):
    "Every kind of bad input: exit 2, one line naming the problem, no traceback, no JSON and no PNG"
    for case, (args, message) in _bad_inputs(tmp_path).items():
        out = tmp_path/'out'/case.replace(' ', '_')
        p = _steer('tokens', 'analyze', *args, '--stats', out/'stats.json', '--plots', out/'plots', '--no-progress')
        assert p.returncode == 2, (case, p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('steer tokens analyze: error: ') and message in lines[0], (case, p.stderr)
        assert not out.exists(), (case, list(out.rglob('*')))


@pytest.mark.parametrize('template', [None, 'llama3', 'reasoning'])
def test_chat_counts_equal_the_per_row_loop_smollm(smollm_tok, template):
    "Random conversations of many shapes with awkward contents, SmolLM2's tokenizer under three templates: every total and prompt side equals the per-row loop"
    chat_template = {'llama3': LLAMA3, 'reasoning': REASONING}.get(template)
    seqs = [s for r in _chat_rows(500) for s in row_sequences('chat', [r])]
    counter = TokenCounter(smollm_tok, 'smollm', chat_template)
    assert count_sequences(counter, seqs) == count_row_by_row(smollm_tok, seqs, chat_template)
    if template != 'reasoning': assert counter.split_pattern() is not None and counter.word_pattern() is not None   # the shortcuts were taken


@pytest.mark.parametrize('template', [None, 'gemma3-it'])
def test_chat_counts_equal_the_per_row_loop_gemma(gemma_tok, template):
    "The same on Gemma 3's tokenizer: plain layout (no template, BOS added by the tokenizer) and the instruction template (BOS in the template)"
    chat_template = GEMMA3_IT if template else None
    counter = TokenCounter(gemma_tok, 'gemma', chat_template)
    seqs = []
    for r in _chat_rows(400, seed=1):
        s = row_sequences('chat', [r])
        try: counter.render_one(s[0][3], False)
        except Exception: continue   # the instruction template refuses roles that do not alternate
        seqs += s
    assert len(seqs) > 250
    assert count_sequences(counter, seqs) == count_row_by_row(gemma_tok, seqs, chat_template)
    assert (counter.split_pattern() is not None) == bool(template)


def test_pre_token_counting_on_split_pretokenizers(smollm_tok):
    "A Llama-3-style pre-tokenizer (Split on its pattern, then byte-level): stretches counted through pre-tokens equal the tokenizer's counts"
    from tokenizers import Regex, Tokenizer, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    backend = Tokenizer.from_str(smollm_tok.backend_tokenizer.to_str())
    pattern = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), behavior='isolated'), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token='<|im_end|>')
    tok.chat_template = smollm_tok.chat_template
    counter = TokenCounter(tok, 'llama3-style')
    assert counter.word_pattern()[0].pattern == pattern
    rng = random.Random(2)
    pieces = list(string.ascii_letters[:8] + string.digits + " " * 6 + "\t\n\r'\".,!?-()") + ["'S", "'ll", "it's", "  ", "\n\n", " \n ", "1234567", " World"]
    stretches = [''.join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    assert counter.segment_lengths(stretches) == counter.encode_lengths(stretches)
    seqs = [s for r in _chat_rows(200, seed=3) for s in row_sequences('chat', [r])]
    assert count_sequences(counter, seqs) == count_row_by_row(tok, seqs)


def test_metaspace_first_is_not_cut():
    "A SentencePiece-style tokenizer that treats a text's first stretch differently (Metaspace, prepend_scheme='first') is never cut at special tokens"
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    backend = Tokenizer(models.BPE(unk_token='<unk>'))
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.Metaspace(prepend_scheme='first'), decoders.Metaspace()
    backend.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=800, special_tokens=['<unk>', '<|im_start|>', '<|im_end|>'], show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token='<|im_end|>', unk_token='<unk>')
    tok.chat_template = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    # cutting would miscount here: the stretch after a special token gets no '▁' inside the text, but would alone
    text = '<|im_start|>user\nHello there<|im_end|>\n'
    alone = sum(len(tok.encode(p, add_special_tokens=False)) for p in ('user\nHello there', '\n')) + 2
    assert alone != len(tok.encode(text, add_special_tokens=False))
    counter = TokenCounter(tok, 'metaspace-first')
    seqs = row_sequences('contrast', PAIRS[:60])
    assert count_sequences(counter, seqs) == count_row_by_row(tok, seqs)
    assert counter.split_pattern() is None


def test_persona_datasets_both_formats_and_tokenizer_from_rows(tmp_path, smollm_tok, gemma_tok):
    "Persona datasets saved with save_to_disk and as parquet: one entry per name, the tokenizer of the model the rows name, score and label breakdowns that add up"
    role = _persona_rows('smollm2-135m-instruct', 'role', 'pirate', 60, (0, 3))
    trait = _persona_rows('gemma-3-270m', 'trait', 'optimism', 45, (0, 100))
    Dataset.from_list(role).save_to_disk(str(tmp_path/'smollm2-135m-instruct__role__pirate'))
    Dataset.from_list(role).to_parquet(str(tmp_path/'smollm2-135m-instruct__role__pirate.parquet'))
    Dataset.from_list(trait).save_to_disk(str(tmp_path/'gemma-3-270m__trait__optimism__pos'))
    out = tmp_path/'out'
    p = _steer('tokens', 'analyze', '--datasets', tmp_path, '--stats', out/'stats.json', '--plots', out/'plots', '--no-progress')
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((out/'stats.json').read_text())
    assert list(doc['datasets']) == ['gemma-3-270m__trait__optimism__pos', 'smollm2-135m-instruct__role__pirate']
    assert doc['metadata']['tokenizer'] == ['gemma-3-270m', 'smollm2-135m-instruct']
    for rows, name, tok, kind, template in [(role, 'smollm2-135m-instruct__role__pirate', smollm_tok, 'role', 'chat template'),
                                            (trait, 'gemma-3-270m__trait__optimism__pos', gemma_tok, 'trait', 'plain layout')]:
        e = doc['datasets'][name]
        totals, prompts = count_row_by_row(tok, row_sequences('chat', rows))
        assert (e['model'], e['type'], e['name'], e['template']) == (rows[0]['model'], kind, name.split('__')[2], template)
        assert e['tokenizer'] == rows[0]['model'] and e['total_tokens'] == sum(totals)
        expected = {}
        for r, t in zip(rows, totals):
            key = 'null' if r['extract_score'] is None else str(r['extract_score'])
            expected.setdefault(key, {'conversations': 0, 'tokens': 0})
            expected[key]['conversations'] += 1; expected[key]['tokens'] += t
        assert e['score_histogram'] == expected
        assert {k: (v['rows'], v['tokens']) for k, v in e['by_score'].items()} == {k: (v['conversations'], v['tokens']) for k, v in expected.items()}
        assert sum(v['tokens'] for v in e['by_label'].values()) == sum(totals)
        assert e['tokens']['prompt']['sum'] == sum(prompts)
        assert Path(e['plot']).exists()
    assert len(list((out/'plots').iterdir())) == 3


def test_every_row_kind_against_the_loop(tmp_path, smollm_tok, gemma_tok):
    "Personality, counterfactual and plain-text rows (and contrast pairs with a system prompt), counted with both embedded tokenizers"
    personality = [{'situation': p['prompt'], 'char_name': 'Mira', 'positive': p['positive'], 'neutral': p['negative']} for p in PAIRS[:25]]
    counterfactual = [{'scenario_id': i, 'type': f'{form}_{side}', 'task': 'refusal', 'text': p['prompt'] if side == 'prompt' else p['negative']}
                      for i, p in enumerate(PAIRS[:10]) for form in ('single_token', 'multi_token') for side in ('prompt', 'counterfactual')]
    for name, rows in [('personality.jsonl', personality), ('cf.jsonl', counterfactual), ('texts.jsonl', [{'text': t} for t in TEXTS[:30]]),
                       ('pairs.jsonl', [dict(p, system='Answer briefly. ') for p in PAIRS[:20]])]:
        (tmp_path/name).write_text(''.join(json.dumps(r) + '\n' for r in rows))
    for tokenizer, tok in (('smollm2-135m-instruct', smollm_tok), ('gemma-3-270m', gemma_tok)):
        results = analyze_datasets([tmp_path], tokenizer)
        assert [d.kind for d in results] == ['counterfactual', 'contrast', 'personality', 'text']
        for d in results:
            assert (d.totals, d.prompts) == count_row_by_row(tok, row_sequences(d.kind, read_rows(d.source), d.source)), (tokenizer, d.name)
        cf = results[0]
        assert len(cf.pair_differences()) == 20


def test_steer_run_notebook_with_parameters(tmp_path):
    "`steer run nbs/20_tokens.ipynb -p datasets ...` analyses the given datasets into the given files"
    data = tmp_path/'data'; data.mkdir()
    (data/'a.json').write_text(json.dumps(PAIRS[:8]))
    (data/'b.jsonl').write_text(''.join(json.dumps({'messages': [{'role': 'user', 'content': p['prompt']}, {'role': 'assistant', 'content': p['positive']}]}) + '\n' for p in PAIRS[:8]))
    p = _steer('run', ROOT/'nbs'/'20_tokens.ipynb', '-p', 'datasets', f"{data/'a.json'},{data/'b.jsonl'}", '-p', 'tokenizer', 'gemma-3-270m',
               '-p', 'stats', tmp_path/'s.json', '-p', 'plots', tmp_path/'plots', '-p', 'no_progress', 'True', '--output', tmp_path/'run.ipynb', cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((tmp_path/'s.json').read_text())
    assert list(doc['datasets']) == ['a', 'b'] and doc['metadata']['tokenizer'] == 'gemma-3-270m'
    assert doc['datasets']['b']['kind'] == 'chat' and doc['datasets']['b']['template'] == 'plain layout'
    assert sorted(p.name for p in (tmp_path/'plots').iterdir()) == ['a.png', 'b.png', 'summary.png']

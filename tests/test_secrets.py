"""Secrets stay secret: with fake API keys and tokens in the environment, run the pipeline notebooks through
`steer run` and the CLI jobs, then scan everything they wrote — executed notebooks, logs, JSON, JSONL,
parquet, dataset cards, PNG metadata — for the values. The keys are fake (nothing here reaches a paid API);
the one real use of a key is `steer serve --api-key` via STEER_SERVE_API_KEY, which a client then presents."""
import json, secrets
from pathlib import Path
import pytest
from harness import STEER, run, start_server, stop_server

ROOT = Path(__file__).resolve().parents[1]

def fake_secrets() -> dict:
    return {'OPENAI_API_KEY': 'sk-fakeopenai-' + secrets.token_hex(12), 'OPENROUTER_API_KEY': 'sk-or-fake-' + secrets.token_hex(12),
            'HF_TOKEN': 'hf_fake' + secrets.token_hex(12), 'STEER_SERVE_API_KEY': 'steer-fake-' + secrets.token_hex(12)}

def readable_text(path:Path) -> str:
    "What a file holds, as text a secret could hide in: raw bytes, plus parquet cells and PNG text chunks (both may be compressed)"
    text = path.read_bytes().decode('utf-8', errors='replace')
    if path.suffix == '.parquet':
        import pandas as pd
        text += pd.read_parquet(path).to_json()
    if path.suffix == '.png':
        from PIL import Image
        text += json.dumps(Image.open(path).info, default=str)
    return text

def scan(folder:Path, values:dict, outputs:list[str]) -> list[str]:
    "Every (file or log, secret name) where a secret's value appears"
    found = [f'{p}: {name}' for p in folder.rglob('*') if p.is_file() for name, v in values.items() if v in readable_text(p)]
    return found + [f'log {i}: {name}' for i, out in enumerate(outputs) for name, v in values.items() if v in out]

def test_no_secret_in_anything_written(tmp_path):
    keys = fake_secrets()
    env = {**keys, 'HUGGING_FACE_HUB_TOKEN': keys['HF_TOKEN']}
    logs, small = [], ['--num-samples', '8', '--num-heldout', '8']
    def job(*argv, **kw):
        p = run(STEER + [str(a) for a in argv], env={**env, **kw.pop('env', {})}, cwd=tmp_path, **kw)
        logs.append(p.output)
        assert p.proc.returncode == 0, p.output[-3000:]
        return p
    # pipeline notebooks through steer run (papermill writes parameters and outputs into the executed copy)
    job('run', ROOT/'nbs'/'32_train.ipynb', '-p', 'layers', '8,12', '-p', 'num_samples', 8, '-p', 'output_dir', tmp_path/'nb-vectors',
        '--output', tmp_path/'runs'/'train.ipynb')
    job('run', ROOT/'nbs'/'35_demo.ipynb', '-p', 'num_train', 16, '-p', 'num_heldout', 8, '-p', 'max_new_tokens', 8,
        '-p', 'output_dir', tmp_path/'demo', '--output', tmp_path/'runs'/'demo.ipynb')
    job('run', ROOT/'nbs'/'33_evaluate.ipynb', '-p', 'layers', '8,12', '-p', 'num_train', 16, '-p', 'num_heldout', 8, '-p', 'multipliers', '-2,0,2',
        '-p', 'tune_multipliers', '2', '-p', 'num_neutral', 4, '-p', 'max_new_tokens', 8, '--output', tmp_path/'runs'/'evaluate.ipynb')
    chats = tmp_path/'chats.jsonl'
    chats.write_text(''.join(json.dumps({'messages': [{'role': 'user', 'content': f'Question {i}?'}, {'role': 'assistant', 'content': f'Answer {i}.'}]}) + '\n' for i in range(5)))
    job('run', ROOT/'nbs'/'20_tokens.ipynb', '-p', 'datasets', chats, '-p', 'stats', tmp_path/'nb-tokens'/'stats.json', '-p', 'plots', tmp_path/'nb-tokens'/'plots',
        '--output', tmp_path/'runs'/'tokens.ipynb')
    job('run', ROOT/'nbs'/'12_counterfactual.ipynb', '-p', 'num_scenarios', 4, '-p', 'tokenizers', 'smollm2-135m-instruct',
        '-p', 'output', tmp_path/'nb-counterfactual'/'refusal.jsonl', '--output', tmp_path/'runs'/'counterfactual.ipynb')
    # CLI jobs
    job('tokens', 'analyze', '--datasets', chats, '--stats', tmp_path/'tokens'/'stats.json', '--plots', tmp_path/'tokens'/'plots', '--no-progress')
    job('counterfactual', 'generate', '--from-lexicon', '--num-scenarios', 4, '--tokenizers', 'smollm2-135m-instruct',
        '--output', tmp_path/'counterfactual'/'refusal.jsonl', '--no-progress')
    # the dataset builders and the method comparison, tiny
    job('dataset', 'build-steer', '--dataset', ROOT/'data'/'scenarios', '--output', tmp_path/'personality', '--limit-samples', 2,
        '--max-new-tokens', 16, '--no-progress')
    job('persona', 'build', '--type', 'traits', '--name', 'analytical', '--num-questions', 1, '--personas', ROOT/'tests'/'data'/'personas',
        '--root', tmp_path/'personas', '--max-new-tokens', 16, '--no-progress')
    job('compare', '--contrast-types', 'optimism', '--methods', 'mean_diff', '--layers', '12', '--num-samples', 6, '--num-heldout', 4,
        '--multipliers', '2', '--output-dir', tmp_path/'compare', '--no-progress')
    job('train', '--contrast-type', 'optimism', '--layers', '8,12', *small, '--output-dir', tmp_path/'vectors', '--no-progress')
    vector = next((tmp_path/'vectors').glob('*.safetensors'))
    job('tune', vector, '--layers', '8,12', '--multipliers', '1,2', '--no-progress')
    job('evaluate', vector, '--multipliers', '-1,0,1', '--num-generations', 1, '--max-new-tokens', 8, '--no-progress')
    # a keyed server: the key works for a client that presents it and appears in nothing the server says
    base, server = start_server('--files-dir', tmp_path/'served', env=env)
    try:
        import openai
        client = openai.OpenAI(base_url=base + '/v1', api_key=keys['STEER_SERVE_API_KEY'])
        assert client.chat.completions.create(model='smollm2-135m-instruct', messages=[{'role': 'user', 'content': 'Hi'}], max_tokens=4).choices
    finally: stop_server(server)
    logs.append(server.output)
    written = [p for p in tmp_path.rglob('*') if p.is_file()]
    assert any(p.suffix == '.ipynb' for p in written) and any(p.suffix == '.png' for p in written) and any(p.suffix == '.json' for p in written)
    leaks = scan(tmp_path, keys, logs)
    print(f'scanned {len(written)} files and {len(logs)} logs')
    assert leaks == [], leaks

def test_scanner_finds_planted_secrets(tmp_path):
    "The scan itself can fail: a key planted in JSON, in a compressed parquet cell and in a PNG text chunk is found in each"
    import pandas as pd
    from PIL import Image, PngImagePlugin
    keys = fake_secrets()
    (tmp_path/'card.json').write_text(json.dumps({'token': keys['HF_TOKEN']}))
    pd.DataFrame({'text': [keys['OPENAI_API_KEY'] * 3]}).to_parquet(tmp_path/'rows.parquet', compression='zstd')
    info = PngImagePlugin.PngInfo(); info.add_text('comment', keys['OPENROUTER_API_KEY'], zip=True)
    Image.new('RGB', (4, 4)).save(tmp_path/'plot.png', pnginfo=info)
    found = scan(tmp_path, keys, [f"server log with {keys['STEER_SERVE_API_KEY']}"])
    assert sorted(found) == sorted([f'{tmp_path}/card.json: HF_TOKEN', f'{tmp_path}/rows.parquet: OPENAI_API_KEY',
                                    f'{tmp_path}/plot.png: OPENROUTER_API_KEY', 'log 0: STEER_SERVE_API_KEY'])

"""The package's layering: every module imports on its own, and the graph of steer's internal imports has no cycle."""
import ast, subprocess, sys
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parents[1]/'steer'
MODULES = sorted(p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_'))

def internal_imports(module:str) -> set[str]:
    "steer modules that `module` imports, at any depth of its code (lazy imports inside functions count too)"
    tree, found = ast.parse((PKG/f'{module}.py').read_text()), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: found.add(node.module.split('.')[0])
            elif node.level == 1: found |= {a.name for a in node.names}
            elif (node.module or '').startswith('steer.'): found.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split('.')[1] for a in node.names if a.name.startswith('steer.')}
    return found & set(MODULES)

def test_no_import_cycles():
    graph = {m: internal_imports(m) - {m} for m in MODULES}
    state = {}
    def visit(m, path):
        if state.get(m) == 'done': return
        assert state.get(m) != 'open', f"import cycle: {' -> '.join(path + [m])}"
        state[m] = 'open'
        for n in sorted(graph[m]): visit(n, path + [m])
        state[m] = 'done'
    for m in MODULES: visit(m, [])
    print({m: sorted(g) for m, g in graph.items()})

def test_each_module_imports_alone():
    "Each module in a fresh interpreter (two at a time): none depends on another having been imported first"
    from concurrent.futures import ThreadPoolExecutor
    def alone(m): return m, subprocess.run([sys.executable, '-c', f'import steer.{m}'], capture_output=True, text=True, timeout=300)
    with ThreadPoolExecutor(2) as pool: failed = {m: out.stderr[-500:] for m, out in pool.map(alone, MODULES) if out.returncode != 0}
    assert failed == {}, failed

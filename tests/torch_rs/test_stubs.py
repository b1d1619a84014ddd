"""torch_rs/_C.pyi describes the native module: the same public names, the same parameters
where inspect can read them, and it ships in the wheel."""

import ast
import fnmatch
import inspect
import pathlib
import tomllib

import torch_rs

PACKAGE = pathlib.Path(torch_rs.__file__).parent
STUB = PACKAGE / "_C.pyi"
PYPROJECT = PACKAGE.parent / "rust_plugins" / "torch_ops" / "pyproject.toml"


def _stub_definitions() -> dict[str, ast.AST]:
    definitions = {}
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            definitions[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            definitions[node.target.id] = node
        elif isinstance(node, ast.Assign):
            definitions.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    return {name: node for name, node in definitions.items() if not name.startswith("_")}


def test_stub_lists_the_public_names_of_the_module():
    public = {name for name in dir(torch_rs._C) if not name.startswith("_")}
    assert set(_stub_definitions()) == public


def test_stub_signatures_match_the_module():
    for name, node in _stub_definitions().items():
        if not isinstance(node, ast.FunctionDef):
            continue
        actual = inspect.signature(getattr(torch_rs._C, name))
        arguments = node.args
        stub = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
        assert stub == list(actual.parameters), name
        stub_defaults = len(arguments.defaults) + sum(d is not None for d in arguments.kw_defaults)
        actual_defaults = sum(
            p.default is not inspect.Parameter.empty for p in actual.parameters.values()
        )
        assert stub_defaults == actual_defaults, name


def test_stub_and_marker_ship_in_the_wheel():
    config = tomllib.loads(PYPROJECT.read_text())
    patterns = [
        entry["path"] if isinstance(entry, dict) else entry
        for entry in config["tool"]["maturin"]["include"]
    ]
    for path in ("torch_rs/_C.pyi", "torch_rs/py.typed"):
        assert any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path

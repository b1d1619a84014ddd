"""The type stub ``sklearn_rs/_core.pyi`` describes the native module as it is."""

import ast
import inspect
from pathlib import Path

import sklearn_rs
import sklearn_rs._core as core

STUB = Path(sklearn_rs.__file__).parent / "_core.pyi"


def _stub_functions():
    tree = ast.parse(STUB.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _public_callables():
    return {name for name in dir(core)
            if not name.startswith("_") and callable(getattr(core, name))}


def test_stub_ships_in_the_package_next_to_the_module():
    assert STUB.is_file()
    assert Path(core.__file__).parent == STUB.parent
    # PEP 561: the marker that makes type checkers read the package's stubs
    assert (STUB.parent / "py.typed").is_file()


def test_stub_lists_exactly_the_module_functions():
    assert set(_stub_functions()) == _public_callables()


def test_stub_parameters_are_the_native_signatures():
    for name, node in _stub_functions().items():
        native = inspect.signature(getattr(core, name))  # from __text_signature__
        stub_params = [a.arg for a in node.args.posonlyargs + node.args.args]
        assert stub_params == list(native.parameters), name
        assert all(a.annotation is not None for a in node.args.args), name
        assert node.returns is not None, name

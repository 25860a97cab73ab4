"""Safe load paths: damaged weights are named before use, and nothing can unpickle or eval.

Every family's loader (FP32, INT8, a LoRA adapter and its base, and `gramops predict`
through the registry) is fed the same damages: truncated, not safetensors at all, a
wrong dtype, a missing, an extra or a reshaped tensor. Each must raise a
:class:`GramopsError` subclass naming the file and what is wrong. A static audit then
walks the AST of ``src/`` and ``stages/`` for anything that could execute data.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from gramops import cli
from gramops.core.errors import GramopsError
from gramops.inference.predictor import load_predictor
from gramops.models.bundle import BundleError, load_weights, read_metadata
from gramops.models.identity import canonical_sha
from gramops.monitoring.challenger import load_registered
from gramops.registry.store import Registry
from helpers.registry import register_tagged

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = {"fp32": "model.safetensors", "int8": "model.safetensors", "lora": "adapter.safetensors"}


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(path)))


def _truncate(path: Path) -> str:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "not a readable safetensors file"


def _header_only(path: Path) -> str:
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    path.write_bytes(data[: 8 + header_len])  # a header promising bytes that are gone
    return "not a readable safetensors file"


def _pickle_bytes(path: Path) -> str:
    path.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")  # a pickled {}
    return "not a readable safetensors file"


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return "not a readable safetensors file"


def _json_text(path: Path) -> str:
    path.write_text(json.dumps({"W1": [[1.0]]}))
    return "not a readable safetensors file"


def _wrong_dtype(path: Path) -> str:
    tensors = _tensors(path)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].astype(np.float64)
    save_file(tensors, str(path))
    return rf"{name} has dtype float64, expected (float32|int8)"


def _missing_tensor(path: Path) -> str:
    tensors = _tensors(path)
    name = sorted(tensors)[-1]
    del tensors[name]
    save_file(tensors, str(path))
    return rf"missing tensor\(s\) {name}"


def _extra_tensor(path: Path) -> str:
    tensors = _tensors(path)
    tensors["W3"] = np.zeros(2, np.float32)
    save_file(tensors, str(path))
    return r"unexpected tensor\(s\) W3"


def _reshaped(path: Path) -> str:
    tensors = _tensors(path)
    name = sorted(tensors)[0]
    tensors[name] = np.ascontiguousarray(tensors[name].reshape(-1))
    save_file(tensors, str(path))
    return rf"{name} has shape \(\d+,\), config.json implies \(\d+, \d+\)"


def _nan(path: Path) -> str:
    tensors = _tensors(path)
    name = next(n for n in sorted(tensors) if tensors[n].dtype == np.float32)
    tensors[name].flat[[0, -1]] = [np.nan, np.inf]
    save_file(tensors, str(path))
    return rf"{name} holds 2 NaN or infinite value\(s\)"


DAMAGES: dict[str, Callable[[Path], str]] = {
    "non-finite": _nan,
    "truncated": _truncate,
    "header-only": _header_only,
    "pickle": _pickle_bytes,
    "empty": _empty,
    "json": _json_text,
    "wrong-dtype": _wrong_dtype,
    "missing-tensor": _missing_tensor,
    "extra-tensor": _extra_tensor,
    "reshaped": _reshaped,
}


def _family_bundles(tmp_path: Path, make_bundle) -> dict[str, Path]:
    fp32 = make_bundle(tmp_path / "fp32", "fp32", seed=1)
    parent = canonical_sha(fp32)
    return {
        "fp32": fp32,
        "int8": make_bundle(tmp_path / "int8", "int8", parent=parent, seed=2),
        "lora": make_bundle(tmp_path / "lora", "lora", parent=parent, seed=3),
    }


def _load(bundles: dict[str, Path], family: str):
    return load_predictor(bundles[family], base_dir=bundles["fp32"] if family == "lora" else None)


@pytest.mark.parametrize("family", sorted(WEIGHTS))
def test_intact_tiny_bundles_load_and_predict(tmp_path, make_bundle, family):
    """The control: the damages below are refused, not every bundle."""
    bundles = _family_bundles(tmp_path, make_bundle)
    predictor = _load(bundles, family)
    record = {"tokens": ["She", "___", "home", "."], "verb_index": 1, "lemma": "go"}
    prediction = predictor.predict([record])
    assert predictor.family == family
    assert prediction.tags[0] in {"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"}
    assert 0 < float(prediction.confidence[0]) <= 1


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("family", sorted(WEIGHTS))
def test_damaged_weights_are_refused_naming_file_and_problem(tmp_path, make_bundle, family, damage):
    bundles = _family_bundles(tmp_path, make_bundle)
    weights = bundles[family] / WEIGHTS[family]
    expected = DAMAGES[damage](weights)
    with pytest.raises(BundleError, match=expected) as info:
        _load(bundles, family)
    assert str(weights) in str(info.value)
    assert isinstance(info.value, GramopsError)


@pytest.mark.parametrize("damage", ["truncated", "wrong-dtype", "missing-tensor"])
def test_a_damaged_lora_base_is_refused_naming_the_base_file(tmp_path, make_bundle, damage):
    """The base is checked too: an adapter recorded against the damaged base still loads it."""
    base = make_bundle(tmp_path / "fp32", "fp32", seed=1)
    expected = DAMAGES[damage](base / "model.safetensors")
    adapter = make_bundle(tmp_path / "lora", "lora", parent=canonical_sha(base), seed=3)
    with pytest.raises(BundleError, match=expected) as info:
        load_predictor(adapter, base_dir=base)
    assert str(base / "model.safetensors") in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("features"), r"features is missing"),
        (lambda c: c["architecture"].pop("hidden"), r"architecture\.hidden is None"),
        (lambda c: c["architecture"].update(hidden="3"), r"architecture\.hidden is '3'"),
        (
            lambda c: c["features"].update(hash_bits=0),
            r"features\.hash_bits: .*greater than or equal to 8 \(got 0\)",
        ),
        (lambda c: c.update(family="fp16"), r"unknown family 'fp16'"),
        (lambda c: c["architecture"].update(tags=[]), r"architecture\.tags is \[\]"),
    ],
)
def test_a_config_that_cannot_describe_the_weights_is_refused(tmp_path, make_bundle, edit, message):
    bundle = make_bundle(tmp_path / "fp32", "fp32")
    config = read_metadata(bundle, "config.json")
    edit(config)
    (bundle / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=message) as info:
        load_predictor(bundle)
    assert "config.json" in str(info.value)


def test_lora_alpha_and_parent_sha_are_checked(tmp_path, make_bundle):
    bundles = _family_bundles(tmp_path, make_bundle)
    config = read_metadata(bundles["lora"], "config.json")
    config["lora"]["alpha"] = "sixteen"
    (bundles["lora"] / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"lora\.alpha is 'sixteen'"):
        _load(bundles, "lora")
    config["lora"]["alpha"] = 4.0
    (bundles["lora"] / "config.json").write_text(json.dumps(config))
    manifest = read_metadata(bundles["lora"], "train_manifest.json")
    manifest["parent_sha"] = None
    (bundles["lora"] / "train_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"train_manifest\.json: parent_sha is None"):
        _load(bundles, "lora")


def test_an_adapter_whose_config_differs_from_its_base_is_refused(tmp_path, make_bundle):
    bundles = _family_bundles(tmp_path, make_bundle)
    config = read_metadata(bundles["lora"], "config.json")
    config["features"]["window"] = 5
    (bundles["lora"] / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"features differs from its base's .*fp32/config\.json"):
        _load(bundles, "lora")


def test_load_weights_reports_every_problem_at_once(tmp_path, make_bundle):
    bundle = make_bundle(tmp_path / "int8", "int8", parent="0" * 64)
    path = bundle / "model.safetensors"
    tensors = _tensors(path)
    tensors["W1.q"] = tensors["W1.q"].astype(np.float32)
    del tensors["b2"]
    save_file(tensors, str(path))
    with pytest.raises(BundleError) as info:
        load_weights(path, read_metadata(bundle, "config.json"))
    assert "missing tensor(s) b2" in str(info.value)
    assert "W1.q has dtype float32, expected int8" in str(info.value)


@pytest.mark.parametrize("damage", ["wrong-dtype", "missing-tensor", "reshaped"])
def test_gramops_predict_refuses_a_registered_model_with_bad_weights(
    tmp_path, make_bundle, monkeypatch, capsys, damage
):
    """Hash verification passes (the bytes are as registered), the schema check does not."""
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    bundle = make_bundle(tmp_path / "fp32", "fp32")
    DAMAGES[damage](bundle / "model.safetensors")
    registry = Registry(tmp_path / "registry", actor="tester")
    register_tagged(registry, bundle, "fp32", "v0.1.0")
    with pytest.raises(BundleError, match="model.safetensors: weights do not match"):
        load_registered(registry, "v0.1.0", tmp_path / "work")
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"sentence": "She ___ home.", "lemma": "go"}'))
    code = cli.main(["--registry", str(registry.root), "predict", "--ref", "v0.1.0"])
    captured = capsys.readouterr()
    assert code == cli.EXIT_USAGE
    assert "weights do not match config.json" in captured.err
    assert captured.out == ""


# ---------------------------------------------------------------------------------------------
# Static audit: nothing on any path can unpickle, eval or unsafely load YAML
# ---------------------------------------------------------------------------------------------

BANNED_MODULES = {
    "pickle",
    "_pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "joblib",
    "torch",
}
BANNED_CALLS = {"eval", "exec", "compile", "__import__", "pd.read_pickle", "pandas.read_pickle"}
UNSAFE_YAML = {
    "load",
    "load_all",
    "unsafe_load",
    "unsafe_load_all",
    "full_load",
    "full_load_all",
    "Loader",
    "UnsafeLoader",
    "FullLoader",
    "CLoader",
    "CUnsafeLoader",
    "CFullLoader",
}


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain on a name, else the empty string."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def _findings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [f"imports {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if module.split(".")[0] in BANNED_MODULES:
            return [f"imports from {module}"]
        if module == "yaml" and {a.name for a in node.names} & UNSAFE_YAML:
            return ["imports an unsafe yaml loader"]
        return []
    if isinstance(node, ast.Attribute):
        name = _dotted(node)
        if name.startswith("yaml.") and name.removeprefix("yaml.") in UNSAFE_YAML:
            return [f"uses {name} (use yaml.safe_load)"]
        return []
    if isinstance(node, ast.Call):
        func = _dotted(node.func)
        found = [f"calls {func}()"] if func in BANNED_CALLS else []
        for kw in node.keywords:
            safe = isinstance(kw.value, ast.Constant) and kw.value.value is False
            if kw.arg == "allow_pickle" and not safe:
                found.append(f"{func}(allow_pickle=...) may unpickle")
        return found
    return []


SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader"}


def _safe_yaml_load(node: ast.AST) -> bool:
    """``yaml.load(..., Loader=yaml.SafeLoader)`` or its libyaml twin ``yaml.CSafeLoader``."""
    return (
        isinstance(node, ast.Call)
        and _dotted(node.func) == "yaml.load"
        and any(
            kw.arg == "Loader" and _dotted(kw.value) in SAFE_YAML_LOADERS for kw in node.keywords
        )
    )


def audit(path: Path, rel: str) -> list[str]:
    """``file:line: why`` for every construct that could execute data read from disk."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    allowed = {id(node.func) for node in ast.walk(tree) if _safe_yaml_load(node)}
    return [
        f"{rel}:{node.lineno}: {finding}"
        for node in ast.walk(tree)
        if id(node) not in allowed
        for finding in _findings(node)
    ]


def _python_files() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "stages").rglob("*.py")])


def test_no_code_path_can_unpickle_eval_or_load_yaml_unsafely():
    files = _python_files()
    assert len(files) > 30  # the audit really walks the code base
    findings = [f for path in files for f in audit(path, path.relative_to(ROOT).as_posix())]
    assert findings == [], "\n".join(findings)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import pickle\n", "x.py:1: imports pickle"),
        ("from marshal import loads\n", "x.py:1: imports from marshal"),
        ("import shelve\n", "x.py:1: imports shelve"),
        ("x = 1\ny = eval('x')\n", "x.py:2: calls eval()"),
        ("exec('pass')\n", "x.py:1: calls exec()"),
        ("import yaml\nyaml.load(open('p'))\n", "x.py:2: uses yaml.load"),
        ("import yaml\nyaml.load(open('p'), Loader=yaml.Loader)\n", "x.py:2: uses yaml.load"),
        (
            "import yaml\nL = yaml.CSafeLoader\nyaml.load(open('p'), Loader=L)\n",
            "x.py:3: uses yaml.load",
        ),
        ("import yaml\nyaml.unsafe_load('a')\n", "x.py:2: uses yaml.unsafe_load"),
        (
            "import yaml\nyaml.safe_load('a', Loader=yaml.FullLoader)\n",
            "x.py:2: uses yaml.FullLoader",
        ),
        ("from yaml import Loader\n", "x.py:1: imports an unsafe yaml loader"),
        (
            "import numpy as np\nnp.load('w.npy', allow_pickle=True)\n",
            "x.py:2: np.load(allow_pickle",
        ),
        ("import torch\ntorch.load('w.pt')\n", "x.py:1: imports torch"),
        ("import pandas as pd\npd.read_pickle('f')\n", "x.py:2: calls pd.read_pickle()"),
    ],
)
def test_the_audit_finds_each_banned_construct_with_its_line(tmp_path, source, expected):
    path = tmp_path / "x.py"
    path.write_text(source)
    findings = audit(path, "x.py")
    assert any(f.startswith(expected) for f in findings), findings


def test_the_audit_accepts_the_safe_spellings(tmp_path):
    path = tmp_path / "x.py"
    path.write_text(
        "import json\nimport yaml\nimport numpy as np\n"
        "yaml.safe_load('a: 1')\njson.loads('{}')\nnp.load('w.npy', allow_pickle=False)\n"
    )
    assert audit(path, "x.py") == []


def test_a_copy_of_the_weights_is_byte_identical_after_a_refused_load(tmp_path, make_bundle):
    """Loading never repairs or rewrites a file it refuses."""
    bundle = make_bundle(tmp_path / "fp32", "fp32")
    _truncate(bundle / "model.safetensors")
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    with pytest.raises(BundleError):
        load_predictor(bundle)
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before


@pytest.mark.parametrize(
    ("family", "damage"),
    [("fp32", "truncated"), ("int8", "wrong-dtype"), ("lora", "missing-tensor")],
)
def test_the_evaluate_stage_exits_2_on_damaged_weights_and_writes_nothing(
    tmp_path, make_bundle, snap, family, damage
):
    """The stage loads the model before reading data, so it fails first and cleanly."""
    work = tmp_path / "ws"
    bundles = _family_bundles(work / "models", make_bundle)
    (bundles[family] / "eval_report.json").unlink()  # as before the stage first runs
    shutil.copy(ROOT / "params.yaml", work / "params.yaml")
    DAMAGES[damage](bundles[family] / WEIGHTS[family])
    before = snap(work)
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "evaluate.py"), family],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert f"models/{family}/{WEIGHTS[family]}" in result.stderr
    assert "Traceback" not in result.stderr
    assert snap(work) == before

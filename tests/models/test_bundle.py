import numpy as np
import pytest

from gramops.models.bundle import BundleError, load_tensors, save_tensors


def test_round_trip_is_exact_and_bytes_are_deterministic(tmp_path):
    tensors = {"b": np.array([1, -2], np.int8), "a": np.linspace(0, 1, 6, dtype=np.float32)}
    save_tensors(tmp_path / "x.safetensors", tensors)
    save_tensors(tmp_path / "y.safetensors", dict(reversed(list(tensors.items()))))
    assert (tmp_path / "x.safetensors").read_bytes() == (tmp_path / "y.safetensors").read_bytes()
    loaded = load_tensors(tmp_path / "x.safetensors")
    assert set(loaded) == {"a", "b"}
    assert loaded["b"].dtype == np.int8
    np.testing.assert_array_equal(loaded["a"], tensors["a"])


def test_truncated_or_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "m.safetensors"
    save_tensors(path, {"w": np.ones((64, 64), np.float32)})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match="not a readable safetensors file"):
        load_tensors(path)
    path.write_bytes(b"\x80\x04\x95pickle bytes")
    with pytest.raises(BundleError, match="not a readable safetensors file"):
        load_tensors(path)
    with pytest.raises(BundleError, match="not found"):
        load_tensors(tmp_path / "absent.safetensors")

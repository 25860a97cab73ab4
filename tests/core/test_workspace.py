from gramops.core.workspace import experiment_copy, in_workspace, workspace_root
from gramops.registry.store import Registry


def test_experiment_copies_map_back_to_the_workspace(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / ".dvc").mkdir(parents=True)
    copy = workspace / ".dvc" / "tmp" / "exps" / "tmpab12"
    (copy / ".dvc").mkdir(parents=True)
    assert experiment_copy(copy / "models" / "registry") == (workspace, copy)
    assert experiment_copy(workspace / "models") is None
    assert workspace_root(copy / "stages") == workspace
    assert workspace_root(workspace / "src") == workspace
    assert workspace_root(tmp_path) is None
    assert in_workspace(copy / "models" / "registry") == workspace / "models" / "registry"
    assert in_workspace(workspace / "models") == workspace / "models"


def test_registry_in_an_experiment_copy_uses_the_workspace_objects(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    workspace = tmp_path / "ws"
    copy = workspace / ".dvc" / "tmp" / "exps" / "tmpab12"
    registry = Registry(copy / "models" / "registry")
    assert registry.objects_url == str(workspace / "models" / "registry" / "objects")
    assert Registry(workspace / "models" / "registry").objects_url == str(
        (workspace / "models" / "registry" / "objects").resolve()
    )

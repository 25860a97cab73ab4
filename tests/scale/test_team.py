"""The team deployment for real: MLflow on PostgreSQL + S3, DVC remote and registry on S3.

`scripts/team_stack.py` starts PostgreSQL (Debian packages), moto's S3 server and
`mlflow server` on loopback. Two fresh clones of this repository are configured only by
environment variables and their untracked `.dvc/config.local`, exactly as docs/team.md
tells a team member. The tests run in file order and build on each other: the first clone
runs the pipeline while MLflow is down, then up; the second pulls from S3; both share the
registry; queued experiments mirror into the same server.
"""

import itertools
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from gramops.models.identity import canonical_sha
from helpers.paths import BIN, DVC, ROOT
from helpers.processes import sh, stages_run, team_stack_module, tool_env
from helpers.serving import free_port, wait_serving

pytestmark = pytest.mark.e2e

FAMILIES = ("fp32", "int8", "lora")
GRAMOPS = str(BIN / "gramops")
GIT_USER = ("-c", "user.name=gramops test", "-c", "user.email=test@gramops.invalid")


team_stack = team_stack_module()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with team_stack.running(tmp_path_factory.mktemp("stack"), python=sys.executable) as running:
        yield running


def _clone(stack, source: Path, dest: Path) -> Path:
    """A fresh clone configured for the team: S3 DVC remote in config.local, nothing else."""
    sh(["git", "clone", "--quiet", str(source), str(dest)], cwd=dest.parent)
    template = ROOT / ".dvc" / "plots" / "offline.html"
    if template.exists():  # what `make install` adds beside the venv
        shutil.copy2(template, dest / ".dvc" / "plots" / "offline.html")
    stack.configure_dvc_remote(dest, dvc=DVC)
    return dest


@pytest.fixture(scope="module")
def team(stack, tmp_path_factory) -> dict:
    """Clone A after a cold `dvc repro` with MLflow down, then one with MLflow back up."""
    env = stack.client_env()
    repo = _clone(stack, ROOT, tmp_path_factory.mktemp("team") / "a")
    stack.mlflow.stop()
    try:
        down = sh([DVC, "repro"], cwd=repo, check=False, env=env)
    finally:
        stack.mlflow.start()
    up = sh([DVC, "repro"], cwd=repo, env=env)
    return {"path": repo, "env": env, "down": down, "up": up}


def _client(stack):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=stack.mlflow_uri)


def _runs(stack) -> list:
    client = _client(stack)
    experiment = client.get_experiment_by_name("gramops")
    return client.search_runs([experiment.experiment_id], max_results=5000)


def _stage_run_counts(stack) -> Counter:
    return Counter(
        r.data.tags["gramops.stage"]
        for r in _runs(stack)
        if r.data.tags.get("gramops.kind") == "stage"
    )


def _locked_stages(repo: Path) -> set[str]:
    return set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"])


def _gramops(repo: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return sh([GRAMOPS, *args], cwd=repo, env=env)


def _s3_keys(stack, prefix: str) -> list[str]:
    s3 = team_stack.s3_client(stack.s3_endpoint)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=team_stack.BUCKET, Prefix=prefix
    ):
        keys.extend(obj["Key"] for obj in page.get("Contents", ()))
    return keys


def test_mlflow_down_fails_naming_the_uri_and_the_next_repro_runs_only_the_mirror(stack, team):
    down, up = team["down"], team["up"]
    assert down.returncode != 0
    ran = stages_run(down.stdout)
    assert set(ran) == _locked_stages(team["path"]) and ran[-1] == "mirror", ran
    assert f"MLflow at {stack.mlflow_uri}" in down.stdout + down.stderr
    assert stages_run(up.stdout) == ["mirror"]


def test_every_stage_result_is_one_run_on_the_server_even_after_a_forced_mirror(stack, team):
    stages = _locked_stages(team["path"]) - {"mirror"}
    counts = _stage_run_counts(stack)
    assert set(counts) == stages
    assert set(counts.values()) == {1}
    pipelines = [r for r in _runs(stack) if r.data.tags.get("gramops.kind") == "pipeline"]
    assert len(pipelines) == 1
    sh([DVC, "repro", "--force", "--single-item", "mirror"], cwd=team["path"], env=team["env"])
    assert _stage_run_counts(stack) == counts


def test_registered_models_and_aliases_match_the_registry(stack, team):
    repo, env = team["path"], team["env"]
    client = _client(stack)
    # a new team registry has no production: the gate judged the candidate on its own,
    # and a person releases it (promote syncs MLflow at once)
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert gate["production"] is None and gate["decision"] == "promote", gate["reasons"]
    _gramops(repo, env, "promote", gate["candidate"], "-m", "first release of the team")
    assert _show(repo, env, "production")["sha"] == gate["candidate"]
    assert gate["candidate"] in {canonical_sha(repo / "models" / family) for family in FAMILIES}
    # every entry is a version of the one registered model, its family a version tag
    versions = client.search_model_versions("name='gramops'")
    by_sha = {v.tags.get("canonical_sha"): v for v in versions}
    assert sorted(by_sha) == sorted(canonical_sha(repo / "models" / f) for f in FAMILIES)
    model = client.get_registered_model("gramops")
    for family in FAMILIES:
        version = by_sha[canonical_sha(repo / "models" / family)]
        assert version.tags["family"] == family
        held = sorted(a for a, v in model.aliases.items() if str(v) == str(version.version))
        assert held == _show(repo, env, version.tags["canonical_sha"])["aliases"]


def _show(repo: Path, env: dict, ref: str) -> dict:
    """`gramops registry show REF` (JSON): full SHA, semvers and aliases of one entry."""
    return json.loads(_gramops(repo, env, "registry", "show", ref).stdout)


def test_artifacts_and_registry_objects_are_in_s3(stack, team):
    repo, env = team["path"], team["env"]
    artifacts = _s3_keys(stack, "mlflow/")
    names = {Path(key).name for key in artifacts}
    # stage results (metrics, plots) and the bundles behind the model versions
    assert {"drift.json", "gate.json", "model.safetensors", "adapter.safetensors"} <= names
    verify = json.loads(_gramops(repo, env, "registry", "verify", "--json").stdout)
    assert verify["missing"] == [] and verify["tampered"] == [] and verify["errors"] == []
    objects = _s3_keys(stack, "registry-objects/")
    for family in FAMILIES:
        weights = "adapter.safetensors" if family == "lora" else "model.safetensors"
        digest = _sha256(repo / "models" / family / weights)
        assert f"registry-objects/{digest[:2]}/{digest[2:]}" in objects
    # the registry's metadata lives in S3 too, not in the clone's models/registry
    assert any(key.endswith("index.jsonl") for key in _s3_keys(stack, "registry/"))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# What `dvc push` uploads and `dvc pull` must restore: the corpus, the shifted traffic and
# every model file (dvc.yaml outs with the cache on; models/manifest.json is uncached, so
# that register is never replayed from the run-cache).
CACHED_OUTS = (
    "data/raw/wordnet",
    "data/processed",
    "data/shifted",
    *(f"models/{f}/{name}" for f in ("fp32", "int8") for name in ("model.safetensors",)),
    "models/lora/adapter.safetensors",
    *(
        f"models/{f}/{name}"
        for f in FAMILIES
        for name in ("config.json", "train_manifest.json", "eval_report.json")
    ),
)


def _files(root: Path) -> dict[str, bytes]:
    if root.is_file():
        return {"": root.read_bytes()}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def second(stack, team, tmp_path_factory) -> dict:
    """Clone B: a fresh clone of A's commit after A's `dvc push`, then `dvc pull` from S3."""
    # what a team member does after `dvc repro`: commit the lock and metrics, push the data
    sh(["git", "add", "-A"], cwd=team["path"])
    sh(["git", *GIT_USER, "commit", "--quiet", "-m", "repro"], cwd=team["path"])
    sh([DVC, "push"], cwd=team["path"], env=team["env"])
    repo = _clone(stack, team["path"], tmp_path_factory.mktemp("team") / "b")
    pulled = sh([DVC, "pull"], cwd=repo, env=team["env"])
    return {"path": repo, "env": team["env"], "pull": pulled}


def test_dvc_pull_into_a_fresh_clone_restores_corpus_and_models_byte_for_byte(stack, team, second):
    assert _s3_keys(stack, "dvc/files/md5/")
    lock = yaml.safe_load((team["path"] / "dvc.lock").read_text())["stages"]
    locked = {o["path"] for stage in lock.values() for o in stage.get("outs", ())}
    assert set(CACHED_OUTS) <= locked
    for out in CACHED_OUTS:
        a, b = _files(team["path"] / out), _files(second["path"] / out)
        assert a and a == b, out
    # what is left to run is exactly what a fresh clone must run itself: register (its
    # uncached summary is per clone, never replayed) and the mirror into this clone's MLflow
    status = json.loads(sh([DVC, "status", "--json"], cwd=second["path"], env=second["env"]).stdout)
    assert status == {
        "register": [{"changed outs": {"models/manifest.json": "deleted"}}],
        "mirror": [
            {"changed deps": {"models/manifest.json": "deleted"}},
            {"changed outs": {"metrics/mirror.json": "deleted"}},
        ],
    }


def _promote_loop(repo: Path, env: dict, ref: str, semvers: list[str], alias: str, refs):
    """One shell loop: bind each semver to ``ref``, and move ``alias`` through ``refs``.

    The audit log names the clone (``GRAMOPS_ACTOR``), so the test can see the interleaving.
    """
    script = "; ".join(
        f"{GRAMOPS} registry tag {ref} {semver} && {GRAMOPS} registry alias {alias} {target}"
        for semver, target in zip(semvers, refs, strict=True)
    )
    return subprocess.Popen(
        ["bash", "-ec", script],
        cwd=repo,
        env={**tool_env(), **env, "GRAMOPS_ACTOR": alias},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_clones_promote_concurrently_and_lose_no_update(stack, team, second):
    env = team["env"]
    seen = len(_log_records(stack))
    sha = {family: canonical_sha(team["path"] / "models" / family) for family in FAMILIES}
    a_semvers, b_semvers = [f"v1.0.{i}" for i in range(4)], [f"v2.0.{i}" for i in range(4)]
    a_refs, b_refs = ["fp32", "int8"] * 2, ["int8", "fp32"] * 2
    procs = [
        _promote_loop(
            team["path"], env, sha["fp32"], a_semvers, "team-a", [sha[r] for r in a_refs]
        ),
        _promote_loop(
            second["path"], env, sha["int8"], b_semvers, "team-b", [sha[r] for r in b_refs]
        ),
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
    for repo in (team["path"], second["path"]):
        for semvers, family in ((a_semvers, "fp32"), (b_semvers, "int8")):
            for semver in semvers:
                assert _show(repo, env, semver)["sha"] == sha[family], (repo, semver)
        assert _show(repo, env, "team-a")["sha"] == sha["int8"]
        assert _show(repo, env, "team-b")["sha"] == sha["fp32"]
    records = _log_records(stack)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    new = records[seen:]
    # the two loops really ran at once: their records interleave in the log
    actors = [r["actor"] for r in new]
    assert sorted(set(actors)) == ["team-a", "team-b"]
    assert sum(a != b for a, b in itertools.pairwise(actors)) > 1, actors
    assert sorted(r["semver"] for r in new if r["op"] == "tag") == sorted(a_semvers + b_semvers)
    # every move is logged with the value the other clone's writes left: no lost update
    for alias, refs in (("team-a", a_refs), ("team-b", b_refs)):
        moves = [
            (r["previous"], r["new"]) for r in new if r["op"] == "alias" and r["alias"] == alias
        ]
        targets = [sha[ref] for ref in refs]
        assert moves == list(zip([None, *targets[:-1]], targets, strict=True)), alias


def _log_records(stack) -> list[dict]:
    s3 = team_stack.s3_client(stack.s3_endpoint)
    body = s3.get_object(Bucket=team_stack.BUCKET, Key="registry/index.jsonl")["Body"].read()
    return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


def test_queued_experiments_mirror_into_the_server_and_keep_the_registry_sound(stack, team):
    repo, env = team["path"], team["env"]
    drift_runs = _stage_run_counts(stack)["drift"]
    for intensity in ("0.3", "0.7"):
        sh([DVC, "exp", "run", "--queue", "-S", f"shift.intensity={intensity}"], cwd=repo, env=env)
    sh([DVC, "queue", "start", "-j", "2"], cwd=repo, env=env)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = sh([DVC, "queue", "status"], cwd=repo, env=env).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Success" in status and "Failed" not in status, status
    shown = json.loads(sh([DVC, "exp", "show", "--json"], cwd=repo, env=env).stdout)
    names = {exp["name"] for rev in shown for exp in (rev.get("experiments") or [])}
    assert len(names) == 2
    tagged = {r.data.tags.get("gramops.dvc_exp") for r in _runs(stack)}
    assert names <= tagged
    # each variant's new drift result is one more run; nothing upstream is logged again
    counts = _stage_run_counts(stack)
    assert counts["drift"] == drift_runs + 2
    assert counts["train"] == 1 and counts["register"] == 1
    verify = json.loads(_gramops(repo, env, "registry", "verify", "--json").stdout)
    assert verify["missing"] == [] and verify["tampered"] == [] and verify["errors"] == []
    records = _log_records(stack)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


def _served_sha(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/predict",
        data=json.dumps({"sentence": "She ___ home yesterday.", "lemma": "go"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.headers["X-Gramops-Model-Sha"]


def _serve(repo: Path, env: dict, port: int) -> subprocess.Popen:
    """docs/team.md's replica command: `gramops serve` on the S3 registry, its own log."""
    server = subprocess.Popen(
        [GRAMOPS, "serve", "--port", str(port), "--poll-seconds", "0.5", "--request-log",
         str(repo / "logs" / f"requests-{port}.jsonl")],
        cwd=repo, env={**tool_env(), **env}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_serving(server, port, "/readyz", 60)
    return server


def test_two_serve_replicas_on_the_s3_registry_follow_promote_and_rollback(stack, team, second):
    """Two `gramops serve` processes, one per clone, behind no shared state but the bucket."""
    env = team["env"]
    production = _show(team["path"], env, "production")["sha"]
    other = next(
        sha
        for sha in (canonical_sha(team["path"] / "models" / f) for f in FAMILIES)
        if sha != production
    )
    ports = [free_port(), free_port()]
    clones = (team["path"], second["path"])
    replicas = [_serve(repo, env, port) for repo, port in zip(clones, ports, strict=True)]
    try:
        assert [_served_sha(port) for port in ports] == [production, production]
        moves = (
            (["promote", other, "--force", "-m", "replicas follow a promotion"], other),
            (["rollback", "-m", "replicas follow a rollback"], production),
        )
        for command, want in moves:
            _gramops(second["path"], env, *command)
            written = time.monotonic()  # the registry write is done when the command returns
            for port in ports:
                while (served := _served_sha(port)) != want:
                    # the replica polls every 0.5 s; the S3 round trips are moto's on loopback
                    assert time.monotonic() - written < 2, f"replica :{port} still serves {served}"
                    time.sleep(0.05)
    finally:
        for replica in replicas:
            replica.terminate()
            replica.wait(timeout=30)

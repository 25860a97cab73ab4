from gramops.report.lineage import (
    _colors,
    _columns,
    aliases_metrics,
    build_graph,
    chain_text,
    render_png,
    to_markdown,
    to_mermaid,
)

FP32, INT8, LORA, OLD = "a" * 64, "b" * 64, "c" * 64, "d" * 64
CORPUS = "0e1bf645982b7ad390cbcd9c717f9649.dir"


def _entry(sha, family, parent=None, corpus=CORPUS, pass_rate=0.9):
    return {
        "sha": sha,
        "family": family,
        "parent_sha": parent,
        "corpus_dvc_hash": corpus,
        "metrics": {"verb": {"strict_accuracy": 0.8, "pass_rate": pass_rate}},
    }


ENTRIES = {
    FP32: _entry(FP32, "fp32"),
    INT8: _entry(INT8, "int8", FP32),
    LORA: _entry(LORA, "lora", FP32, pass_rate=0.95),
    OLD: _entry(OLD, "fp32", corpus="ffff0000ffff0000ffff0000ffff0000.dir"),
}
SEMVERS = {FP32: ["v0.1.0"], INT8: ["v0.2.0"], LORA: ["v0.3.0"], OLD: []}


def _graph():
    return build_graph(ENTRIES, SEMVERS.__getitem__, {"production": FP32})


def test_graph_links_children_to_parents_and_bases_to_their_corpus():
    graph = _graph()
    ids = {n.id: n for n in graph.nodes}
    assert ("m_" + FP32[:12], "m_" + INT8[:12]) in graph.edges
    assert ("m_" + FP32[:12], "m_" + LORA[:12]) in graph.edges
    assert ("c_0e1bf645982b", "m_" + FP32[:12]) in graph.edges
    assert ("c_ffff0000ffff", "m_" + OLD[:12]) in graph.edges
    assert len(graph.edges) == 4  # children do not link to the corpus directly
    assert ids["m_" + FP32[:12]].lines[0] == "fp32 v0.1.0"
    assert "alias: production" in ids["m_" + FP32[:12]].lines
    assert ids["m_" + OLD[:12]].lines[0] == "fp32 untagged"
    assert ids["c_0e1bf645982b"].lines[1] == CORPUS


def test_mermaid_and_markdown():
    mermaid = to_mermaid(_graph())
    assert mermaid.startswith("flowchart LR\n")
    assert f"m_{FP32[:12]} --> m_{INT8[:12]}" in mermaid
    assert "verb pass 95.0%" in mermaid
    assert f'c_0e1bf645982b[("corpus (DVC hash)<br/>{CORPUS}")]' in mermaid
    assert "```mermaid\n" + mermaid + "```" in to_markdown(mermaid)
    assert to_mermaid(_graph()) == mermaid  # deterministic


def test_chain_text():
    chain = [
        {"kind": "model", "family": "int8", "sha": INT8, "semvers": ["v0.2.0"]},
        {"kind": "model", "family": "fp32", "sha": FP32, "semvers": ["v0.1.0"]},
        {"kind": "corpus", "dvc_hash": CORPUS},
    ]
    assert chain_text(chain) == (
        f"int8 v0.2.0 ({INT8[:12]}) → fp32 v0.1.0 ({FP32[:12]}) → corpus {CORPUS}"
    )


def test_png_is_written_and_deterministic(tmp_path):
    render_png(_graph(), tmp_path / "a.png")
    render_png(_graph(), tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data.startswith(b"\x89PNG")
    assert data == (tmp_path / "b.png").read_bytes()


def test_children_sit_beside_their_parents_so_arrows_do_not_cross():
    # two FP32 bases, each with an INT8 and a LoRA child; SHAs chosen so that the graph's
    # own order (by id) would interleave the two families of children
    a, b, a8, al, b8, bl = "1" * 64, "2" * 64, "9" * 64, "3" * 64, "8" * 64, "4" * 64
    entries = {
        a: _entry(a, "fp32"),
        b: _entry(b, "fp32"),
        a8: _entry(a8, "int8", a),
        al: _entry(al, "lora", a),
        b8: _entry(b8, "int8", b),
        bl: _entry(bl, "lora", b),
    }
    graph = build_graph(entries, lambda sha: [], {"production": a8})
    parent = {child: source for source, child in graph.edges}
    columns = _columns(graph)
    children = [parent[n.id] for n in columns[2]]
    bases = [n.id for n in columns[1]]
    assert children == sorted(children, key=bases.index)  # grouped by parent, in its order
    assert [n.lines[0].split()[0] for n in columns[2]] == ["int8", "lora", "int8", "lora"]
    colors = {n.id: _colors(n) for n in graph.nodes}
    assert colors["m_" + a8[:12]] != colors["m_" + b8[:12]]  # production stands out


def test_aliases_metrics_name_each_holder_and_the_audit_log_head():
    entries = {sha: {**e, "size_bytes": 10, "parameters": 5} for sha, e in ENTRIES.items()}
    state = {"records": 7, "seq": 6, "head": "f" * 64, "aliases": {"ignored": "yes"}}
    metrics = aliases_metrics(
        {"production": INT8, "challenger": FP32}, entries.__getitem__, SEMVERS.__getitem__, state
    )
    assert list(metrics["aliases"]) == ["challenger", "production"]  # stable keys, sorted
    assert metrics["aliases"]["production"]["semver"] == "v0.2.0"
    assert metrics["aliases"]["production"]["sha"] == INT8[:12]
    assert metrics["aliases"]["challenger"]["verb_pass_rate"] == 0.9
    # only the chain's position and head: a rewritten history changes them
    assert metrics["audit_log"] == {"records": 7, "seq": 6, "head": "f" * 64}

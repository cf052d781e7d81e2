"""The ONNX Runtime export of the bundled MiniLM: close to the torch vectors, and what the
embedder uses when it is there (torch when it is not)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from memory import embedding_onnx
from memory.embeddings import Embedder, default_model_path, shared_embedder

# Texts of the kinds agents embed: thoughts, tool results, episodes, one-word replies.
SAMPLE = [
    "ok",
    "yes",
    "Checked the load average on web-2: 0.4 per CPU, nothing to do.",
    "The critic rejected the step: the disk probe failed with permission denied.",
    "Replan: the report cannot be written before every probe has answered.",
    "Iteration 7 of host-monitor finished: memory 71% used, disk 88% on /var.",
    "billing-api on host-3 depends on ledger-db, which failed its health check twice",
    "I will call probe_disk again with the same arguments to be sure.",
    "payments p99 latency rose from 120 ms to 2.4 s after the 14:02 deploy",
    "Zusammenfassung: alle Dienste laufen, keine Warnungen.",
] + [
    f"episode {i}: service svc-{i % 9} on web-{i % 4} answered in {10 + i * 7} ms"
    for i in range(30)
]


@pytest.fixture(scope="module")
def export_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("onnx")
    report = embedding_onnx.export(default_model_path(), root=root)
    assert Path(report["path"]).exists()
    return {**report, "root": root}


@pytest.fixture(scope="module")
def export_root(export_report: dict) -> Path:
    return export_report["root"]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


def test_onnx_vectors_match_torch(export_root: Path, torch_embedder: Embedder, monkeypatch):
    monkeypatch.setenv(embedding_onnx.ONNX_DIR_ENV, str(export_root))
    onnx = Embedder()
    assert onnx.backend == "onnx"
    got, want = onnx.embed(SAMPLE), torch_embedder.embed(SAMPLE)
    assert got.shape == want.shape == (len(SAMPLE), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() >= embedding_onnx.MIN_COSINE, SAMPLE[int(cosine.argmin())]


def _int8_dot_products_without_saturation() -> bool:
    """x86 needs VNNI for exact u8 x s8 sums (AVX2's 16-bit pairs saturate); ARM has them."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    try:
        return "vnni" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return True


def test_the_bundled_model_gets_the_per_row_int8_export(export_report: dict):
    """The first candidate passes its own check on MiniLM: no silent fallback to the slower
    MatMulNBits or float32 model, and the graph takes no token types (a constant)."""
    import onnx

    if not _int8_dot_products_without_saturation():
        assert export_report["kind"] in ("int8-rows", "int8-nbits"), export_report
        pytest.skip("no VNNI: the per-row int8 model may fall back to MatMulNBits here")
    assert export_report["kind"] == "int8-rows", export_report
    assert export_report["cosine"]["min"] >= embedding_onnx.MIN_COSINE
    graph = onnx.load(export_report["path"]).graph
    assert [i.name for i in graph.input] == list(embedding_onnx.INPUTS)
    assert {n.op_type for n in graph.node} >= {"MatMulIntegerToFloat", "QuantizeLinear"}
    weights = {t.name for t in graph.initializer}
    assert not [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def test_a_candidate_that_misses_the_bar_is_not_installed(tmp_path: Path, monkeypatch):
    """A quantizer whose vectors drift from torch's is skipped for the next candidate."""
    import onnx
    from onnx import numpy_helper

    def drifting(source: Path, target: Path, model_dir: Path) -> None:
        model = onnx.load(str(source))
        weights = {t.name: t for t in model.graph.initializer}
        first = next(n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights)
        w = weights[first.input[1]]
        w.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(w), w.name))
        onnx.save(model, str(target))

    monkeypatch.setattr(embedding_onnx, "QUANTIZERS", {"drifting": drifting})
    report = embedding_onnx.export(default_model_path(), root=tmp_path)
    assert report["drifting_cosine"]["min"] < embedding_onnx.MIN_COSINE
    assert report["kind"] == "float32"
    assert report["cosine"]["min"] >= 0.9999
    assert Path(report["path"]).exists()
    installed = sorted(p.name for p in Path(report["path"]).parent.iterdir())
    assert installed == ["model.onnx", "reference.npy"]  # no leftover of the candidates


def test_order_and_padding_do_not_change_a_vector(export_root: Path, monkeypatch):
    """Batches are sorted by length and padded; each text's vector is its own."""
    monkeypatch.setenv(embedding_onnx.ONNX_DIR_ENV, str(export_root))
    alone = Embedder().embed([SAMPLE[2]])[0]
    mixed = Embedder().embed(list(reversed(SAMPLE)))
    np.testing.assert_allclose(mixed[len(SAMPLE) - 3], alone, atol=1e-4)


def test_the_shared_embedder_uses_the_export_when_present(export_root: Path, monkeypatch):
    from memory import embeddings

    monkeypatch.setenv(embedding_onnx.ONNX_DIR_ENV, str(export_root))
    embeddings._cached_embedder.cache_clear()
    try:
        assert shared_embedder().backend == "onnx"
    finally:
        embeddings._cached_embedder.cache_clear()


def test_an_export_that_no_longer_matches_its_install_is_not_used(
    export_root: Path, monkeypatch, caplog
):
    """The install saves torch's vectors of the check sample; an export that no longer
    gives them here (another CPU, another onnxruntime) is refused at load: torch instead."""
    monkeypatch.setenv(embedding_onnx.ONNX_DIR_ENV, str(export_root))
    model = Path(default_model_path())
    reference = embedding_onnx.reference_path(embedding_onnx.onnx_model_path(model))
    assert embedding_onnx.open_encoder(model) is not None
    saved = reference.read_bytes()
    try:
        vectors = np.load(reference)
        np.save(reference, np.roll(vectors, 1, axis=0))  # each text's vector now another's
        assert embedding_onnx.open_encoder(model) is None
        assert "install-time vectors" in caplog.text
        assert Embedder().backend == "torch"
    finally:
        reference.write_bytes(saved)


def test_torch_is_the_fallback_without_an_export(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(embedding_onnx.ONNX_DIR_ENV, str(tmp_path / "empty"))
    assert Embedder().backend == "torch"
    with pytest.raises(FileNotFoundError, match=r"memory\.embedding_onnx"):
        Embedder(backend="onnx")


def test_only_mean_pooled_sentence_models_are_exported(tmp_path: Path):
    with pytest.raises(ValueError, match="not a sentence-transformers model"):
        embedding_onnx.export(tmp_path, root=tmp_path / "out")

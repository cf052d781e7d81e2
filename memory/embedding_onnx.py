"""The sentence encoder as an ONNX Runtime model, exported from the bundled weights.

Per CPU-second on this 2-core box (28-token texts, batch 32, one thread): torch ~110,
ONNX float32 ~150, 8-bit MatMulNBits weights ~215, and the int8 model made here ~350
(benchmarks/embeddings.py has the figures and the levers tried). It starts without torch.

The int8 model quantizes every weight MatMul to int8 x int8 (MatMulIntegerToFloat, the
VNNI kernels), weights per output column and activations per row (per token), which plain
dynamic quantization (one scale for the whole batch) cannot do: MiniLM's [CLS] row carries
values near 30 in a few channels while the other tokens stay below 3, and one scale for
both wrecks short texts (cosine 0.96 on "ok"). The inputs of the MatMuls that follow a
LayerNorm are also smoothed (SmoothQuant, alpha SMOOTH_ALPHA): per-channel activation
maxima measured on CHECK_SAMPLE move into the weights, so outlier channels (99, 223, 267)
no longer set the row's scale. The u8 x s8 kernels need VNNI (x86) or dot-product
instructions (ARM): AVX2 alone saturates 16-bit sums, 7-bit weights would avoid that but
miss the bar (cosine 0.988), so there the check drops this model for the next candidate.

The export runs at install time (`make setup` runs `python -m memory.embedding_onnx`),
from the weights already on disk — nothing is downloaded. It writes the file atomically
and only after checking it: the cosine of every vector in a sample against the torch
vectors must be at least MIN_COSINE. Candidates are tried in order (int8 per-row, 8-bit
MatMulNBits, float32); the first that passes is installed. The embedder uses the file when
it is there and falls back to torch when it is not (memory.embeddings).

Only mean-pooled, L2-normalised sentence-transformers models (all-MiniLM-L6-v2 and its
kind) can be exported; pooling and normalisation are inside the ONNX graph.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
MIN_COSINE = 0.99
ONNX_DIR_ENV = "WAKEFUL_EMBEDDER_ONNX_DIR"  # where exports live; default: inside the venv
THREADS_ENV = "WAKEFUL_EMBEDDER_THREADS"
BATCH_SIZE = 32
INPUTS = ("input_ids", "attention_mask")  # token types: all zeros, a constant in the graph
SMOOTH_ALPHA = 0.7  # measured: 0.4 -> min cosine 0.986, 0.5 -> 0.993, 0.7 -> 0.994

# Agent-like texts for the export check: tool results, plans, verdicts, one-word replies
# (short texts are where quantization errs most) and a long one that gets truncated.
CHECK_SAMPLE = [
    "ok",
    "done",
    "a",
    "Host health of web-1: attention needed (load flagged)",
    "restarted billing-api on host-12 after an OOM kill at 2048 MB resident memory",
    "disk usage on /var reached 93% on db-3; rotated logs and freed 12 GB",
    "critic verdict: revise — the step claims success but the tool returned an error",
    "plan: 1) check load average 2) check memory 3) check disk 4) write the report",
    "payments-worker timed out calling ledger-db (p99 4.2 s) while reports-cron ran",
    "The queue depth of notifier-queue grew from 10 to 4000 within five minutes.",
    "tool call probe_memory returned {'total_mb': 7963, 'used_pct': 41.2}",
    "stuck detected: the same tool with the same arguments was called three times",
    "Der Dienst ist ausgefallen — 日本語のテキスト 🚨",
    " ".join(["latency on search-proxy rose again after the deploy"] * 40),
] + [
    f"iteration {i}: service svc-{i % 7} on web-{i % 5} answered in {i * 13} ms" for i in range(18)
]


def onnx_root() -> Path:
    return Path(
        os.environ.get(ONNX_DIR_ENV) or Path(sys.prefix) / "share" / "wakeful" / "embeddings"
    )


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).exists():
            return model_dir / name
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {model_dir}")


def onnx_model_path(model_dir: str | Path, root: Path | None = None) -> Path:
    """Where the export of this model lives: keyed by its path and weights (a reinstalled
    or changed model gets a new file, and the old one is never used for it)."""
    model_dir = Path(model_dir).resolve()
    weights = _weights_file(model_dir).stat()
    key = f"{model_dir}|{weights.st_size}|{weights.st_mtime_ns}".encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return (root or onnx_root()) / f"{model_dir.name}-{digest}" / "model.onnx"


def _max_seq_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length") or 256)
    return 256


def load_tokenizer(model_dir: str | Path):
    from tokenizers import Tokenizer

    model_dir = Path(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(_max_seq_length(model_dir))
    tokenizer.no_padding()  # OnnxEncoder pads each batch to its own longest text
    return tokenizer


def default_threads() -> int:
    """Intra-op threads: both cores of a 2-core box, no more (more only contend)."""
    configured = os.environ.get(THREADS_ENV)
    return int(configured) if configured else max(1, min(2, os.cpu_count() or 1))


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session: texts in, L2-normalised float32 vectors out."""

    backend = "onnx"

    def __init__(self, onnx_path: Path, model_dir: str | Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # Threads that spin between batches take the core from the event loop and the
        # other processes on a small box; sleeping costs a few microseconds a batch.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = load_tokenizer(model_dir)
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.path = onnx_path

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Encode in batches of similar length (less padding), in the callers' order."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            out[chosen] = self._run([encodings[i] for i in chosen])
        return out

    def _run(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):  # pad to this batch's longest
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:  # exports made before it became a constant
            feed["token_type_ids"] = np.zeros_like(ids)
        return self._session.run(None, feed)[0]


def reference_path(model_path: Path) -> Path:
    """The torch vectors of CHECK_SAMPLE, saved beside an export by the install."""
    return model_path.with_name("reference.npy")


def open_encoder(model_dir: str | Path, threads: int | None = None) -> OnnxEncoder | None:
    """The exported encoder of this model, or None when there is no export, or when it no
    longer gives the vectors it was installed for (the venv moved to a CPU whose int8
    kernels saturate, another onnxruntime): checked against the install's torch vectors,
    in a fraction of a second, so the embedder then falls back to torch instead of
    degrading recall and the loop detector in silence."""
    path = onnx_model_path(model_dir)
    if not path.exists():
        return None
    encoder = OnnxEncoder(path, model_dir, threads)
    reference = reference_path(path)
    if reference.exists():
        found = (encoder.encode(list(CHECK_SAMPLE)) * np.load(reference)).sum(axis=1)
        if found.min() < MIN_COSINE:
            log.warning(
                "the ONNX embedder at %s gives cosine %.4f to its install-time vectors here "
                "(< %.2f): using torch; run `python -m memory.embedding_onnx` again",
                path, float(found.min()), MIN_COSINE,
            )
            return None
    return encoder


# -- export (install time) ---------------------------------------------------------------


def _check_exportable(model_dir: Path) -> None:
    pooling = model_dir / "1_Pooling" / "config.json"
    modules = model_dir / "modules.json"
    if not pooling.exists() or not modules.exists():
        raise ValueError(f"{model_dir} is not a sentence-transformers model directory")
    if not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens"):
        raise ValueError(f"{model_dir}: only mean-pooled models can be exported")
    kinds = [m["type"].rsplit(".", 1)[-1] for m in json.loads(modules.read_text())]
    if kinds != ["Transformer", "Pooling", "Normalize"]:
        raise ValueError(f"{model_dir}: expected Transformer, Pooling, Normalize; got {kinds}")


def _export_float(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    # eager attention: the traced graph then handles any padding mask (sdpa's fast path
    # would be traced for the example's shapes).
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes fixed at export
        torch.onnx.export(
            Sentence(),
            (example, torch.ones_like(example)),
            str(target),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
        )


def _quantize_nbits(source: Path, target: Path, model_dir: Path) -> None:
    """8-bit weights in blocks of 128 with int8 compute (MatMulNBits): the fallback when
    the per-row int8 model misses the cosine bar (~215 sentences per CPU-second)."""
    import logging

    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(
        block_size=128, is_symmetric=True, accuracy_level=4, bits=8
    )
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(source)), bits=8, block_size=128, is_symmetric=True,
        accuracy_level=4, algo_config=config,
    )  # fmt: skip
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel("WARNING")
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def _weight_groups(model) -> dict[str, list]:
    """MatMuls with constant weights, by activation input (query, key and value share one)."""
    constants = {t.name for t in model.graph.initializer}
    groups: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in constants:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def _activation_maxima(model, model_dir: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Per-channel max |activation| of each named tensor over CHECK_SAMPLE, one text at a
    time (no padding rows)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = load_tokenizer(model_dir)
    per_text: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for text in CHECK_SAMPLE:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        found = session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for name, value in zip(names, found, strict=True):
            per_text[name].append(np.abs(value).reshape(-1, value.shape[-1]).max(axis=0))
    return {name: np.max(maxima, axis=0) for name, maxima in per_text.items()}


def _quantize_rows(source: Path, target: Path, model_dir: Path) -> None:
    """int8 x int8 MatMuls: weights per output column, activations per row (see the module
    docstring), the inputs that follow a LayerNorm smoothed first."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    weights = {t.name: t for t in model.graph.initializer}
    groups = _weight_groups(model)
    after_norm = {
        out for node in model.graph.node if node.op_type == "LayerNormalization"
        for out in node.output
    }  # fmt: skip
    maxima = _activation_maxima(model, model_dir, [x for x in groups if x in after_norm])

    def constant(name: str, value: np.ndarray) -> str:
        model.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    one = constant("rows/one", np.array(1.0, np.float32))
    zero_point = constant("rows/zero_point", np.array(128, np.uint8))  # symmetric, as uint8
    step = constant("rows/step", np.array(1 / 127, np.float32))
    tiny = constant("rows/tiny", np.array(1e-8, np.float32))
    before: dict[str, list] = {}  # name of a group's first MatMul -> nodes to insert ahead
    instead: dict[str, list] = {}  # name of a MatMul -> the nodes that replace it
    for x, nodes in groups.items():
        p = f"rows/{len(before)}/"
        w = [numpy_helper.to_array(weights[n.input[1]]).astype(np.float32) for n in nodes]
        ops, row_input = [], x
        if x in maxima:  # SmoothQuant: x / s, W * s (s per input channel)
            w_max = np.max([np.abs(m).max(axis=1) for m in w], axis=0)
            s = np.maximum(maxima[x], 1e-5) ** SMOOTH_ALPHA
            s = np.clip(s / np.maximum(w_max, 1e-5) ** (1 - SMOOTH_ALPHA), 1e-2, 1e2)
            w = [m * s[:, None].astype(np.float32) for m in w]
            inverse = constant(p + "smooth", (1 / s).astype(np.float32))
            ops.append(helper.make_node("Mul", [x, inverse], [p + "smoothed"]))
            row_input = p + "smoothed"
        ops += [  # per-row scale = max |x| / 127; q = round(x / scale) + 128
            helper.make_node("Abs", [row_input], [p + "abs"]),
            helper.make_node("ReduceMax", [p + "abs"], [p + "max"], axes=[-1], keepdims=1),
            helper.make_node("Max", [p + "max", tiny], [p + "max_"]),
            helper.make_node("Mul", [p + "max_", step], [p + "scale"]),
            helper.make_node("Reciprocal", [p + "scale"], [p + "inverse"]),
            helper.make_node("Mul", [row_input, p + "inverse"], [p + "unit"]),
            helper.make_node("QuantizeLinear", [p + "unit", one, zero_point], [p + "q"]),
        ]
        before[nodes[0].name] = ops
        for i, (node, matrix) in enumerate(zip(nodes, w, strict=True)):
            column_scale = np.maximum(np.abs(matrix).max(axis=0), 1e-12) / 127
            q_weights = constant(f"{p}w{i}", np.round(matrix / column_scale).astype(np.int8))
            w_scale = constant(f"{p}w{i}_scale", column_scale.astype(np.float32))
            instead[node.name] = [
                helper.make_node(
                    "MatMulIntegerToFloat", [p + "q", q_weights, one, w_scale, zero_point],
                    [f"{p}y{i}"], domain="com.microsoft",
                ),
                helper.make_node("Mul", [f"{p}y{i}", p + "scale"], [node.output[0]]),
            ]  # fmt: skip
    graph_nodes = []
    for node in model.graph.node:
        graph_nodes += before.get(node.name, []) + instead.get(node.name, [node])
    del model.graph.node[:]
    model.graph.node.extend(graph_nodes)
    used = {name for node in graph_nodes for name in node.input}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(target))


# Tried in this order; the first whose every check vector reaches MIN_COSINE is installed.
QUANTIZERS = {"int8-rows": _quantize_rows, "int8-nbits": _quantize_nbits}


def _torch_vectors(model_dir: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return model.encode(texts, normalize_embeddings=True, show_progress_bar=False)


def cosines(onnx_path: Path, model_dir: Path, reference: np.ndarray, texts: list[str]):
    vectors = OnnxEncoder(onnx_path, model_dir).encode(texts)
    return (vectors * reference).sum(axis=1)


def export(model_dir: str | Path, *, root: Path | None = None, quantize: bool = True) -> dict:
    """Export, check and install the ONNX encoder of `model_dir`; returns what was done."""
    model_dir = Path(model_dir).resolve()
    _check_exportable(model_dir)
    target = onnx_model_path(model_dir, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    texts = list(CHECK_SAMPLE)
    report: dict[str, Any] = {"model": str(model_dir), "path": str(target)}
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        float_path = Path(tmp) / "float32.onnx"
        _export_float(model_dir, float_path)
        reference = _torch_vectors(model_dir, texts)
        candidates = list(QUANTIZERS.items()) if quantize else []
        for kind, quantizer in [*candidates, ("float32", None)]:
            path = float_path
            if quantizer is not None:
                path = Path(tmp) / f"{kind}.onnx"
                quantizer(float_path, path, model_dir)
            found = cosines(path, model_dir, reference, texts)
            report[f"{kind}_cosine"] = {"min": float(found.min()), "mean": float(found.mean())}
            if found.min() >= MIN_COSINE:
                report.update(kind=kind, cosine=report[f"{kind}_cosine"])
                vectors = Path(tmp) / "reference.npy"
                np.save(vectors, reference.astype(np.float32))
                os.replace(vectors, reference_path(target))  # before the model it checks
                os.replace(path, target)  # atomic: a reader sees the old file or the new one
                return report
    raise RuntimeError(f"ONNX export of {model_dir}: cosine {found.min():.4f} to torch")


def main(argv: list[str] | None = None) -> None:
    import argparse

    from memory.embeddings import default_model_path, quiet_model_loading

    parser = argparse.ArgumentParser(description="Export the sentence encoder to ONNX.")
    parser.add_argument("--model", help="a sentence-transformers model dir (default: bundled)")
    parser.add_argument("--float", action="store_true", help="keep float32 weights")
    args = parser.parse_args(argv)
    quiet_model_loading()
    report = export(args.model or default_model_path(), quantize=not args.float)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

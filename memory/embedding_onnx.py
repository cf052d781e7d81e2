"""The sentence encoder as an ONNX Runtime model, exported from the bundled weights.

torch runs MiniLM at ~150 sentences per core-second here; ONNX Runtime with 8-bit weights
(MatMulNBits, blocks of 128, int8 compute) ~220, and it starts without importing torch.
The export runs at install time (`make setup` runs `python -m memory.embedding_onnx`),
from the weights already on disk — nothing is downloaded. It writes the file atomically
and only after checking it: the cosine of every vector in a sample against the torch
vectors must be at least MIN_COSINE, else the quantized model is dropped for the float
one, and the float one must pass too. The embedder uses the file when it is there and
falls back to torch when it is not (memory.embeddings).

Only mean-pooled, L2-normalised sentence-transformers models (all-MiniLM-L6-v2 and its
kind) can be exported; pooling and normalisation are inside the ONNX graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MIN_COSINE = 0.99
ONNX_DIR_ENV = "WAKEFUL_EMBEDDER_ONNX_DIR"  # where exports live; default: inside the venv
THREADS_ENV = "WAKEFUL_EMBEDDER_THREADS"
BATCH_SIZE = 32
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

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
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self._session.run(None, {name: feed[name] for name in self._inputs})[0]


def open_encoder(model_dir: str | Path, threads: int | None = None) -> OnnxEncoder | None:
    """The exported encoder of this model, or None when there is no export."""
    path = onnx_model_path(model_dir)
    if not path.exists():
        return None
    return OnnxEncoder(path, model_dir, threads)


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

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
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
            (example, torch.ones_like(example), torch.zeros_like(example)),
            str(target),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
        )


def _quantize(source: Path, target: Path) -> None:
    """8-bit weights in blocks of 128 with int8 compute (MatMulNBits). Plain dynamic int8
    (per-tensor activations) was faster but fell to cosine 0.96 on one-word texts."""
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
        float_path = Path(tmp) / "float.onnx"
        _export_float(model_dir, float_path)
        reference = _torch_vectors(model_dir, texts)
        chosen = float_path
        if quantize:
            int8_path = Path(tmp) / "int8.onnx"
            _quantize(float_path, int8_path)
            found = cosines(int8_path, model_dir, reference, texts)
            report["int8_cosine"] = {"min": float(found.min()), "mean": float(found.mean())}
            if found.min() >= MIN_COSINE:
                chosen = int8_path
        found = cosines(chosen, model_dir, reference, texts)
        if found.min() < MIN_COSINE:
            raise RuntimeError(f"ONNX export of {model_dir}: cosine {found.min():.4f} to torch")
        report.update(kind="int8" if chosen != float_path else "float32")
        report["cosine"] = {"min": float(found.min()), "mean": float(found.mean())}
        os.replace(chosen, target)  # atomic: a reader sees the old file or the new one
    return report


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

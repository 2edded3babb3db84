"""Settings of the shipping commands: ``export`` (a run's model to a folder that runs without
PyTorch) and ``serve`` (that folder behind HTTP)."""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config.fields import opt


@dataclass
class ExportConfig:
    """A finished run's model as an ONNX (or TorchScript) folder with its config, model card
    and parity check."""

    run: str = opt("", "Run id (or unique prefix) of a finished run.", positional=True)
    to: str = opt("", "The folder to write (new, or empty; --force replaces it).", required=True)
    format: str = opt(
        "onnx", "onnx (runs without PyTorch) or torchscript.", choices=("onnx", "torchscript")
    )
    quantize: str | None = opt(
        None,
        "int8: dynamic int8 quantisation (onnx only); parity records the accuracy change.",
        choices=("int8",),
    )
    opset: int | None = opt(None, "ONNX opset (default: the exporter's own).", min=7, metavar="N")
    parity_examples: int = opt(
        256,
        "Test inputs (a seeded sample of the run's test split) the parity check compares.",
        min=1,
        metavar="N",
    )
    force: bool = opt(False, "Replace a non-empty --to folder.")


@dataclass
class ServeConfig:
    """An exported model (or a finished run, exported on the fly) behind HTTP."""

    target: str = opt("", "A run id (exported first) or an exported folder.", positional=True)
    host: str = opt("127.0.0.1", "Address to bind; a non-loopback one needs --token-file.")
    port: int = opt(8000, "Port to bind (0: any free port; the URL is printed).", min=0, max=65535)
    token_file: str | None = opt(
        None, "A file holding the bearer token every request must send.", metavar="F"
    )
    max_batch: int = opt(
        32, "Requests waiting together are predicted in batches of at most N.", min=1, metavar="N"
    )
    max_upload_mb: float = opt(
        10.0, "Largest request body in MB (bigger: 413).", gt=0, metavar="MB"
    )
    read_timeout: float = opt(
        30.0,
        "Seconds a client may take to send its request body (slower: 408, the connection freed).",
        gt=0,
        metavar="S",
    )

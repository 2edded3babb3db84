"""Benchmark: ``transferkit serve`` under a bounded load on loopback.

What it measures
----------------
A real exported model (by default a linear probe on EfficientNet-Lite0 at 64 px over UCI
digits, fitted and exported here; or ``--folder`` an existing export) is served by a real
``transferkit serve`` subprocess. A fixed number of ``POST /predict`` requests (one real digit
image each, PNG) is sent at 1, 8 and 32 concurrent clients (httpx AsyncClient, one connection
per client): requests/s, p50 / p99 latency, errors (an answer other than 200, or a prediction
that differs from the Predictor's own on the same image), dropped requests (no answer: a
connection error or a timeout), and the server's mean batch size (from /metadata).

A second pass at 32 clients mixes malformed requests in (one in four: not an image, an empty
file, a truncated PNG, JSON texts to an image model, a body over the size limit, a wrong
Content-Type, an unknown route, a wrong method): each must get exactly its 4xx, and every
other request the right answer.

Client and server share this machine's cores, so the numbers are a floor for a server with the
machine to itself.

Writes ``benchmarks/results/serve_load.json`` and ``.md``.

    .venv/bin/python benchmarks/serve_load.py
    .venv/bin/python benchmarks/serve_load.py --requests 100 --folder exported/
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "serve_load"
UPLOAD_LIMIT_MB = 1.0  # the server's --max-upload-mb here: the oversize case sends 1.5 MB


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--folder", help="serve this export instead of fitting and exporting one")
    p.add_argument("--model", default="effnet-lite0")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--home", help="TRANSFERKIT_HOME for the fit (default: a new temporary one)")
    p.add_argument("--out-dir", default=str(C.RESULTS_DIR))
    return p.parse_args(argv)


def make_export(a: argparse.Namespace, clock: C.Clock) -> tuple[Path, dict[str, Any]]:
    import transferkit

    home = C.fresh_home(a.home, "tk-serve-load-")
    clock.say(f"fit {a.model} linear probe on builtin:digits at {a.image_size} px")
    run = transferkit.fit(
        "builtin:digits",
        model=a.model,
        strategy="linear",
        labels_per_class=50,
        image_size=a.image_size,
        seed=0,
    )
    folder = home / "export"
    res = transferkit.export(run.run_id, folder)
    clock.say(f"exported run {run.run_id} to {folder}")
    about = {
        "run": run.run_id,
        "data": "builtin:digits",
        "model": a.model,
        "image_size": a.image_size,
        "test_accuracy": run.metrics.get("test_accuracy"),
        "parity": res.parity.get("fp32"),
    }
    return folder, about


def uploads(n: int = 64) -> list[tuple[str, bytes]]:
    """``n`` real UCI digit scans (8x8, 0..16) as 32x32 greyscale PNG files."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    out = []
    for i, img in enumerate(load_digits().images[:n]):
        pil = Image.fromarray((img * (255 / 16)).astype(np.uint8), "L").resize((32, 32))
        buf = io.BytesIO()
        pil.save(buf, format="PNG")
        out.append((f"digit{i}.png", buf.getvalue()))
    return out


def expected_answers(folder: Path, files: list[tuple[str, bytes]]) -> Any:
    from PIL import Image

    from transferkit.runtime import Predictor

    predictor = Predictor(folder)
    images = [Image.open(io.BytesIO(data)) for _, data in files]
    return predictor.predict_proba(images), [str(c) for c in predictor.classes]


def start_server(folder: Path, max_batch: int) -> tuple[subprocess.Popen, str, list[str]]:
    cmd = [sys.executable, "-m", "transferkit", "serve", str(folder), "--port", "0"]
    cmd += ["--max-batch", str(max_batch), "--max-upload-mb", str(UPLOAD_LIMIT_MB)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return proc, line.split(" on ", 1)[1].split()[0], cmd
    proc.kill()
    raise SystemExit(f"serve did not start (exit {proc.poll()})")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process ``pid`` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


# -- the malformed requests of the mixed pass: (kind, request kwargs, the status it must get)
def malformed(good_png: bytes) -> list[tuple[str, dict[str, Any], int]]:
    def files(name: str, data: bytes) -> dict[str, Any]:
        return {"files": [("file", (name, data, "application/octet-stream"))]}

    big = b"\0" * int(UPLOAD_LIMIT_MB * 1.5 * 2**20)
    return [
        ("not an image", files("notes.txt", b"plain text, not an image"), 400),
        ("empty file", files("empty.png", b""), 400),
        ("truncated PNG", files("cut.png", good_png[: len(good_png) // 2]), 400),
        ("JSON texts to an image model", {"json": {"texts": ["a text"]}}, 400),
        ("body over the limit", files("big.png", big), 413),
        ("wrong Content-Type", {"content": b"abc", "headers": {"content-type": "text/plain"}}, 415),
        ("unknown route", {"path": "/nope", "method": "GET"}, 404),
        ("wrong method", {"method": "GET"}, 405),
    ]


def plan(n: int, files: list[tuple[str, bytes]], mixed: bool) -> list[dict[str, Any]]:
    """The ``n`` requests in order: good ones cycle through ``files``; with ``mixed`` every
    fourth is malformed, cycling through the kinds."""
    bad = malformed(files[0][1])
    out = []
    for i in range(n):
        if mixed and i % 4 == 3:
            kind, kw, status = bad[(i // 4) % len(bad)]
            out.append({"kind": kind, "expect": status, **kw})
        else:
            k = i % len(files)
            name, data = files[k]
            spec = {"files": [("file", (name, data, "image/png"))]}
            out.append({"kind": "good", "expect": 200, "image": k, **spec})
    return out


async def load(url: str, requests: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Send ``requests`` with ``concurrency`` clients; each answer's status, latency, body."""
    import httpx

    results: list[dict[str, Any] | None] = [None] * len(requests)
    order = iter(range(len(requests)))  # shared: each request is taken by one client

    async def client_loop(client: httpx.AsyncClient) -> None:
        for i in order:
            spec = dict(requests[i])
            method, path = spec.pop("method", "POST"), spec.pop("path", "/predict")
            kwargs = {k: spec[k] for k in ("files", "json", "content", "headers") if k in spec}
            t0 = time.perf_counter()
            try:
                r = await client.request(method, url + path, **kwargs)
                body = (
                    r.json()
                    if r.headers.get("content-type", "").startswith("application/json")
                    else None
                )
                results[i] = {"status": r.status_code, "s": time.perf_counter() - t0, "body": body}
            except httpx.HTTPError as e:
                results[i] = {"status": None, "s": time.perf_counter() - t0, "error": repr(e)}

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        before = (await client.get(url + "/metadata")).json()["server"]
        t0 = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        after = (await client.get(url + "/metadata")).json()["server"]
    batches = after["batches"] - before["batches"]
    inputs = after["inputs_predicted"] - before["inputs_predicted"]
    return {
        "results": results,
        "wall_s": wall,
        "batches": batches,
        "mean_batch": inputs / batches if batches else None,
    }


def score(requests: list[dict], out: dict, expected: Any, classes: list[str]) -> dict[str, Any]:
    """Counts and latencies of one pass: a good request is right when it got 200 and the
    Predictor's probabilities (max |diff| <= 1e-5, same class); a malformed one when it got
    exactly its 4xx."""
    import numpy as np

    rows: dict[str, Any] = {"requests": len(requests), "dropped": 0, "errors": 0}
    by_kind: dict[str, dict[str, int]] = {}
    good_s, max_diff, examples = [], 0.0, []
    for spec, res in zip(requests, out["results"]):
        kind = by_kind.setdefault(spec["kind"], {"sent": 0, "as_expected": 0})
        kind["sent"] += 1
        if res is None or res["status"] is None:
            rows["dropped"] += 1
            examples.append((spec["kind"], res and res.get("error")))
            continue
        ok = res["status"] == spec["expect"]
        if ok and spec["kind"] == "good":
            answer = res["body"]["predictions"][0]
            p = np.array([answer["probabilities"][c] for c in classes])
            diff = float(np.abs(p - expected[spec["image"]]).max())
            max_diff = max(max_diff, diff)
            ok = (
                diff <= 1e-5
                and answer["prediction"] == classes[int(expected[spec["image"]].argmax())]
            )
            good_s.append(res["s"])
        kind["as_expected"] += int(ok)
        if not ok:
            rows["errors"] += 1
            examples.append((spec["kind"], res["status"], str(res.get("body"))[:200]))
    rows["requests_per_s"] = len(requests) / out["wall_s"]
    rows["p50_ms"] = float(np.percentile(good_s, 50) * 1000) if good_s else None
    rows["p99_ms"] = float(np.percentile(good_s, 99) * 1000) if good_s else None
    rows.update(wall_s=out["wall_s"], batches=out["batches"], mean_batch=out["mean_batch"])
    rows.update(max_abs_diff=max_diff, by_kind=by_kind, problems=examples[:10])
    return rows


def markdown(head: dict, about: dict, passes: list[dict], wall: float) -> str:
    table = C.md_table(
        [
            "pass",
            "clients",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "dropped",
            "mean batch",
            "server CPU ms/req",
            "client CPU ms/req",
        ],
        [
            [
                p["pass"],
                p["concurrency"],
                p["requests"],
                C.fmt(p["requests_per_s"], 1),
                C.fmt(p["p50_ms"], 1),
                C.fmt(p["p99_ms"], 1),
                p["errors"],
                p["dropped"],
                C.fmt(p["mean_batch"], 1),
                C.fmt(p["server_cpu_ms_per_request"], 1),
                C.fmt(p["client_cpu_ms_per_request"], 1),
            ]
            for p in passes
        ],
    )
    mixed = [p for p in passes if p["pass"] == "mixed"]
    kinds = (
        C.md_table(
            ["request", "sent", "answered as expected"],
            [[k, v["sent"], v["as_expected"]] for k, v in mixed[0]["by_kind"].items()],
        )
        if mixed
        else ""
    )
    return "\n".join(
        [
            "# transferkit serve under load (loopback)",
            "",
            C.md_header(head, wall),
            f"- Model: {_about(about)}",
            f"- Server: `{about.get('server_command')}` (exit code {about.get('server_exit_code')})",
            f"- Load average at end: {about.get('load_average_at_end')} (other work on the "
            "machine shares its cores with client and server: compare runs with care)",
            "- Each good request: one real UCI digit image (32x32 PNG); an answer counts as right "
            "when it is 200 and matches the Predictor's own probabilities (max |diff| <= 1e-5). "
            "Latency percentiles over the good requests. Client and server share the machine; "
            "CPU ms/req: the server process's (all threads) and the load client's CPU time per "
            "request, which the machine's other load does not inflate as it does wall time.",
            "",
            table,
            "",
            "Mixed pass (one request in four malformed), per kind of request:",
            "",
            kinds,
            "",
        ]
    )


def _about(about: dict[str, Any]) -> str:
    if "folder" in about:
        return f"the export {about['folder']}"
    parity = about.get("parity") or {}
    return (
        f"{about['model']} linear probe at {about['image_size']} px on {about['data']} (run "
        f"{about['run']}, test accuracy {C.fmt(about.get('test_accuracy'), 1, 100)}%); export "
        f"parity: max |p_onnx - p_torch| {parity.get('max_abs_diff')}, argmax agreement "
        f"{parity.get('argmax_agreement')} on {parity.get('n')} test images"
    )


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    clock, head = C.Clock(), C.header()
    if a.folder:
        folder, about = Path(a.folder), {"folder": a.folder}
    else:
        folder, about = make_export(a, clock)
    files = uploads()
    expected, classes = expected_answers(folder, files)
    proc, url, cmd = start_server(folder, a.max_batch)
    clock.say(f"serving on {url}")
    passes = []
    try:
        levels = [int(c) for c in a.concurrency.split(",")]
        for mixed, level in [(False, c) for c in levels] + [(True, max(levels))]:
            requests = plan(a.requests, files, mixed)
            server_cpu, client_cpu = cpu_of(proc.pid), time.process_time()
            out = asyncio.run(load(url, requests, level))
            server_cpu, client_cpu = cpu_of(proc.pid) - server_cpu, time.process_time() - client_cpu
            row = {"pass": "mixed" if mixed else "good", "concurrency": level}
            row.update(score(requests, out, expected, classes))
            row["server_cpu_ms_per_request"] = server_cpu / len(requests) * 1000
            row["client_cpu_ms_per_request"] = client_cpu / len(requests) * 1000
            passes.append(row)
            clock.say(
                f"{row['pass']} x{level}: {row['requests_per_s']:.1f} req/s, p50 "
                f"{C.fmt(row['p50_ms'])} ms, p99 {C.fmt(row['p99_ms'])} ms, errors "
                f"{row['errors']}, dropped {row['dropped']}, mean batch {C.fmt(row['mean_batch'])}, "
                f"CPU ms/request server {C.fmt(row['server_cpu_ms_per_request'])} client "
                f"{C.fmt(row['client_cpu_ms_per_request'])}"
            )
    finally:
        code = stop_server(proc)
    about["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    about["server_command"] = " ".join(cmd)
    about["server_exit_code"] = code
    data = {"header": head, "model": about, "passes": passes, "wall_s": clock.elapsed()}
    text = markdown(head, about, passes, clock.elapsed())
    C.write_results(Path(a.out_dir), NAME, data, text, clock)
    return 0 if all(p["errors"] == 0 and p["dropped"] == 0 for p in passes) else 1


if __name__ == "__main__":
    sys.exit(main())

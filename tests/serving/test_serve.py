"""`transferkit serve` as a real subprocess on a loopback port, queried with httpx: predictions
equal the runtime's own, health and metadata, the bearer token, 4xx answers to bad requests
(and the server still answers after them), refused binds."""

from __future__ import annotations

import json
import signal
import socket
import subprocess

import httpx
import numpy as np
import pytest
from servekit import decoded, digit_uploads, serve_cmd, serving

import transferkit
from transferkit.runtime import Predictor

pytestmark = pytest.mark.slow
FAST = dict(model="tiny-cnn", image_size=32, epochs=2, batch_size=32, seed=0)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """(store folder, run id, exported folder) of a tiny-cnn linear probe on UCI digits."""
    tmp = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERKIT_HOME", str(tmp / "home"))
        run = transferkit.fit("builtin:digits", strategy="linear", labels_per_class=20, **FAST)
        transferkit.export(run.run_id, tmp / "image")
    return tmp / "home", run.run_id, tmp / "image"


@pytest.fixture(scope="module")
def image_export(image_run):
    return image_run[2]


def _files(uploads):
    return [("file", (name, data, "application/octet-stream")) for name, data in uploads]


def test_predict_health_metadata_match_the_runtime(image_export):
    uploads = digit_uploads(3, "PNG") + digit_uploads(1, "JPEG")
    expected = Predictor(image_export).predict_proba(decoded(uploads))
    with serving(image_export) as s:
        assert httpx.get(f"{s.url}/health").json() == {"status": "ok"}
        r = httpx.post(f"{s.url}/predict", files=_files(uploads))
        assert r.status_code == 200, r.text
        answers = r.json()["predictions"]
        assert [a["input"] for a in answers] == [name for name, _ in uploads]
        meta = httpx.get(f"{s.url}/metadata").json()
        classes = meta["classes"]
        got = np.array([[a["probabilities"][c] for c in classes] for a in answers])
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert [a["prediction"] for a in answers] == [classes[k] for k in expected.argmax(1)]
        assert [a["confidence"] for a in answers] == pytest.approx(expected.max(1), abs=1e-6)
        # one raw image body is one input
        raw = httpx.post(
            f"{s.url}/predict", content=uploads[0][1], headers={"content-type": "image/png"}
        )
        assert raw.json()["predictions"][0]["probabilities"] == answers[0]["probabilities"]
    assert meta["modality"] == "image" and meta["input_size"] == [3, 32, 32]
    assert meta["classes"] == [str(d) for d in range(10)]
    assert meta["source"]["strategy"] == "linear" and meta["source"]["model"] == "tiny-cnn"
    assert meta["model_card"]["sections"] and meta["parity"]["fp32"]["passed"]
    assert meta["server"]["max_batch"] == 32 and meta["server"]["inputs_predicted"] == 4


def test_bad_requests_get_4xx_and_the_server_keeps_serving(image_export):
    good = digit_uploads(1)
    limit = 50 * 1024
    with serving(image_export, "--max-upload-mb", str(limit / 2**20)) as s:
        post = f"{s.url}/predict"

        def expect(status, response, words):
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert all(w.lower() in error.lower() for w in words), error

        big = [("file", ("big.png", b"\0" * (2 * limit), "image/png"))]
        expect(413, httpx.post(post, files=big), ["exceeds", "--max-upload-mb"])

        def chunks():  # no Content-Length: the limit is checked while reading
            for _ in range(4):
                yield b"\0" * limit

        expect(
            413,
            httpx.post(post, content=chunks(), headers={"content-type": "image/png"}),
            ["exceeds"],
        )
        expect(
            400,
            httpx.post(post, files=_files([("notes.txt", b"not an image")])),
            ["notes.txt", "not an image"],
        )
        expect(400, httpx.post(post, files=_files([("empty.png", b"")])), ["empty.png", "empty"])
        truncated = good[0][1][: len(good[0][1]) // 2]
        expect(400, httpx.post(post, files=_files([("cut.png", truncated)])), ["cut.png"])
        expect(400, httpx.post(post, json={"texts": ["a text"]}), ["takes images"])
        expect(400, httpx.post(post, content=b""), ["empty"])
        bad_form = {"content-type": "multipart/form-data"}  # no boundary
        expect(400, httpx.post(post, content=b"--x\r\n", headers=bad_form), [])
        only_text = {"field": (None, "value")}  # multipart, but no file in it
        expect(400, httpx.post(post, files=only_text), ["no file"])
        expect(
            415,
            httpx.post(post, content=b"abc", headers={"content-type": "text/plain"}),
            ["multipart"],
        )
        expect(404, httpx.get(f"{s.url}/nope"), [])
        expect(405, httpx.get(post), [])
        # a good image beside a bad one: the request is refused whole, naming the bad one
        expect(400, httpx.post(post, files=_files(good + [("x.jpg", b"junk")])), ["x.jpg"])
        # still serving, and right
        r = httpx.post(post, files=_files(good))
        assert r.status_code == 200 and len(r.json()["predictions"]) == 1
        assert httpx.get(f"{s.url}/health").status_code == 200
        assert "Traceback" not in s.stderr()


def test_a_stalled_upload_gets_408_and_frees_its_connection(image_export):
    """A client that sends half its body and stops: 408 after --read-timeout (uvicorn itself
    would wait for ever), the connection closed, and the server still answers others."""
    with serving(image_export, "--read-timeout", "1") as s:
        host, port = s.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as c:
            c.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 1000\r\n\r\n" + b"\0" * 100
            )
            answer = b""
            while chunk := c.recv(65536):  # until the server closes the connection
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        error = json.loads(body)["error"]
        assert "1 s" in error and "100 bytes" in error and "--read-timeout" in error
        assert httpx.post(f"{s.url}/predict", files=_files(digit_uploads(1))).status_code == 200
        assert httpx.get(f"{s.url}/metadata").json()["server"]["read_timeout_s"] == 1.0


def test_bearer_token_required_everywhere_but_health(image_export, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    with serving(image_export, "--token-file", str(token_file), stop=signal.SIGINT) as s:
        right = {"authorization": "Bearer s3cret-token"}
        wrong = {"authorization": "Bearer s3cret-tokem"}
        assert httpx.get(f"{s.url}/health").status_code == 200
        for headers in ({}, wrong, {"authorization": "s3cret-token"}):
            r = httpx.get(f"{s.url}/metadata", headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert (
                httpx.post(
                    f"{s.url}/predict", files=_files(digit_uploads(1)), headers=headers
                ).status_code
                == 401
            )
            assert httpx.get(f"{s.url}/nope", headers=headers).status_code == 401
        assert httpx.get(f"{s.url}/metadata", headers=right).status_code == 200
        assert httpx.get(f"{s.url}/nope", headers=right).status_code == 404
        r = httpx.post(f"{s.url}/predict", files=_files(digit_uploads(2)), headers=right)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2


def test_concurrent_requests_are_batched(image_export):
    uploads = digit_uploads(8)
    expected = Predictor(image_export).predict_proba(decoded(uploads))
    import asyncio

    async def burst(url):
        async with httpx.AsyncClient(timeout=60) as client:
            rs = await asyncio.gather(
                *(client.post(f"{url}/predict", files=_files([u])) for u in uploads * 4)
            )
            return rs, (await client.get(f"{url}/metadata")).json()["server"]

    with serving(image_export, "--max-batch", "4") as s:
        responses, server = asyncio.run(burst(s.url))
    assert all(r.status_code == 200 for r in responses)
    for i, r in enumerate(responses):
        probs = list(r.json()["predictions"][0]["probabilities"].values())
        np.testing.assert_allclose(probs, expected[i % 8], atol=1e-6)
    assert server["inputs_predicted"] == 32 and 8 <= server["batches"] <= 32


def test_non_loopback_host_without_token_is_refused(image_export):
    proc = subprocess.run(
        serve_cmd(image_export, "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--token-file" in proc.stderr and "Traceback" not in proc.stderr


def test_port_in_use_is_refused_naming_the_port(image_export):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            serve_cmd(image_export, "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert str(port) in proc.stderr and "--port" in proc.stderr and "Traceback" not in proc.stderr


def test_out_of_range_limits_are_refused_naming_them(image_export):
    args = ["--read-timeout", "0", "--max-upload-mb", "-1", "--max-batch", "0"]
    proc = subprocess.run(serve_cmd(image_export, *args), capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    for words in ("--read-timeout must be above 0", "--max-upload-mb", "--max-batch"):
        assert words in proc.stderr, proc.stderr


def test_not_an_export_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hello": 1}))
    proc = subprocess.run(
        serve_cmd(tmp_path, "--port", "0"), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


def test_a_run_id_is_exported_for_the_server_and_the_export_removed_at_exit(image_run, tmp_path):
    home, run_id, folder = image_run
    uploads = digit_uploads(2)
    expected = Predictor(folder).predict_proba(decoded(uploads))
    env = {"TRANSFERKIT_HOME": str(home), "TMPDIR": str(tmp_path)}
    with serving(run_id, env=env) as s:
        assert list(tmp_path.glob("transferkit-serve-*/model/model.onnx"))
        r = httpx.post(f"{s.url}/predict", files=_files(uploads))
        classes = httpx.get(f"{s.url}/metadata").json()["classes"]
    got = [[a["probabilities"][c] for c in classes] for a in r.json()["predictions"]]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not list(tmp_path.glob("transferkit-serve-*"))  # removed after SIGTERM


def test_text_model_takes_json_texts(tmp_path, topics_csv, tiny_bert):
    run = transferkit.fit(
        str(topics_csv), model=f"hf:{tiny_bert}", strategy="linear", epochs=1, seed=0
    )
    folder = transferkit.export(run.run_id, tmp_path / "text").folder
    texts = ["the team won the game", "vote for the party", "new chip and software", ""]
    expected = Predictor(folder).predict_proba(texts)
    with serving(folder) as s:
        post = f"{s.url}/predict"
        r = httpx.post(post, json={"texts": texts})
        assert r.status_code == 200, r.text
        meta = httpx.get(f"{s.url}/metadata").json()
        for bad, words in [
            (dict(files=_files(digit_uploads(1))), "takes texts"),
            (
                dict(content=b"{not json", headers={"content-type": "application/json"}),
                "not valid json",
            ),
            (dict(json={"texts": "one text"}), '"texts"'),
            (dict(json={"texts": []}), '"texts"'),
            (dict(json=["a", "b"]), '"texts"'),
            (dict(json={"texts": ["ok", 3]}), "texts[1]"),
        ]:
            answer = httpx.post(post, **bad)
            assert answer.status_code == 400 and words in answer.json()["error"].lower(), (
                answer.text
            )
        assert httpx.post(post, json={"texts": texts[:1]}).status_code == 200
    answers = r.json()["predictions"]
    assert [a["input"] for a in answers] == ["0", "1", "2", "3"]
    got = [[a["probabilities"][c] for c in meta["classes"]] for a in answers]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert meta["modality"] == "text" and meta["max_length"]
    assert sorted(meta["classes"]) == ["politics", "sports", "technology"]


def test_an_unknown_run_id_is_refused():
    proc = subprocess.run(serve_cmd("r-no-such-run"), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "taken as a run id" in proc.stderr

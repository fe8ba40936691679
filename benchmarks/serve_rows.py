"""The model server's load rows (issue 14): throughput and latency, and a mix of valid and malformed requests.

Usage: python benchmarks/serve_rows.py [--seconds 10] [--connections 16] [--workers 2] [--mixed 10000]

The seed example's model (Dense(10, relu, input_dim=8), Dense(8, relu), Dense(1, sigmoid)), trained briefly
and saved with reference statistics, is served by ``python -m fastnn serve`` in its own process on the
loopback. Rows:

1. load: wrk when installed (else an asyncio load generator in this process), N keep-alive connections
   posting one-row V2 JSON requests: requests a second, p99 latency, errors (non-2xx and socket errors);
   targets >= 3,000/s, p99 <= 20 ms, 0 errors. The same for binary (tritonclient-style) requests.
2. mixed: requests alternating valid bodies with malformed ones of many kinds (bad JSON, shapes, datatypes,
   names, NaN, binary sizes, oversized bodies) over N connections; every valid one must get 200 and every
   malformed one 400: 0 crashes, 0 5xx.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import socket
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import fastnn  # noqa: E402
from fastnn.layers import Dense  # noqa: E402

MAX_BODY_MB = 1


def seed_model_file(folder):
    fastnn.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((1000, 8), dtype=np.float32)
    y = rng.integers(0, 2, size=(1000, 1)).astype(np.float32)
    model = fastnn.Sequential([Dense(10, activation="relu", input_dim=8), Dense(8, activation="relu"),
                               Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    path = os.path.join(folder, "seed.fnn")
    model.save(path, reference_data=x)
    return path, model.input_names[0]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(path, workers, backend, log):
    """The server process and its URL, once it reports ready."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "fastnn", "serve", path, "--port", str(port), "--workers",
                                str(workers), "--max-body-mb", str(MAX_BODY_MB), "--backend", backend],
                               stderr=log, stdout=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=5):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start; see its log") from None
            time.sleep(0.05)


# ------------------------------------------------------------------------------------------ requests

def v2_json(name, x):
    return json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                   "data": x.ravel().tolist()}]}).encode(), {}


def v2_binary(name, x):
    head = json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32",
                                   "parameters": {"binary_data_size": x.nbytes}}],
                       "parameters": {"binary_data_output": True}}).encode()
    return head + x.tobytes(), {"Inference-Header-Content-Length": str(len(head))}


def malformed_bodies(name, rng):
    """Malformed requests of many kinds, each (body, headers)."""
    row = rng.random((1, 8), dtype=np.float32)
    valid, _ = v2_json(name, row)
    nan = row.copy()
    nan[0, 2] = np.nan
    binary, headers = v2_binary(name, row)
    cases = [
        (valid[:len(valid) // 2], {}),
        (b"", {}),
        (b"[1, 2, 3]", {}),
        (valid.replace(b'"FP32"', b'"FP64"'), {}),
        (valid.replace(name.encode(), b"nope"), {}),
        (valid.replace(b"[1, 8]", b"[1, 9]"), {}),
        (valid.replace(b"[1, 8]", b"[2, 8]"), {}),
        (valid.replace(b'"data": [', b'"data": [NaN, '), {}),
        (v2_binary(name, nan)[0], headers),
        (binary[:-3], headers),
        (binary, {"Inference-Header-Content-Length": "999999"}),
        (bytes(rng.integers(0, 256, 64, dtype=np.uint8)), {}),
        (b" " * (MAX_BODY_MB * (1 << 20) + 1), {}),
    ]
    return cases


# ------------------------------------------------------------------------------------------ clients

def http_request(host, path, body, headers):
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_response(reader):
    """(status, keep-alive?) of one response."""
    status = int((await reader.readline()).split()[1])
    length, keep_alive = 0, True
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection":
            keep_alive = value.strip().lower() == "keep-alive"
    await reader.readexactly(length)
    return status, keep_alive


async def run_connections(host, port, jobs, connections):
    """Send (request bytes, expected status) jobs over `connections` keep-alive connections, reconnecting
    after a server-closed one; returns [(expected, got, latency seconds)]."""
    queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results = []

    async def connection():
        reader = writer = None
        while not queue.empty():
            data, expected = queue.get_nowait()
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            start = time.perf_counter()
            try:
                writer.write(data)
                status, keep_alive = await read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
                status, keep_alive = 0, False
            results.append((expected, status, time.perf_counter() - start))
            if not keep_alive:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return results


# ------------------------------------------------------------------------------------------ rows

def lua_string(data):
    """A Lua string literal of arbitrary bytes (printable ASCII as is, the rest as decimal escapes)."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}" for b in data) + '"'


def wrk_row(url, path, body, headers, seconds, connections, folder):
    script = os.path.join(folder, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {lua_string(body)}\n")
        for k, v in dict(headers, **{"Content-Type": "application/json"}).items():
            f.write(f'wrk.headers["{k}"] = "{v}"\n')
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script,
                          url + path], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|errors: connect|read|write|timeout)"
                                            r"\s*:?\s*(\d+)", out))
    return rate, p99_ms, errors


def generator_row(host, port, path, body, headers, seconds, connections):
    data = http_request(host, path, body, headers)
    count = max(1000, int(3000 * seconds))
    start = time.perf_counter()
    results = asyncio.run(run_connections(host, port, [(data, 200)] * count, connections))
    elapsed = time.perf_counter() - start
    latencies = sorted(r[2] for r in results)
    return len(results) / elapsed, 1e3 * latencies[int(0.99 * (len(latencies) - 1))], \
        sum(1 for r in results if r[1] != 200)


def mixed_row(host, port, name, total, connections):
    rng = np.random.default_rng(1)
    bad = malformed_bodies(name, rng)
    jobs = []
    for i in range(total):
        if i % 2:
            body, headers = bad[(i // 2) % len(bad)]
            jobs.append((http_request(host, "/v2/models/seed/infer", body, headers), 400))
        else:
            body, headers = v2_json(name, rng.random((1 + i % 3, 8), dtype=np.float32))
            jobs.append((http_request(host, "/v2/models/seed/infer", body, headers), 200))
    results = asyncio.run(run_connections(host, port, jobs, connections))
    return {"requests": len(results), "5xx": sum(1 for _, got, _ in results if got >= 500),
            "malformed not 400": sum(1 for want, got, _ in results if want == 400 and got != 400),
            "valid not 200": sum(1 for want, got, _ in results if want == 200 and got != 200),
            "no answer": sum(1 for _, got, _ in results if got == 0)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mixed", type=int, default=10_000)
    parser.add_argument("--backend", choices=["asyncio", "uvicorn"], default="asyncio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fastnn-serve-") as folder:
        path, name = seed_model_file(folder)
        log = open(os.path.join(folder, "server.log"), "wb")
        process, url = start_server(path, args.workers, args.backend, log)
        host, port = url[len("http://"):].rsplit(":", 1)
        tool = "wrk" if shutil.which("wrk") else "asyncio load generator"
        print(f"server: python -m fastnn serve --workers {args.workers} --backend {args.backend} at {url}; load by {tool}, "
              f"{args.connections} connections, {args.seconds} s")
        try:
            rng = np.random.default_rng(0)
            for kind, (body, headers) in (("V2 JSON", v2_json(name, rng.random((1, 8), dtype=np.float32))),
                                          ("V2 binary", v2_binary(name, rng.random((1, 8), dtype=np.float32)))):
                if tool == "wrk":
                    rate, p99, errors = wrk_row(url, "/v2/models/seed/infer", body, headers, args.seconds,
                                                args.connections, folder)
                else:
                    rate, p99, errors = generator_row(host, int(port), "/v2/models/seed/infer", body, headers,
                                                      args.seconds, args.connections)
                print(f"| load, {kind}, 1 row | {rate:,.0f} requests/s (target >= 3,000) | p99 {p99:.2f} ms "
                      f"(target <= 20) | {errors} errors (target 0) |")
            mixed = mixed_row(host, int(port), name, args.mixed, args.connections)
            alive = process.poll() is None
            print(f"| mixed valid and malformed | {mixed['requests']:,} requests | {mixed['5xx']} 5xx, "
                  f"{mixed['malformed not 400']} malformed not answered 400, {mixed['valid not 200']} valid not "
                  f"200, {mixed['no answer']} unanswered | server {'alive' if alive else 'CRASHED'} |")
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

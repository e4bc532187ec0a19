"""Load test of the HTTP server (``benchmark.serving.app``, FastAPI on uvicorn) beside a naive one, on loopback.

    python benchmarks/serve_load.py [--bundle DIR] [--runtime keras|onnx] [--seconds 15] [--short]

The naive server is a model served the usual way: Flask's own server, ``model.predict`` per request, no
batching, no warm-up. Each server runs alone in its own subprocess (one after the other, so they never share
the CPU), over the same bundle (default: the committed intra/quick mlp run, exported to a temporary folder).
Each gets, from an asyncio client in this process:

- single-beat calls, open loop at ``--single-rate`` requests/s (latency counted from each request's
  scheduled send time, so a server that falls behind is charged for the queue it builds);
- batched calls of ``--batch-beats`` beats, open loop at ``--batch-rate`` requests/s;
- both kinds closed loop, ``--concurrency`` clients back to back: the throughput a server sustains.

Every phase is bounded by its duration and its request count. Writes
``benchmarks/output/serve_load-<commit>-<machine>.md`` (``-short`` with ``--short``, a few seconds per phase to
check that it works, not a measurement) and prints it. Goals (2 CPU cores): single-beat p99 <= 10 ms at
100 requests/s; batched >= 10,000 beats/s; throughput >= 10x the naive server's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.provenance import git_commit, library_versions, machine  # noqa: E402

DEFAULT_RUN = ROOT / "results" / "intra" / "quick" / "runs" / "mlp__none__seed0__12a28b75a9"
GOAL_P99_MS, GOAL_BEATS_PER_S, GOAL_RATIO = 10.0, 10_000.0, 10.0


def naive_server(bundle: Path, port: int) -> None:
    """The naive server: Flask's development server, ``model.predict`` on every request."""
    import keras
    from flask import Flask, jsonify, request

    meta = json.loads((bundle / "bundle.json").read_text())
    classes = meta["classes"]
    model = keras.saving.load_model(bundle / meta["model_file"], compile=False)
    app = Flask("naive")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict():
        beats = np.array(request.get_json()["beats"], dtype=np.float32)
        proba = model.predict(beats[..., None], verbose=0)
        return jsonify({"predictions": [{"class": classes[int(np.argmax(p))],
                                         "probabilities": dict(zip(classes, map(float, p)))} for p in proba]})

    app.run(host="127.0.0.1", port=port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name: str, bundle: Path, runtime: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "ECG_BENCH_BUNDLE": str(bundle),
           "ECG_BENCH_RUNTIME": runtime}
    if name == "naive":
        cmd = [sys.executable, __file__, "--naive-server", str(bundle), "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "benchmark.serving.app:from_environment",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {name} server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the {name} server did not answer /health within 120 s")


def bodies(n_beats: int, count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [json.dumps({"beats": rng.random((n_beats, 187)).round(4).tolist()}).encode() for _ in range(count)]


async def _send(client, url: str, body: bytes) -> bool:
    import httpx

    try:
        response = await client.post(url, content=body, headers={"content-type": "application/json"})
        return response.status_code == 200
    except httpx.HTTPError:
        return False


async def open_loop(base: str, payloads: list[bytes], beats: int, rate: float, seconds: float,
                    grace: float) -> dict:
    """Requests sent at ``rate`` per second for ``seconds`` whatever the answers; each latency counted from
    its scheduled time; requests unanswered ``grace`` s after the last send are counted as lost."""
    import httpx

    loop = asyncio.get_running_loop()
    count = max(1, int(rate * seconds))
    done: list[tuple[float, float, bool]] = []  # (scheduled, finished, ok)

    async def one(client, i: int, at: float):
        ok = await _send(client, f"{base}/predict", payloads[i % len(payloads)])
        done.append((at, loop.time(), ok))

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=seconds + grace) as client:
        t0 = loop.time() + 0.1
        tasks = []
        for i in range(count):
            at = t0 + i / rate
            await asyncio.sleep(max(0.0, at - loop.time()))
            tasks.append(asyncio.create_task(one(client, i, at)))
        _, pending = await asyncio.wait(tasks, timeout=grace + max(0.0, t0 + seconds - loop.time()))
        for task in pending:
            task.cancel()
    return summarise(done, count, beats, t0, "open loop", rate)


async def closed_loop(base: str, payloads: list[bytes], beats: int, concurrency: int, seconds: float,
                      max_requests: int) -> dict:
    """``concurrency`` clients, each sending its next request when its last is answered."""
    import httpx

    loop = asyncio.get_running_loop()
    done: list[tuple[float, float, bool]] = []
    t0 = loop.time()
    stop = t0 + seconds

    async def worker(client, k: int):
        i = k
        while loop.time() < stop and len(done) < max_requests:
            at = loop.time()
            ok = await _send(client, f"{base}/predict", payloads[i % len(payloads)])
            done.append((at, loop.time(), ok))
            i += concurrency

    async with httpx.AsyncClient(timeout=seconds + 60) as client:
        await asyncio.gather(*(worker(client, k) for k in range(concurrency)))
    return summarise(done, len(done), beats, t0, "closed loop", concurrency)


def summarise(done, sent: int, beats: int, t0: float, mode: str, load) -> dict:
    ok = [(a, f) for a, f, good in done if good]
    latency = np.array([f - a for a, f in ok]) * 1000
    elapsed = (max(f for _, f in ok) - t0) if ok else float("nan")
    return {"mode": mode, "load": load, "sent": sent, "ok": len(ok), "failed": len(done) - len(ok),
            "lost": sent - len(done), "p50_ms": float(np.percentile(latency, 50)) if ok else float("nan"),
            "p99_ms": float(np.percentile(latency, 99)) if ok else float("nan"),
            "beats_per_s": len(ok) * beats / elapsed if ok else 0.0}


def drain(base: str, single: bytes, baseline_s: float, limit_s: float = 600.0) -> float:
    """Wait until a server has worked off what an earlier phase left it (requests its client gave up on are
    still computed): until a single beat is answered within 3x its idle latency (+20 ms), at most ``limit_s``
    (a probe that times out while the backlog lasts is retried). Returns seconds."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        t = time.monotonic()
        try:
            httpx.post(f"{base}/predict", content=single, headers={"content-type": "application/json"},
                       timeout=max(1.0, limit_s - (t - started)))
        except httpx.TimeoutException:
            continue
        if time.monotonic() - t <= 3 * baseline_s + 0.02:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def measure(base: str, args) -> dict:
    import httpx

    single, batch = bodies(1, 200, 1), bodies(args.batch_beats, 3, 2)
    for body in (single[0], batch[0]):  # one of each first: neither server is timed on its first call
        httpx.post(f"{base}/predict", content=body, headers={"content-type": "application/json"}, timeout=120)
    t = time.monotonic()
    for _ in range(5):
        httpx.post(f"{base}/predict", content=single[0], headers={"content-type": "application/json"}, timeout=120)
    baseline = (time.monotonic() - t) / 5
    grace = max(5.0, args.seconds)
    phases = {
        "single, open": lambda: open_loop(base, single, 1, args.single_rate, args.seconds, grace),
        "batched, open": lambda: open_loop(base, batch, args.batch_beats, args.batch_rate, args.seconds, grace),
        "single, closed": lambda: closed_loop(base, single, 1, args.concurrency, args.seconds, 100_000),
        "batched, closed": lambda: closed_loop(base, batch, args.batch_beats, args.concurrency, args.seconds, 10_000),
    }
    results = {}
    for name, phase in phases.items():
        results[name] = asyncio.run(phase())
        results[name]["drained_s"] = drain(base, single[0], baseline)
    return results


def same_classes(bases: dict[str, str], beats: int) -> bool:
    import httpx

    body = bodies(beats, 1, 3)[0]
    answers = [[p["class"] for p in httpx.post(f"{b}/predict", content=body, timeout=120,
                                              headers={"content-type": "application/json"}).json()["predictions"]]
               for b in bases.values()]
    return all(a == answers[0] for a in answers)


def verdict(value: float, goal: float, higher_is_better: bool) -> str:
    if np.isnan(value):
        return "missed (no answer)"
    met = value >= goal if higher_is_better else value <= goal
    factor = value / goal if higher_is_better else goal / value
    return f"met ({factor:.1f}× the goal)" if met else f"missed by {abs(value - goal):,.1f} ({factor:.2f}× the goal)"


def report(results: dict, args, bundle_meta: dict, classes_equal: bool, started: float) -> str:
    m, v = machine(), library_versions()
    fast, naive = results["fast"], results["naive"]
    lines = [f"# Serving load test{' (short check, not a measurement)' if args.short else ''}", "",
             f"Commit {git_commit()}; {m['cpu']}, {m['cores']} cores; load average before "
             f"{args.load_before:.2f}, after {os.getloadavg()[0]:.2f}; {time.time() - started:.0f} s in all.",
             f"Bundle: run {bundle_meta['run']['run_id']} ({bundle_meta['model']}), runtime `{args.runtime}` for "
             f"the FastAPI server; keras {v.get('keras')}, tensorflow {v.get('tensorflow')}.",
             f"Command: `python benchmarks/serve_load.py {' '.join(args.argv)}`".rstrip() + "", "",
             f"Each phase {args.seconds:g} s; open loop: single beats at {args.single_rate:g} requests/s, "
             f"{args.batch_beats:,}-beat calls at {args.batch_rate:g} requests/s; closed loop: {args.concurrency} "
             "clients back to back. Latency from each request's scheduled send time (open loop); lost: not "
             "answered within the phase and its grace period; backlog: how long the server then took to work off "
             "what its client had given up on, before the next phase.", "",
             "| server | phase | load | sent | ok | failed | lost | p50 ms | p99 ms | beats/s | backlog s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, phases in (("FastAPI (this server)", fast), ("naive (Flask, predict per call)", naive)):
        for phase, r in phases.items():
            load = f"{r['load']:g} req/s" if r["mode"] == "open loop" else f"{r['load']} clients"
            lines.append(f"| {name} | {phase} | {load} | {r['sent']} | {r['ok']} | {r['failed']} | {r['lost']} | "
                         f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['beats_per_s']:,.0f} | {r['drained_s']:.1f} |")
    p99 = fast["single, open"]["p99_ms"]
    batched = fast["batched, closed"]["beats_per_s"]
    ratio_single = fast["single, closed"]["beats_per_s"] / max(naive["single, closed"]["beats_per_s"], 1e-9)
    ratio_batched = batched / max(naive["batched, closed"]["beats_per_s"], 1e-9)
    lines += ["", "## Goals (2 CPU cores)", "",
              f"- single-beat p99 ≤ {GOAL_P99_MS:g} ms at {args.single_rate:g} requests/s: {p99:.1f} ms, "
              f"{verdict(p99, GOAL_P99_MS, False)}",
              f"- batched ≥ {GOAL_BEATS_PER_S:,.0f} beats/s ({args.batch_beats:,}-beat calls, closed loop): "
              f"{batched:,.0f} beats/s, {verdict(batched, GOAL_BEATS_PER_S, True)}",
              f"- ≥ {GOAL_RATIO:g}× the naive server's throughput, single-beat calls (closed loop): "
              f"{ratio_single:.1f}×, {verdict(ratio_single, GOAL_RATIO, True)}",
              f"- ≥ {GOAL_RATIO:g}× the naive server's throughput, batched calls (closed loop): "
              f"{ratio_batched:.1f}×, {verdict(ratio_batched, GOAL_RATIO, True)}",
              "", f"Both servers give the same classes for a {args.batch_beats:,}-beat call: "
              f"{'yes' if classes_equal else 'NO'}."]
    return "\n".join(lines) + "\n"


def machine_tag() -> str:
    m = machine()
    return f"{re.sub(r'[^a-z0-9]+', '-', m['cpu'].lower()).strip('-')}-{m['cores']}core"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, help="the bundle to serve (default: the committed intra/quick mlp run)")
    p.add_argument("--runtime", choices=["keras", "onnx"], default="keras", help="of the FastAPI server")
    p.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    p.add_argument("--single-rate", type=float, default=100.0)
    p.add_argument("--batch-rate", type=float, default=12.0)
    p.add_argument("--batch-beats", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--short", action="store_true", help="3 s phases: checks that it works; not a measurement")
    p.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "output")
    p.add_argument("--naive-server", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.naive_server:
        naive_server(args.naive_server, args.port)
        return
    args.argv = sys.argv[1:]
    if args.short:
        args.seconds = min(args.seconds, 3.0)
    args.load_before = os.getloadavg()[0]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        bundle = args.bundle
        if bundle is None:
            from benchmark.serving.bundle import export_bundle, store_of_run

            bundle = Path(tmp) / "bundle"
            export_bundle(*store_of_run(DEFAULT_RUN), bundle)
        meta = json.loads((bundle / "bundle.json").read_text())
        results, bases = {}, {}
        for name in ("fast", "naive"):
            process, base = start(name, bundle, args.runtime)
            try:
                print(f"{name} server at {base}: measuring ...", file=sys.stderr, flush=True)
                results[name] = measure(base, args)
                bases[name] = base
                if name == "naive":  # the fast one is stopped by now; restart it to compare classes
                    fast, bases["fast"] = start("fast", bundle, args.runtime)
                    try:
                        equal = same_classes(bases, args.batch_beats)
                    finally:
                        fast.terminate()
                        fast.wait(30)
            finally:
                process.terminate()
                process.wait(30)
    text = report(results, args, meta, equal, started)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    commit = git_commit().split()[0]
    commit = commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")
    out = args.out_dir / f"serve_load-{commit}-{machine_tag()}{'-short' if args.short else ''}.md"
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text(text)
    os.replace(tmp_out, out)
    print(text)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The API phase: the real web application under uvicorn, in its own process, loaded by 50 clients.

Why a separate server process: on 2 cores the load client (httpx, asyncio) and the server
compete for CPU; in one process they would also share one GIL, and the client's work would
be counted as the server's. The server is ``webapp.app.create_app`` exactly as ``aides serve``
builds it (rate limit set out of reach: the load comes from one address), on 127.0.0.1 and a
port the kernel chooses, ``log_level="warning"``; it times its own snapshot and referential
loads and reports its peak RSS (``VmHWM``) when it stops (its standard input is closed).

The phase (client side), on the release the publish phase wrote:

1. start the server, wait until ``/api/openapi.json`` answers (no release read yet);
2. the first request reads the release (``ReleaseSnapshot``: aids, lists, commune index, text
   index, history), the first commune request reads the referential (``GeoResolver``), the
   first change feed computes the changes: each timed on its own, client- and server-side;
3. a few requests of every kind to warm the rest, then one client alone (the service time of
   each kind, without queueing);
4. the load: ``requests`` per kind, shuffled, taken by 50 concurrent clients until none is
   left or ``seconds`` have passed; per kind: count, errors (status ≥ 400 or an exception),
   requests per second, p50 / p99 / max latency.

``python -m benchmarks.api_load CONFIG RESULT [--profile FILE]`` is the server. With
``--profile`` its endpoints run inline in the event loop's thread (FastAPI runs them in a
thread pool, which cProfile does not follow), so that the profile names the functions.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import math
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks.measure import Meter, rss_mb
from warehouse.settings import PROJECT_ROOT, WarehousePaths

CLIENTS = 50
THINK_S = 1.0  # mean pause of a client between two requests (users and apps read between requests)
THINK_SEED = 20261207
SATURATION_S = 10.0  # the back-to-back load, for the server's capacity
WARM_UP = 5  # requests of each kind before the measures (other communes and words than the load's)
ONE_CLIENT = 30  # requests of each kind, one at a time: the service time without queueing
KINDS = ("commune", "commune (list)", "filtered list", "text search", "change feed")
COMMUNE_KINDS = ("commune", "commune (list)")
_WORD = re.compile(r"[^\W\d_]{4,}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------- server process
def serve(config: dict, result_path: Path, profile_path: Path | None) -> None:
    """The application under uvicorn until standard input closes; then its stages and peak RSS."""
    import uvicorn

    import webapp.api.snapshot as snapshot
    import webapp.queries as queries
    from webapp.app import create_app

    meter = Meter()
    paths = WarehousePaths(Path(config["warehouse"]))
    app = create_app(paths, session_key=b"k" * 32, api_rate=(1e9, 10**9))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False, timeout_keep_alive=30)
    )
    profile = cProfile.Profile() if profile_path else None
    if profile:
        import fastapi.routing

        async def inline(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)  # FastAPI passes ``function=`` among the keywords

        fastapi.routing.run_in_threadpool = inline  # type: ignore[assignment]

    def run() -> None:  # not the main thread: uvicorn leaves the signals alone
        if profile:
            profile.enable()
        try:
            server.run(sockets=[listener])
        finally:
            if profile:
                profile.disable()

    aids = lambda result, args, kwargs: result.aides.height  # noqa: E731
    with (
        meter.wrapped(snapshot, "ReleaseSnapshot", "api server: load snapshot (ReleaseSnapshot)", aids),
        meter.wrapped(snapshot, "CatalogueIndex", "api server: snapshot: commune index"),
        meter.wrapped(snapshot, "SearchIndex", "api server: snapshot: text index", lambda r, a, k: r.size),
        meter.wrapped(snapshot.History, "read", "api server: snapshot: history"),
        meter.wrapped(queries.WarehouseAccess, "resolver", "api server: referential (GeoResolver)"),
        meter.wrapped(
            snapshot, "compute_changes", "api server: changes since (compute_changes)", lambda r, a, k: r.height
        ),
    ):
        thread = threading.Thread(target=run, name="uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        print(f"PORT {listener.getsockname()[1]}", flush=True)
        sys.stdin.read()  # until the phase closes it
        server.should_exit = True
        thread.join(timeout=30)
    meter.close()
    if profile and profile_path:
        from benchmarks.phases import _profile_report

        _profile_report(profile, profile_path)
    result_path.write_text(
        json.dumps(
            {"stages": meter.merged(), "process_peak_rss_mb": round(meter.process_peak_mb, 1), "rss_mb": rss_mb()},
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )


class Server:
    """The server process seen from the phase: its port, its RSS (sampled, with a kill limit), its stop."""

    def __init__(self, config: dict, folder: Path, profile: Path | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path, self.result = folder / "api-server.config.json", folder / "api-server.json"
        self.log = folder / "api-server.log"
        self.result.unlink(missing_ok=True)
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        command = [sys.executable, "-m", "benchmarks.api_load", str(self.config_path), str(self.result)]
        if profile:
            command += ["--profile", str(profile)]
        self.limit_mb = float(config.get("max_rss_mb") or 1e12)
        self.peak_mb = 0.0
        self.killed = False
        with open(self.log, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
            )
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()
        self.port = self._read_port(timeout_s=120)

    def _watch(self) -> None:
        while not self._stop.wait(0.1) and self.process.poll() is None:
            current = rss_mb(self.process.pid)
            self.peak_mb = max(self.peak_mb, current)
            if current > self.limit_mb and not self.killed:
                self.killed = True
                self.process.kill()

    def _read_port(self, timeout_s: float) -> int:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith("PORT "):
                    return int(line.split()[1])
                if not line:
                    break
        self.stop()
        raise RuntimeError("the API server did not start: " + self.tail())

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def tail(self) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or f"exit {self.process.poll()}"

    def stop(self) -> dict:
        """Close its standard input (it stops and writes its result), kill it (by pid) if it hangs."""
        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._stop.set()
        if self.killed:
            raise RuntimeError(
                f"API server killed at {self.peak_mb / 1024:.1f} GB RSS (limit {self.limit_mb / 1024:.1f} GB)"
            )
        if self.process.returncode != 0 or not self.result.exists():
            raise RuntimeError(f"API server exit {self.process.returncode}: {self.tail()}")
        return json.loads(self.result.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- requests
class Requests:
    """Realistic addresses of each kind, drawn (seeded) from the referential and the release."""

    def __init__(self, paths: WarehousePaths, seed: int) -> None:
        import polars as pl

        from schemas import allowed_values
        from warehouse.db import connect_reader

        self.random = random.Random(seed)
        release = paths.exports_dir / "latest"
        with connect_reader(paths) as conn:
            self.communes = [row[0] for row in conn.execute("SELECT code FROM ref_communes ORDER BY code").fetchall()]
            self.attached = [
                row[0]
                for row in conn.execute(
                    "SELECT code FROM ref_communes_rattachees "
                    "WHERE type IN ('arrondissement-municipal', 'commune-deleguee') ORDER BY code"
                ).fetchall()
            ]
        texts = pl.read_parquet(release / "aides.parquet", columns=["titre", "description"])
        self.aids = texts.height
        sample = texts.sample(min(texts.height, 5_000), seed=seed)
        self.texts = [
            words
            for titre, description in sample.iter_rows()
            if (words := _WORD.findall(f"{titre or ''} {(description or '')[:300]}".lower()))
        ]
        self.thematiques = list(allowed_values("thematiques"))
        self.cibles = list(allowed_values("cibles"))
        created = json.loads((release / "datapackage.json").read_text(encoding="utf-8")).get("created", "")
        published = date.fromisoformat(created[:10]) if created else date.today()
        self.depuis = (published - timedelta(days=30)).isoformat()  # before the release: every aid is new
        self.feed_pages = max(1, math.ceil(self.aids / 100))

    def commune(self) -> str:
        if self.attached and self.random.random() < 0.1:  # arrondissements, communes déléguées
            return self.random.choice(self.attached)
        return self.random.choice(self.communes)

    def one(self, kind: str) -> str:
        pick = self.random
        if kind == "commune":
            return f"/api/v1/communes/{self.commune()}/aides"
        if kind == "commune (list)":
            return f"/api/v1/aides?commune={self.commune()}"
        if kind == "filtered list":
            page = pick.choice((1, 1, 1, 2, 2, 3, 4, 5))
            return (
                f"/api/v1/aides?thematique={pick.choice(self.thematiques)}&cible={pick.choice(self.cibles)}&page={page}"
            )
        if kind == "text search":
            words = pick.choice(self.texts)
            chosen = pick.sample(words, min(len(words), pick.choice((1, 1, 2, 2, 3))))
            return "/api/v1/aides?" + urlencode({"q": " ".join(chosen)})
        if kind == "change feed":
            return f"/api/v1/changements?depuis={self.depuis}&page={pick.randint(1, self.feed_pages)}"
        raise ValueError(kind)

    def mixed(self, per_kind: int) -> list[tuple[str, str]]:
        planned = [(kind, self.one(kind)) for kind in KINDS for _ in range(per_kind)]
        self.random.shuffle(planned)
        return planned


# ---------------------------------------------------------------------------- client
async def _run(
    base: str, planned: list[tuple[str, str]], clients: int, seconds: float, think: float = 0.0
) -> tuple[dict[str, list[float]], dict[str, list[str]], float]:
    """``planned`` taken in order by ``clients`` concurrent clients until done or ``seconds`` passed.

    ``think``: each client pauses between its requests, uniformly between 0.5 and 1.5 times this
    many seconds, as a user or an app does (0: back to back, a saturation test)."""
    import random

    import httpx

    pauses = random.Random(THINK_SEED)

    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    errors: dict[str, list[str]] = {kind: [] for kind in KINDS}
    queue = iter(planned)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0) as client:
        started = time.perf_counter()
        stop = started + seconds

        async def worker() -> None:
            if think:  # clients arrive spread over one pause, as users do, not all at the same instant
                await asyncio.sleep(think * pauses.uniform(0.0, 1.5))
            for kind, url in queue:  # one shared iterator: each request is taken once
                if time.perf_counter() > stop:
                    return
                begin = time.perf_counter()
                try:
                    response = await client.get(url)
                    if response.status_code >= 400:
                        errors[kind].append(f"{response.status_code} {url} {response.text[:200]}")
                except Exception as exc:  # noqa: BLE001 - counted as an error of its kind
                    errors[kind].append(f"{type(exc).__name__} {url} {exc}")
                latencies[kind].append((time.perf_counter() - begin) * 1000)
                if think:
                    await asyncio.sleep(think * pauses.uniform(0.5, 1.5))

        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, errors, wall


def _timed_get(base: str, url: str) -> tuple[float, int]:
    import httpx

    started = time.perf_counter()
    response = httpx.get(base + url, timeout=600.0)
    return time.perf_counter() - started, response.status_code


def _wait_until_it_answers(base: str, server: Server, timeout_s: float = 60.0) -> None:
    """``/api/openapi.json`` answers 200 (it reads no release)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if _timed_get(base, "/api/openapi.json")[1] == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the API server does not answer")
        time.sleep(0.05)


def _figures(latencies: list[float], errors: list[str], wall: float) -> dict:
    if not latencies:
        return {"requests": 0, "errors": len(errors), "req_s": 0.0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "req_s": len(latencies) / wall if wall > 0 else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "mean_ms": sum(latencies) / len(latencies),
    }


def phase_api(config: dict, meter: Meter) -> dict:
    """Start the server on the latest release, warm it, time one client then 50; stop it."""
    paths = WarehousePaths(Path(config["warehouse"]))
    per_kind = int(config.get("api_requests", 400))
    seconds = float(config.get("api_seconds", 20.0))
    clients = int(config.get("api_clients", CLIENTS))
    folder = Path(config.get("logs") or paths.root)
    requests = Requests(paths, int(config["seed"]))
    with meter.stage("api: start server (until it answers)"):
        server = Server(config, folder, Path(config["profile"]) if config.get("profile") else None)
        base = f"http://127.0.0.1:{server.port}"
        _wait_until_it_answers(base, server)
    samples: dict[str, Any] = {"rss_started_mb": server.rss_mb()}
    problems: dict[str, list[str]] = {kind: [] for kind in KINDS}
    first: dict[str, float] = {}
    try:
        with meter.stage("api: first request (snapshot load)", rows=requests.aids):
            first["snapshot_s"], status = _timed_get(base, "/api/v1/aides?par_page=1")
            if status != 200:
                problems["filtered list"].append(f"{status} first request")
        samples["rss_snapshot_mb"] = server.rss_mb()
        with meter.stage("api: first commune (referential load)", rows=1):
            first["referential_s"], status = _timed_get(base, f"/api/v1/communes/{requests.commune()}/aides")
            if status != 200:
                problems["commune"].append(f"{status} first commune")
        with meter.stage("api: first change feed (changes computed)", rows=1):
            first["changes_s"], status = _timed_get(base, f"/api/v1/changements?depuis={requests.depuis}")
            if status != 200:
                problems["change feed"].append(f"{status} first change feed")
        with meter.stage("api: warm-up", rows=WARM_UP * len(KINDS)):
            latencies, errors, _ = asyncio.run(_run(base, requests.mixed(WARM_UP), 1, 600.0))
            for kind in KINDS:
                problems[kind] += errors[kind]
        with meter.stage("api: one client (service time)", rows=ONE_CLIENT * len(KINDS)) as entry:
            alone, errors, alone_wall = asyncio.run(_run(base, requests.mixed(ONE_CLIENT), 1, max(seconds, 60.0)))
            entry["rows"] = sum(len(v) for v in alone.values())
            for kind in KINDS:
                problems[kind] += errors[kind]
        planned = requests.mixed(per_kind)
        think = float(config.get("api_think", THINK_S))
        with meter.stage(f"api: load ({clients} clients, pause ~{think:g} s)") as entry:
            loaded, errors, wall = asyncio.run(_run(base, planned, clients, seconds, think))
            entry["rows"] = sum(len(v) for v in loaded.values())
        with meter.stage(f"api: saturation ({clients} clients, no pause)") as entry:
            saturated, saturation_errors, saturation_wall = asyncio.run(
                _run(base, requests.mixed(per_kind), clients, min(seconds, SATURATION_S))
            )
            entry["rows"] = sum(len(v) for v in saturated.values())
            for kind in KINDS:
                problems[kind] += saturation_errors[kind]
        samples["rss_end_mb"] = server.rss_mb()
    finally:
        sampled_peak = server.peak_mb
        server_result = server.stop()
    # the server's own stages (its own peaks), shown under the client's request during which they ran
    anchors = {s["stage"]: s["order"] for s in meter.stages}
    for number, stage in enumerate(server_result["stages"], start=1):
        during = (
            "api: first commune (referential load)"
            if "referential" in stage["stage"]
            else "api: first change feed (changes computed)"
            if "changes" in stage["stage"]
            else "api: first request (snapshot load)"
        )
        meter.stages.append({**stage, "order": anchors.get(during, len(anchors)) + number / 100, "start_rss_mb": 0.0})
    kinds = {}
    for kind in KINDS:
        figures = _figures(loaded[kind], errors[kind], wall)
        figures["one_client"] = _figures(alone[kind], [], alone_wall)
        figures["saturation"] = _figures(saturated[kind], saturation_errors[kind], saturation_wall)
        figures["errors_before_load"] = len(problems[kind])
        kinds[kind] = figures
    every = [value for kind in KINDS for value in loaded[kind]]
    total = _figures(every, [e for kind in KINDS for e in errors[kind]], wall)
    server_stage = {s["stage"]: s for s in server_result["stages"]}
    snapshot = server_stage.get("api server: load snapshot (ReleaseSnapshot)")
    referential = server_stage.get("api server: referential (GeoResolver)")
    return {
        "clients": clients,
        "think_s": think,
        "saturation": _figures(
            [v for kind in KINDS for v in saturated[kind]],
            [e for kind in KINDS for e in saturation_errors[kind]],
            saturation_wall,
        ),
        "requests_per_kind": per_kind,
        "seconds_limit": seconds,
        "planned": len(planned),
        "load_s": wall,
        "aids": requests.aids,
        "kinds": kinds,
        "total": total,
        "errors": sum(len(errors[kind]) + len(problems[kind]) for kind in KINDS),
        "error_samples": [e for kind in KINDS for e in (problems[kind] + errors[kind])[:3]],
        "first_request_s": first.get("snapshot_s"),
        "first_commune_s": first.get("referential_s"),
        "first_change_feed_s": first.get("changes_s"),
        "server_snapshot_load_s": snapshot["seconds"] if snapshot else None,
        "server_referential_load_s": referential["seconds"] if referential else None,
        "server_peak_rss_mb": max(sampled_peak, server_result["process_peak_rss_mb"]),
        "server_rss_mb": samples,
        "server_process": "separate process (python -m benchmarks.api_load), uvicorn on 127.0.0.1",
    }


def main(argv: list[str]) -> int:
    config_path, result_path = argv[:2]
    profile = Path(argv[argv.index("--profile") + 1]) if "--profile" in argv else None
    serve(json.loads(Path(config_path).read_text(encoding="utf-8")), Path(result_path), profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

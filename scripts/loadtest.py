#!/usr/bin/env python3
"""Mixed-workload load test for facelite (Python 3.11, standard library only).

N concurrent clients (default 50) run a weighted mix of requests for a bounded time (default
60 s) and at most a bounded number of requests:

  healthz         GET  /healthz
  lite_extract    POST /v1/face/pattern/extract               (raw image/jpeg body)
  lite_compare    POST /v1/face/pattern/extract_and_compare   (multipart sample_1, sample_2)
  lite_liveness   POST /v1/face/liveness/detect               (raw body; only when
                  /v1/face/liveness/health says a passive model is installed, or --liveness on)
  oz flow         POST /api/folders/ (multipart: two photos, photo_selfie + photo_id_front)
                  -> oz_upload; then, while fewer than --max-analysis-flows flows are running,
                  POST /api/folders/{id}/analyses/ QUALITY+BIOMETRY -> oz_analyses, and
                  GET /api/analyses/{id} every --poll-interval until each has left PROCESSING
                  -> oz_poll.

It reports requests total, per-kind counts, answers by status code, p50/p95/p99 latency overall
and per kind, throughput, analysis outcomes and (with --binary, or --url plus --pid) peak RSS
sampled every 50 ms from /proc/PID/status, plus VmHWM at the end.

Only loopback targets are accepted (127.0.0.1, localhost, ::1).

Exit status: 0 = ran (HTTP errors are findings, printed in the summary); 1 = the share of
5xx answers plus transport errors (timeouts, resets) exceeded --max-error-rate; 2 = the server
died during the run, or did not stop cleanly on SIGTERM (with --binary); 3 = the script itself
failed (bad arguments, server did not start, login failed, ...).

hostile_rss.py imports the helpers of this file (server process, RSS monitor, HTTP client).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGES = REPO / "tests" / "data"
ADMIN_EMAIL = "admin@facelite.test"
ADMIN_PASSWORD = "admin-password-1"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

EXIT_OK = 0
EXIT_ERROR_RATE = 1
EXIT_SERVER_DIED = 2
EXIT_SCRIPT = 3


class ScriptError(Exception):
    """The script could not do its job (exit 3)."""


class ServerDied(Exception):
    """The server process went away (exit 2)."""


class TransportError(Exception):
    """No HTTP answer: connection refused/reset, timeout, malformed response."""


# --------------------------------------------------------------------------------------------
# Target, server process, RSS
# --------------------------------------------------------------------------------------------


def parse_loopback_url(url: str) -> tuple[str, int]:
    """(host, port) of an http:// URL on loopback; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ScriptError(f"--url must be http://...: {url!r} (TLS is not supported here)")
    host = parts.hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise ScriptError(
            f"refusing non-loopback target {host!r}: only 127.0.0.1, localhost and ::1 are allowed"
        )
    if parts.path not in ("", "/"):
        raise ScriptError(f"--url must not carry a path: {url!r}")
    return host, parts.port or 80


def read_proc_status(pid: int) -> dict[str, int] | None:
    """VmRSS/VmHWM/Threads of a process in kB (Threads as a count), None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads", "State"):
            if key == "State":
                if rest.strip().startswith("Z"):
                    return None  # zombie: it has exited
                continue
            try:
                out[key] = int(rest.split()[0])
            except (IndexError, ValueError):
                pass
    return out if "VmRSS" in out else None


class RssMonitor(threading.Thread):
    """Samples VmRSS of `pid` every `interval` seconds; keeps the overall peak and a peak per
    phase (see `mark`)."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True, name="rss-monitor")
        self.pid = pid
        self.interval = interval
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.samples = 0
        self.gone = False
        first = read_proc_status(pid)
        if first is None:
            raise ScriptError(f"cannot read /proc/{pid}/status (no such process?)")
        self.start_kb = first["VmRSS"]
        self.current_kb = first["VmRSS"]
        self.peak_kb = first["VmRSS"]
        self.hwm_kb = first.get("VmHWM", 0)
        self.max_threads = first.get("Threads", 0)
        self.phase_peak_kb = first["VmRSS"]

    def run(self) -> None:
        while not self._halt.is_set():
            st = read_proc_status(self.pid)
            if st is None:
                self.gone = True
                return
            with self._lock:
                self.samples += 1
                self.current_kb = st["VmRSS"]
                self.peak_kb = max(self.peak_kb, st["VmRSS"])
                self.phase_peak_kb = max(self.phase_peak_kb, st["VmRSS"])
                self.hwm_kb = max(self.hwm_kb, st.get("VmHWM", 0))
                self.max_threads = max(self.max_threads, st.get("Threads", 0))
            self._halt.wait(self.interval)

    def mark(self) -> int:
        """Ends a phase: returns its peak (kB) and starts the next one at the current RSS."""
        st = read_proc_status(self.pid)
        with self._lock:
            if st is not None:
                self.current_kb = st["VmRSS"]
                self.phase_peak_kb = max(self.phase_peak_kb, st["VmRSS"])
                self.peak_kb = max(self.peak_kb, st["VmRSS"])
                self.hwm_kb = max(self.hwm_kb, st.get("VmHWM", 0))
            peak = self.phase_peak_kb
            self.phase_peak_kb = self.current_kb
            return peak

    def now_kb(self) -> int | None:
        st = read_proc_status(self.pid)
        return None if st is None else st["VmRSS"]

    def final_hwm_kb(self) -> int:
        st = read_proc_status(self.pid)
        if st is not None:
            self.hwm_kb = max(self.hwm_kb, st.get("VmHWM", 0))
        return self.hwm_kb

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=2)


class ManagedServer:
    """A facelite server started from a binary with a fresh temporary data dir, on
    127.0.0.1:0, with the test harness's admin account and cheap password hashing."""

    def __init__(self, binary: str, extra_env: dict[str, str] | None = None,
                 start_timeout: float = 180.0, keep_log: str | None = None):
        self.binary = str(Path(binary).resolve())
        if not os.access(self.binary, os.X_OK):
            raise ScriptError(f"--binary {binary!r} is not an executable file")
        self.extra_env = extra_env or {}
        self.start_timeout = start_timeout
        self.keep_log = keep_log
        self.tmp: str | None = None
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.log_path = ""
        self.panics = 0
        self.log_lines = 0
        self._tail: list[str] = []
        self._reader: threading.Thread | None = None
        self.exit_code: int | None = None
        self.shutdown_secs: float | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="facelite-load-")
        data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FACELITE_") and not k.startswith("OZ_")}
        env.update({
            "FACELITE_ADMIN_EMAIL": ADMIN_EMAIL,
            "FACELITE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "FACELITE_AUTH_PBKDF2_ITERATIONS": "1000",
        })
        env.update(self.extra_env)
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        found = threading.Event()
        addr: list[tuple[str, int]] = []
        pat = re.compile(r"listening on \w+://(\S+)")

        def reader() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            with open(self.log_path, "w", encoding="utf-8", errors="replace") as log:
                for raw in self.proc.stderr:
                    line = raw.decode("utf-8", "replace")
                    log.write(line)
                    self.log_lines += 1
                    if "panicked" in line:
                        self.panics += 1
                    self._tail.append(line.rstrip("\n"))
                    if len(self._tail) > 40:
                        del self._tail[:-40]
                    if not found.is_set():
                        m = pat.search(line)
                        if m:
                            hp = m.group(1)
                            host, _, port = hp.rpartition(":")
                            addr.append((host.strip("[]"), int(port)))
                            found.set()

        self._reader = threading.Thread(target=reader, daemon=True, name="server-log")
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None:
                raise ScriptError(
                    f"server exited with {self.proc.returncode} before listening; log tail:\n"
                    + self.log_tail())
            if time.monotonic() > deadline:
                self.kill()
                raise ScriptError("server did not start listening in time; log tail:\n"
                                  + self.log_tail())
        self.host, self.port = addr[0]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self._tail[-n:])

    def stop(self, grace: float = 45.0) -> int | None:
        """SIGTERM, wait up to `grace` s (the server's own grace is 30 s), then SIGKILL.
        Returns the exit code (negative = killed by that signal)."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            t0 = time.monotonic()
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
                self.shutdown_secs = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                self.kill()
        self.exit_code = self.proc.returncode
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.exit_code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self) -> None:
        if self.keep_log and self.log_path and os.path.exists(self.log_path):
            try:
                shutil.copyfile(self.log_path, self.keep_log)
            except OSError:
                pass
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


@dataclass
class Resp:
    status: int
    body: bytes
    headers: dict[str, str]
    elapsed: float
    size: int = 0

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    def error_summary(self) -> str:
        """`code: message` of an Oz (`error_code`/`error_message`) or Lite (`code`/`message`)
        error body, else the start of the body."""
        j = self.json()
        if isinstance(j, dict):
            if "error_code" in j:
                return f"{j.get('error_code')}: {str(j.get('error_message', ''))[:160]}"
            if "code" in j and "message" in j:
                return f"{j.get('code')}: {str(j.get('message', ''))[:160]}"
        text = self.body[:120].decode("utf-8", "replace").replace("\n", " ")
        return text


class Client:
    """One HTTP/1.1 connection (keep-alive unless `keep_alive=False`), reopened after errors.
    A request on a reused connection that fails before any answer is retried once on a new
    connection (the server may have closed an idle keep-alive connection)."""

    def __init__(self, host: str, port: int, timeout: float = 60.0, keep_alive: bool = True,
                 token: str | None = None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.keep_alive = keep_alive
        self.token = token
        self.conn: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, auth: bool = True,
                discard_body: bool = False, timeout: float | None = None) -> Resp:
        hdrs = dict(headers or {})
        if auth and self.token:
            hdrs["X-Forensic-Access-Token"] = self.token
        if not self.keep_alive:
            hdrs["Connection"] = "close"
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=timeout or self.timeout)
            elif timeout is not None and self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            t0 = time.monotonic()
            try:
                try:
                    self.conn.request(method, path, body=body, headers=hdrs)
                except (BrokenPipeError, ConnectionResetError) as send_err:
                    # The server may have answered early (e.g. 413) and closed: read it.
                    try:
                        r = self.conn.getresponse()
                    except Exception:
                        raise send_err
                    return self._finish(r, t0, discard_body, early=True)
                r = self.conn.getresponse()
                return self._finish(r, t0, discard_body)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    ConnectionAbortedError) as e:
                self.close()
                if not fresh and attempt == 0:
                    self.reconnects += 1
                    continue
                raise TransportError(f"{type(e).__name__}: {e}") from None
            except (socket.timeout, TimeoutError) as e:
                self.close()
                raise TransportError(f"timeout after {time.monotonic() - t0:.1f}s") from None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransportError(f"{type(e).__name__}: {e}") from None
        raise TransportError("unreachable")

    def _finish(self, r: http.client.HTTPResponse, t0: float, discard: bool,
                early: bool = False) -> Resp:
        if discard:
            n = 0
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
            data = b""
        else:
            data = r.read()
            n = len(data)
        elapsed = time.monotonic() - t0
        headers = {k.lower(): v for k, v in r.getheaders()}
        if early or r.will_close or not self.keep_alive:
            self.close()
        return Resp(r.status, data, headers, elapsed, n)


def multipart(parts: list[tuple[str, str | None, str | None, bytes]]) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data form; parts are
    (field, filename or None, content type or None, data)."""
    boundary = "facelite-load-" + uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, filename, ctype, data in parts:
        chunks.append(f"--{boundary}\r\n".encode())
        disp = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        chunks.append((disp + "\r\n").encode())
        if ctype:
            chunks.append(f"Content-Type: {ctype}\r\n".encode())
        chunks.append(b"\r\n")
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


def folder_form(files: list[tuple[str, str, bytes, list[str]]],
                extra_payload: dict | None = None) -> tuple[str, bytes]:
    """An Oz folder upload: (field, filename, bytes, tags) per file plus the `payload` part."""
    tags = {field: t for field, _, _, t in files if t}
    payload = {"media:tags": tags}
    payload.update(extra_payload or {})
    parts: list[tuple[str, str | None, str | None, bytes]] = [
        (field, fname, "application/octet-stream", data) for field, fname, data, _ in files
    ]
    parts.append(("payload", None, "text/plain", json.dumps(payload).encode()))
    return multipart(parts)


def login(host: str, port: int, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD,
          timeout: float = 60.0) -> str:
    c = Client(host, port, timeout=timeout, keep_alive=False)
    body = json.dumps({"credentials": {"email": email, "password": password}}).encode()
    try:
        r = c.request("POST", "/api/authorize/auth/", body,
                      {"Content-Type": "application/json"}, auth=False)
    except TransportError as e:
        raise ScriptError(f"login: no answer: {e}") from None
    j = r.json()
    if r.status != 200 or not isinstance(j, dict) or "access_token" not in j:
        raise ScriptError(f"login failed: HTTP {r.status} {r.error_summary()}")
    return j["access_token"]


def parse_server_env(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings (for --server-env) as a dict."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ScriptError(f"--server-env wants KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def mb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.1f}"


def read_image(images: Path, name: str) -> bytes:
    p = images / name
    try:
        return p.read_bytes()
    except OSError as e:
        raise ScriptError(f"test image {p}: {e}") from None


# --------------------------------------------------------------------------------------------
# Load test
# --------------------------------------------------------------------------------------------

KINDS = ["healthz", "lite_extract", "lite_compare", "lite_liveness", "oz_upload", "oz_analyses",
         "oz_poll"]
DEFAULT_MIX = "healthz=2,lite_extract=3,lite_compare=2,lite_liveness=1,oz=4"
OPS = {"healthz", "lite_extract", "lite_compare", "lite_liveness", "oz"}


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, w = item.partition("=")
        if not sep or name not in OPS:
            raise ScriptError(f"--mix: bad item {item!r}; operations are {sorted(OPS)}")
        try:
            mix[name] = float(w)
        except ValueError:
            raise ScriptError(f"--mix: bad weight in {item!r}") from None
        if mix[name] < 0:
            raise ScriptError(f"--mix: negative weight in {item!r}")
    if sum(mix.values()) <= 0:
        raise ScriptError("--mix: all weights are zero")
    return mix


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lat: dict[str, list[float]] = {k: [] for k in KINDS}
        self.status: dict[str, dict[int, int]] = {k: {} for k in KINDS}
        self.transport: dict[str, int] = {k: 0 for k in KINDS}
        self.transport_samples: list[str] = []
        self.error_samples: dict[str, dict[str, int]] = {}
        self.analyses_started = 0
        self.analysis_final: dict[str, int] = {}
        self.analysis_e2e: list[float] = []
        self.analyses_abandoned = 0
        self.flows_without_analysis = 0
        self.reconnects = 0

    def record(self, kind: str, r: Resp, ok_statuses: tuple[int, ...]) -> None:
        with self.lock:
            self.lat[kind].append(r.elapsed)
            self.status[kind][r.status] = self.status[kind].get(r.status, 0) + 1
            if r.status not in ok_statuses:
                key = f"{kind} {r.status} {r.error_summary()}"
                d = self.error_samples.setdefault(kind, {})
                if key in d or len(d) < 20:
                    d[key] = d.get(key, 0) + 1

    def record_transport(self, kind: str, err: Exception, elapsed: float) -> None:
        with self.lock:
            self.transport[kind] += 1
            self.lat[kind].append(elapsed)
            if len(self.transport_samples) < 20:
                self.transport_samples.append(f"{kind}: {err}")


class Budget:
    """Shared request budget: `take()` is False once the time or request bound is reached."""

    def __init__(self, max_requests: int, deadline: float, stop: threading.Event):
        self.left = max_requests
        self.deadline = deadline
        self.stop = stop
        self.lock = threading.Lock()
        self.stopped_at: float | None = None

    def halt(self) -> None:
        with self.lock:
            if self.stopped_at is None:
                self.stopped_at = min(time.monotonic(), self.deadline)
        self.stop.set()

    def take(self) -> bool:
        if self.stop.is_set() or time.monotonic() >= self.deadline:
            self.halt()
            return False
        with self.lock:
            if self.left <= 0:
                self.stopped_at = self.stopped_at or time.monotonic()
                self.stop.set()
                return False
            self.left -= 1
            return True


class Workload:
    def __init__(self, args, host: str, port: int, token: str, stats: Stats, budget: Budget,
                 mix: dict[str, float]):
        self.args = args
        self.host = host
        self.port = port
        self.token = token
        self.stats = stats
        self.budget = budget
        self.ops = [k for k, w in mix.items() if w > 0]
        self.weights = [mix[k] for k in self.ops]
        self.flow_slots = threading.BoundedSemaphore(max(0, args.max_analysis_flows) or 1)
        self.flows_enabled = args.max_analysis_flows > 0
        images = Path(args.images)
        self.img_a = read_image(images, args.image_a)
        self.img_b = read_image(images, args.image_b)
        self.oz_selfie = read_image(images, args.oz_selfie)
        self.oz_id = read_image(images, args.oz_id)
        self.compare_ct, self.compare_body = multipart([
            ("sample_1", "a.jpg", "image/jpeg", self.img_a),
            ("sample_2", "b.jpg", "image/jpeg", self.img_b),
        ])

    def call(self, client: Client, kind: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200,),
             auth: bool = True) -> Resp | None:
        """One counted request; None when the budget is spent or on a transport error."""
        if not self.budget.take():
            return None
        t0 = time.monotonic()
        try:
            r = client.request(method, path, body, headers, auth=auth)
        except TransportError as e:
            self.stats.record_transport(kind, e, time.monotonic() - t0)
            return None
        self.stats.record(kind, r, ok)
        return r

    def worker(self, idx: int) -> None:
        rng = random.Random(self.args.seed * 1000 + idx)
        client = Client(self.host, self.port, timeout=self.args.timeout, token=self.token)
        try:
            while not self.budget.stop.is_set():
                op = rng.choices(self.ops, self.weights)[0]
                if op == "healthz":
                    self.call(client, "healthz", "GET", "/healthz", auth=False)
                elif op == "lite_extract":
                    self.call(client, "lite_extract", "POST", "/v1/face/pattern/extract",
                              self.img_a, {"Content-Type": "image/jpeg"})
                elif op == "lite_compare":
                    self.call(client, "lite_compare", "POST",
                              "/v1/face/pattern/extract_and_compare", self.compare_body,
                              {"Content-Type": self.compare_ct})
                elif op == "lite_liveness":
                    self.call(client, "lite_liveness", "POST", "/v1/face/liveness/detect",
                              self.img_a, {"Content-Type": "image/jpeg"})
                elif op == "oz":
                    self.oz_flow(client, rng)
        finally:
            with self.stats.lock:
                self.stats.reconnects += client.reconnects
            client.close()

    def oz_flow(self, client: Client, rng: random.Random) -> None:
        ct, body = folder_form([
            ("selfie", "selfie.jpg", self.oz_selfie, ["photo_selfie"]),
            ("id", "id.jpg", self.oz_id, ["photo_id", "photo_id_front"]),
        ])
        r = self.call(client, "oz_upload", "POST", "/api/folders/", body,
                      {"Content-Type": ct}, ok=(201,))
        if r is None or r.status != 201:
            return
        j = r.json()
        fid = j.get("folder_id") if isinstance(j, dict) else None
        if not fid:
            return
        if not self.flows_enabled or not self.flow_slots.acquire(blocking=False):
            with self.stats.lock:
                self.stats.flows_without_analysis += 1
            return
        try:
            req = json.dumps({"analyses": [{"type": "QUALITY"}, {"type": "BIOMETRY"}]}).encode()
            t_start = time.monotonic()
            r = self.call(client, "oz_analyses", "POST", f"/api/folders/{fid}/analyses/", req,
                          {"Content-Type": "application/json"}, ok=(201,))
            if r is None or r.status != 201:
                return
            arr = r.json()
            ids = [a.get("analysis_id") for a in arr if isinstance(a, dict)] \
                if isinstance(arr, list) else []
            ids = [i for i in ids if i]
            with self.stats.lock:
                self.stats.analyses_started += len(ids)
            pending = list(ids)
            flow_deadline = t_start + self.args.analysis_timeout
            while pending:
                if self.budget.stop.is_set() or time.monotonic() > flow_deadline:
                    with self.stats.lock:
                        self.stats.analyses_abandoned += len(pending)
                    return
                time.sleep(self.args.poll_interval * (0.8 + 0.4 * rng.random()))
                still = []
                for aid in pending:
                    r = self.call(client, "oz_poll", "GET", f"/api/analyses/{aid}")
                    if r is None:
                        if self.budget.stop.is_set():
                            with self.stats.lock:
                                self.stats.analyses_abandoned += len(pending) - len(still)
                            return
                        still.append(aid)
                        continue
                    a = r.json() if r.status == 200 else None
                    if isinstance(a, dict) and a.get("state") not in (None, "PROCESSING"):
                        key = f"{a.get('type')} {a.get('state')}/{a.get('resolution_status')}"
                        with self.stats.lock:
                            self.stats.analysis_final[key] = \
                                self.stats.analysis_final.get(key, 0) + 1
                            self.stats.analysis_e2e.append(time.monotonic() - t_start)
                    elif r.status in (200,) or r.status >= 500:
                        still.append(aid)
                    else:
                        # 4xx on a poll: give up on this analysis (recorded as an error answer).
                        with self.stats.lock:
                            self.stats.analyses_abandoned += 1
                pending = still
        finally:
            self.flow_slots.release()


def kind_row(name: str, lat: list[float], statuses: dict[int, int], transport: int,
             wall: float) -> dict:
    s = sorted(lat)
    n = sum(statuses.values()) + transport
    ok = sum(c for st, c in statuses.items() if 200 <= st < 300)
    return {
        "kind": name,
        "count": n,
        "ok_2xx": ok,
        "status_4xx": sum(c for st, c in statuses.items() if 400 <= st < 500),
        "status_5xx": sum(c for st, c in statuses.items() if st >= 500),
        "transport_errors": transport,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": None if not s else round(percentile(s, 50) * 1000, 1),
        "p95_ms": None if not s else round(percentile(s, 95) * 1000, 1),
        "p99_ms": None if not s else round(percentile(s, 99) * 1000, 1),
        "max_ms": None if not s else round(s[-1] * 1000, 1),
        "rps": round(n / wall, 2) if wall > 0 else None,
    }


def fmt_ms(v) -> str:
    return "-" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def render_text(rep: dict) -> str:
    out: list[str] = []
    t = rep["target"]
    out.append(f"facelite load test — {rep['clients']} clients, ran {rep['wall_secs']:.1f} s: "
               f"load {rep['load_secs']:.1f} s + {rep['wall_secs'] - rep['load_secs']:.1f} s "
               f"waiting for requests in flight (limits: {rep['duration_limit_secs']:g} s, "
               f"{rep['max_requests']} requests), "
               f"target {t['url']}" + (f" (binary {t['binary']})" if t.get("binary") else ""))
    out.append(f"mix: {rep['mix']}; analysis flows at once: {rep['max_analysis_flows']}; "
               f"liveness/detect: {'on' if rep['liveness_enabled'] else 'off'} "
               f"({rep['liveness_reason']})")
    tot = rep["overall"]
    out.append(f"requests: {tot['count']} total, {tot['rps']}/s over the whole run; "
               f"2xx {tot['ok_2xx']}, "
               f"4xx {tot['status_4xx']}, 5xx {tot['status_5xx']}, transport errors "
               f"{tot['transport_errors']}; keep-alive reconnects {rep['reconnects']}")
    out.append("answers by status: " + (", ".join(f"{k}: {v}" for k, v in
                                                  tot["statuses"].items()) or "none"))
    out.append(f"server error rate (5xx + transport): {rep['server_error_rate'] * 100:.2f}%"
               + (f" (limit {rep['max_error_rate'] * 100:.2f}%)"
                  if rep["max_error_rate"] is not None else ""))
    out.append("")
    hdr = (f"{'kind':<14}{'count':>8}{'2xx':>8}{'4xx':>6}{'5xx':>6}{'xport':>6}"
           f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>8}")
    out.append(hdr)
    out.append("-" * len(hdr))
    for row in rep["kinds"] + [tot]:
        if row["count"] == 0 and row["kind"] != "overall":
            continue
        out.append(f"{row['kind']:<14}{row['count']:>8}{row['ok_2xx']:>8}{row['status_4xx']:>6}"
                   f"{row['status_5xx']:>6}{row['transport_errors']:>6}"
                   f"{fmt_ms(row['p50_ms']):>9}{fmt_ms(row['p95_ms']):>9}"
                   f"{fmt_ms(row['p99_ms']):>9}{fmt_ms(row['max_ms']):>9}"
                   f"{row['rps'] if row['rps'] is not None else '-':>8}")
    out.append("")
    an = rep["analyses"]
    out.append(f"analyses: started {an['started']}, finished polling {an['completed']}, "
               f"abandoned at the end {an['abandoned']}; uploads without analyses "
               f"(flow slots busy) {an['uploads_without_analyses']}")
    if an["final_states"]:
        out.append("  final: " + ", ".join(f"{k} x{v}" for k, v in an["final_states"].items()))
    if an["e2e_p50_ms"] is not None:
        out.append(f"  start→final seen by poll: p50 {fmt_ms(an['e2e_p50_ms'])} ms, "
                   f"p95 {fmt_ms(an['e2e_p95_ms'])} ms, max {fmt_ms(an['e2e_max_ms'])} ms")
    if rep["error_answers"]:
        out.append("non-2xx answers (kind status code: message) x count:")
        for k, v in rep["error_answers"].items():
            out.append(f"  {k} x{v}")
    if rep["transport_error_samples"]:
        out.append("transport errors (first ones):")
        for s in rep["transport_error_samples"]:
            out.append(f"  {s}")
    rss = rep["rss"]
    if rss:
        out.append(f"RSS (pid {rss['pid']}, {rss['samples']} samples every 50 ms): start "
                   f"{rss['start_mb']} MB, peak {rss['peak_mb']} MB, end {rss['end_mb']} MB, "
                   f"VmHWM {rss['vmhwm_mb']} MB; max threads {rss['max_threads']}")
    else:
        out.append("RSS: not measured (give --binary, or --pid with --url)")
    srv = rep["server"]
    out.append(f"server: {srv['status']}" + (f"; {srv['note']}" if srv.get("note") else ""))
    if rep.get("verdict"):
        out.append(f"verdict: {rep['verdict']}")
    return "\n".join(out)


def probe_liveness(host: str, port: int, token: str, mode: str) -> tuple[bool, str]:
    if mode == "on":
        return True, "forced on"
    if mode == "off":
        return False, "forced off"
    c = Client(host, port, timeout=30, keep_alive=False, token=token)
    try:
        r = c.request("GET", "/v1/face/liveness/health")
    except TransportError as e:
        return False, f"health check failed: {e}"
    j = r.json()
    if r.status == 200 and isinstance(j, dict) and j.get("status") == 0:
        return True, "passive model installed"
    msg = j.get("message", "") if isinstance(j, dict) else ""
    return False, f"liveness/health: HTTP {r.status}, status " \
                  f"{j.get('status') if isinstance(j, dict) else '?'}: {msg[:120]}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Mixed-workload load test for facelite (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tgt = ap.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--binary", help="start this facelite binary on 127.0.0.1:0 with a fresh "
                                      "temp data dir, measure its RSS, SIGTERM it at the end")
    tgt.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:8080 "
                                   "(its admin must be the test admin, or give --email/--password)")
    ap.add_argument("--pid", type=int, help="with --url: the server's PID, for RSS sampling")
    ap.add_argument("--email", default=ADMIN_EMAIL, help="account to log in with")
    ap.add_argument("--password", default=ADMIN_PASSWORD)
    ap.add_argument("-c", "--clients", type=int, default=50, help="concurrent clients")
    ap.add_argument("-d", "--duration", type=float, default=60.0,
                    help="seconds to generate load (max 3600)")
    ap.add_argument("-n", "--max-requests", type=int, default=200000,
                    help="stop after this many requests, whichever bound comes first")
    ap.add_argument("--mix", default=DEFAULT_MIX,
                    help="weights of the operations healthz, lite_extract, lite_compare, "
                         "lite_liveness, oz (upload + maybe analyses + polling)")
    ap.add_argument("--max-analysis-flows", type=int, default=8,
                    help="oz flows that start analyses at once (each starts QUALITY+BIOMETRY); "
                         "keeps the analysis queue (64 by default) from overflowing; 0 = uploads "
                         "only")
    ap.add_argument("--poll-interval", type=float, default=0.5,
                    help="seconds between GET /api/analyses/{id} polls")
    ap.add_argument("--analysis-timeout", type=float, default=120.0,
                    help="a flow stops polling its analyses after this many seconds")
    ap.add_argument("--liveness", choices=["auto", "on", "off"], default="auto",
                    help="include /v1/face/liveness/detect: auto = only when liveness/health "
                         "reports a passive model (without one it always answers 503 LDE-001002)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    ap.add_argument("--images", default=str(DEFAULT_IMAGES), help="directory of test images")
    ap.add_argument("--image-a", default="op_p001_selfie.jpg", help="Lite sample (and sample_1)")
    ap.add_argument("--image-b", default="op_p001_studio.jpg", help="Lite sample_2")
    ap.add_argument("--oz-selfie", default="op_p002_selfie.jpg", help="Oz photo_selfie")
    ap.add_argument("--oz-id", default="op_p002_studio.jpg", help="Oz photo_id_front")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-error-rate", type=float, default=None,
                    help="exit 1 when (5xx answers + transport errors) / requests exceeds this "
                         "fraction, e.g. 0.01")
    ap.add_argument("--json", help="also write the report as JSON to this file")
    ap.add_argument("--server-log", help="with --binary: copy the server's stderr log here")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="with --binary: extra environment for the server, e.g. "
                         "FACELITE_LIMITS_MAX_BODY_BYTES=1000000 (repeatable)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)

    try:
        return run(args)
    except ScriptError as e:
        print(f"loadtest: error: {e}", file=sys.stderr)
        return EXIT_SCRIPT


def run(args) -> int:
    if args.clients < 1 or args.clients > 1000:
        raise ScriptError("--clients must be 1..1000")
    if not (0 < args.duration <= 3600):
        raise ScriptError("--duration must be in (0, 3600]")
    if args.max_requests < 1:
        raise ScriptError("--max-requests must be >= 1")
    if args.max_error_rate is not None and not (0 <= args.max_error_rate <= 1):
        raise ScriptError("--max-error-rate is a fraction in [0, 1]")
    mix = parse_mix(args.mix)

    server: ManagedServer | None = None
    monitor: RssMonitor | None = None
    try:
        if args.binary:
            if args.pid:
                raise ScriptError("--pid goes with --url only")
            server = ManagedServer(args.binary, extra_env=parse_server_env(args.server_env),
                                   keep_log=args.server_log)
            server.start()
            host, port, pid = server.host, server.port, server.pid
            url = f"http://{host}:{port}"
        else:
            host, port = parse_loopback_url(args.url)
            pid = args.pid
            url = args.url.rstrip("/")
        if pid:
            monitor = RssMonitor(pid)
            monitor.start()

        token = login(host, port, args.email, args.password)
        live_on, live_reason = probe_liveness(host, port, token, args.liveness)
        if not live_on:
            mix.pop("lite_liveness", None)
            if sum(mix.values()) <= 0:
                raise ScriptError("nothing left in --mix once lite_liveness is off")

        stats = Stats()
        stop = threading.Event()
        t0 = time.monotonic()
        budget = Budget(args.max_requests, t0 + args.duration, stop)
        wl = Workload(args, host, port, token, stats, budget, mix)
        threads = [threading.Thread(target=wl.worker, args=(i,), daemon=True,
                                    name=f"client-{i}") for i in range(args.clients)]
        for th in threads:
            th.start()
        died = False
        last_print = t0
        while any(th.is_alive() for th in threads):
            time.sleep(0.2)
            now = time.monotonic()
            if server is not None and not server.alive():
                died = True
                budget.halt()
            elif monitor is not None and monitor.gone:
                died = True
                budget.halt()
            elif now - t0 >= args.duration:
                budget.halt()
            if not args.quiet and now - last_print >= 5:
                last_print = now
                with stats.lock:
                    n = sum(len(v) for v in stats.lat.values())
                rss = f", RSS {mb(monitor.current_kb)} MB (peak {mb(monitor.peak_kb)})" \
                    if monitor else ""
                print(f"  {now - t0:5.0f} s: {n} requests{rss}", file=sys.stderr, flush=True)
            # Hard stop: duration + one request timeout + analysis wait are the most a worker
            # may need to notice `stop`.
            if now - t0 > args.duration + args.timeout + 30:
                budget.halt()
                print("loadtest: workers did not finish in time; reporting what we have",
                      file=sys.stderr)
                break
        wall = max(time.monotonic() - t0, 1e-9)
        load_secs = (budget.stopped_at or time.monotonic()) - t0

        if server is None and not died:
            # With --url and no --pid: is it still answering?
            try:
                Client(host, port, timeout=10, keep_alive=False).request("GET", "/healthz",
                                                                         auth=False)
            except TransportError:
                died = True

        # Report
        kinds = [kind_row(k, stats.lat[k], stats.status[k], stats.transport[k], wall)
                 for k in KINDS]
        all_lat = [x for k in KINDS for x in stats.lat[k]]
        all_status: dict[int, int] = {}
        for k in KINDS:
            for st, c in stats.status[k].items():
                all_status[st] = all_status.get(st, 0) + c
        overall = kind_row("overall", all_lat, all_status, sum(stats.transport.values()), wall)
        total = overall["count"]
        server_err = overall["status_5xx"] + overall["transport_errors"]
        rate = server_err / total if total else 0.0
        e2e = sorted(stats.analysis_e2e)
        rep = {
            "target": {"url": url, "binary": args.binary},
            "clients": args.clients,
            "duration_limit_secs": args.duration,
            "max_requests": args.max_requests,
            "wall_secs": round(wall, 2),
            "load_secs": round(load_secs, 2),
            "mix": ",".join(f"{k}={v:g}" for k, v in mix.items()),
            "max_analysis_flows": args.max_analysis_flows,
            "liveness_enabled": live_on,
            "liveness_reason": live_reason,
            "overall": overall,
            "kinds": kinds,
            "reconnects": stats.reconnects,
            "server_error_rate": round(rate, 5),
            "max_error_rate": args.max_error_rate,
            "error_answers": {k: v for d in stats.error_samples.values() for k, v in d.items()},
            "transport_error_samples": stats.transport_samples,
            "analyses": {
                "started": stats.analyses_started,
                "completed": len(e2e),
                "abandoned": stats.analyses_abandoned,
                "uploads_without_analyses": stats.flows_without_analysis,
                "final_states": dict(sorted(stats.analysis_final.items())),
                "e2e_p50_ms": None if not e2e else round(percentile(e2e, 50) * 1000, 1),
                "e2e_p95_ms": None if not e2e else round(percentile(e2e, 95) * 1000, 1),
                "e2e_max_ms": None if not e2e else round(e2e[-1] * 1000, 1),
            },
            "rss": None,
            "server": {},
        }
        if monitor is not None:
            end_kb = monitor.now_kb()
            hwm = monitor.final_hwm_kb()
            monitor.stop()
            rep["rss"] = {
                "pid": pid, "samples": monitor.samples,
                "start_mb": round(monitor.start_kb / 1024, 1),
                "peak_mb": round(monitor.peak_kb / 1024, 1),
                "end_mb": None if end_kb is None else round(end_kb / 1024, 1),
                "vmhwm_mb": round(hwm / 1024, 1),
                "max_threads": monitor.max_threads,
            }
        code = EXIT_OK
        if server is not None:
            was_alive = server.alive()
            ec = server.stop()
            note = f"log: {server.log_lines} lines, {server.panics} with 'panicked'"
            if not was_alive or died:
                rep["server"] = {"status": f"DIED during the run (exit code {ec})",
                                 "exit_code": ec, "note": note + "; log tail:\n"
                                 + server.log_tail()}
                code = EXIT_SERVER_DIED
            elif ec != 0:
                rep["server"] = {"status": f"did not exit cleanly on SIGTERM (exit code {ec})",
                                 "exit_code": ec, "note": note + "; log tail:\n"
                                 + server.log_tail()}
                code = EXIT_SERVER_DIED
            else:
                rep["server"] = {"status": f"exit 0 after SIGTERM in {server.shutdown_secs:.1f} s",
                                 "exit_code": 0, "note": note,
                                 "shutdown_secs": round(server.shutdown_secs or 0, 2)}
            rep["server"]["panics_in_log"] = server.panics
        else:
            rep["server"] = {"status": "DIED (no answer at the end)" if died else
                             "still answering at the end"}
            if died:
                code = EXIT_SERVER_DIED
        if code == EXIT_OK and args.max_error_rate is not None and rate > args.max_error_rate:
            code = EXIT_ERROR_RATE
        rep["verdict"] = {EXIT_OK: "ok", EXIT_ERROR_RATE: "FAIL: server error rate over the limit",
                          EXIT_SERVER_DIED: "FAIL: server died / unclean stop"}[code]
        rep["exit_code"] = code
        print(render_text(rep))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(rep, f, indent=2)
                f.write("\n")
        return code
    finally:
        if monitor is not None:
            monitor.stop()
        if server is not None:
            server.stop()
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main())

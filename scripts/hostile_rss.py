#!/usr/bin/env python3
"""Peak-RSS cost of hostile but well-formed inputs to facelite (Python 3.11, stdlib only).

Each case runs on its own fresh server (with --binary), so cases do not mix:

  1. start the server, warm up: log in, a small folder (two small photos) with a QUALITY and a
     BIOMETRY analysis waited for, and one Lite extract;
  2. baseline = VmRSS after the warm-up has settled;
  3. run the case while /proc/PID/status is sampled every 50 ms; afterwards wait --settle
     seconds, then read the peak, VmHWM and the RSS left over ("end");
  4. SIGTERM the server and check it exits 0.

Cases (pick with --cases, default all):
  a      a ~200 KB ZIP shot set whose one entry `frame.jpg` honestly inflates to ~200 MB (a real
         JPEG followed by zero padding, deflated), uploaded as folder media tagged
         video_selfie_left, then a QUALITY analysis on it, waited for;
  b1     a ~280 KB 6000x6000 PNG (flat grey plus a little noise) sent raw to
         POST /v1/face/pattern/extract;
  b2     the same PNG uploaded as an Oz photo (photo_selfie) with a QUALITY analysis, waited for;
  c      20 concurrent ~60 MB raw bodies (a JPEG plus zero padding) to
         POST /v1/face/pattern/extract (the server's max body is 64 MiB);
  d      one ~30 MB media file (a JPEG plus zero padding) uploaded to a folder, then 20
         concurrent GETs of its original_url (/api/files/{id}).

With --url (an already running server) all cases run on that server one after another and
RSS is read only when --pid is given; then a case's baseline includes what earlier cases left.

Exit status: 0 = all cases ran (whatever the server answered: answers are findings); 1 = with
--max-growth-mb, a case's peak grew past it; 2 = the
server died during a case or did not stop cleanly on SIGTERM; 3 = the script failed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import struct
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadtest import (  # noqa: E402  (sibling module)
    ADMIN_EMAIL, ADMIN_PASSWORD, DEFAULT_IMAGES, EXIT_OK, EXIT_SCRIPT, EXIT_SERVER_DIED, Client,
    ManagedServer, RssMonitor, ScriptError, TransportError, folder_form, login,
    parse_loopback_url, parse_server_env, read_image,
)

CASES = ["a", "b1", "b2", "c", "d"]
# Exit status when a case's peak grew past --max-growth-mb.
EXIT_GROWTH = 1
CASE_TITLES = {
    "a": "ZIP shot set, 1 entry inflating to 200 MB + QUALITY",
    "b1": "6000x6000 PNG -> Lite extract",
    "b2": "6000x6000 PNG -> Oz photo + QUALITY",
    "c": "20 x 60 MB Lite bodies at once",
    "d": "20 x GET of a 30 MB stored file",
}


# --------------------------------------------------------------------------------------------
# Hostile inputs
# --------------------------------------------------------------------------------------------


def padded(jpeg: bytes, total: int) -> bytes:
    """A real JPEG followed by zero bytes up to `total` bytes."""
    if total <= len(jpeg):
        return jpeg
    return jpeg + bytes(total - len(jpeg))


def make_zip_shot_set(jpeg: bytes, inflated: int, name: str = "frame.jpg") -> bytes:
    """A deflated ZIP whose single entry is `jpeg` + zeros, `inflated` bytes in all; its
    headers state the true sizes."""
    buf = io.BytesIO()
    zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi.file_size = inflated
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(zi, "w") as w:
            w.write(jpeg)
            left = inflated - len(jpeg)
            zeros = bytes(1 << 20)
            while left > 0:
                n = min(left, len(zeros))
                w.write(zeros[:n] if n < len(zeros) else zeros)
                left -= n
    return buf.getvalue()


def make_png(width: int, height: int, noise_per_row: int, seed: int = 7) -> bytes:
    """An RGB PNG, flat grey with `noise_per_row` random bytes at a random place of each row,
    compressed row by row (never holds the raw image)."""
    rng = random.Random(seed)
    row_len = 1 + width * 3
    base = bytearray(row_len)
    base[1:] = b"\x80" * (width * 3)
    comp = zlib.compressobj(9)
    out = []
    for _ in range(height):
        row = bytearray(base)
        if noise_per_row:
            at = rng.randrange(1, row_len - noise_per_row)
            row[at:at + noise_per_row] = rng.randbytes(noise_per_row)
        out.append(comp.compress(bytes(row)))
    out.append(comp.flush())
    idat = b"".join(out)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + \
        chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def answer(r) -> str:
    """`STATUS` or `STATUS code: message` for an error answer."""
    if 200 <= r.status < 300:
        return str(r.status)
    return f"{r.status} {r.error_summary()}"


def wait_analysis(client: Client, aid: str, timeout: float) -> dict | str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = client.request("GET", f"/api/analyses/{aid}")
        except TransportError as e:
            return f"poll failed: {e}"
        if r.status != 200:
            return f"poll {answer(r)}"
        a = r.json()
        if isinstance(a, dict) and a.get("state") != "PROCESSING":
            return a
        if time.monotonic() > deadline:
            return f"still PROCESSING after {timeout:.0f} s"
        time.sleep(0.25)


def describe_analysis(a: dict | str) -> str:
    if isinstance(a, str):
        return a
    s = f"{a.get('type')} {a.get('state')}/{a.get('resolution_status')}"
    if a.get("error_message"):
        s += f" ({str(a['error_message'])[:160]})"
    return s


def upload_and_analyse(client: Client, files, analyses: list[str], timeout: float,
                       answers: list[str], label: str) -> dict | None:
    ct, body = folder_form(files)
    try:
        r = client.request("POST", "/api/folders/", body, {"Content-Type": ct})
    except TransportError as e:
        answers.append(f"{label} upload: no answer ({e})")
        return None
    answers.append(f"{label} upload {answer(r)}")
    if r.status != 201:
        return None
    folder = r.json()
    if not analyses:
        return folder
    fid = folder["folder_id"]
    req = json.dumps({"analyses": [{"type": t} for t in analyses]}).encode()
    try:
        r = client.request("POST", f"/api/folders/{fid}/analyses/", req,
                           {"Content-Type": "application/json"})
    except TransportError as e:
        answers.append(f"{label} analyses: no answer ({e})")
        return folder
    answers.append(f"{label} analyses {answer(r)}")
    if r.status != 201:
        return folder
    for a in r.json():
        answers.append(describe_analysis(wait_analysis(client, a["analysis_id"], timeout)))
    return folder


def concurrent(n: int, fn) -> list:
    """Runs fn(i) in n threads started together; returns their results in order."""
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        try:
            results[i] = fn(i)
        except Exception as e:  # a thread's failure is reported, never lost
            results[i] = f"script error: {type(e).__name__}: {e}"

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def tally(items: list[str]) -> str:
    counts: dict[str, int] = {}
    for s in items:
        counts[s] = counts.get(s, 0) + 1
    return "; ".join(f"{k} x{v}" if v > 1 else k for k, v in counts.items())


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


class Inputs:
    """The hostile inputs, built once per run on first use."""

    def __init__(self, args):
        self.args = args
        images = Path(args.images)
        self.face = read_image(images, args.face)
        self.small_a = read_image(images, "op_p001_selfie.jpg")
        self.small_b = read_image(images, "op_p001_studio.jpg")
        self._zip: bytes | None = None
        self._png: bytes | None = None
        self._body60: bytes | None = None
        self._file30: bytes | None = None

    @property
    def zip(self) -> bytes:
        if self._zip is None:
            self._zip = make_zip_shot_set(self.face, self.args.zip_inflated)
        return self._zip

    @property
    def png(self) -> bytes:
        if self._png is None:
            self._png = make_png(self.args.png_side, self.args.png_side, self.args.png_noise)
        return self._png

    @property
    def body60(self) -> bytes:
        if self._body60 is None:
            self._body60 = padded(self.face, self.args.lite_body_bytes)
        return self._body60

    @property
    def file30(self) -> bytes:
        if self._file30 is None:
            self._file30 = padded(self.face, self.args.file_bytes)
        return self._file30

    def describe(self, case: str) -> str:
        a = self.args
        if case == "a":
            return (f"ZIP {len(self.zip)} B, entry frame.jpg = {len(self.face)} B JPEG + zeros, "
                    f"inflates to {a.zip_inflated} B")
        if case in ("b1", "b2"):
            return f"PNG {a.png_side}x{a.png_side} RGB, {len(self.png)} B"
        if case == "c":
            return f"{a.concurrency} x {len(self.body60)} B (JPEG + zeros), raw image/jpeg"
        if case == "d":
            return f"stored file {len(self.file30)} B (JPEG + zeros), {a.concurrency} GETs"
        return ""


def case_a(client: Client, inp: Inputs, args, mon_mark) -> list[str]:
    answers: list[str] = []
    upload_and_analyse(client, [("shots", "shots.zip", inp.zip, ["video_selfie_left"])],
                       ["QUALITY"], args.analysis_timeout, answers, "shot set")
    return answers


def case_b1(client: Client, inp: Inputs, args, mon_mark) -> list[str]:
    try:
        r = client.request("POST", "/v1/face/pattern/extract", inp.png,
                           {"Content-Type": "image/png"}, timeout=args.timeout)
        return [f"Lite extract {answer(r)}"]
    except TransportError as e:
        return [f"Lite extract: no answer ({e})"]


def case_b2(client: Client, inp: Inputs, args, mon_mark) -> list[str]:
    answers: list[str] = []
    upload_and_analyse(client, [("photo", "big.png", inp.png, ["photo_selfie"])],
                       ["QUALITY"], args.analysis_timeout, answers, "photo")
    return answers


def case_c(client: Client, inp: Inputs, args, mon_mark) -> list[str]:
    body = inp.body60

    def one(i: int) -> str:
        c = Client(client.host, client.port, timeout=args.timeout, keep_alive=False,
                   token=client.token)
        try:
            r = c.request("POST", "/v1/face/pattern/extract", body,
                          {"Content-Type": "image/jpeg"})
            return f"Lite extract {answer(r)}"
        except TransportError as e:
            return f"Lite extract: no answer ({e})"

    return [tally(concurrent(args.concurrency, one))]


def case_d(client: Client, inp: Inputs, args, mon_mark) -> list[str]:
    answers: list[str] = []
    folder = upload_and_analyse(client, [("photo", "big.jpg", inp.file30, ["photo_selfie"])],
                                [], args.analysis_timeout, answers, "30 MB photo")
    if not folder:
        return answers
    try:
        url = folder["media"][0]["original_url"]
        path = url[url.index("/api/"):]
    except (KeyError, IndexError, ValueError, TypeError):
        answers.append(f"no original_url in the folder: {json.dumps(folder)[:200]}")
        return answers
    mon_mark("upload", "downloads")
    want = len(inp.file30)

    def one(i: int) -> str:
        c = Client(client.host, client.port, timeout=args.timeout, keep_alive=False,
                   token=client.token)
        try:
            r = c.request("GET", path, discard_body=True)
        except TransportError as e:
            return f"GET file: no answer ({e})"
        if r.status == 200:
            return "GET file 200" + ("" if r.size == want else f" but {r.size} of {want} B")
        return f"GET file {r.status} {r.error_summary()}"

    answers.append(tally(concurrent(args.concurrency, one)))
    return answers


RUNNERS = {"a": case_a, "b1": case_b1, "b2": case_b2, "c": case_c, "d": case_d}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def warm_up(client: Client, inp: Inputs, args) -> list[str]:
    answers: list[str] = []
    upload_and_analyse(client, [
        ("selfie", "selfie.jpg", inp.small_a, ["photo_selfie"]),
        ("id", "id.jpg", inp.small_b, ["photo_id", "photo_id_front"]),
    ], ["QUALITY", "BIOMETRY"], args.analysis_timeout, answers, "warm-up")
    try:
        r = client.request("POST", "/v1/face/pattern/extract", inp.small_a,
                           {"Content-Type": "image/jpeg"})
        answers.append(f"warm-up Lite extract {answer(r)}")
    except TransportError as e:
        answers.append(f"warm-up Lite extract: no answer ({e})")
    return answers


def settle_rss(mon: RssMonitor | None, secs: float) -> int | None:
    """Waits `secs` and returns the lowest RSS seen in the last second of it."""
    if mon is None:
        time.sleep(secs)
        return None
    end = time.monotonic() + secs
    low = None
    while time.monotonic() < end:
        v = mon.now_kb()
        if v is not None and end - time.monotonic() <= 1.0:
            low = v if low is None else min(low, v)
        time.sleep(0.05)
    return low if low is not None else mon.now_kb()


def run_case(case: str, args, inp: Inputs, url_target) -> dict:
    res: dict = {"case": case, "title": CASE_TITLES[case], "input": inp.describe(case),
                 "phases": [], "answers": [], "server": None}
    server: ManagedServer | None = None
    mon: RssMonitor | None = None
    try:
        if url_target is None:
            server = ManagedServer(args.binary, extra_env=parse_server_env(args.server_env))
            server.start()
            host, port, pid = server.host, server.port, server.pid
        else:
            host, port = url_target
            pid = args.pid
        token = login(host, port, args.email, args.password)
        client = Client(host, port, timeout=args.timeout, token=token)
        if pid:
            mon = RssMonitor(pid)
            mon.start()
        res["warm_up"] = warm_up(client, inp, args)
        baseline = settle_rss(mon, args.settle)
        res["baseline_kb"] = baseline
        if mon is not None:
            mon.mark()  # the case's first phase starts now
        t0 = time.monotonic()
        phase_start = t0
        next_phase = ["main"]
        phase_start_kb = [baseline]

        def mark(ended: str, following: str = "rest") -> None:
            """Ends the running phase (named `ended`); the next one is `following`."""
            nonlocal phase_start
            if mon is not None:
                res["phases"].append({"phase": ended, "start_kb": phase_start_kb[0],
                                      "peak_kb": mon.mark(),
                                      "secs": round(time.monotonic() - phase_start, 2)})
                phase_start_kb[0] = mon.current_kb
            phase_start = time.monotonic()
            next_phase[0] = following

        res["answers"] = RUNNERS[case](client, inp, args, mark)
        res["case_secs"] = round(time.monotonic() - t0, 2)
        client.close()
        end_kb = settle_rss(mon, args.settle)
        if mon is not None:
            res["phases"].append({"phase": next_phase[0], "start_kb": phase_start_kb[0],
                                  "peak_kb": mon.mark(),
                                  "secs": round(time.monotonic() - phase_start, 2)})
            res["peak_kb"] = max(p["peak_kb"] for p in res["phases"])
            res["end_kb"] = end_kb
            res["vmhwm_kb"] = mon.final_hwm_kb()
            res["samples"] = mon.samples
            res["max_threads"] = mon.max_threads
            res["delta_kb"] = res["peak_kb"] - baseline if baseline is not None else None
        if mon is not None and mon.gone:
            res["server"] = "DIED during the case"
        if server is not None:
            alive = server.alive()
            ec = server.stop()
            if not alive:
                res["server"] = f"DIED during the case (exit code {ec})"
                res["log_tail"] = server.log_tail()
            elif ec != 0:
                res["server"] = f"unclean stop on SIGTERM (exit code {ec})"
                res["log_tail"] = server.log_tail()
            else:
                res["server"] = f"exit 0 after SIGTERM ({server.shutdown_secs:.1f} s)"
            res["panics_in_log"] = server.panics
        elif res["server"] is None:
            try:
                Client(host, port, timeout=10, keep_alive=False).request("GET", "/healthz",
                                                                         auth=False)
                res["server"] = "still answering"
            except TransportError:
                res["server"] = "DIED (no answer after the case)"
    finally:
        if mon is not None:
            mon.stop()
        if server is not None:
            server.stop()
            server.cleanup()
    return res


def fmt_mb(kb) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def render(results: list[dict], meta: dict) -> str:
    out = [f"facelite hostile-input RSS — {meta['target']}; RSS sampled every 50 ms from "
           f"/proc/PID/status; baseline = VmRSS after warm-up (login, QUALITY+BIOMETRY on two "
           f"small photos, one Lite extract) and {meta['settle']} s of rest; end = VmRSS "
           f"{meta['settle']} s after the case; MB = MiB", ""]
    hdr = (f"{'case':<5}{'what':<50}{'base MB':>8}{'peak MB':>8}{'delta MB':>9}{'end MB':>7}"
           f"{'HWM MB':>7}{'secs':>7}  answers")
    out.append(hdr)
    out.append("-" * (len(hdr) + 40))
    for r in results:
        ans = " | ".join(r.get("answers") or [r.get("error", "")])
        out.append(f"{r['case']:<5}{r['title']:<50}{fmt_mb(r.get('baseline_kb')):>8}"
                   f"{fmt_mb(r.get('peak_kb')):>8}{fmt_mb(r.get('delta_kb')):>9}"
                   f"{fmt_mb(r.get('end_kb')):>7}{fmt_mb(r.get('vmhwm_kb')):>7}"
                   f"{r.get('case_secs', '-'):>7}  {ans}")
    out.append("")
    for r in results:
        out.append(f"[{r['case']}] {r['title']}")
        out.append(f"    input: {r['input']}")
        if r.get("warm_up"):
            out.append(f"    warm-up: {'; '.join(r['warm_up'])}")
        for p in r.get("phases", []):
            grow = None if p.get("start_kb") is None else p["peak_kb"] - p["start_kb"]
            out.append(f"    phase {p['phase']}: start {fmt_mb(p.get('start_kb'))} MB, peak "
                       f"{fmt_mb(p['peak_kb'])} MB (+{fmt_mb(grow)} MB), {p['secs']} s")
        for a in r.get("answers", []):
            out.append(f"    answer: {a}")
        if r.get("error"):
            out.append(f"    SCRIPT ERROR: {r['error']}")
        out.append(f"    server: {r.get('server')}"
                   + (f"; {r['panics_in_log']} 'panicked' lines in its log"
                      if r.get("panics_in_log") else ""))
        if r.get("log_tail"):
            out.append("    log tail:\n      " + r["log_tail"].replace("\n", "\n      "))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Peak RSS of facelite under hostile inputs, one fresh server per case "
                    "(loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tgt = ap.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--binary", help="facelite binary: a fresh server (temp data dir, "
                                      "127.0.0.1:0) per case")
    tgt.add_argument("--url", help="an already running server (cases then share it)")
    ap.add_argument("--pid", type=int, help="with --url: the server's PID, for RSS")
    ap.add_argument("--email", default=ADMIN_EMAIL)
    ap.add_argument("--password", default=ADMIN_PASSWORD)
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--images", default=str(DEFAULT_IMAGES))
    ap.add_argument("--face", default="op_p001_happy.jpg",
                    help="the JPEG inside the padded inputs")
    ap.add_argument("--zip-inflated", type=int, default=200_000_000,
                    help="case a: inflated size of the shot-set entry")
    ap.add_argument("--png-side", type=int, default=6000, help="cases b: PNG width = height")
    ap.add_argument("--png-noise", type=int, default=20,
                    help="cases b: random bytes per PNG row (sets the compressed size)")
    ap.add_argument("--lite-body-bytes", type=int, default=60_000_000, help="case c: body size")
    ap.add_argument("--file-bytes", type=int, default=30_000_000, help="case d: file size")
    ap.add_argument("--concurrency", type=int, default=20, help="cases c and d: requests at once")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, seconds")
    ap.add_argument("--analysis-timeout", type=float, default=300.0,
                    help="longest wait for an analysis to leave PROCESSING")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds of rest before the baseline and after each case")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="with --binary: extra environment for each server, e.g. "
                         "FACELITE_LIMITS_MEMORY_MB=256 (repeatable)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--max-growth-mb", type=float, default=None,
                    help="exit 1 when any case's peak exceeds its baseline by more than this "
                         "(the memory budget plus the documented constant)")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except ScriptError as e:
        print(f"hostile_rss: error: {e}", file=sys.stderr)
        return EXIT_SCRIPT


def run(args) -> int:
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in RUNNERS]
    if bad or not cases:
        raise ScriptError(f"--cases: unknown {bad}; known: {CASES}")
    if not (1 <= args.concurrency <= 100):
        raise ScriptError("--concurrency must be 1..100")
    for name in ("zip_inflated", "lite_body_bytes", "file_bytes"):
        if not (0 < getattr(args, name) <= 1 << 30):
            raise ScriptError(f"--{name.replace('_', '-')} must be in (0, 1 GiB]")
    if not (16 <= args.png_side <= 20000):
        raise ScriptError("--png-side must be 16..20000")
    if args.timeout <= 0 or args.timeout > 3600 or args.analysis_timeout > 3600:
        raise ScriptError("timeouts must be in (0, 3600] seconds")
    url_target = None
    if args.url:
        url_target = parse_loopback_url(args.url)
        target = args.url + (f" (pid {args.pid})" if args.pid else " (no --pid: no RSS)")
    else:
        if args.pid:
            raise ScriptError("--pid goes with --url only")
        target = f"binary {args.binary}, fresh server per case"
    inp = Inputs(args)
    results = []
    code = EXIT_OK
    for case in cases:
        print(f"hostile_rss: case {case}: {CASE_TITLES[case]} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            inp.describe(case)  # builds the input before the server starts
            res = run_case(case, args, inp, url_target)
        except ScriptError as e:
            res = {"case": case, "title": CASE_TITLES[case], "input": "", "error": str(e),
                   "server": "?"}
            code = max(code, EXIT_SCRIPT)
        srv = str(res.get("server") or "")
        if srv.startswith("DIED") or srv.startswith("unclean"):
            code = EXIT_SERVER_DIED if code != EXIT_SCRIPT else code
        print(f"hostile_rss: case {case} done in {time.monotonic() - t0:.0f} s: "
              f"peak {fmt_mb(res.get('peak_kb'))} MB, delta {fmt_mb(res.get('delta_kb'))} MB; "
              f"server {srv}", file=sys.stderr, flush=True)
        results.append(res)
    meta = {"target": target, "settle": args.settle}
    print(render(results, meta))
    if args.max_growth_mb is not None and code == EXIT_OK:
        over = [r for r in results
                if r.get("delta_kb") is not None and r["delta_kb"] / 1024 > args.max_growth_mb]
        for r in over:
            print(f"hostile_rss: case {r['case']}: peak grew {r['delta_kb'] / 1024:.0f} MB, "
                  f"more than the allowed {args.max_growth_mb:.0f} MB", file=sys.stderr)
        if over:
            code = EXIT_GROWTH
    if args.json:
        def mbv(kb):
            return None if kb is None else round(kb / 1024, 1)
        out = {"target": target, "settle_secs": args.settle, "exit_code": code, "cases": []}
        for r in results:
            d = dict(r)
            for k in ("baseline_kb", "peak_kb", "delta_kb", "end_kb", "vmhwm_kb"):
                if k in d:
                    d[k.replace("_kb", "_mb")] = mbv(d.pop(k))
            d["phases"] = [{"phase": p["phase"], "start_mb": mbv(p.get("start_kb")),
                            "peak_mb": mbv(p["peak_kb"]), "secs": p["secs"]}
                           for p in r.get("phases", [])]
            out["cases"].append(d)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(main())

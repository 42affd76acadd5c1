"""``python -m grader``: serve · worker · run · roster · assignment · grades · regrade."""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time

from grader.config import Settings


def _settings(args) -> Settings:
    return Settings.load(args.data)


def cmd_serve(args) -> int:
    import uvicorn

    from grader.api import create_app

    uvicorn.run(create_app(_settings(args)), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_worker(args) -> int:
    from grader import worker

    return worker.main(_settings(args))


def cmd_run(args) -> int:
    """The API and N workers as child processes; stops them all on SIGINT/SIGTERM."""
    data = _settings(args).data
    from grader import worker

    try:
        worker.check_sandbox(_settings(args))
    except worker.SandboxUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = [sys.executable, "-m", "grader"]
    procs = [subprocess.Popen(base + ["serve", "--data", data, "--host", args.host, "--port", str(args.port)])]
    procs += [subprocess.Popen(base + ["worker", "--data", data]) for _ in range(args.workers)]
    print(f"grader: http://{args.host}:{args.port}/docs  ({args.workers} worker(s), data {data})", flush=True)
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    rc = 0
    while not stopping:
        for i, p in enumerate(procs):
            if p.poll() is None:
                continue
            if i == 0:
                print(f"grader: the API exited with {p.returncode}; stopping", file=sys.stderr)
                stopping, rc = True, 1
                break
            print(f"grader: worker exited with {p.returncode}; restarting it", file=sys.stderr)
            time.sleep(1)
            procs[i] = subprocess.Popen(base + ["worker", "--data", data])
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    return rc


def cmd_roster(args) -> int:
    from grader.db import Gradebook

    gb = Gradebook(_settings(args).db_url)
    if args.roster_cmd == "add":
        token = gb.add_token("learner", args.learner)
        print(token)
        print(f"(token for {args.learner}: shown once, only its hash is stored)", file=sys.stderr)
    elif args.roster_cmd == "token":
        if not args.instructor:
            print("use: roster token --instructor", file=sys.stderr)
            return 2
        print(gb.add_token("instructor"))
        print("(instructor token: shown once, only its hash is stored)", file=sys.stderr)
    else:
        for name in gb.learners():
            print(name)
    return 0


def cmd_assignment(args) -> int:
    from grader import assignments

    s = _settings(args)
    if args.assignment_cmd == "add":
        limits = {}
        for kv in args.limit or []:
            k, _, v = kv.partition("=")
            limits[k] = int(v)
        try:
            env = dict(kv.partition("=")[::2] for kv in args.env or [])
            meta = assignments.add(s.data, args.source, args.id, limits, args.feedback, env)
        except assignments.AssignmentError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"assignment {meta['id']}: {len(meta['notebooks'])} notebook(s), {len(meta['tests'])} autograded "
              f"test(s), max score {meta['max_score']:g}")
    else:
        for m in assignments.list_all(s.data):
            print(f"{m['id']}\t{','.join(m['notebooks'])}\t{m['max_score']:g}")
    return 0


def cmd_grades(args) -> int:
    from grader.db import Gradebook

    rows = Gradebook(_settings(args).db_url).grades(args.assignment)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    else:
        w = csv.DictWriter(sys.stdout, fieldnames=["assignment", "learner", "best", "latest", "max_score",
                                                   "submissions", "latest_id", "latest_status"])
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return 0


def cmd_regrade(args) -> int:
    from grader.db import Gradebook
    from grader.jobqueue import make_queue

    s = _settings(args)
    gb = Gradebook(s.db_url)
    q = make_queue(s, gb)
    ids = list(args.ids)
    if args.assignment:
        ids += [g["latest_id"] for g in gb.grades(args.assignment) if g["latest_id"]]
    for sid in ids:
        rnd = gb.start_regrade(sid, q.in_db)
        if rnd is None:
            print(f"no submission {sid}", file=sys.stderr)
            continue
        if not q.in_db:
            q.enqueue(sid, rnd)
        print(f"{sid}: queued (round {rnd})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader", description="AIaaS Academy hosted grader")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default=os.environ.get("GRADER_DATA"),
                        help="data directory (default: $GRADER_DATA or ./var/grader)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("serve", "run"):
        sp = sub.add_parser(name, parents=[common])
        sp.add_argument("--host", default=os.environ.get("GRADER_HOST", "127.0.0.1"))
        sp.add_argument("--port", type=int, default=int(os.environ.get("GRADER_PORT", "8100")))
        if name == "run":
            sp.add_argument("--workers", type=int, default=int(os.environ.get("GRADER_WORKERS", "1")))
    sub.add_parser("worker", parents=[common])
    r = sub.add_parser("roster", parents=[common])
    rs = r.add_subparsers(dest="roster_cmd", required=True)
    ra = rs.add_parser("add", parents=[common])
    ra.add_argument("learner")
    rt = rs.add_parser("token", parents=[common])
    rt.add_argument("--instructor", action="store_true")
    rs.add_parser("list", parents=[common])
    a = sub.add_parser("assignment", parents=[common])
    asub = a.add_subparsers(dest="assignment_cmd", required=True)
    aa = asub.add_parser("add", parents=[common])
    aa.add_argument("source", help="nbgrader source folder of one assignment")
    aa.add_argument("--id")
    aa.add_argument("--limit", action="append", help="sandbox limit, e.g. memory_mb=1024 (repeatable)")
    aa.add_argument("--env", action="append", metavar="KEY=VALUE",
                    help="variable set for the learner's process, e.g. ACADEMY_SMOKE=1 (repeatable)")
    aa.add_argument("--feedback", choices=["full", "types"],
                    help="types: failure messages reduced to the exception type for every test")
    asub.add_parser("list", parents=[common])
    g = sub.add_parser("grades", parents=[common])
    gs = g.add_subparsers(dest="grades_cmd", required=True)
    ge = gs.add_parser("export", parents=[common])
    ge.add_argument("--format", choices=["csv", "json"], default="csv")
    ge.add_argument("--assignment")
    rg = sub.add_parser("regrade", parents=[common])
    rg.add_argument("ids", nargs="*")
    rg.add_argument("--assignment", help="regrade every learner's latest submission of this assignment")
    args = p.parse_args(argv)
    handler = {"serve": cmd_serve, "worker": cmd_worker, "run": cmd_run, "roster": cmd_roster,
               "assignment": cmd_assignment, "grades": cmd_grades, "regrade": cmd_regrade}[args.cmd]
    return handler(args) or 0

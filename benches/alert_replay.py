#!/usr/bin/env python3
"""The alert replay (issue 32): how often pipewatch's alerts catch a real regression, and how
often they cry wolf, measured on a seeded history replayed as production would run pipewatch.

What it does:
  1. generates a seeded history of Airflow DAG runs (hourly, daily and irregular DAGs with
     lognormal runtimes, 1-4 % random failures and rare slow outliers) with regressions injected
     into some DAGs: failure bursts, runtime steps, DAGs that stop, late landings. The ground
     truth (which DAG, what kind, from when to when) is written by the generator;
  2. replays it: the clock of a private PostgreSQL (libfaketime, one offset file) and of each
     `pipewatch run` (libfaketime, the same offset) is moved forward an hour at a time; at each
     step the Airflow metadata database (`dag_run` of Airflow 2.10) shows the runs as Airflow
     would show them at that moment (queued, running, then finished), and `pipewatch run` runs
     for every replay whose cadence falls on that hour (every hour, or every day at 07:00 UTC),
     each replay in its own warehouse schema;
  3. scores each replay from its `alert_history`: a regression is caught when an alert about
     its DAG opened within 24 hours of its start (the first run it changed); every alert about a
     DAG opened after the warm-up and outside the span of every regression of that DAG (its
     start to 24 hours after its end) is a false alert; a regression's alerts beyond the first
     are extra episodes.

It prints `name: value` lines. The scoring is pure Python and tested by `selftest` on a
hand-made ground truth.

Usage:
  alert_replay.py selftest
  alert_replay.py run --pipewatch BIN --work DIR [--size full|small] [--seed N]
                      [--cadences hourly,daily] [--configs example,defaults]

`run` starts its own PostgreSQL cluster (scripts/lib.sh's pw_start_private_pg, with libfaketime
preloaded) in DIR and stops it at the end; it needs Debian's libfaketime and PostgreSQL's
server binaries (scripts/lib.sh finds them), nothing else.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import json
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# A regression's alerts may come up to this long after its end (a daily DAG's next slot).
ATTRIBUTION_AFTER_END = DAY
# A regression counts as caught when an alert about its DAG opened this soon after its start.
DETECTION_WINDOW = DAY
# The daily cadence runs pipewatch at this hour (UTC), after the daily DAGs have landed.
DAILY_CADENCE_HOUR = 7


# --- The history -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Size:
    """How big a replay is."""

    hourly: int
    daily: int
    irregular: int
    days: int
    warmup_days: int
    # Regressions per (DAG kind, regression kind), at most one per DAG.
    regressions: dict
    # A failure burst's failure rate (None: 50 %, 80 % or 100 %, drawn).
    burst_failure_rate: float | None = None


FULL = Size(
    hourly=20,
    daily=25,
    irregular=5,
    days=60,
    warmup_days=16,
    regressions={
        ("hourly", "failure_burst"): 6,
        ("hourly", "runtime_step"): 4,
        ("hourly", "stopped"): 4,
        ("daily", "failure_burst"): 4,
        ("daily", "runtime_step"): 4,
        ("daily", "stopped"): 3,
        ("daily", "late_landing"): 4,
        ("irregular", "failure_burst"): 2,
        ("irregular", "stopped"): 1,
    },
)
# The size scripts/test replays: one regression of each kind an hourly DAG can have, three
# days scored.
SMALL = Size(
    hourly=4,
    daily=2,
    irregular=0,
    days=19,
    warmup_days=16,
    regressions={
        ("hourly", "failure_burst"): 1,
        ("hourly", "stopped"): 1,
    },
    burst_failure_rate=1.0,
)


@dataclasses.dataclass
class Dag:
    dag_id: str
    kind: str  # hourly, daily, irregular
    hour: int  # daily: the hour of its slot (UTC)
    runtime_median: float  # seconds
    runtime_sigma: float
    fail_p: float
    outlier_p: float


@dataclasses.dataclass
class Regression:
    """One injected regression: the ground truth the score is computed against."""

    dag_id: str
    kind: str
    start: dt.datetime  # the first run it changed (its queued time), or the first run missing
    end: dt.datetime  # the last run it changed ends (or the first run after a stop is queued)
    detail: str
    # When it can first be told from noise: its start, or for a failure burst or a runtime step
    # of a DAG with a few runs a day (daily, irregular) the second run it changed (one failed
    # or slow run of such a DAG looks exactly like the random ones).
    evidence: dt.datetime | None = None


@dataclasses.dataclass
class Run:
    dag_id: str
    run_id: str
    run_type: str
    logical: dt.datetime
    interval_start: dt.datetime
    interval_end: dt.datetime
    queued: dt.datetime
    start: dt.datetime
    end: dt.datetime
    state: str


def make_dags(size: Size, rnd: random.Random) -> list[Dag]:
    dags = []
    for kind, n in (("hourly", size.hourly), ("daily", size.daily), ("irregular", size.irregular)):
        for i in range(n):
            if kind == "hourly":
                median = rnd.uniform(120, 1200)
            elif kind == "daily":
                median = rnd.uniform(600, 5400)
            else:
                median = rnd.uniform(300, 2400)
            dags.append(
                Dag(
                    dag_id=f"{kind}_{i:02d}",
                    kind=kind,
                    hour=rnd.randrange(0, 5),
                    runtime_median=median,
                    runtime_sigma=rnd.uniform(0.1, 0.3),
                    fail_p=rnd.uniform(0.01, 0.04),
                    outlier_p=0.01,
                )
            )
    return dags


def slots(dag: Dag, first: dt.datetime, last: dt.datetime, rnd: random.Random):
    """The DAG's runs' (logical date, interval start, interval end, queued) between two times."""
    if dag.kind == "hourly":
        t = first
        while t + HOUR <= last:
            yield t, t, t + HOUR, t + HOUR + dt.timedelta(seconds=rnd.uniform(1, 20))
            t += HOUR
    elif dag.kind == "daily":
        t = first + dag.hour * HOUR
        while t + DAY <= last:
            yield t, t, t + DAY, t + DAY + dt.timedelta(seconds=rnd.uniform(1, 20))
            t += DAY
    else:
        # Triggered by upstream data (Airflow's dataset_triggered runs): 2 to 5 a day, at
        # irregular times.
        t = first + dt.timedelta(hours=rnd.uniform(0, 8))
        while t < last:
            yield t, t, t, t
            t += dt.timedelta(hours=rnd.uniform(3, 9))


def generate(size: Size, seed: int, first: dt.datetime):
    """The runs and the ground truth: a history of `size.days` days from `first`."""
    rnd = random.Random(seed)
    dags = make_dags(size, rnd)
    last = first + size.days * DAY
    regressions = plan_regressions(size, dags, first, rnd)
    by_dag = {r.dag_id: r for r in regressions}
    runs: list[Run] = []
    ends: dict[str, list[dt.datetime]] = {}
    changed: dict[str, list[dt.datetime]] = {}
    for dag in dags:
        reg = by_dag.get(dag.dag_id)
        for logical, i_start, i_end, queued in slots(dag, first, last, rnd):
            runtime = rnd.lognormvariate(math.log(dag.runtime_median), dag.runtime_sigma)
            if rnd.random() < dag.outlier_p:
                runtime *= rnd.uniform(2.5, 4)
            failed = rnd.random() < dag.fail_p
            start = queued + dt.timedelta(seconds=rnd.uniform(2, 30))
            active = reg is not None and reg.start <= queued < reg.end
            if active:
                if reg.kind == "stopped":
                    continue
                p, factor, delay = reg_params(reg)
                if reg.kind == "failure_burst":
                    failed = rnd.random() < p
                elif reg.kind == "runtime_step":
                    runtime *= factor
                elif reg.kind == "late_landing":
                    start += dt.timedelta(hours=delay)
            if failed:
                runtime *= rnd.uniform(0.05, 1.0)
            end = start + dt.timedelta(seconds=runtime)
            if active:
                ends.setdefault(dag.dag_id, []).append(end)
                changed.setdefault(dag.dag_id, []).append(queued)
            irregular = dag.kind == "irregular"
            runs.append(
                Run(
                    dag_id=dag.dag_id,
                    run_id=("dataset_triggered__" if irregular else "scheduled__")
                    + logical.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                    run_type="dataset_triggered" if irregular else "scheduled",
                    logical=logical,
                    interval_start=i_start,
                    interval_end=i_end,
                    queued=queued,
                    start=start,
                    end=end,
                    state="failed" if failed else "success",
                )
            )
    for reg in regressions:
        # A changed run's span is until the last changed run ended; a stop's until the first
        # run after it is queued.
        if reg.dag_id in ends:
            reg.end = max(ends[reg.dag_id])
        few_runs = not reg.dag_id.startswith("hourly")
        two_needed = few_runs and reg.kind in ("failure_burst", "runtime_step")
        queued = changed.get(reg.dag_id, [])
        reg.evidence = queued[1] if two_needed and len(queued) > 1 else reg.start
    return dags, runs, regressions


def reg_params(reg: Regression):
    d = json.loads(reg.detail)
    return d.get("failure_rate", 0.0), d.get("runtime_factor", 1.0), d.get("delay_hours", 0.0)


def plan_regressions(size: Size, dags: list[Dag], first: dt.datetime, rnd: random.Random):
    """Picks the DAGs and times of the regressions: at most one per DAG, each starting after the
    warm-up and ending at least 2 days before the history does."""
    free = {kind: [d for d in dags if d.kind == kind] for kind in ("hourly", "daily", "irregular")}
    for k in free:
        rnd.shuffle(free[k])
    out = []
    for (dag_kind, kind), n in sorted(size.regressions.items()):
        for _ in range(n):
            dag = free[dag_kind].pop()
            if dag_kind == "daily":
                span_days = {"failure_burst": rnd.choice([1, 2, 3]), "runtime_step": rnd.choice([4, 5, 6, 7]),
                             "stopped": rnd.choice([2, 3]), "late_landing": rnd.choice([1, 2, 3])}[kind]
                span = span_days * DAY
            elif kind == "failure_burst":
                span = dt.timedelta(hours=rnd.choice([4, 8, 12, 24]) if dag_kind == "hourly"
                                    else rnd.choice([12, 24, 36]))
            elif kind == "runtime_step":
                span = rnd.choice([3, 5, 7]) * DAY
            else:  # stopped
                span = dt.timedelta(hours=rnd.choice([12, 24, 48]))
            latest_start = size.days * DAY - span - 2 * DAY
            earliest = (size.warmup_days + 1) * DAY
            offset = earliest + (latest_start - earliest) * rnd.random() if latest_start > earliest else earliest
            start = first + dt.timedelta(hours=math.floor(offset / HOUR))
            if dag_kind == "daily":
                # Starts with the DAG's next slot (its queued time, a day after its logical date).
                day0 = (start - first).days
                start = first + day0 * DAY + DAY + dag.hour * HOUR
            detail = {}
            if kind == "failure_burst":
                drawn = rnd.choice([0.5, 0.8, 1.0])
                detail["failure_rate"] = 1.0 if dag_kind == "daily" else size.burst_failure_rate or drawn
            elif kind == "runtime_step":
                detail["runtime_factor"] = round(rnd.uniform(1.5, 3.0), 2)
            elif kind == "late_landing":
                detail["delay_hours"] = round(rnd.uniform(4, 10), 1)
            out.append(Regression(dag.dag_id, kind, start, start + span, json.dumps(detail)))
    return out


# --- The score -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Alert:
    rule: str
    subject: str
    opened_at: dt.datetime


@dataclasses.dataclass
class Score:
    injected: int
    caught: int
    caught_after_evidence: int  # within 24 h of its evidence (see Regression.evidence)
    caught_by_kind: dict  # kind -> (caught, injected)
    latencies_hours: list  # of the caught regressions
    false_alerts: int
    false_by_rule: dict
    dag_days: float
    extra_episodes: int
    one_episode: int  # caught regressions with exactly one alert attributed

    def lines(self, prefix: str) -> list[str]:
        pct = lambda a, b: f"{100.0 * a / b:.0f}%" if b else "-"  # noqa: E731
        out = [
            f"{prefix}_caught_within_24h: {self.caught} of {self.injected} ({pct(self.caught, self.injected)})",
        ]
        out.append(
            f"{prefix}_caught_within_24h_of_evidence: {self.caught_after_evidence} of {self.injected} "
            f"({pct(self.caught_after_evidence, self.injected)})"
        )
        for kind, (c, n) in sorted(self.caught_by_kind.items()):
            out.append(f"{prefix}_caught_within_24h_{kind}: {c} of {n}")
        if self.latencies_hours:
            out.append(f"{prefix}_latency_median_hours: {statistics.median(self.latencies_hours):.1f}")
            out.append(f"{prefix}_latency_max_hours: {max(self.latencies_hours):.1f}")
        per100 = 100.0 * self.false_alerts / self.dag_days if self.dag_days else 0.0
        out.append(
            f"{prefix}_false_alerts_per_100_dag_days: {per100:.2f} ({self.false_alerts} in {self.dag_days:,.0f} DAG-days)"
        )
        for rule, n in sorted(self.false_by_rule.items()):
            out.append(f"{prefix}_false_alerts_{rule}: {n}")
        out.append(f"{prefix}_extra_episodes: {self.extra_episodes}")
        out.append(
            f"{prefix}_caught_with_one_episode: {self.one_episode} of {self.caught} ({pct(self.one_episode, self.caught)})"
        )
        return out


def score(regressions: list[Regression], alerts: list[Alert], scored_from: dt.datetime,
          scored_until: dt.datetime, dags: int) -> Score:
    """Scores one replay's alerts against the ground truth (see the module's docstring)."""
    by_dag: dict[str, list[Alert]] = {}
    for a in alerts:
        by_dag.setdefault(a.subject, []).append(a)
    attributed: set[int] = set()
    caught = 0
    caught_after_evidence = 0
    caught_by_kind: dict[str, list[int]] = {}
    latencies = []
    extra = 0
    one = 0
    for reg in regressions:
        counts = caught_by_kind.setdefault(reg.kind, [0, 0])
        counts[1] += 1
        mine = [a for a in by_dag.get(reg.dag_id, [])
                if reg.start <= a.opened_at <= reg.end + ATTRIBUTION_AFTER_END]
        attributed.update(id(a) for a in mine)
        first = min((a.opened_at for a in mine), default=None)
        if first is not None and first - (reg.evidence or reg.start) <= DETECTION_WINDOW:
            caught_after_evidence += 1
        if first is not None and first - reg.start <= DETECTION_WINDOW:
            caught += 1
            counts[0] += 1
            latencies.append((first - reg.start) / HOUR)
            if len(mine) == 1:
                one += 1
        extra += max(0, len(mine) - 1)
    false_by_rule: dict[str, int] = {}
    for a in alerts:
        if id(a) in attributed or not scored_from <= a.opened_at <= scored_until:
            continue
        false_by_rule[a.rule] = false_by_rule.get(a.rule, 0) + 1
    return Score(
        injected=len(regressions),
        caught=caught,
        caught_after_evidence=caught_after_evidence,
        caught_by_kind={k: tuple(v) for k, v in caught_by_kind.items()},
        latencies_hours=latencies,
        false_alerts=sum(false_by_rule.values()),
        false_by_rule=false_by_rule,
        dag_days=dags * (scored_until - scored_from) / DAY,
        extra_episodes=extra,
        one_episode=one,
    )


def explain(regressions: list[Regression], alerts: list[Alert]) -> list[str]:
    """A line per regression (its first alert's latency and every alert of its span) and per
    false alert, for the reader of a replay."""
    out = []
    spans = []
    for reg in regressions:
        mine = [a for a in alerts if a.subject == reg.dag_id
                and reg.start <= a.opened_at <= reg.end + ATTRIBUTION_AFTER_END]
        spans.extend(id(a) for a in mine)
        latency = f"{(min(a.opened_at for a in mine) - reg.start) / HOUR:.1f} h" if mine else "never"
        out.append(f"{reg.kind} of {reg.dag_id} {reg.detail} from {iso(reg.start)}: first alert after "
                   f"{latency}; {', '.join(a.rule for a in mine) or 'no alert'}")
    for a in alerts:
        if id(a) not in spans:
            out.append(f"false alert {a.rule} on {a.subject} at {iso(a.opened_at)}")
    return out


class ScoreTest(unittest.TestCase):
    """The scoring code on a hand-made ground truth."""

    T0 = dt.datetime(2025, 3, 1, tzinfo=UTC)

    def at(self, hours: float) -> dt.datetime:
        return self.T0 + dt.timedelta(hours=hours)

    def test_hand_made_truth(self):
        regs = [
            # Caught 2 h after its start by two rules: one extra episode.
            Regression("a", "failure_burst", self.at(10), self.at(20), "{}"),
            # Caught 30 h after its start: too late, but its alert is not a false one; and 20 h
            # after its evidence (its second slow run).
            Regression("b", "runtime_step", self.at(10), self.at(100), "{}", self.at(20)),
            # Never alerted.
            Regression("c", "stopped", self.at(10), self.at(40), "{}"),
            # Caught within the day, once.
            Regression("d", "late_landing", self.at(50), self.at(60), "{}"),
        ]
        alerts = [
            Alert("success_rate_drop", "a", self.at(12)),
            Alert("freshness", "a", self.at(15)),
            Alert("runtime_regression", "b", self.at(40)),
            Alert("landing_deadline", "d", self.at(70)),
            # False: before the regression of "a", after the span of "d", on a healthy DAG,
            # and one before the scored period (not counted at all).
            Alert("success_rate_drop", "a", self.at(5)),
            Alert("freshness", "d", self.at(60 + 24 + 1)),
            Alert("success_rate_drop", "e", self.at(30)),
            Alert("success_rate_drop", "e", self.at(-1)),
        ]
        s = score(regs, alerts, self.T0, self.at(240), dags=5)
        self.assertEqual(s.injected, 4)
        self.assertEqual(s.caught, 2)
        self.assertEqual(s.caught_after_evidence, 3)
        self.assertEqual(s.caught_by_kind["failure_burst"], (1, 1))
        self.assertEqual(s.caught_by_kind["runtime_step"], (0, 1))
        self.assertEqual(s.caught_by_kind["stopped"], (0, 1))
        self.assertEqual(s.caught_by_kind["late_landing"], (1, 1))
        self.assertEqual(sorted(s.latencies_hours), [2.0, 20.0])
        self.assertEqual(s.false_alerts, 3)
        self.assertEqual(s.false_by_rule, {"success_rate_drop": 2, "freshness": 1})
        self.assertEqual(s.dag_days, 50.0)
        self.assertEqual(s.extra_episodes, 1)
        self.assertEqual(s.one_episode, 1)
        lines = s.lines("x")
        self.assertIn("x_caught_within_24h: 2 of 4 (50%)", lines)
        self.assertIn("x_caught_within_24h_of_evidence: 3 of 4 (75%)", lines)
        self.assertIn("x_false_alerts_per_100_dag_days: 6.00 (3 in 50 DAG-days)", lines)
        self.assertIn("x_caught_with_one_episode: 1 of 2 (50%)", lines)

    def test_no_alert_at_all(self):
        regs = [Regression("a", "stopped", self.at(1), self.at(2), "{}")]
        s = score(regs, [], self.T0, self.at(24), dags=1)
        self.assertEqual((s.caught, s.false_alerts, s.extra_episodes), (0, 0, 0))
        self.assertIn("x_caught_with_one_episode: 0 of 0 (-)", s.lines("x"))


class ExampleTest(unittest.TestCase):
    """The replay reads the [alerts] values pipeline.conf.example suggests."""

    def test_the_example_keys(self):
        keys = example_alert_keys()
        names = [k.split(" = ")[0] for k in keys]
        for name in ("success_rate_drop", "runtime_mad_multiple", "freshness_hours", "cooldown_minutes"):
            self.assertIn(name, names)
        self.assertFalse([k for k in keys if k.startswith(("webhook_url", "enabled", "dag_id"))])


class GeneratorTest(unittest.TestCase):
    """The generator is seeded, and injects what its ground truth says."""

    def test_seeded_and_consistent(self):
        first = dt.datetime(2025, 1, 1, tzinfo=UTC)
        a = generate(FULL, 7, first)
        b = generate(FULL, 7, first)
        self.assertEqual([r.run_id + r.state for r in a[1]], [r.run_id + r.state for r in b[1]])
        dags, runs, regs = a
        self.assertEqual(len(regs), sum(FULL.regressions.values()))
        self.assertEqual(len({r.dag_id for r in regs}), len(regs), "one regression per DAG")
        by_dag = {}
        for r in runs:
            by_dag.setdefault(r.dag_id, []).append(r)
        for reg in regs:
            self.assertGreater(reg.start, first + FULL.warmup_days * DAY)
            self.assertLess(reg.end, first + FULL.days * DAY)
            inside = [r for r in by_dag[reg.dag_id] if reg.start <= r.queued < reg.end]
            if reg.kind == "stopped":
                self.assertEqual(inside, [], reg)
            else:
                self.assertTrue(inside, reg)
            if reg.kind == "failure_burst" and json.loads(reg.detail)["failure_rate"] == 1.0:
                self.assertTrue(all(r.state == "failed" for r in inside), reg)
        rate = sum(r.state == "failed" for r in runs) / len(runs)
        self.assertTrue(0.01 < rate < 0.1, rate)


# --- The replay ----------------------------------------------------------------------------


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


class Cluster:
    """A private PostgreSQL whose clock libfaketime moves (the offset in `clock_file`)."""

    def __init__(self, work: Path):
        self.dir = work / "pg"
        self.clock_file = work / "clock_offset"
        self.clock_file.write_text("+0\n")
        os.chmod(work, 0o755)
        os.chmod(self.clock_file, 0o644)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = (f"LD_PRELOAD={FAKETIME_LIB} FAKETIME_TIMESTAMP_FILE={self.clock_file} "
               "FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=1")
        sh(["bash", "-c", f'. scripts/lib.sh && PW_PG_ENV="{env}" pw_start_private_pg "$1" "$2" fast',
            "start", str(self.dir), str(self.port)], cwd=ROOT)
        self.pg_bin = sh(["bash", "-c", ". scripts/lib.sh && pw_find_pg_bin && echo $PW_PG_BIN"],
                         cwd=ROOT, capture_output=True).stdout.strip()

    def stop(self):
        subprocess.run(["bash", "-c", '. scripts/lib.sh && pw_find_pg_bin && pw_stop_private_pg "$1"',
                        "stop", str(self.dir)], cwd=ROOT)

    def psql(self, db: str, sql: str | None = None, file: str | None = None, stdin: str | None = None,
             at: bool = False) -> str:
        cmd = [f"{self.pg_bin}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
               "-p", str(self.port), "-U", "postgres", "-d", db]
        if at:
            cmd += ["-At", "-F", "\t"]
        if sql is not None:
            cmd += ["-c", sql]
        if file is not None:
            cmd += ["-f", file]
        return sh(cmd, input=stdin, capture_output=True).stdout

    def set_clock(self, offset_seconds: int):
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{offset_seconds:+d}\n")
        os.chmod(tmp, 0o644)
        tmp.replace(self.clock_file)


ADVANCE_SQL = """
-- The Airflow metadata database as it looks at the (faked) now(): every run queued by then,
-- running once started, finished once ended. Grain: one row per DAG run.
CREATE FUNCTION replay_advance() RETURNS integer LANGUAGE sql AS $$
  WITH seen AS (
    SELECT r.*, CASE WHEN r.end_date <= now() THEN r.state
                     WHEN r.start_date <= now() THEN 'running' ELSE 'queued' END AS now_state
    FROM replay_run r WHERE r.queued_at <= now()
  ), up AS (
    INSERT INTO dag_run (dag_id, queued_at, execution_date, start_date, end_date, state, run_id,
                         external_trigger, run_type, data_interval_start, data_interval_end,
                         last_scheduling_decision, log_template_id, updated_at, clear_number)
    SELECT dag_id, queued_at, execution_date,
           CASE WHEN now_state <> 'queued' THEN start_date END,
           CASE WHEN now_state IN ('success', 'failed') THEN end_date END,
           now_state, run_id, run_type <> 'scheduled', run_type, data_interval_start,
           data_interval_end, now(), 1, now(), 0
    FROM seen
    ON CONFLICT (dag_id, run_id) DO UPDATE
      SET state = EXCLUDED.state, start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
          updated_at = EXCLUDED.updated_at, last_scheduling_decision = EXCLUDED.updated_at
      WHERE dag_run.state IS DISTINCT FROM EXCLUDED.state
    RETURNING 1
  )
  SELECT count(*)::integer FROM up
$$;
"""


def example_alert_keys() -> list[str]:
    """The [alerts] values pipeline.conf.example suggests (its commented `key = value` lines)."""
    text = (ROOT / "pipeline.conf.example").read_text()
    section = text.split("; [alerts]\n", 1)[1].split("; [alerts_<label>]", 1)[0]
    out = []
    for m in re.finditer(r"^; ([a-z_]+) = (\S.*)$", section, re.M):
        if m.group(1) not in ("webhook_url", "webhook_url_file", "enabled"):
            out.append(f"{m.group(1)} = {m.group(2)}")
    return out


def config(work: Path, port: int, schema: str, alerts: list[str]) -> Path:
    path = work / f"{schema}.conf"
    path.write_text("\n".join([
        "[warehouse]", "host = 127.0.0.1", f"port = {port}", "username = postgres",
        "database = replay_warehouse", f"schema = {schema}",
        "[airflowdb_config]", "host = 127.0.0.1", f"port = {port}", "username = postgres",
        "database = replay_airflow",
        "[staging]", f"local_directory = {work}/stage-{schema}",
        # The generator models runs, not Airflow's scheduler state (dag, job, serialized DAGs):
        # the catalogue's rules are not replayed.
        "[extract]", "catalog = false", "task_instances = false",
        "[alerts]", *alerts, "",
    ]))
    return path


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S+00")


def replay(args) -> int:
    size = SMALL if args.size == "small" else FULL
    work = Path(args.work).resolve()
    args.pipewatch = str(Path(args.pipewatch).resolve())
    work.mkdir(parents=True, exist_ok=True)
    # The history ends at the start of the current hour, so the faked clock never runs ahead of
    # the real one.
    end = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = (end - size.days * DAY).replace(hour=0)
    end = first + size.days * DAY
    dags, runs, regressions = generate(size, args.seed, first)
    print(f"replay_seed: {args.seed}")
    print(f"replay_dags: {len(dags)} ({size.hourly} hourly, {size.daily} daily, {size.irregular} irregular)")
    print(f"replay_runs: {len(runs)}")
    print(f"replay_days: {size.days} ({size.warmup_days} of warm-up loaded by the first run)")
    print(f"replay_regressions: {len(regressions)}")
    for reg in regressions:
        print(f"  regression {reg.dag_id} {reg.kind} {iso(reg.start)} .. {iso(reg.end)} "
              f"(evidence {iso(reg.evidence)}) {reg.detail}", file=sys.stderr)
    (work / "truth.json").write_text(json.dumps(
        [dataclasses.asdict(r) | {"start": iso(r.start), "end": iso(r.end), "evidence": iso(r.evidence)}
         for r in regressions], indent=1))

    cluster = Cluster(work)
    try:
        return replay_on(cluster, args, size, work, first, end, runs, regressions, len(dags))
    finally:
        cluster.stop()


def replay_on(cluster, args, size, work, first, end, runs, regressions, n_dags) -> int:
    cluster.psql("postgres", "CREATE DATABASE replay_airflow")
    cluster.psql("postgres", "CREATE DATABASE replay_warehouse")
    cluster.psql("replay_airflow", file=str(ROOT / "tests/fixtures/airflow/dag_run_airflow2.sql"))
    cluster.psql("replay_airflow", "CREATE TABLE replay_run (dag_id text, run_id text, run_type text, "
                 "execution_date timestamptz, data_interval_start timestamptz, data_interval_end timestamptz, "
                 "queued_at timestamptz, start_date timestamptz, end_date timestamptz, state text)")
    buf = io.StringIO()
    w = csv.writer(buf)
    for r in runs:
        w.writerow([r.dag_id, r.run_id, r.run_type, iso(r.logical), iso(r.interval_start),
                    iso(r.interval_end), iso(r.queued), iso(r.start), iso(r.end), r.state])
    cluster.psql("replay_airflow", "\\copy replay_run FROM pstdin WITH (FORMAT csv)", stdin=buf.getvalue())
    cluster.psql("replay_airflow", "CREATE INDEX ON replay_run (queued_at)")
    cluster.psql("replay_airflow", ADVANCE_SQL)

    replays = []
    for cadence in args.cadences.split(","):
        for cfg in args.configs.split(","):
            keys = example_alert_keys() if cfg == "example" else []
            schema = f"{cadence}_{cfg}"
            replays.append((schema, cadence, config(work, cluster.port, schema, keys)))
    env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, DONT_FAKE_MONOTONIC="1", RUST_LOG="warn",
               NO_COLOR="1")
    env.pop("FAKETIME_TIMESTAMP_FILE", None)
    start = first + size.warmup_days * DAY
    t = start
    steps = 0
    runs_of = {schema: 0 for schema, _, _ in replays}
    wall = time.monotonic()
    while t <= end:
        offset = round((t - dt.datetime.now(UTC)).total_seconds())
        cluster.set_clock(offset)
        cluster.psql("replay_airflow", "SELECT replay_advance()")
        for schema, cadence, conf in replays:
            if cadence == "daily" and t.hour != DAILY_CADENCE_HOUR and t != start:
                continue
            env["FAKETIME"] = f"{offset:+d}"
            result = subprocess.run([args.pipewatch, "--config", str(conf), "run"], env=env,
                                    capture_output=True, text=True)
            if result.returncode not in (0, 3):
                sys.stderr.write(result.stdout + result.stderr)
                raise SystemExit(f"pipewatch run failed ({result.returncode}) at {iso(t)} for {schema}")
            runs_of[schema] += 1
        steps += 1
        if steps % 24 == 0:
            print(f"  replayed {steps // 24} of {(end - start) // DAY} days "
                  f"({time.monotonic() - wall:.0f} s)", file=sys.stderr, flush=True)
        t += HOUR
    cluster.set_clock(0)
    print(f"replay_steps: {steps} hours ({iso(start)} .. {iso(end)})")
    print(f"replay_wall_seconds: {time.monotonic() - wall:.0f}")
    status = 0
    for schema, cadence, _ in replays:
        print(f"{schema}_pipewatch_runs: {runs_of[schema]}")
        rows = cluster.psql("replay_warehouse", f"SELECT rule, subject, opened_at FROM {schema}.alert_history "
                            "ORDER BY opened_at", at=True)
        alerts = []
        for line in rows.splitlines():
            rule, subject, opened = line.split("\t")
            alerts.append(Alert(rule, subject, dt.datetime.fromisoformat(opened)))
        (work / f"{schema}_alerts.tsv").write_text(rows)
        s = score(regressions, alerts, start, end, n_dags)
        for line in s.lines(schema):
            print(line)
        for line in explain(regressions, alerts):
            print(f"  {schema}: {line}", file=sys.stderr)
    return status


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("selftest", help="test the scoring and the generator")
    r = sub.add_parser("run", help="generate, replay and score")
    r.add_argument("--pipewatch", required=True)
    r.add_argument("--work", required=True)
    r.add_argument("--size", choices=["full", "small"], default="full")
    r.add_argument("--seed", type=int, default=32)
    r.add_argument("--cadences", default="hourly,daily")
    r.add_argument("--configs", default="example,defaults")
    args = p.parse_args()
    if args.command == "selftest":
        suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
        return 0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1
    if not os.path.exists(FAKETIME_LIB):
        raise SystemExit(f"{FAKETIME_LIB} is missing: install Debian's libfaketime (apt-get install libfaketime)")
    return replay(args)


if __name__ == "__main__":
    sys.exit(main())

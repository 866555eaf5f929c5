"""Locust users for ``bench_load.py`` (run by Locust in its own environment: it imports nothing of dealflow).

Each user acts as a rep (logged in before the run, so the argon2 burst of 50 logins is not the load
measured) and, until the run ends, looks at the board and at deals, and works its own
slice of prospecting deals through a cycle of four changes: a move to qualification that the gate
refuses (no call logged since the deal entered the stage; through the board's HTMX form), a call
logged, the same move again, which passes, and a move back with a reason (both through the API with
an Idempotency-Key). Now and then a passed move is sent again with the same key, to the other server
when two run: it must be replayed, not done twice. Every answer is checked; the moves each deal
made are written to the result file for ``bench_load.py`` to compare with the event log.

``DEALFLOW_LOAD_CONFIG`` names a JSON file: ``{"hosts": [url, ...], "two_from": s, "two_until": s,
"slots": [{"user": id, "session": token, "csrf": token, "cycle": [deal ids], "view": [deal ids]}],
"result": path}``;
with ``"bare": true`` the users only GET ``/ping`` (the bare baseline server).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, events, task

CONFIG: dict[str, Any] = json.loads(Path(os.environ["DEALFLOW_LOAD_CONFIG"]).read_text())
HOSTS: list[str] = CONFIG["hosts"]
SLOTS = itertools.count()
STARTED = time.monotonic()
RESULT: dict[str, Any] = {
    "moves": Counter(),
    "replays": 0,
    "refused": 0,
    "calls": 0,
    "unexpected": [],
    "cut_at_stop": 0,
    "by_host": Counter(),
}
FORWARD, BACK = "qualification", "prospecting"
STOPPING: list[float] = []


def host(*, other_than: str | None = None) -> str:
    """The server for the next request: the first one, or either while two run."""
    elapsed = time.monotonic() - STARTED
    if len(HOSTS) == 1 or not CONFIG["two_from"] <= elapsed < CONFIG["two_until"]:
        chosen = HOSTS[0]
    elif other_than is not None:
        chosen = next(h for h in HOSTS if h != other_than)
    else:
        chosen = random.choice(HOSTS)
    RESULT["by_host"][chosen] += 1
    return chosen


def unexpected(what: str, response: Any) -> None:
    """Note an answer the scenario did not expect (bench_load.py reports and fails on any); a request
    Locust itself cut off while stopping the run (no status) is counted apart, not as an answer."""
    if response.status_code == 0 and STOPPING:
        RESULT["cut_at_stop"] += 1
        return
    RESULT["unexpected"].append(f"{what}: {response.status_code} {str(response.text)[:200]}")


class Bare(FastHttpUser):
    """The baseline: a route that does nothing, under the same number of users."""

    wait_time = between(0.05, 0.15)

    @task
    def ping(self) -> None:
        with self.client.get(f"{host()}/ping", name="GET /ping (bare)", catch_response=True) as answer:
            if answer.status_code != 200:
                unexpected("GET /ping", answer)
                answer.failure(f"status {answer.status_code}")


class Rep(FastHttpUser):
    """A rep on the board: looks, logs calls, moves deals; some moves are refused by the gate."""

    wait_time = between(0.05, 0.15)

    def on_start(self) -> None:
        # Logged in before the run (bench_load.py, on both servers): its session cookie and CSRF token.
        slot = CONFIG["slots"][next(SLOTS) % len(CONFIG["slots"])]
        self.user, self.cycle, self.view = slot["user"], list(slot["cycle"]), list(slot["view"])
        self.state = dict.fromkeys(self.cycle, "fresh")
        self.turn = itertools.cycle(self.cycle)
        self.csrf, self.cookie = slot["csrf"], {"Cookie": f"dealflow_session={slot['session']}"}

    @task(5)
    def board(self) -> None:
        with self.client.get(f"{host()}/board", headers=self.cookie, name="GET /board", catch_response=True) as answer:
            if answer.status_code != 200 or 'data-test="board"' not in answer.text:
                unexpected("GET /board", answer)
                answer.failure(f"status {answer.status_code}")

    @task(2)
    def deal(self) -> None:
        deal_id = random.choice(self.view or self.cycle)
        url = f"{host()}/deals/{deal_id}"
        with self.client.get(url, headers=self.cookie, name="GET /deals/[id]", catch_response=True) as answer:
            if answer.status_code != 200:
                unexpected(f"GET /deals/{deal_id}", answer)
                answer.failure(f"status {answer.status_code}")

    @task(4)
    def work(self) -> None:
        if not self.cycle:
            return
        deal_id = next(self.turn)
        step = self.state[deal_id]
        if step == "fresh":
            self.refused_move(deal_id)
        elif step == "refused":
            self.log_call(deal_id)
        elif step == "called":
            self.move(deal_id, FORWARD, None, then="qualified")
        else:
            self.move(deal_id, BACK, "Back for another pass (load run)", then="fresh")

    def refused_move(self, deal_id: str) -> None:
        form = {"to": FORWARD, "csrf_token": self.csrf}
        headers = {"HX-Request": "true", **self.cookie}
        url = f"{host()}/deals/{deal_id}/move"
        with self.client.post(
            url, data=form, headers=headers, name="POST /deals/[id]/move (refused)", catch_response=True
        ) as answer:
            if answer.status_code == 422 and "log at least one call" in answer.text:
                answer.success()
                RESULT["refused"] += 1
                self.state[deal_id] = "refused"
            else:
                unexpected(f"refused move of {deal_id}", answer)
                answer.failure(f"status {answer.status_code}")

    def log_call(self, deal_id: str) -> None:
        body = {"kind": "call", "summary": "Call with the buyer (load run)"}
        headers = {"X-CSRF-Token": self.csrf, "Idempotency-Key": str(uuid.uuid4()), **self.cookie}
        url = f"{host()}/api/v1/deals/{deal_id}/activities"
        with self.client.post(
            url, json=body, headers=headers, name="POST /api/v1/deals/[id]/activities", catch_response=True
        ) as answer:
            if answer.status_code == 201:
                RESULT["calls"] += 1
                self.state[deal_id] = "called"
            else:
                unexpected(f"call on {deal_id}", answer)
                answer.failure(f"status {answer.status_code}")

    def move(self, deal_id: str, to: str, reason: str | None, *, then: str) -> None:
        body = {"to": to, "reason": reason}
        headers = {"X-CSRF-Token": self.csrf, "Idempotency-Key": str(uuid.uuid4()), **self.cookie}
        first = host()
        name = "POST /api/v1/deals/[id]/moves"
        with self.client.post(
            f"{first}/api/v1/deals/{deal_id}/moves", json=body, headers=headers, name=name, catch_response=True
        ) as answer:
            if answer.status_code != 200 or answer.json().get("stage") != to:
                unexpected(f"move of {deal_id} to {to}", answer)
                answer.failure(f"status {answer.status_code}")
                return
        RESULT["moves"][deal_id] += 1
        self.state[deal_id] = then
        if random.random() < 0.2:  # the client did not hear the answer: it retries with the same key
            url = f"{host(other_than=first)}/api/v1/deals/{deal_id}/moves"
            with self.client.post(
                url, json=body, headers=headers, name=f"{name} (retry, same key)", catch_response=True
            ) as again:
                if again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true":
                    RESULT["replays"] += 1
                else:
                    unexpected(f"retried move of {deal_id}", again)
                    again.failure(f"status {again.status_code}")


@events.test_stopping.add_listener
def stopping(**_: Any) -> None:
    """From here on Locust stops the users, cutting off the requests they have in flight."""
    STOPPING.append(time.monotonic())


@events.quitting.add_listener
def write_result(**_: Any) -> None:
    """Leave what the users did for bench_load.py to check against the database."""
    if "result" in CONFIG:
        Path(CONFIG["result"]).write_text(json.dumps(RESULT))

#!/usr/bin/env python3
"""Distributed mode tried as an operator would, with figures (issue 12's trial, repeatable).

Starts the README's processes (api, 2 conductors, 2 task managers, a 2000-guest simulated pool)
on the private RabbitMQ and PostgreSQL of scripts/*-test-server.sh, then measures:
  1. N simulated + M PostgreSQL creates at once: time until every one is ACTIVE;
  2. a task manager SIGKILLed with 100 creates in flight: when the survivor took its flows over,
     and when all 100 were ACTIVE;
  3. RabbitMQ restarted with 100 creates in flight: how many ended in ERROR, time to all ACTIVE;
  4. the pool SIGKILLed (a second one running): time until its guests are healthy again.

Usage: python3 scripts/cluster-trial.py [--simulated 500] [--postgresql 2] [--binary target/release/coffer]
Needs COFFERTEST_PG_URL and COFFERTEST_AMQP_URL (printed by the scripts' `start`).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Api:
    def __init__(self, root):
        self.base = root + "/v1.0/trial"

    def send(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None

    def create(self, name, datastore="simulated"):
        body = {"instance": {"name": name, "flavorRef": "1", "volume": {"size": 1},
                             "datastore": {"type": datastore}}}
        status, resp = self.send("POST", "/instances", body)
        if status != 200:
            raise RuntimeError(f"create {name}: {status}")
        return resp["instance"]["id"]

    def statuses(self):
        out, marker = {}, None
        while True:
            path = "/instances?limit=1000" + (f"&marker={marker}" if marker else "")
            status, resp = self.send("GET", path)
            if status != 200:
                return out
            for inst in resp["instances"]:
                out[inst["id"]] = inst["status"]
            if not resp.get("links"):
                return out
            marker = resp["instances"][-1]["id"]


def create_all(api, names_and_stores, threads=16):
    ids, lock, queue = [], threading.Lock(), list(names_and_stores)

    def work():
        while True:
            with lock:
                if not queue:
                    return
                name, store = queue.pop()
            iid = api.create(name, store)
            with lock:
                ids.append(iid)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return ids


def wait_active(api, ids, within):
    deadline = time.time() + within
    while time.time() < deadline:
        seen = api.statuses()
        states = [seen.get(i) for i in ids]
        if all(s == "ACTIVE" for s in states):
            return 0
        time.sleep(0.5)
    seen = api.statuses()
    return sum(1 for i in ids if seen.get(i) != "ACTIVE")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulated", type=int, default=500)
    parser.add_argument("--postgresql", type=int, default=2)
    parser.add_argument("--binary", default="target/release/coffer")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    admin = os.environ["COFFERTEST_PG_URL"]
    amqp = os.environ["COFFERTEST_AMQP_URL"]
    dbname = "coffer_trial_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {dbname}"], check=True)
    work = tempfile.mkdtemp(prefix="coffer-trial-")
    os.chmod(work, 0o755)
    port = free_port()
    env = dict(os.environ,
               COFFER_BUS_TRANSPORT="amqp", COFFER_BUS_AMQP_URL=amqp,
               COFFER_DATABASE_URL=admin.rsplit("/", 1)[0] + "/" + dbname,
               COFFER_COMPUTE_GUEST_HOST="process", COFFER_API_BIND=f"127.0.0.1:{port}",
               COFFER_AUTH_MODE="noauth", COFFER_COMPUTE_DATA_DIR=os.path.join(work, "instances"),
               COFFER_COMPUTE_ADDRESS_POOL="127.79.0.0/24", COFFER_QUOTA_INSTANCES="-1",
               COFFER_QUOTA_VOLUMES="-1", COFFER_QUOTA_RAM="-1",
               COFFER_GUEST_HEARTBEAT_INTERVAL_S="2", COFFER_GUEST_HEARTBEAT_EXPIRY_S="10",
               COFFER_COMPUTE_SIMULATED_PREPARE_MS="2000", COFFER_LOG_FILTER="warn")
    log = open(os.path.join(work, "coffer.log"), "w")
    procs = {}

    def start(name, *words):
        procs[name] = subprocess.Popen([binary, *words], cwd=work, env=env, stdout=subprocess.DEVNULL,
                                       stderr=log)

    for name, words in [("api", ["api"]), ("conductor-1", ["conductor"]), ("conductor-2", ["conductor"]),
                        ("tm-1", ["taskmanager"]), ("tm-2", ["taskmanager"]),
                        ("pool-1", ["guest", "--simulated", "2000"])]:
        start(name, *words)
    api = Api(f"http://127.0.0.1:{port}")
    figures = {}
    try:
        deadline = time.time() + 60
        while api.send("GET", "/flavors")[0] != 200:
            if time.time() > deadline:
                raise RuntimeError("the api did not come up")
            time.sleep(0.2)

        # 1. N simulated + M PostgreSQL at once.
        t0 = time.time()
        wanted = [(f"sim-{i}", "simulated") for i in range(args.simulated)]
        wanted += [(f"pg-{i}", "postgresql") for i in range(args.postgresql)]
        ids = create_all(api, wanted)
        left = wait_active(api, ids, 600)
        figures["1 all ACTIVE (s)"] = round(time.time() - t0, 1)
        figures["1 not ACTIVE"] = left

        # 2. A task manager killed with 100 creates in flight.
        t0 = time.time()
        ids = create_all(api, [(f"tm-kill-{i}", "simulated") for i in range(100)])
        status, flows = api.send("GET", "/mgmt/flows?status=running")
        owners = [f["owner"] for f in (flows or {}).get("flows", []) if f["owner"]]
        status, services = api.send("GET", "/mgmt/services")
        victim = None
        for s in services["services"]:
            if s["role"] == "taskmanager" and s["state"] == "up" and owners and s["node_id"] == owners[0]:
                victim = s
        killed_at = time.time()
        if victim:
            os.kill(victim["pid"], signal.SIGKILL)
        left = wait_active(api, ids, 300)
        figures["2 running flows when killed"] = len(owners)
        figures["2 all 100 ACTIVE after kill (s)"] = round(time.time() - killed_at, 1)
        figures["2 not ACTIVE"] = left
        status, events = api.send("GET", "/mgmt/supervision-events?limit=5000")
        took = [e for e in (events or {}).get("events", []) if e["event"] == "took_over"]
        if took:
            from datetime import datetime
            first = datetime.fromisoformat(took[0]["at"].replace("Z", "+00:00")).timestamp()
            figures["2 first takeover after kill (s)"] = round(first - killed_at, 1)
            figures["2 takeovers"] = "; ".join(e["reason"] for e in took)

        # 3. The broker restarted with 100 creates in flight.
        ids = create_all(api, [(f"blip-{i}", "simulated") for i in range(100)])
        t0 = time.time()
        subprocess.run(["bash", "scripts/rabbitmq-test-server.sh", "restart"], check=True,
                       stdout=subprocess.DEVNULL)
        figures["3 broker down (s)"] = round(time.time() - t0, 1)
        left = wait_active(api, ids, 300)
        seen = api.statuses()
        figures["3 ERROR"] = sum(1 for i in ids if seen.get(i) == "ERROR")
        figures["3 all ACTIVE after restart began (s)"] = round(time.time() - t0, 1)
        figures["3 not ACTIVE"] = left

        # 4. The pool killed, a second one running.
        start("pool-2", "guest", "--simulated", "2000")
        time.sleep(3)
        killed_at = time.time()
        procs["pool-1"].kill()
        deadline = time.time() + 120
        while time.time() < deadline:
            status, services = api.send("GET", "/mgmt/services")
            pools = [s for s in services["services"] if s["role"] == "guest_pool" and s["state"] == "up"]
            hosted = sum(s["hosted"] or 0 for s in pools)
            if len(pools) == 1 and hosted >= args.simulated + 200:
                break
            time.sleep(0.5)
        figures["4 guests re-hosted after pool kill (s)"] = round(time.time() - killed_at, 1)
        figures["4 hosted by the live pool"] = hosted
    finally:
        for p in procs.values():
            p.kill()
        # The datastore servers (their command lines name the volume) and the guest processes
        # the task managers started (their working directory is the trial's).
        subprocess.run(["pkill", "-9", "-f", os.path.join(work, "instances")])
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/cwd").startswith(work):
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    for k, v in figures.items():
        print(f"{k}: {v}")
    warnings = sum(1 for line in open(os.path.join(work, "coffer.log")) if "WARN" in line)
    errors = sum(1 for line in open(os.path.join(work, "coffer.log")) if "ERROR" in line)
    print(f"log: {warnings} WARN lines, {errors} ERROR lines ({work}/coffer.log)")


if __name__ == "__main__":
    sys.exit(main())

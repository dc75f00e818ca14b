#!/usr/bin/env python3
"""Load test of `mamori serve`, loopback only, bounded in time.

Pushes CloudTrail events through POST /api/ingest at a target rate for a
duration while a second thread runs queries; once a second one event is a
console sign-in without MFA by a new user, which the built-in rules turn into a
new finding, delivered to a webhook served here. Reports sustained throughput,
ingest-to-notification latency (p50/p99: webhook arrival minus the sign-in's
send time), peak RSS of the service, and whether every accepted event was
stored (count in = count stored).

    python3 bench/serve_load.py --bin target/release/mamori --rate 10000 --seconds 60
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, tempfile, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(base, method, path, token, body=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, json.loads(r.read() or b"null")


def event(i, t, name="DescribeInstances", user="svc-app", extra=None):
    e = {"eventVersion": "1.08", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z",
         "eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
         "sourceIPAddress": "198.51.100.%d" % (i % 250), "eventID": "load-%d" % i, "eventType": "AwsApiCall",
         "userIdentity": {"type": "IAMUser", "userName": user, "arn": "arn:aws:iam::111122223333:user/" + user,
                          "accountId": "111122223333"}, "recipientAccountId": "111122223333"}
    if extra:
        e.update(extra)
    return e


# The bulk of the load: the same event as `event()`, with time, address and id filled in.
LINE = json.dumps(event(0, 0)).replace("%", "%%")
LINE = LINE.replace('"1970-01-01T00:00:00Z"', '"%s"').replace('"198.51.100.0"', '"198.51.100.%d"').replace('"load-0"', '"load-%d"')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--commit-interval", help="[serve] commit_interval, e.g. 500ms (default: the service's)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory and the service's log")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mamori-load-")
    data = os.path.join(work, "data")
    latencies, sent_at = [], {}
    lock = threading.Lock()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            now = time.time()
            self.send_response(200); self.end_headers()
            # The finding names its user by ARN (…:user/load-user-N) wherever the payload puts it.
            for user in set(re.findall(rb"load-user-[0-9]+", body)):
                with lock:
                    t = sent_at.pop(user.decode(), None)
                    if t is not None:
                        latencies.append(now - t)

        def log_message(self, *args):
            pass

    hook_port = free_port()
    hook = ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    cfg = os.path.join(work, "mamori.toml")
    with open(cfg, "w") as f:
        if a.commit_interval:
            f.write('[serve]\ncommit_interval = "%s"\n\n' % a.commit_interval)
        f.write('[[notify]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:%d/"\nsecret = "s"\n' % hook_port)
    token = subprocess.check_output([a.bin, "serve", "token", "load", "--role", "admin", "--data", data]).decode().strip()
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    proc = subprocess.Popen([a.bin, "serve", "--data", data, "--config", cfg, "--listen", "127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1); break
        except OSError:
            time.sleep(0.1)
    stop = threading.Event()
    queries = [0]

    def query_loop():
        while not stop.is_set():
            call(base, "POST", "/api/query", token, json.dumps({"query": "stats count(*) as n by eventName | sort n desc | limit 5", "since": "1h"}).encode())
            queries[0] += 1
            time.sleep(1)

    qt = threading.Thread(target=query_loop, daemon=True); qt.start()
    accepted, i, t0 = 0, 0, time.time()
    per_second = max(1, a.rate // a.batch)
    peak = 0
    # Requests are paced evenly (one batch every batch/rate seconds), not sent in bursts.
    k = 0
    while time.time() - t0 < a.seconds:
        due = t0 + k * a.batch / a.rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"
        # String formatting, not json.dumps: the client must not be what limits the rate.
        lines = [LINE % (stamp, (i + j) % 250, i + j) for j in range(a.batch)]
        i += a.batch
        if k % per_second == 0:
            user = "load-user-%d" % i
            lines[0] = json.dumps(event(i, now, "ConsoleLogin", user, {
                "eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn",
                "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"}}))
            i += 1
            with lock:
                sent_at[user] = now
        st, r = call(base, "POST", "/api/ingest?source=cloudtrail", token, ("\n".join(lines) + "\n").encode())
        accepted += r["accepted"]
        k += 1
        if k % per_second == 0:
            with open("/proc/%d/status" % proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
    elapsed = time.time() - t0
    stop.set(); qt.join()
    time.sleep(5)
    st, r = call(base, "POST", "/api/query", token, json.dumps({"sql": "SELECT count(*) AS n FROM events WHERE product <> 'Mamori'"}).encode())
    stored = r["rows"][0]["n"] if r["rows"] else 0
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": "Bearer " + token})
    metrics = {}
    for line in urllib.request.urlopen(req, timeout=60).read().decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, _, v = line.rpartition(" ")
            metrics[k] = float(v)
    mean = lambda m: metrics.get(m + "_sum", 0) / max(1, metrics.get(m + "_count", 0))
    proc.send_signal(signal.SIGTERM); proc.wait(timeout=60)
    hook.shutdown()
    lat = sorted(latencies)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    print(json.dumps({
        "target_rate": a.rate, "seconds": round(elapsed, 1), "accepted": accepted, "stored": stored,
        "sustained_events_per_s": round(accepted / elapsed), "queries_run": queries[0],
        "notifications": len(lat), "latency_p50_s": round(pct(0.5), 3), "latency_p99_s": round(pct(0.99), 3),
        "peak_rss_mb": round(peak / 1024), "commits": int(metrics.get("mamori_commits_total", 0)),
        "commit_mean_s": round(mean("mamori_commit_seconds"), 3), "ingest_lag_mean_s": round(mean("mamori_ingest_lag_seconds"), 3),
        "segments_merged": int(metrics.get("mamori_segments_merged_total", 0)), "count_in_equals_stored": accepted == stored}, indent=1))
    if a.keep:
        print("kept:", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

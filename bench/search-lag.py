#!/usr/bin/env python3
"""Search index lag under a steady append rate (issue #13): appends one message per request at --rate per second for
--seconds (open loop: request i is due at start + i/rate, spread over --writers keep-alive connections, loopback only)
to a running `dialoguedb serve`, while sampling the index every 200 ms until both queues drain:

  keyword lag   age of the oldest write not yet searchable by keyword (oldest row of search_queue; on PostgreSQL also
                the oldest message past the indexer's cursor: appends are not queued there)
  semantic lag  age of the oldest write searchable by keyword whose vectors are not stored yet (oldest row of
                search_vector_queue, not counting items the embedder refused), or still in search_queue

Each sample's age is an upper bound of the lag of every item waiting then, so the p99 over samples bounds the items'
p99 from above. Also reported: the rate reached, how long the queues took to drain, the embedding items/s the indexer
kept up while behind (items given vectors ÷ time, over the samples with a vector backlog), the load average, and a
keyword search for the last message's unique token (it must find it). Run the indexer in `serve` (default) or as
`dialoguedb index` beside `serve --search-indexer external`; the script only watches the database.

  search-lag.py --rate 300 --seconds 30 --url https://127.0.0.1:8443 --key-file KEY --ca CA
                (--sqlite DATA_DIR | --postgres 'host=... dbname=... user=<maintenance or superuser> password=...')
                [--namespace lag] [--writers 8] [--label TEXT] [--tsv FILE]
"""
import argparse, http.client, json, os, ssl, subprocess, sqlite3, sys, threading, time, urllib.parse

p = argparse.ArgumentParser()
p.add_argument("--rate", type=float, required=True)
p.add_argument("--seconds", type=float, required=True)
p.add_argument("--url", default="https://127.0.0.1:8443")
p.add_argument("--key-file", required=True)
p.add_argument("--ca")
p.add_argument("--sqlite")
p.add_argument("--postgres")
p.add_argument("--namespace", default=f"lag{int(time.time())}")
p.add_argument("--writers", type=int, default=8)
p.add_argument("--label", default="")
p.add_argument("--tsv")
p.add_argument("--drain-timeout", type=float, default=300)
a = p.parse_args()
if bool(a.sqlite) == bool(a.postgres):
    sys.exit("give exactly one of --sqlite DATA_DIR and --postgres CONNINFO")

key = open(a.key_file).read().strip()
url = urllib.parse.urlparse(a.url)
ctx = ssl.create_default_context(cafile=a.ca) if a.ca else ssl._create_unverified_context()
ns = a.namespace


def connection():
    return http.client.HTTPSConnection(url.hostname, url.port or 443, context=ctx, timeout=30)


def post(conn, path, body):
    conn.request("POST", f"/api/v1{path}{'&' if '?' in path else '?'}namespace={ns}", body=json.dumps(body),
                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{path}: {response.status} {data[:200]!r}")
    return json.loads(data) if data else None


class Database:
    """The two queue ages, the vector backlog and the keyword-indexed count of the namespace, in one round trip."""
    QUERY = (f"SELECT (SELECT coalesce(min(enqueued), 0) FROM search_queue WHERE namespace = '{ns}'), "
             f"(SELECT coalesce(min(enqueued), 0) FROM search_vector_queue WHERE namespace = '{ns}' AND NOT failed), "
             f"(SELECT count(*) FROM search_queue WHERE namespace = '{ns}'), "
             f"(SELECT count(*) FROM search_vector_queue WHERE namespace = '{ns}' AND NOT failed), "
             f"(SELECT coalesce(sum(items), 0) FROM search_namespaces WHERE namespace = '{ns}' AND kind = 'message')")
    # PostgreSQL queues no appended message: the indexer follows them past search_message_cursor, and those are keyword
    # work too (written at their created time).
    AHEAD = f"FROM messages m, search_message_cursor c WHERE m.namespace = '{ns}' AND m.xid >= c.next_xid"
    PG_QUERY = (f"SELECT coalesce(least((SELECT min(enqueued) FROM search_queue WHERE namespace = '{ns}'), (SELECT min(created) {AHEAD})), 0), "
                f"(SELECT coalesce(min(enqueued), 0) FROM search_vector_queue WHERE namespace = '{ns}' AND NOT failed), "
                f"(SELECT count(*) FROM search_queue WHERE namespace = '{ns}') + (SELECT count(*) {AHEAD}), "
                f"(SELECT count(*) FROM search_vector_queue WHERE namespace = '{ns}' AND NOT failed), "
                f"(SELECT coalesce(sum(items), 0) FROM search_namespaces WHERE namespace = '{ns}' AND kind = 'message')")

    def __init__(self):
        if a.sqlite:
            self.db = sqlite3.connect(f"file:{a.sqlite}/dialoguedb.sqlite?mode=ro", uri=True, timeout=5)
        else:
            self.psql = subprocess.Popen(["psql", "-X", "-q", "-At", "-F", " ", a.postgres], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)

    def sample(self):
        if a.sqlite:
            row = self.db.execute(self.QUERY).fetchone()
        else:
            self.psql.stdin.write(self.PG_QUERY + ";\n")
            row = self.psql.stdout.readline().split()
        return [int(v) for v in row]


samples, stop = [], threading.Event()


def sampler():
    db = Database()
    while not stop.is_set():
        now = time.time() * 1000
        oldest_keyword, oldest_vector, queued, vector_backlog, indexed = db.sample()
        keyword_age = (now - oldest_keyword) / 1000 if oldest_keyword else 0.0
        vector_age = max(keyword_age, (now - oldest_vector) / 1000 if oldest_vector else 0.0)
        samples.append((time.time(), keyword_age, vector_age, queued, vector_backlog, indexed))
        stop.wait(0.2)


setup = connection()
dialogue = post(setup, "/dialogue", {"messages": [{"role": "user", "content": "start"}]})["id"]
words = ("the customer asked about the delivery of order number and the invoice total for the spare parts shipment "
         "that was promised before the end of the month while the warehouse team reported a delay").split()
load = lambda: open("/proc/loadavg").read().split()[:3]
load_start = load()
sampling = threading.Thread(target=sampler)
sampling.start()
time.sleep(0.5)
start = time.time()
count = int(a.rate * a.seconds)
sent, errors, lock = [0], [0], threading.Lock()


def writer(w):
    conn = connection()
    for i in range(w, count, a.writers):
        due = start + i / a.rate
        if time.time() < due:
            time.sleep(due - time.time())
        text = " ".join(words[(i + j) % len(words)] for j in range(60)) + f" token LAG{i}X"
        try:
            post(conn, "/messages", {"dialogueId": dialogue, "role": "user", "content": text})
            with lock:
                sent[0] += 1
        except Exception as ex:  # counted, the run goes on
            with lock:
                errors[0] += 1
            print(f"append failed: {ex}", file=sys.stderr)
            conn = connection()


threads = [threading.Thread(target=writer, args=(w,)) for w in range(a.writers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
load_end_time = time.time()
load_end = load()
while time.time() - load_end_time < a.drain_timeout:
    time.sleep(0.5)
    if samples and samples[-1][3] == 0 and samples[-1][4] == 0:
        break
keyword_drained = next((s[0] - load_end_time for s in samples if s[0] >= load_end_time and s[3] == 0), float("nan"))
drained = time.time() - load_end_time
stop.set()
sampling.join()

last = count - 1
found = post(connection(), "/search", {"query": f"LAG{last}X", "object": "message", "mode": "keyword", "limit": 5})
found_last = any(f"LAG{last}X" in json.dumps(r["item"]) for r in found.get("results", []))

during = [s for s in samples if start <= s[0]]
pick = lambda values, q: sorted(values)[min(len(values) - 1, int(q * len(values)))]
keyword = [s[1] for s in during]
semantic = [s[2] for s in during]
# Embedding rate while behind: vectors stored = keyword-indexed items - vector backlog, over samples with a backlog.
behind = [s for s in during if s[4] > 0]
embedded = lambda s: s[5] - s[4]
rate = ((embedded(behind[-1]) - embedded(behind[0])) / (behind[-1][0] - behind[0][0])
        if len(behind) > 1 and behind[-1][0] > behind[0][0] else float("nan"))
elapsed = load_end_time - start
fields = {
    "label": a.label, "rate": a.rate, "sent": sent[0], "errors": errors[0], "reached/s": round(sent[0] / elapsed, 1),
    "keyword p50 s": round(pick(keyword, 0.5), 2), "keyword p99 s": round(pick(keyword, 0.99), 2),
    "keyword max s": round(max(keyword), 2), "keyword drained s": round(keyword_drained, 1),
    "semantic p50 s": round(pick(semantic, 0.5), 2), "semantic p99 s": round(pick(semantic, 0.99), 2),
    "semantic max s": round(max(semantic), 2), "vectors drained s": round(drained, 1),
    "embedding items/s": round(rate, 1), "max vector backlog": max(s[4] for s in during),
    "load start": " ".join(load_start), "load end": " ".join(load_end), "last found by keyword": found_last,
}
print("; ".join(f"{k} {v}" for k, v in fields.items()))
if a.tsv:
    new = not os.path.exists(a.tsv)
    with open(a.tsv, "a") as out:
        if new:
            out.write("\t".join(fields) + "\n")
        out.write("\t".join(str(v) for v in fields.values()) + "\n")

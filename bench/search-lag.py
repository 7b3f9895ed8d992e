#!/usr/bin/env python3
"""Search index lag on the embedded database: appends messages at RATE per second for SECONDS (one client, loopback
only) to a running `dialoguedb serve` (DATA_DIR, URL), while sampling every 250 ms the age of the oldest queued index
item in the SQLite file (an upper bound of commit -> indexed), until the queue drains; prints p50/p99/max of that age.
Run the indexer as `serve` does or as `dialoguedb index`. Usage: search-lag.py RATE SECONDS DATA_DIR [URL]"""
import json, ssl, sqlite3, sys, threading, time, urllib.request
rate, seconds, data = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
key = open(f"{data}/dev-api-key").read().strip()
ctx = ssl.create_default_context(cafile=f"{data}/tls/ca.crt")
base = (sys.argv[4] if len(sys.argv) > 4 else "https://127.0.0.1:8443") + "/api/v1"
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, context=ctx, timeout=30))
dlg = post("/dialogue?namespace=lag", {"messages": [{"role": "user", "content": "start"}]})["id"]
samples, stop = [], False
def sample():
    db = sqlite3.connect(f"file:{data}/dialoguedb.sqlite?mode=ro", uri=True, timeout=5)
    while not stop:
        now = time.time() * 1000
        row = db.execute("SELECT min(enqueued), count(*) FROM search_queue").fetchone()
        samples.append(((now - row[0]) / 1000 if row[0] else 0.0, row[1]))
        time.sleep(0.25)
t = threading.Thread(target=sample); t.start()
start, sent = time.time(), 0
words = "the customer asked about the delivery of order number and the invoice total for the spare parts shipment".split()
while time.time() - start < seconds:
    due = start + sent / rate
    if time.time() < due: time.sleep(due - time.time())
    text = " ".join(words[(sent + i) % len(words)] for i in range(60)) + f" token LAG{sent}"
    post("/messages?namespace=lag", {"dialogueId": dlg, "role": "user", "content": text}); sent += 1
load_end = time.time()
while samples[-1][1] > 0 and time.time() - load_end < 120: time.sleep(0.5)
stop = True; t.join()
ages = sorted(a for a, _ in samples)
pick = lambda q: ages[min(len(ages) - 1, int(q * len(ages)))]
print(f"sent {sent} in {load_end - start:.1f}s ({sent / (load_end - start):.1f}/s); drained {time.time() - load_end:.1f}s after; "
      f"oldest-queued age p50 {pick(0.5):.2f}s p99 {pick(0.99):.2f}s max {ages[-1]:.2f}s; max depth {max(d for _, d in samples)}")

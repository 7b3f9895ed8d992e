#!/usr/bin/env python3
"""An OpenAI-compatible stand-in on loopback for bench/summaries.sh: answers every POST .../chat/completions after a fixed
delay and records how many requests were in flight at once (written to the stats file on every request).

  fake_llm.py PORT DELAY_MS STATS_FILE
"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, delay, stats_path = int(sys.argv[1]), int(sys.argv[2]) / 1000, sys.argv[3]
lock = threading.Lock()
state = {"requests": 0, "in_flight": 0, "most_in_flight": 0}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            state["requests"] += 1
            state["in_flight"] += 1
            state["most_in_flight"] = max(state["most_in_flight"], state["in_flight"])
        time.sleep(delay)
        # Done before the answer goes out: once the client has the answer its worker may send the next request at
        # once, and counting this one until after the write made a bounded worker look one over its bound.
        with lock:
            state["in_flight"] -= 1
            json.dump(state, open(stats_path, "w"))
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "A short summary."}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

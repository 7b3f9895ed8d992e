#!/usr/bin/env python3
"""Drives the summary benchmark of bench/summaries.sh against a running `dialoguedb serve` (loopback only).

  summaries.py extractive URL KEY CA --messages 1000 --jobs 10 --parallel 10
  summaries.py latency    URL KEY CA --jobs 20 --provider-ms 500
  summaries.py burst      URL KEY CA --jobs 100

Prints one `key value` line per figure. Requests are bounded in number and every poll loop has a deadline.
"""
import argparse, json, ssl, statistics, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

DEADLINE_S = 900


def client(url, key, ca):
    context = ssl.create_default_context(cafile=ca)

    def call(method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url + path, data=data, method=method,
                                         headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
    return call


def dialogue(call, messages):
    status, created = call("POST", "/api/v1/dialogue", {})
    assert status == 200, created
    topics = ["the billing migration", "the login timeout", "the March audit", "the new pricing page", "the on-call rota"]
    for start in range(0, messages, 100):
        batch = [{"role": "user" if i % 2 == 0 else "assistant",
                  "content": f"Message {i} is about {topics[i % len(topics)]}. We agreed to follow up on item {i % 37} by Friday."}
                 for i in range(start, min(messages, start + 100))]
        status, body = call("POST", f"/api/v1/messages?dialogueId={created['id']}", batch)
        assert status == 200, body
    return created["id"]


def summarize_and_wait(call, dialogue_id):
    """Seconds from sending POST /summary to the poll that sees it finished, and the final summary."""
    started = time.monotonic()
    status, summary = call("POST", "/api/v1/summary", {"dialogueId": dialogue_id})
    assert status == 202, summary
    while summary["status"] == "processing":
        assert time.monotonic() - started < DEADLINE_S, "summary still processing at the deadline"
        time.sleep(0.02)
        status, summary = call("GET", f"/api/v1/summary/{summary['id']}")
        assert status == 200, summary
    return time.monotonic() - started, summary


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["extractive", "latency", "burst"])
    parser.add_argument("url"); parser.add_argument("key"); parser.add_argument("ca")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--provider-ms", type=int, default=500)
    args = parser.parse_args()
    call = client(args.url, open(args.key).read().strip(), args.ca)

    if args.mode == "extractive":
        dialogue_id = dialogue(call, args.messages)
        times = []
        for _ in range(args.jobs):
            seconds, summary = summarize_and_wait(call, dialogue_id)
            assert summary["status"] == "completed" and summary["messageCount"] == args.messages, summary
            times.append(seconds)
        print(f"extractive_messages {args.messages}")
        print(f"extractive_model {summary['model']}")
        print(f"extractive_job_seconds_p50 {statistics.median(times):.3f}")
        print(f"extractive_job_seconds_max {max(times):.3f}")
        started = time.monotonic()
        with ThreadPoolExecutor(args.parallel) as pool:
            results = list(pool.map(lambda _: summarize_and_wait(call, dialogue_id)[1], range(args.parallel)))
        wall = time.monotonic() - started
        assert all(r["status"] == "completed" for r in results), [r["status"] for r in results]
        print(f"extractive_parallel_jobs {args.parallel}")
        print(f"extractive_jobs_per_second {args.parallel / wall:.3f}")
    elif args.mode == "latency":
        dialogue_id = dialogue(call, 4)
        waits = []
        for _ in range(args.jobs):
            seconds, summary = summarize_and_wait(call, dialogue_id)
            assert summary["status"] == "completed", summary
            waits.append(seconds - args.provider_ms / 1000)
        # Accepted → completed less the provider's own answer time: an upper bound of accepted → processing
        # (it includes the HTTP call to the provider and the 20 ms poll interval).
        print(f"queue_latency_upper_bound_seconds_p50 {statistics.median(waits):.3f}")
        print(f"queue_latency_upper_bound_seconds_p99 {percentile(waits, 99):.3f}")
    else:
        dialogue_id = dialogue(call, 4)
        started = time.monotonic()
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda _: summarize_and_wait(call, dialogue_id)[1], range(args.jobs)))
        wall = time.monotonic() - started
        completed = sum(r["status"] == "completed" for r in results)
        status, listed = call("GET", f"/api/v1/summaries?dialogueId={dialogue_id}&limit=100")
        print(f"burst_requests {args.jobs}")
        print(f"burst_completed {completed}")
        print(f"burst_failed {sum(r['status'] == 'failed' for r in results)}")
        print(f"burst_listed {len(listed['items'])}")
        print(f"burst_wall_seconds {wall:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Top frames of a dotnet-trace speedscope file (sampled thread time, evented profiles), counting only time whose leaf
frame is running code: time under a wait (UNMANAGED_CODE_TIME, Wait/Sleep/semaphore frames) is dropped, so the
percentages approximate CPU, not wall clock.  Usage: speedscope_top.py FILE [N] [FILTER-SUBSTRING]"""
import json, sys, collections

path = sys.argv[1]
top_n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
needle = sys.argv[3] if len(sys.argv) > 3 else None
doc = json.load(open(path))
frames = [f["name"] for f in doc["shared"]["frames"]]
idle = ("UNMANAGED_CODE_TIME", "WaitHandle", "Monitor.Wait", "Thread.Sleep", "WaitOne", "LowLevelLifoSemaphore",
        "SemaphoreSlim.Wait", "ManualResetEventSlim.Wait", "Thread.Join", "WaitForSocketEvents", "LowLevelMonitor")
inclusive, exclusive = collections.Counter(), collections.Counter()
busy = 0.0

def account(stack, dt):
    global busy
    if not stack or dt <= 0:
        return
    # dotnet-trace marks each sample's state with a last pseudo-frame: CPU_TIME (running) or UNMANAGED_CODE_TIME.
    if frames[stack[-1]] != "CPU_TIME":
        return
    stack = stack[:-1]
    if not stack:
        return
    leaf = frames[stack[-1]]
    if any(m in leaf for m in idle):
        return
    if needle and not any(needle in frames[i] for i in stack):
        return
    busy += dt
    exclusive[leaf] += dt
    for name in set(frames[i] for i in stack):
        inclusive[name] += dt

for profile in doc["profiles"]:
    stack, last = [], None
    for e in profile.get("events", []):
        if last is not None:
            account(stack, e["at"] - last)
        last = e["at"]
        if e["type"] == "O":
            stack.append(e["frame"])
        elif stack:
            stack.pop()
print(f"busy ms: {busy:.0f}")
print("== inclusive")
for name, w in inclusive.most_common(top_n):
    print(f"{100*w/busy:5.1f}%  {name[:160]}")
print("== exclusive")
for name, w in exclusive.most_common(30):
    print(f"{100*w/busy:5.1f}%  {name[:160]}")

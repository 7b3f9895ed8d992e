-- wrk script of the appends scenario (bench/lib.sh bench_wrk): one message per POST /api/v1/messages, the same body
-- the .NET load generator sends (WRK_CONTENT_BYTES of text, role user, the service assigns the id), round-robin over
-- the dialogues listed one id a line in WRK_DIALOGUES. The bearer key is the first line of WRK_KEY_FILE. Thread t of
-- WRK_THREADS starts at dialogue t and steps by WRK_THREADS, so every dialogue is written evenly.
local ids = {}
for line in io.lines(os.getenv("WRK_DIALOGUES")) do
    if #line > 0 then ids[#ids + 1] = line end
end
local key = io.open(os.getenv("WRK_KEY_FILE")):read("*l")
local stride = tonumber(os.getenv("WRK_THREADS"))

local next_offset = 0
function setup(thread)
    thread:set("offset", next_offset)
    next_offset = next_offset + 1
end

local position, body, headers
function init(args)
    body = '{"role":"user","content":"' .. string.rep("x", tonumber(os.getenv("WRK_CONTENT_BYTES"))) .. '"}'
    headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
    position = offset
end

function request()
    local id = ids[(position % #ids) + 1]
    position = position + stride
    return wrk.format("POST", "/api/v1/messages?dialogueId=" .. id, headers, body)
end

-- One line for bench_wrk: requests/s, p50/p90/p99 ms, errors (non-2xx answers plus socket errors), requests.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRK\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\n", summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        e.status + e.connect + e.read + e.write + e.timeout, summary.requests))
end

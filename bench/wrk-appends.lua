-- wrk script of the appends scenario (bench/lib.sh bench_wrk): one message per POST /api/v1/messages (role user, the
-- service assigns the id) with WRK_CONTENT_BYTES of text, round-robin over the dialogues listed one id a line in
-- WRK_DIALOGUES. The bearer key is the first line of WRK_KEY_FILE. Thread t of WRK_THREADS starts at dialogue t and
-- steps by WRK_THREADS, so every dialogue is written evenly. The text is prose-like (WRK_CONTENT=words, the default:
-- 64 different messages per thread of words drawn from a small vocabulary, ~20 distinct terms each, as a chat message
-- has for the search index to store) or one repeated letter (WRK_CONTENT=x, the body the .NET load generator sends:
-- one term per message, which hides the keyword index's cost).
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

local vocabulary = {
    "the", "user", "asked", "about", "their", "order", "shipping", "delivery", "invoice", "refund", "account", "password",
    "reset", "email", "address", "payment", "card", "declined", "subscription", "plan", "upgrade", "cancel", "trial",
    "support", "ticket", "agent", "reply", "today", "yesterday", "tomorrow", "meeting", "calendar", "flight", "hotel",
    "booking", "travel", "berlin", "paris", "tokyo", "weather", "forecast", "recipe", "dinner", "allergy", "peanuts",
    "doctor", "appointment", "project", "deadline", "report", "budget", "quarter", "sales", "customer", "feedback",
    "bug", "crash", "login", "mobile", "app", "version", "update", "install", "error", "timeout", "server", "database",
    "backup", "restore", "export", "import", "file", "document", "contract", "signature", "price", "discount",
    "coupon", "gift", "birthday", "anniversary", "vacation", "weekend", "morning", "evening", "prefers", "likes",
    "dislikes", "remember", "favourite", "colour", "blue", "green", "coffee", "tea", "music", "jazz", "running",
}

local position, bodies, headers
function init(args)
    local size = tonumber(os.getenv("WRK_CONTENT_BYTES"))
    bodies = {}
    if (os.getenv("WRK_CONTENT") or "words") == "x" then
        bodies[1] = string.rep("x", size)
    else
        math.randomseed(1000 + offset)
        for b = 1, 64 do
            local text = ""
            while #text < size do
                text = text .. (#text > 0 and " " or "") .. vocabulary[math.random(#vocabulary)]
            end
            bodies[b] = text:sub(1, size)
        end
    end
    for b = 1, #bodies do
        bodies[b] = '{"role":"user","content":"' .. bodies[b] .. '"}'
    end
    headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
    position = offset
end

function request()
    local id = ids[(position % #ids) + 1]
    local body = bodies[math.floor(position / stride) % #bodies + 1]
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

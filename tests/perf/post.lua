-- wrk script for the POST benches: rotates tokens, makes every request unique.
-- wrk -s post.lua URL -- TOKENS_FILE
-- TOKENS_FILE holds one bearer token per line (one user each). Request n of thread t goes
-- to user n' mod U (n' = n * threads + t) with a date window no earlier request of that user
-- had, so neither the refusal of an identical active request (409) nor a per-user limit
-- joins requests. done() prints one JSON line for tests/perf/wrk.py to read.

local tokens = {}
local threads = {}
local counter = 0
local days = {}

local function read_tokens(path)
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = read_tokens(args[1])
  thread_count = tonumber(args[2])
  local base = os.time({year = 2026, month = 1, day = 1, hour = 12})
  for d = 0, 364 do days[d] = os.date("!%Y-%m-%d", base + d * 86400) end
end

function request()
  local n = counter * thread_count + thread_index
  counter = counter + 1
  local user = n % #tokens
  local window = math.floor(n / #tokens)
  local first = window % 300
  local span = math.floor(window / 300) % 60
  local body = '{"format":"csv","parameters":{"fromDate":"' .. days[first]
    .. '","toDate":"' .. days[first + span] .. '"}}'
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. tokens[user + 1],
    ["Content-Type"] = "application/json",
  }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end

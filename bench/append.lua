-- wrk script: POST /v1/ledger/events, one administer of 0.001 per request.
--   wrk -s bench/append.lua <url> -- <targets file> <spread|hot> <occurred_at>
-- The targets file has one "registrant location lot" line per registrant. "spread" goes
-- round-robin over them; "hot" sends every request to the first. Each request carries a
-- unique Idempotency-Key: a random per-thread prefix and a counter. done() prints one line,
-- "BENCH key=value ...", that bench/load.py reads.

local next_thread = 1

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local targets = {}
local hot = false
local occurred_at
local prefix
local counter = 0

function init(args)
  for line in io.lines(args[1]) do
    local registrant, location, lot = line:match("(%S+)%s+(%S+)%s+(%S+)")
    if registrant then
      targets[#targets + 1] = { registrant = registrant, location = location, lot = lot }
    end
  end
  hot = args[2] == "hot"
  occurred_at = args[3]
  math.randomseed(os.time() * 1000 + thread_id)
  prefix = string.format("%x%x-%d-", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
                         thread_id)
  wrk.method = "POST"
  wrk.path = "/v1/ledger/events"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local target = targets[1]
  if not hot then
    target = targets[(counter + thread_id) % #targets + 1]
  end
  local body = string.format(
    '{"registrant_id":"%s","type":"administer","location_id":"%s","lot_id":"%s",'
      .. '"quantity":"0.001","occurred_at":"%s"}',
    target.registrant, target.location, target.lot, occurred_at)
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non_2xx=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end

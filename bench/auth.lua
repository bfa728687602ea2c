-- wrk script for bench/load.sh: POSTs one GraphQL query with a bearer
-- token and counts every answer that is not the expected one as a failure.
--
-- Environment:
--   LYNK_TOKEN       the token sent as `Authorization: Bearer …` (none if empty)
--   TOKENS_FILE      instead, a file of tokens, one a line: each thread sends
--                    its share of them in turn (WRK_THREADS threads), so
--                    every token is sent once before any is sent again
--   QUERY            the GraphQL query (default: { organization { id name } })
--   EXPECT_STATUS    the status every answer must have (default 200)
--   RESULT_FILE      where done() writes one line: requests rps p50_us p99_us failures
--
-- An answer fails when its status differs from EXPECT_STATUS, or when a 200
-- carries "errors" in its body. done() prints the same numbers to stdout.

local token = os.getenv("LYNK_TOKEN") or ""
local query = os.getenv("QUERY") or "{ organization { id name } }"
local expect_status = tonumber(os.getenv("EXPECT_STATUS") or "200")
local result_file = os.getenv("RESULT_FILE")
local tokens_file = os.getenv("TOKENS_FILE")
if tokens_file == "" then
  tokens_file = nil
end

wrk.method = "POST"
wrk.path = "/lynkapi"
wrk.headers["Content-Type"] = "application/json"
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
-- The queries used here hold no characters that need JSON escaping.
wrk.body = '{"query":"' .. query .. '"}'

-- Each wrk thread runs its own Lua state; setup() keeps a handle on every
-- thread so that done() can add up their counters, and numbers them.
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
  first_failure = ""
  if tokens_file then
    -- This thread's share of the tokens, as ready-made requests.
    local count = tonumber(os.getenv("WRK_THREADS") or "1")
    prepared = {}
    local line = 0
    for token in io.lines(tokens_file) do
      if line % count == thread_index then
        local headers = {}
        for name, value in pairs(wrk.headers) do
          headers[name] = value
        end
        headers["Authorization"] = "Bearer " .. token
        table.insert(prepared, wrk.format(nil, nil, headers, nil))
      end
      line = line + 1
    end
    next_request = 0
  end
end

if tokens_file then
  function request()
    next_request = next_request % #prepared + 1
    return prepared[next_request]
  end
end

function response(status, headers, body)
  local bad = status ~= expect_status
  if not bad and status == 200 and body:find('"errors"', 1, true) then
    bad = true
  end
  if bad then
    if failures == 0 then
      first_failure = status .. " " .. body:sub(1, 200)
    end
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failures = 0
  local example = ""
  for _, thread in ipairs(threads) do
    failures = failures + thread:get("failures")
    local first = thread:get("first_failure")
    if example == "" and first ~= nil then
      example = first
    end
  end
  -- Connection errors and timeouts count too (not `status`: wrk counts
  -- every non-2xx there, which response() has judged already).
  local e = summary.errors
  failures = failures + e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  local rps = summary.requests / seconds
  local line = string.format("%d %.1f %d %d %d",
    summary.requests, rps, latency:percentile(50), latency:percentile(99), failures)
  print("result: " .. line)
  if example ~= "" then
    print("first failure: " .. example)
  end
  if result_file then
    local f = assert(io.open(result_file, "w"))
    f:write(line .. "\n")
    f:close()
  end
end

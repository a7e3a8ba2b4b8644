-- fitd.lua — the wrk script of tests/load/run.sh.
--
-- Environment: WRK_METHOD (GET), WRK_BODY_FILE (a JSON body to send, with
-- Content-Type application/json). Counts every answer that is not 2xx
-- (wrk's own "Non-2xx or 3xx" lets 3xx through) and prints one line
--   RESULT {"requests": N, "seconds": S, "non2xx": N, "connect": N, ...}
-- for load.py to parse.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   non2xx = 0
   local method = os.getenv("WRK_METHOD") or "GET"
   wrk.method = method
   local path = os.getenv("WRK_BODY_FILE")
   if path and path ~= "" then
      local f = assert(io.open(path, "rb"))
      wrk.body = f:read("*a")
      f:close()
      wrk.headers["Content-Type"] = "application/json"
   end
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("non2xx") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'RESULT {"requests": %d, "seconds": %.6f, "non2xx": %d, "connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
      '"mean_ms": %.3f}\n',
      summary.requests, summary.duration / 1e6, bad, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, latency.mean / 1000))
end

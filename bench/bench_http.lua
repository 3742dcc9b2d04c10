-- bench_http.lua -- wrk script of bench/bench_http.sh.
--
-- APOLO_WRK_MODE=authorize: GET /api/v1/authorize with a different caller
-- (one of the 1000 extensions 20001..21000) and callee (a number under one
-- of the 10,000 prefixes 100000..109999) on every request, and the bearer
-- token APOLO_TOKEN. Anything else: GET of the URL's path as is.
-- done() prints one line, WRK key=value ..., for the shell to parse.

local mode = os.getenv("APOLO_WRK_MODE") or "empty"
local token = os.getenv("APOLO_TOKEN") or ""
local headers = { ["Authorization"] = "Bearer " .. token }
local threads = 0

-- setup() runs in the main state, once per thread: give each its number,
-- so that each thread draws its own (reproducible) sequence.
function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

function init(args)
   math.randomseed(7 + (tid or 0) * 7919)
end

function request()
   if mode ~= "authorize" then
      return wrk.format("GET")
   end
   local caller = 20001 + math.random(0, 999)
   local callee = (100000 + math.random(0, 9999)) .. string.format("%05d", math.random(0, 99999))
   return wrk.format("GET", "/api/v1/authorize?caller=" .. caller .. "&callee=" .. callee, headers)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d rps=%.0f p50_us=%d p99_us=%d max_us=%d " ..
      "non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
      summary.requests, summary.duration,
      summary.requests * 1e6 / summary.duration,
      latency:percentile(50), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout))
end

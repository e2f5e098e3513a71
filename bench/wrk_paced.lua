-- wrk script for `make soak`: bench/wrk_requests.lua, paced to a fixed rate (wrk2 is not available).
--
--   wrk -t2 -c32 -d60s --latency -s bench/wrk_paced.lua http://127.0.0.1:PORT -- REQUESTS_FILE THREADS RATE
--
-- RATE is the total requests per second over all threads. Each thread keeps a schedule of
-- RATE/THREADS slots per second from its first request; delay() makes every connection wait for the
-- next free slot of its thread (a monotonic clock through LuaJIT's ffi), so the load is open-loop
-- as long as there are enough connections. If the server falls behind, slots are sent late and
-- the achieved rate (requests / duration) drops below RATE: compare the two.
-- Everything else (slices, reply counting, BENCH_JSON) is as in bench/wrk_requests.lua.

local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } minsheng_timespec; int clock_gettime(int, minsheng_timespec *); ]]
local _ts = ffi.new("minsheng_timespec")
local function now_ms()
   ffi.C.clock_gettime(1, _ts)  -- CLOCK_MONOTONIC
   return tonumber(_ts.tv_sec) * 1000 + tonumber(_ts.tv_nsec) / 1e6
end
local interval_ms, next_slot

function delay()
   local now = now_ms()
   if next_slot == nil then next_slot = now end
   local wait = next_slot - now
   next_slot = next_slot + interval_ms
   if wait < 0 then
      -- behind schedule: do not bunch up to catch up later (late slots are lost, the rate shows it)
      if wait < -1000 then next_slot = now + interval_ms end
      return 0
   end
   return math.floor(wait)
end

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

local reqs_q, reqs_b, n, idx
local headers = { ["Content-Type"] = "text/xml" }

function init(args)
   local path = args[1] or os.getenv("BENCH_REQUESTS")
   local nthreads = tonumber(args[2] or os.getenv("BENCH_THREADS") or "1")
   local rate = tonumber(args[3] or "0")
   assert(rate and rate > 0, "usage: -- REQUESTS_FILE THREADS RATE")
   interval_ms = 1000.0 * nthreads / rate
   assert(path, "usage: -- REQUESTS_FILE THREADS")
   reqs_q, reqs_b, n, idx = {}, {}, 0, 0
   local slice = io.open(path .. "." .. id, "r")
   local function add(line)
      local tab = line:find("\t", 1, true)
      if tab then
         n = n + 1
         reqs_q[n] = "/wechat?" .. line:sub(1, tab - 1)
         reqs_b[n] = line:sub(tab + 1)
      end
   end
   local i = 0
   if slice then
      for line in slice:lines() do add(line) end
      slice:close()
   else
      for line in io.lines(path) do
         if i % nthreads == id then add(line) end
         i = i + 1
      end
   end
   assert(n > 0, "no requests for thread " .. id .. " in " .. path)
   pool = n
   sent = 0
   repeats = 0
   responses = 0
   ok = 0
   non200 = 0
   silent = 0      -- 200 with empty body or "success"
   badbody = 0     -- 200 with any other body lacking <Encrypt>
   statuses = ""   -- "code:count," for non-200 codes (thread:get only moves flat values)
   status_counts = {}
end

function request()
   idx = idx + 1
   if idx > n then
      idx = 1
   end
   sent = sent + 1
   if sent > n then
      repeats = repeats + 1
   end
   return wrk.format("POST", reqs_q[idx], headers, reqs_b[idx])
end

function response(status, hdrs, body)
   responses = responses + 1
   if status ~= 200 then
      non200 = non200 + 1
      status_counts[status] = (status_counts[status] or 0) + 1
      local s = ""
      for code, c in pairs(status_counts) do
         s = s .. code .. ":" .. c .. ","
      end
      statuses = s
   elseif body and body:find("<Encrypt>", 1, true) then
      ok = ok + 1
   elseif body == nil or body == "" or body == "success" then
      silent = silent + 1
   else
      badbody = badbody + 1
   end
end

function done(summary, latency, requests)
   local t = { pool = 0, sent = 0, repeats = 0, responses = 0, ok = 0, non200 = 0, silent = 0, badbody = 0 }
   local codes = {}
   for _, thread in ipairs(threads) do
      for k, _ in pairs(t) do
         t[k] = t[k] + (thread:get(k) or 0)
      end
      local s = thread:get("statuses") or ""
      for code, c in s:gmatch("(%d+):(%d+),") do
         codes[code] = (codes[code] or 0) + tonumber(c)
      end
   end
   local parts = {}
   for k, v in pairs(t) do
      table.insert(parts, string.format('"%s": %d', k, v))
   end
   local cparts = {}
   for code, c in pairs(codes) do
      table.insert(cparts, string.format('"%s": %d', code, c))
   end
   local e = summary.errors
   table.insert(parts, string.format('"status_codes": {%s}', table.concat(cparts, ", ")))
   table.insert(parts, string.format('"duration_us": %d, "requests": %d, "bytes": %d', summary.duration, summary.requests, summary.bytes))
   table.insert(parts, string.format('"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}',
      e.connect, e.read, e.write, e.status, e.timeout))
   table.insert(parts, string.format('"latency_us": {"min": %d, "mean": %.1f, "max": %d, "stdev": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d}',
      latency.min, latency.mean, latency.max, latency.stdev,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
   io.write("BENCH_JSON {" .. table.concat(parts, ", ") .. "}\n")
end

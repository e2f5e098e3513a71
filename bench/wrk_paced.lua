-- wrk script for `make soak`: bench/wrk_requests.lua, paced to a fixed rate (wrk2 is not available).
--
--   wrk -t2 -c32 -d60s --latency -s bench/wrk_paced.lua http://127.0.0.1:PORT -- REQUESTS_FILE THREADS RATE
--
-- RATE is the total requests per second over all threads. Each thread keeps a schedule of
-- RATE/THREADS slots per second from its first request; delay() makes every connection wait for the
-- next free slot of its thread (a monotonic clock through LuaJIT's ffi), so the load is open-loop
-- as long as there are enough connections. If the server falls behind, slots are sent late and
-- the achieved rate (requests / duration) drops below RATE: compare the two.
-- Everything else (slices, reply counting, BENCH_JSON) is bench/wrk_requests.lua itself, loaded below.

-- The closed-loop script, from the directory this one is in: one copy of the request and reply logic.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_requests.lua")

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

local base_init = init
function init(args)
   base_init(args)
   local nthreads = tonumber(args[2] or os.getenv("BENCH_THREADS") or "1")
   local rate = tonumber(args[3] or "0")
   assert(rate and rate > 0, "usage: -- REQUESTS_FILE THREADS RATE")
   interval_ms = 1000.0 * nthreads / rate
end

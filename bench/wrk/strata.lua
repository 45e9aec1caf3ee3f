-- wrk script for `make bench` (bench/run.py drives it through environment variables).
--
-- BENCH_MODE      static | get | post_task | mixed | login | refresh | register | reset
-- BENCH_THREADS   wrk's -t (each thread takes every n-th line of the input files)
-- BENCH_PATH      the path for `get`
-- BENCH_TOKENS    file of access tokens, one a line (get, post_task, mixed)
-- BENCH_USERS     file of usernames (login); BENCH_PASSWORD their password
-- BENCH_REFRESH   file of "<session id> <refresh token>" lines (refresh)
-- BENCH_LEFTOVER  where `refresh` writes the tokens it did not spend ("q sid token") and
--                 those in flight when the run stopped ("f sid token"; the server may have
--                 rotated them: run.py presents them again within the reuse grace)
-- BENCH_TAKEN     register: the taken username every request asks for; unset, each
--                 request registers a new one
-- BENCH_EMAIL     reset: the address every password-reset request names
-- BENCH_DELAY_MS  optional pause before each request (latency probes)
-- BENCH_RESULT    where done() writes the summary as JSON
--
-- Every request is valid: `refresh` hands each request a refresh token of its own (the
-- current one of its session, taken from the previous response), so no request relies on
-- the reuse grace.

local mode = os.getenv("BENCH_MODE") or "static"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

local function lines(path, id)
   local out, i = {}, 0
   local f = assert(io.open(path, "r"))
   for line in f:lines() do
      if line ~= "" then
         if i % nthreads == id - 1 then table.insert(out, line) end
         i = i + 1
      end
   end
   f:close()
   if #out == 0 then
      -- fewer lines than threads: every thread uses them all
      for line in io.lines(path) do
         if line ~= "" then table.insert(out, line) end
      end
   end
   return out
end

local reqs = {}
local n = 0
local pos = 0
-- refresh: one slot per session; globals sid<k>, tok<k> (its current refresh token) and
-- st<k> ("q" ready, "f" in flight) let done() read them with thread:get, which copies
-- strings but crashes on tables in wrk 4.1.
local ready = {}
local slot_of = {}
slots = 0

local json = { ["Content-Type"] = "application/json" }

local function bearer(token, extra)
   local h = { ["Authorization"] = "Bearer " .. token }
   if extra then h["Content-Type"] = "application/json" end
   return h
end

function init(args)
   if mode == "get" or mode == "post_task" or mode == "mixed" then
      for _, t in ipairs(lines(os.getenv("BENCH_TOKENS"), id)) do
         if mode == "get" then
            table.insert(reqs, wrk.format("GET", os.getenv("BENCH_PATH"), bearer(t)))
         elseif mode == "post_task" then
            table.insert(reqs, wrk.format("POST", "/api/tasks", bearer(t, true),
               '{"title":"bench task","description":"made by make bench"}'))
         else
            -- mixed: 40% list a page, 40% read the account, 20% create a task
            table.insert(reqs, wrk.format("GET", "/api/tasks", bearer(t)))
            table.insert(reqs, wrk.format("GET", "/api/users/me", bearer(t)))
            table.insert(reqs, wrk.format("GET", "/api/tasks", bearer(t)))
            table.insert(reqs, wrk.format("GET", "/api/users/me", bearer(t)))
            table.insert(reqs, wrk.format("POST", "/api/tasks", bearer(t, true),
               '{"title":"mixed task"}'))
         end
      end
   elseif mode == "login" then
      local password = os.getenv("BENCH_PASSWORD")
      for _, u in ipairs(lines(os.getenv("BENCH_USERS"), id)) do
         table.insert(reqs, wrk.format("POST", "/api/auth/login", json,
            '{"username":"' .. u .. '","password":"' .. password .. '"}'))
      end
   elseif mode == "refresh" then
      for _, l in ipairs(lines(os.getenv("BENCH_REFRESH"), id)) do
         local sid, tok = l:match("^(%S+) (%S+)$")
         if sid and not slot_of[sid] then
            slots = slots + 1
            slot_of[sid] = slots
            _G["sid" .. slots], _G["tok" .. slots], _G["st" .. slots] = sid, tok, "q"
            table.insert(ready, slots)
         end
      end
   end
   n = #reqs
   -- start each thread at a different place in its list
   pos = (id or 0) * 7
end

if mode ~= "static" then
   local taken = os.getenv("BENCH_TAKEN")
   local registered = 0
   function request()
      if mode == "register" then
         registered = registered + 1
         local name = taken or string.format("flood_%d_%d_%d", id, os.time(), registered)
         return wrk.format("POST", "/api/auth/register", json,
            '{"username":"' .. name .. '","email":"' .. name .. registered ..
            '@bench.example","password":"flood password 1"}')
      end
      if mode == "reset" then
         return wrk.format("POST", "/api/auth/password-reset", json,
            '{"email":"' .. os.getenv("BENCH_EMAIL") .. '"}')
      end
      if mode == "refresh" then
         local k = table.remove(ready, 1)
         if k == nil then
            -- out of tokens (only after errors): an invalid request, counted as an error
            return wrk.format("POST", "/api/auth/refresh", json, '{"refresh_token":"none"}')
         end
         _G["st" .. k] = "f"
         return wrk.format("POST", "/api/auth/refresh", json,
            '{"refresh_token":"' .. _G["tok" .. k] .. '"}')
      end
      if n == 0 then return wrk.format(nil, "/health") end
      pos = pos % n + 1
      return reqs[pos]
   end
end

if mode == "refresh" then
   function response(status, headers, body)
      if status == 200 then
         local sid = body:match('"session_id":"([^"]+)"')
         local tok = body:match('"refresh_token":"([^"]+)"')
         local k = sid and slot_of[sid]
         if k and tok then
            _G["tok" .. k], _G["st" .. k] = tok, "q"
            table.insert(ready, k)
         end
      end
   end
end

if delay_ms > 0 then
   function delay()
      return delay_ms
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local f = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
   f:write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
      '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
   f:close()
   if mode == "refresh" then
      local out = assert(io.open(os.getenv("BENCH_LEFTOVER"), "w"))
      for _, t in ipairs(threads) do
         for k = 1, t:get("slots") or 0 do
            out:write(t:get("st" .. k), " ", t:get("sid" .. k), " ", t:get("tok" .. k), "\n")
         end
      end
      out:close()
   end
end

-- wrk script: each connection checks a party in at a random venue, then checks a party out.
--
-- Usage (loadtest/peak/bench.py builds this command):
--   wrk -t1 -c64 -d20s -s loadtest/peak/wrk_checkins.lua http://127.0.0.1:PORT -- VENUES_FILE ACK_DIR [in]
-- VENUES_FILE holds one signed venue code per line. Every acknowledged check-in (201) is written
-- to ACK_DIR/acks-<thread>.txt as "i <visit_id> <ticket>", every acknowledged check-out (200) as
-- "o <visit_id>", so the harness can prove each one reached SQL. A thread keeps the tickets it
-- was given in a queue: the next request checks one of them out, or checks a new party in.
-- With a third argument "in", it only checks parties in (for venues with room for all of them).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local venues = {}
local queue, head, tail = {}, 1, 0
local acks
local check_ins_only = false
checkins, checkouts, full, errors, other_status = 0, 0, 0, 0, ""

local names = {"Budi Santoso", "Siti Rahayu", "Agus Wijaya", "Dewi Lestari", "Rina Kusuma"}
-- Party sizes as seen at a mall door: mostly alone or in twos, some families.
local parties = {1, 1, 1, 1, 2, 2, 2, 3, 3, 4}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(venues, line) end
  end
  check_ins_only = args[3] == "in"
  acks = io.open(args[2] .. "/acks-" .. id .. ".txt", "w")
  acks:setvbuf("line")
  math.randomseed(os.time() + id * 7919)
end

local json_headers = {["Content-Type"] = "application/json"}
local empty_headers = {["Content-Length"] = "0"}

function request()
  if tail >= head and not check_ins_only then
    local ticket = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", "/api/tickets/" .. ticket .. "/check-out", empty_headers)
  end
  local venue = venues[math.random(#venues)]
  local body = string.format('{"name":"%s","phone":"0812%08d","party_size":%d}',
    names[math.random(#names)], math.random(0, 99999999), parties[math.random(#parties)])
  return wrk.format("POST", "/api/venues/" .. venue .. "/check-ins", json_headers, body)
end

function response(status, headers, body)
  if status == 201 then
    local ticket = string.match(body, '"ticket":"([^"]+)"')
    local visit = string.match(body, '"visit_id":"([^"]+)"')
    checkins = checkins + 1
    if not check_ins_only then
      tail = tail + 1
      queue[tail] = ticket
    end
    acks:write("i ", visit, " ", ticket, "\n")
  elseif status == 200 and string.find(body, '"checked_out_at"', 1, true) then
    checkouts = checkouts + 1
    acks:write("o ", string.match(body, '"visit_id":"([^"]+)"'), "\n")
  elseif status == 409 and string.find(body, '"venue_full"', 1, true) then
    full = full + 1
  else
    errors = errors + 1
    if #other_status < 200 then other_status = other_status .. status .. " " end
  end
end

function done(summary, latency, requests)
  local c, o, f, e, statuses = 0, 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    c = c + thread:get("checkins")
    o = o + thread:get("checkouts")
    f = f + thread:get("full")
    e = e + thread:get("errors")
    statuses = statuses .. thread:get("other_status")
  end
  local s = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"checkins":%d,"checkouts":%d,"full":%d,' ..
    '"http_errors":%d,"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"statuses":"%s"}\n',
    summary.duration, summary.requests, c, o, f, e, s.connect + s.read + s.write, s.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, statuses))
end

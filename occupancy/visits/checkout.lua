-- Begin a check-out, atomically: mark the open visit as closing, with its reason and time. Its
-- places stay taken until SQL has recorded the check-out (release.lua): if that write fails, the
-- visit simply reopens (undo.lua), and no undo can ever push the count over capacity.
-- KEYS: count, config, ticket, open tickets, pending
-- ARGV: reason, now (epoch seconds), ticket hash
-- Returns {status, count, capacity, visit_id, party, checked_in_at, reason, checked_out_at}
--   status: ok (now closing) | closing (another check-out of it is under way: finish it too) |
--           replay (already closed) | unknown (no such ticket) | no_config (venue not loaded)
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'at', 'state', 'reason', 'out')
local cfg = redis.call('HMGET', KEYS[2], 'capacity')
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if not cfg[1] then
  return {'no_config', count, 0}
end
local capacity = tonumber(cfg[1])
if not t[1] then
  return {'unknown', count, capacity}
end
if t[4] == 'closed' then
  return {'replay', count, capacity, t[1], tonumber(t[2]), t[3], t[5], t[6]}
end
if t[4] == 'closing' then
  return {'closing', count, capacity, t[1], tonumber(t[2]), t[3], t[5], t[6]}
end
redis.call('HSET', KEYS[3], 'state', 'closing', 'reason', ARGV[1], 'out', ARGV[2])
redis.call('ZADD', KEYS[5], ARGV[2], 'out:' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
return {'ok', count, capacity, t[1], tonumber(t[2]), t[3], ARGV[1], ARGV[2]}

-- Load a venue's line from SQL (the entries still waiting or offered, in their turn's order),
-- unless it is loaded: after Redis lost it, or on the line's first use.
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: paused ('1' or '0'), the last turn given, the venue's offer seconds ('' for the
--       service's default), then per entry: hash, id, party, joined at,
--       state ('waiting' or 'offered'), turn, offer end (epoch s, 0 while waiting), phone index
--       ('' for an entry joined before the line knew phones)
if redis.call('HGET', KEYS[4], 'loaded') == '1' then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7])
local offered = 0
for i = 4, #ARGV, 8 do
  local h, p, state, q = ARGV[i], tonumber(ARGV[i + 2]), ARGV[i + 4], tonumber(ARGV[i + 5])
  local e = {i = ARGV[i + 1], p = p, j = tonumber(ARGV[i + 3]), s = state, q = q}
  if state == 'offered' then
    e.u = tonumber(ARGV[i + 6])
    redis.call('ZADD', KEYS[2], e.u, h)
    offered = offered + p
  else
    redis.call('ZADD', KEYS[1], q, h)
  end
  if ARGV[i + 7] ~= '' then
    e.n = ARGV[i + 7]
    redis.call('HSET', KEYS[6], e.n, h)
  end
  redis.call('HSET', KEYS[3], h, cjson.encode(e))
end
redis.call('HSET', KEYS[4], 'loaded', 1, 'seq', ARGV[2], 'offered', offered, 'paused', ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[4], 'offer_seconds', ARGV[3])
end
return 1

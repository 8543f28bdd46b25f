-- Copy a venue's capacity and pause into Redis, where the scripts enforce them. A venue Redis has
-- lost is not loaded here (its count would start at 0 with people inside): the rebuild loads it
-- from SQL. A new venue (no visits yet) is loaded at once.
-- KEYS: config, count
-- ARGV: capacity, paused ('1' or '0'), '1' if the venue is new
if ARGV[3] ~= '1' and redis.call('HEXISTS', KEYS[1], 'capacity') == 0 then
  return 0
end
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[1], 'capacity') == 0 then
  redis.call('SET', KEYS[2], 0)
end
redis.call('HSET', KEYS[1], 'capacity', ARGV[1], 'paused', ARGV[2])
return 1

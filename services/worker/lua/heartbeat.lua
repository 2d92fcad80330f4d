-- Announce a worker alive until now + ttl (server clock), forget expired ones.
-- KEYS[1] txflow:workers (sorted set, score = heartbeat expiry in ms)
-- ARGV[1] worker id   ARGV[2] ttl ms
-- Reply: the ids of the live workers.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)

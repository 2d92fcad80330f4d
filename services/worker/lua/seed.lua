-- Seed a shard's count of committed entries (a deployment from before it had none).
-- KEYS[1] lease   KEYS[2] epoch   KEYS[3] ckpt   KEYS[4] committed
-- ARGV[1] worker id   ARGV[2] epoch token   ARGV[3] the ckpt counted up to ('' = none)
-- ARGV[4] how many entries the stream ever took up to that ckpt
-- Reply: 1 seeded, 0 already there, -1 nothing written (fenced, or ckpt moved on)
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then
  return -1
end
if redis.call('SET', KEYS[4], ARGV[4], 'NX') then
  return 1
end
return 0

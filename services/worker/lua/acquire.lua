-- Take a free shard: set the lease and bump the fencing epoch, atomically.
-- KEYS[1] lease  KEYS[2] epoch
-- ARGV[1] worker id  ARGV[2] ttl ms
-- Reply: the new epoch (the fencing token), or false when the shard is owned.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false

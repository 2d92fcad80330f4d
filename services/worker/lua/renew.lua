-- Extend a lease only while it is still ours.
-- KEYS[1] lease   ARGV[1] worker id   ARGV[2] ttl ms
-- Reply: 1 renewed, 0 lost.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

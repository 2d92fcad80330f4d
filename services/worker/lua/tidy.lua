-- Delete the group's consumers that hold nothing pending (dead workers', after a claim).
-- XGROUP DELCONSUMER drops a consumer's pending entries with it, so each is checked
-- and deleted in one step: a consumer that claimed entries since the caller listed it
-- keeps them. Only the shard's owner tidies (a zombie's listing is stale by definition).
-- KEYS[1] lease   KEYS[2] epoch   KEYS[3] in
-- ARGV[1] worker id   ARGV[2] epoch token   ARGV[3] consumer group   ARGV[4..] consumers
-- Reply: how many were deleted; -1 fenced (nothing deleted)
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
local deleted = 0
for i = 4, #ARGV do
  if #redis.call('XPENDING', KEYS[3], ARGV[3], '-', '+', 1, ARGV[i]) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[3], ARGV[3], ARGV[i])
    deleted = deleted + 1
  end
end
return deleted

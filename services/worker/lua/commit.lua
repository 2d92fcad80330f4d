-- Commit one batch of a shard: fence, contiguity, writes, checkpoint, ack.
-- Every key belongs to one shard (hash tag {s}); the script is atomic, so the
-- batch's state, outcomes and acknowledgement change together or not at all.
--
-- KEYS[1] lease   KEYS[2] epoch   KEYS[3] ckpt   KEYS[4] in   KEYS[5] out
-- KEYS[6] dlq     KEYS[7..] the hashes written, in the order of their field lists
--
-- ARGV[1] worker id (the lease value)      ARGV[2] epoch token
-- ARGV[3] consumer group                   ARGV[4] first entry id of the batch
-- ARGV[5] last entry id (the new ckpt)     ARGV[6] :out approximate max length
-- ARGV[7] XTRIM MINID for :in ('' = none)  ARGV[8] number of ids to ack: n
-- ARGV[9 .. 8+n] ids to ack
-- then: h = number of hashes; for each, f = number of field/value args, then them
-- then: o = number of :out payloads, then them
-- then: d = number of :dlq payloads, then them
--
-- Reply: {'ok'} | {'fenced'} | {'gap', <id of the entry that must come next, or ''>}

if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return {'fenced'}
end

local ckpt = redis.call('GET', KEYS[3])
local after = ckpt and ('(' .. ckpt) or '-'
local next_entry = redis.call('XRANGE', KEYS[4], after, '+', 'COUNT', 1)[1]
if next_entry == nil or next_entry[1] ~= ARGV[4] then
  return {'gap', next_entry and next_entry[1] or ''}
end

local i = 8
local n = tonumber(ARGV[i])
local ids = {}
for k = 1, n do ids[k] = ARGV[i + k] end
i = i + n + 1

local hashes = tonumber(ARGV[i])
for h = 1, hashes do
  local f = tonumber(ARGV[i + 1])
  redis.call('HSET', KEYS[6 + h], unpack(ARGV, i + 2, i + 1 + f))
  i = i + 1 + f
end
i = i + 1

local outs = tonumber(ARGV[i])
for k = 1, outs do
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'd', ARGV[i + k])
end
i = i + outs + 1

local dead = tonumber(ARGV[i])
for k = 1, dead do
  redis.call('XADD', KEYS[6], '*', 'd', ARGV[i + k])
end

redis.call('SET', KEYS[3], ARGV[5])
-- unpack is bounded by Lua's C stack: ack in slices
for k = 1, n, 1000 do
  redis.call('XACK', KEYS[4], ARGV[3], unpack(ids, k, math.min(k + 999, n)))
end
if ARGV[7] ~= '' then
  redis.call('XTRIM', KEYS[4], 'MINID', '~', ARGV[7])
end
return {'ok'}

-- Commit one batch of a shard: fence, contiguity, writes, checkpoint, ack.
-- Every key belongs to one shard (hash tag {s}); the script is atomic, so the
-- batch's state, outcomes and acknowledgement change together or not at all.
--
-- KEYS[1] lease   KEYS[2] epoch   KEYS[3] ckpt   KEYS[4] in   KEYS[5] out
-- KEYS[6] dlq     KEYS[7] committed (entries counted up to ckpt)
-- KEYS[8..] the hashes written, in the order of ARGV[9]
--
-- ARGV[1] worker id (the lease value)      ARGV[2] epoch token
-- ARGV[3] consumer group                   ARGV[4] first entry id of the batch
-- ARGV[5] last entry id (the new ckpt)     ARGV[6] :out approximate max entries
-- ARGV[7] XTRIM MINID for :in ('' = none)  ARGV[8] ids to ack, joined by ','
-- ARGV[9] JSON array: for KEYS[7 + i], its fields and values as one flat array
-- ARGV[10] the batch's outcomes, a JSON array: one :out entry (shared/outcomes.py);
--          '' when it has none (only undecodable entries)
-- ARGV[11] :dlq payloads joined by '\n'
-- The :out entry also records the epoch that committed it ('ep'), so a
-- checker can prove no fenced-out owner ever committed after its successor.
-- (Few large arguments instead of ~25 per transaction: packing them costs the
-- client far more than decoding them costs Redis.)
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

-- (a hash has a handful of fields: the client merges a batch's writes per key)
for h, fields in ipairs(cjson.decode(ARGV[9])) do
  redis.call('HSET', KEYS[7 + h], unpack(fields))
end

if ARGV[10] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'ep', ARGV[2], 'd', ARGV[10])
end
for payload in string.gmatch(ARGV[11], '[^\n]+') do
  redis.call('XADD', KEYS[6], '*', 'd', payload)
end

redis.call('SET', KEYS[3], ARGV[5])
local ids = {}
for id in string.gmatch(ARGV[8], '[^,]+') do ids[#ids + 1] = id end
-- unpack is bounded by Lua's C stack: ack in slices
local n = #ids
for k = 1, n, 1000 do
  redis.call('XACK', KEYS[4], ARGV[3], unpack(ids, k, math.min(k + 999, n)))
end
-- The batch is exactly the entries after the old ckpt up to the new one (contiguity
-- above), so the count stays exact. Until the owner has seeded it (an older
-- deployment), it is absent and stays so: ingest then falls back to XINFO's lag.
if redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('INCRBY', KEYS[7], n)
end
if ARGV[7] ~= '' then
  redis.call('XTRIM', KEYS[4], 'MINID', '~', ARGV[7])
end
return {'ok'}

-- Commit one batch of a shard: fence, contiguity, writes, checkpoint, ack.
-- Every key belongs to one shard (hash tag {s}); the script is atomic, so the
-- batch's state, outcomes, parking and acknowledgement change together or not at all.
--
-- KEYS[1] lease   KEYS[2] epoch   KEYS[3] ckpt   KEYS[4] in   KEYS[5] out
-- KEYS[6] dlq     KEYS[7] committed (entries counted up to ckpt)
-- KEYS[8] ctl (operator requests)
-- KEYS[9..] the account hashes written, in the order of ARGV[9]; then the other keys
--          ARGV[12] names (shared/records.py: the fields and their packed values)
--
-- ARGV[1] worker id (the lease value)      ARGV[2] epoch token
-- ARGV[3] consumer group                   ARGV[4] first entry id of the batch ('' when
--         the entries are not :in's next ones but a parked account's, retried: then no
--         contiguity check, no ckpt, ack or trim)
-- ARGV[5] last entry id (the new ckpt)     ARGV[6] :out approximate max entries
-- ARGV[7] XTRIM MINID for :in ('' = none)  ARGV[8] n: how many ids to ack, ARGV[14..13+n]
-- ARGV[9] JSON array: for KEYS[8 + i], its fields and values as one flat array (HSET)
-- ARGV[10] the batch's outcomes, a JSON array: one :out entry (shared/outcomes.py);
--          '' when it has none (only undecodable entries)
-- ARGV[11] :dlq payloads joined by '\n'
-- ARGV[12] '' or a JSON object, keys given as indexes k into KEYS:
--          "g": [[k, v]]  abort ('stale') unless the list KEYS[k] starts with v
--          "ops": [[cmd, k, arg...]] run after the hashes, in order: RPUSH, LTRIM, DEL,
--                 HSET, HDEL, SET on KEYS[k]; or REC k f v: field f of KEYS[k] set to v
--                 unless it holds a decided record (its outcome, the 3rd character, is
--                 not absent, 'x' dead or 'p' parked): a parked entry's record
-- ARGV[13] id of the operator request in KEYS[8] this commit carries out ('' = none):
--          abort ('stale') unless it is still there; deleted with the commit
-- ARGV[14..] the ids to ack, each its own argument (split from one string by Lua, they
--          cost Redis more than they cost the client to pack)
-- The :out entry also records the epoch that committed it ('ep'), so a
-- checker can prove no fenced-out owner ever committed after its successor.
-- (Few large arguments instead of ~25 per transaction: packing them costs the
-- client far more than decoding them costs Redis.)
--
-- Reply: {'ok'} | {'fenced'} | {'gap', <id of the entry that must come next, or ''>} | {'stale'}

if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return {'fenced'}
end

if ARGV[4] ~= '' then
  local ckpt = redis.call('GET', KEYS[3])
  local after = ckpt and ('(' .. ckpt) or '-'
  local next_entry = redis.call('XRANGE', KEYS[4], after, '+', 'COUNT', 1)[1]
  if next_entry == nil or next_entry[1] ~= ARGV[4] then
    return {'gap', next_entry and next_entry[1] or ''}
  end
end

local extra = {}
if ARGV[12] ~= '' then extra = cjson.decode(ARGV[12]) end
for _, g in ipairs(extra.g or {}) do
  if redis.call('LINDEX', KEYS[g[1]], 0) ~= g[2] then return {'stale'} end
end
if ARGV[13] ~= '' and #redis.call('XRANGE', KEYS[8], ARGV[13], ARGV[13]) == 0 then
  return {'stale'}  -- carried out already (a commit re-sent after its reply was lost)
end

-- (the client merges a batch's writes per account: one HSET each; unpack is bounded
-- by Lua's C stack, so a batch of one account writes in slices)
for h, fields in ipairs(cjson.decode(ARGV[9])) do
  local n = #fields
  for k = 1, n, 1000 do
    redis.call('HSET', KEYS[8 + h], unpack(fields, k, math.min(k + 999, n)))
  end
end
for _, op in ipairs(extra.ops or {}) do
  local key = KEYS[op[2]]
  if op[1] == 'REC' then
    -- pcall: a key of another type (corrupted) is left alone, the commit goes on
    local record = redis.pcall('HGET', key, op[3])
    if type(record) ~= 'table' then
      local outcome = record and string.sub(record, 3, 3)
      if record == false or outcome == 'x' or outcome == 'p' then
        redis.call('HSET', key, op[3], op[4])
      end
    end
  else
    redis.call(op[1], key, unpack(op, 3))
  end
end

if ARGV[10] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'ep', ARGV[2], 'd', ARGV[10])
end
for payload in string.gmatch(ARGV[11], '[^\n]+') do
  redis.call('XADD', KEYS[6], '*', 'd', payload)
end
if ARGV[13] ~= '' then redis.call('XDEL', KEYS[8], ARGV[13]) end

if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[5])
  -- unpack is bounded by Lua's C stack: ack in slices
  local n = tonumber(ARGV[8])
  for k = 14, 13 + n, 1000 do
    redis.call('XACK', KEYS[4], ARGV[3], unpack(ARGV, k, math.min(k + 999, 13 + n)))
  end
  -- The batch is exactly the entries after the old ckpt up to the new one (contiguity
  -- above; held entries of parked accounts among them), so the count stays exact.
  -- Until the owner has seeded it (an older deployment), it is absent and stays so:
  -- ingest then falls back to XINFO's lag.
  if redis.call('EXISTS', KEYS[7]) == 1 then
    redis.call('INCRBY', KEYS[7], n)
  end
  if ARGV[7] ~= '' then
    redis.call('XTRIM', KEYS[4], 'MINID', '~', ARGV[7])
  end
end
return {'ok'}

-- Read many hashes of one shard in one command (cheaper for the client than a
-- pipeline of HGETALLs: one command to pack instead of hundreds).
-- KEYS: the hashes.  ARGV: none.
-- Reply: for each key, its fields and values as a flat array (empty if absent).
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('HGETALL', key)
end
return found

-- Read many hashes of one shard in one command (cheaper for the client than a
-- pipeline of HGETALLs: one command to pack instead of hundreds).
-- KEYS: the hashes.  ARGV: none.
-- Reply: for each key, its fields and values as a flat array (empty if absent), or
-- the error's text when it cannot be read as a hash (a key of another type: corrupted
-- state parks its account instead of failing the batch of the whole shard).
local found = {}
for i, key in ipairs(KEYS) do
  local h = redis.pcall('HGETALL', key)
  if h.err then found[i] = h.err else found[i] = h end
end
return found

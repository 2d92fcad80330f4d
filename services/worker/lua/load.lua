-- Read what a batch needs of many account hashes of one shard, in one command
-- (cheaper for the client than a pipeline: one command to pack instead of hundreds).
-- KEYS: the account hashes.
-- ARGV[i]: the fields wanted of KEYS[i], joined by ',' (tx ids and ':s' hold none).
-- Reply: for each key, the values of its fields in that order (nil when absent), or
-- the error's text when it cannot be read as a hash (a key of another type: corrupted
-- state parks its account instead of failing the batch of the whole shard).
local found = {}
for i, key in ipairs(KEYS) do
  local fields = {}
  for f in string.gmatch(ARGV[i], '[^,]+') do fields[#fields + 1] = f end
  local values = redis.pcall('HMGET', key, unpack(fields))
  if values.err then found[i] = values.err else found[i] = values end
end
return found

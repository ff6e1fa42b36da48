-- Drops the outbox of rollout hash KEYS[1] only if it still holds the event ARGV[1] just
-- published (a newer one stays).
local outbox = redis.call('HGET', KEYS[1], 'outbox')
if outbox and cjson.decode(outbox).eventId == ARGV[1] then redis.call('HDEL', KEYS[1], 'outbox', 'writtenVersion') end
return 0

-- Read only: the limit (join-cap.lua) feedback of `bytes` naming `deployment` ('' for none)
-- would pass if it reached the joiner now, with the limits in force, or nil: nil too when a prediction it joins is
-- there (it is not pending) or no joiner has written its limits yet. The router asks
-- before publishing, so the sender hears of it (429); the joiner's own check decides.
-- KEYS: the request's hash, the bucket's held hash. ARGV: deployment, bytes.
if not (ARGV[1] and isInteger(ARGV[2])) then return refuse('pendingRoom: deployment and bytes expected') end
local limits = parseLimits(redis.call('HGET', HELD, 'limits'))
if not limits then return nil end
local f = 'f'
if ARGV[1] ~= '' then f = 'f:' .. ARGV[1] end
if redis.call('HEXISTS', KEYS[1], f) == 1 or predictionIn(redis.call('HKEYS', KEYS[1]), ARGV[1]) then return nil end
local limit = overLimit('f', ARGV[1], tonumber(ARGV[2]), limits)
if not limit then return nil end
return {limit, redis.call('HGET', HELD, 'limits')}

-- Opens the live join scripts: checks the bucket's marker (KEYS[2]) unless replaying
-- (ARGV[1] = '1'), and answers JoinStateLost's reply without it.
local replay = ARGV[1] == '1'
if not replay and redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('JOINSTATE_LOST the join state is being rebuilt') end

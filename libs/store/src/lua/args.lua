-- Argument checks every script runs before its first write. Redis keeps what a script
-- wrote before an error, so an argument that fails a command half-way applies half a call,
-- and again on every retry (a reward whose square overflowed HINCRBYFLOAT applied its first
-- increments each time). A script refuses a call it cannot apply whole with `refuse`,
-- writing nothing.
local MAX_SAFE_INTEGER = 9007199254740991
local function refuse(what) return redis.error_reply('BADARGS ' .. what) end
-- An integer as Redis writes and reads it (HINCRBY, EXPIRE, PEXPIRE refuse '-0' and
-- leading zeros), exact in Lua's numbers: also what offsets are.
local function isInteger(text)
  return type(text) == 'string' and (text == '0' or string.match(text, '^%-?[1-9]%d*$') ~= nil) and math.abs(tonumber(text)) <= MAX_SAFE_INTEGER
end
local function isPositiveInteger(text) return isInteger(text) and tonumber(text) > 0 end
-- A time to live (EXPIRE seconds, PEXPIRE milliseconds) Redis takes whatever its clock
-- says: positive, and at most 10^12 (past about 9.2 * 10^15 its arithmetic overflows).
local function isDuration(text) return isPositiveInteger(text) and tonumber(text) <= 1e12 end
-- The forms JavaScript's String(number) writes; Lua's tonumber would also take ' 1',
-- '0x1p4' and 'inf', which Redis refuses or stores as infinity.
local DECIMAL_FORMS = {'^%-?%d+$', '^%-?%d+%.%d+$', '^%-?%d+[eE][%+%-]?%d+$', '^%-?%d+%.%d+[eE][%+%-]?%d+$'}
-- The finite number a decimal spells, or nil: 1e400 is infinite, and 1e-400 underflows to
-- a 0 that ZADD refuses.
local function finiteNumber(text)
  if type(text) ~= 'string' then return nil end
  for _, form in ipairs(DECIMAL_FORMS) do
    if string.match(text, form) then
      local n = tonumber(text)
      if not (n and n == n and n > -math.huge and n < math.huge) then return nil end
      if n == 0 and string.find(string.match(text, '^[^eE]*'), '[1-9]') then return nil end
      return n
    end
  end
  return nil
end

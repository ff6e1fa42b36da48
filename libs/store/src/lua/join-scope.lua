-- The join-scope rule (feedbackFor in libs/strategies): a prediction of `deployment` joins
-- the feedback naming its deployment, else the one naming none. `read(field)` reads a
-- field of the request's hash.
local function feedbackFor(read, deployment)
  return read('f:' .. deployment) or read('f')
end
-- Whether the request's hash fields (`names`) hold a prediction that feedback of `scope`
-- (a deployment, or '' for every deployment) joins: one of that deployment, or any.
local function predictionIn(names, scope)
  for _, name in ipairs(names) do
    if string.sub(name, 1, 2) == 'p:' and (scope == '' or string.sub(name, 3, 2 + #scope + 1) == scope .. ':') then return true end
  end
  return false
end

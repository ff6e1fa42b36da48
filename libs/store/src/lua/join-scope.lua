-- The join-scope rule (feedbackFor in libs/strategies): a prediction of `deployment` joins
-- the feedback naming its deployment, else the one naming none. `read(field)` reads a
-- field of the request's hash.
local function feedbackFor(read, deployment)
  return read('f:' .. deployment) or read('f')
end

-- ArgoCD health of a streamflow.io FraudModel (resource.customizations.health.streamflow.io_FraudModel).
-- The operator validates a model into phase Ready or Rejected; Healthy only once it has validated the
-- current generation. Conditions Degraded/Ready are honoured too, should the status carry them.
-- Lua 5.1, as ArgoCD's gopher-lua runs it.
local hs = {}

local function condition(status, kind)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local status = obj.status
local generation = obj.metadata.generation

local degraded = condition(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = degraded.message or degraded.reason or "Degraded"
  return hs
end
if status ~= nil and status.phase == "Rejected" then
  hs.status = "Degraded"
  hs.message = status.message or status.reason or "Rejected"
  return hs
end

if status == nil or status.observedGeneration == nil or generation == nil
    or status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to validate the model"
  return hs
end

local ready = condition(status, "Ready")
if (ready ~= nil and ready.status == "True") or (ready == nil and status.phase == "Ready") then
  hs.status = "Healthy"
  hs.message = status.message or "Ready"
  return hs
end

hs.status = "Progressing"
hs.message = status.message or ("Phase " .. tostring(status.phase))
return hs

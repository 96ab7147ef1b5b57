-- ArgoCD health of a streamflow.io FraudPipeline (resource.customizations.health.streamflow.io_FraudPipeline).
-- Degraded when the operator says so (with its message); Healthy only once the operator has observed the
-- current generation and reports Ready; Progressing otherwise. Lua 5.1, as ArgoCD's gopher-lua runs it.
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

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil then
    return c.reason
  end
  return fallback
end

local status = obj.status
local generation = obj.metadata.generation

local degraded = condition(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded, "Degraded")
  return hs
end

if status == nil or status.observedGeneration == nil or generation == nil
    or status.observedGeneration ~= generation then
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = string.format("Waiting for the operator to observe generation %d", generation)
  else
    hs.message = "Waiting for the operator"
  end
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
local progressing = condition(status, "Progressing")
if progressing ~= nil and progressing.status == "True" then
  hs.message = describe(progressing, "Progressing")
else
  hs.message = describe(ready, "Waiting for Ready")
end
return hs

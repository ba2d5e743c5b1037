-- ArgoCD health of a chaosnight.dev ChaosNight, for the argocd-cm key
-- resource.customizations.health.chaosnight.dev_ChaosNight (docs/argocd.md).
-- Same rules as experiment-health.lua (base and table libraries only, Lua
-- 5.1); test/chart/argocd_test.go runs this very file.
--
--   no status, no Valid condition, or a spec generation the runner has
--   not validated yet    -> Progressing
--   Valid=False          -> Degraded (the located problems)
--   Valid=Unknown        -> Progressing
--   Valid=True           -> Healthy (when the next window opens)

local hs = {}

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the runner"
  return hs
end

local valid = nil
for _, c in ipairs(status.conditions) do
  if c.type == "Valid" then
    valid = c
  end
end
if valid == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the runner"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil then
  local seen = status.observedGeneration
  if valid.observedGeneration ~= nil and (seen == nil or valid.observedGeneration < seen) then
    seen = valid.observedGeneration
  end
  if seen ~= nil and seen < generation then
    hs.status = "Progressing"
    hs.message = "waiting for the runner: generation " .. generation .. " not observed yet"
    return hs
  end
end
if valid.status == "False" then
  hs.status = "Degraded"
  if valid.message ~= nil and valid.message ~= "" then
    hs.message = valid.message
  else
    hs.message = "invalid"
  end
  return hs
end
if valid.status ~= "True" then
  hs.status = "Progressing"
  hs.message = "validating"
  return hs
end
hs.status = "Healthy"
if status.nextOpens ~= nil then
  hs.message = "valid; next opens " .. status.nextOpens
else
  hs.message = "valid; no window planned"
end
return hs

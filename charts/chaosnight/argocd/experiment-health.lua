-- ArgoCD health of a chaosnight.dev Experiment, for the argocd-cm key
-- resource.customizations.health.chaosnight.dev_Experiment (docs/argocd.md).
-- ArgoCD sets obj to the object and reads the returned table's status and
-- message. It runs with the base and table libraries only (no string
-- library), in Lua 5.1: keep to those. test/chart/argocd_test.go runs this
-- very file over sample statuses.
--
-- The mapping, first match wins:
--   no status, no Valid condition, or a generation the runner has not
--   observed yet                                   -> Progressing
--   Valid=False                                    -> Degraded (the located problems)
--   Valid=Unknown                                  -> Progressing
--   Running=True                                   -> Progressing (a run is in flight)
--   Held=True                                      -> Healthy
--   Held=False, reason Deviated or Error           -> Degraded (the hypothesis was refuted, or the run failed)
--   Held=False, reason Aborted, Skipped or DryRun  -> Healthy (nothing was refuted)
--   Held=False, any other reason                   -> Degraded (unknown to this check: never hide a failure)
--   Held=Unknown                                   -> Progressing
--   valid and never run                            -> Healthy

local hs = {}

local function find(conditions, wanted)
  for _, c in ipairs(conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

-- text returns s, or fallback when s is absent or empty.
local function text(s, fallback)
  if s == nil or s == "" then
    return fallback
  end
  return s
end

-- The run the last verdict is about ...
local function run(status)
  local out = ""
  if status.lastRun ~= nil and status.lastRun.id ~= nil then
    out = " (run " .. status.lastRun.id .. ")"
  end
  return out
end

-- ... and when the next one may come.
local function nextRun(status)
  if status.nextRun ~= nil then
    return "; next run " .. status.nextRun
  end
  return ""
end

local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the runner"
  return hs
end

-- A condition written for an older generation describes a spec that is no
-- longer the object's: wait for the runner to see the new one.
local generation = obj.metadata.generation
if generation ~= nil then
  if status.observedGeneration ~= nil and status.observedGeneration < generation then
    hs.status = "Progressing"
    hs.message = "waiting for the runner: generation " .. generation .. " not observed yet"
    return hs
  end
  for _, c in ipairs(status.conditions) do
    if c.observedGeneration ~= nil and c.observedGeneration < generation then
      hs.status = "Progressing"
      hs.message = "waiting for the runner: generation " .. generation .. " not observed yet (" .. c.type .. ")"
      return hs
    end
  end
end

local valid = find(status.conditions, "Valid")
if valid == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the runner"
  return hs
end
if valid.status == "False" then
  hs.status = "Degraded"
  hs.message = text(valid.message, "invalid")
  return hs
end
if valid.status ~= "True" then
  hs.status = "Progressing"
  hs.message = "validating: " .. text(valid.message, "waiting for the runner")
  return hs
end

local running = find(status.conditions, "Running")
if running ~= nil and running.status == "True" then
  hs.status = "Progressing"
  hs.message = "run in flight: " .. text(running.message, "no details")
  return hs
end

local held = find(status.conditions, "Held")
if held == nil then
  hs.status = "Healthy"
  if status.nextRun ~= nil then
    hs.message = "valid; next run " .. status.nextRun
  else
    hs.message = "valid; no run planned"
  end
  return hs
end
if held.status == "True" then
  hs.status = "Healthy"
  hs.message = "held" .. run(status) .. ": " .. text(held.message, "every probe held") .. nextRun(status)
  return hs
end
if held.status == "False" then
  local reason = text(held.reason, "no reason")
  if reason == "Aborted" or reason == "Skipped" or reason == "DryRun" then
    hs.status = "Healthy"
    hs.message = reason .. run(status) .. ", nothing refuted: " .. text(held.message, "no details") .. nextRun(status)
    return hs
  end
  hs.status = "Degraded"
  if reason == "Deviated" or reason == "Error" then
    hs.message = reason .. run(status) .. ": " .. text(held.message, "no details")
  else
    hs.message = "Held=False with reason " .. reason .. run(status) .. ": " .. text(held.message, "no details")
  end
  return hs
end
hs.status = "Progressing"
hs.message = "verdict pending: " .. text(held.message, text(held.reason, "no details"))
return hs

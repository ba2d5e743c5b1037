-- ArgoCD health of a chaosnight.dev Experiment, for the argocd-cm key
-- resource.customizations.health.chaosnight.dev_Experiment (docs/argocd.md).
-- ArgoCD sets obj to the object and reads the returned table's status and
-- message. It runs with the base and table libraries only (no string
-- library), in Lua 5.1: keep to those. test/chart/argocd_test.go runs this
-- very file over sample statuses.
--
-- The mapping, first match wins:
--   no status, no Valid condition, or a spec generation the runner has not
--   validated yet (status.observedGeneration or Valid's observedGeneration
--   below metadata.generation)                     -> Progressing
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

-- The run the last verdict is about, and the spec generation it ran when
-- that is older than the object's (the runner validates every new spec at
-- once, but a verdict changes only with the next run) ...
local function run(status, held, generation)
  local out = ""
  if status.lastRun ~= nil and status.lastRun.id ~= nil then
    out = "run " .. status.lastRun.id
  end
  if generation ~= nil and held.observedGeneration ~= nil and held.observedGeneration < generation then
    if out ~= "" then
      out = out .. ", "
    end
    out = out .. "of generation " .. held.observedGeneration
  end
  if out == "" then
    return ""
  end
  return " (" .. out .. ")"
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

local valid = find(status.conditions, "Valid")
if valid == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the runner"
  return hs
end

-- A spec the runner has not validated yet: what the status says is about
-- an older one. Only the validation's fields count: Running and Held keep
-- the generation of their run until the next run, which may be days away.
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
  hs.message = text(running.message, "a run") .. " in flight"
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
  hs.message = "held" .. run(status, held, generation) .. ": " .. text(held.message, "every probe held") .. nextRun(status)
  return hs
end
if held.status == "False" then
  local reason = text(held.reason, "no reason")
  if reason == "Aborted" or reason == "Skipped" or reason == "DryRun" then
    hs.status = "Healthy"
    hs.message = reason .. run(status, held, generation) .. ", nothing refuted: " .. text(held.message, "no details") .. nextRun(status)
    return hs
  end
  hs.status = "Degraded"
  if reason == "Deviated" or reason == "Error" then
    hs.message = reason .. run(status, held, generation) .. ": " .. text(held.message, "no details")
  else
    hs.message = "Held=False with reason " .. reason .. run(status, held, generation) .. ": " .. text(held.message, "no details")
  end
  return hs
end
hs.status = "Progressing"
hs.message = "verdict pending: " .. text(held.message, text(held.reason, "no details"))
return hs

{{/* Names */}}
{{- define "chaosnight.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chaosnight.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chaosnight.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chaosnight.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chaosnight.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chaosnight.labels" -}}
helm.sh/chart: {{ include "chaosnight.chart" . }}
{{ include "chaosnight.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chaosnight
{{- end }}

{{- define "chaosnight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chaosnight.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag default: appVersion). */}}
{{- define "chaosnight.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Objects the runner keeps in its own namespace; their names are fixed by the runner. */}}
{{- define "chaosnight.killSwitchName" -}}chaosnight-kill-switch{{- end }}
{{- define "chaosnight.stateName" -}}chaosnight-state{{- end }}

{{/* Paths inside the runner container. */}}
{{- define "chaosnight.configDir" -}}/etc/chaosnight/config{{- end }}
{{- define "chaosnight.configFile" -}}/etc/chaosnight/config/chaosnight.yaml{{- end }}
{{- define "chaosnight.experimentsDir" -}}/etc/chaosnight/experiments{{- end }}
{{- define "chaosnight.dataDir" -}}/var/lib/chaosnight{{- end }}
{{- define "chaosnight.promTokenDir" -}}/var/run/secrets/chaosnight/prometheus-token{{- end }}
{{- define "chaosnight.promCADir" -}}/etc/chaosnight/prometheus-ca{{- end }}

{{/* The Prometheus bearer token file the runner reads, if any. */}}
{{- define "chaosnight.promBearerTokenFile" -}}
{{- $p := .Values.prometheus }}
{{- if $p.bearerTokenSecret.name }}
{{- printf "%s/token" (include "chaosnight.promTokenDir" .) }}
{{- else if $p.serviceAccountToken.enabled }}
{{- printf "%s/token" (include "chaosnight.promTokenDir" .) }}
{{- else }}
{{- $p.bearerTokenFile }}
{{- end }}
{{- end }}

{{- define "chaosnight.promCAFile" -}}
{{- $ca := .Values.prometheus.ca }}
{{- if or $ca.configMap $ca.secret }}
{{- printf "%s/ca.crt" (include "chaosnight.promCADir" .) }}
{{- else }}
{{- $ca.file }}
{{- end }}
{{- end }}

{{/* Features, as "true" or "" so that templates can test them. */}}
{{- define "chaosnight.stressPod" -}}
{{- if and .Values.stress.enabled .Values.stress.podScope }}true{{ end }}
{{- end }}
{{- define "chaosnight.stressNode" -}}
{{- if and .Values.stress.enabled .Values.stress.nodeScope }}true{{ end }}
{{- end }}
{{- define "chaosnight.nodeFaults" -}}
{{- if (.Values.nodeFaults | default dict).enabled }}true{{ end }}
{{- end }}

{{/*
The settings part of the configuration: everything but the nights. serve
reads these once, at start, so the pod template carries their checksum and a
change rolls the runners; nights and experiments are hot-reloaded.
*/}}
{{- define "chaosnight.settings" -}}
{{- $v := .Values }}
{{- $prom := dict "url" $v.prometheus.url "timeout" $v.prometheus.timeout }}
{{- if $v.prometheus.insecureSkipVerify }}{{ $_ := set $prom "insecureSkipVerify" true }}{{ end }}
{{- with include "chaosnight.promBearerTokenFile" . }}{{ $_ := set $prom "bearerTokenFile" . }}{{ end }}
{{- with include "chaosnight.promCAFile" . }}{{ $_ := set $prom "caFile" . }}{{ end }}
{{- $s := dict
  "experiments" (include "chaosnight.experimentsDir" .)
  "dryRun" $v.dryRun
  "listen" (printf ":%d" (int $v.service.port))
  "prometheus" $prom
  "journal" (dict "directory" (printf "%s/journals" (include "chaosnight.dataDir" .)) "retention" $v.journal.retention)
  "leaderElection" (dict "enabled" $v.leaderElection.enabled "leaseName" $v.leaderElection.leaseName)
  "kube" (dict "qps" $v.kube.qps "burst" $v.kube.burst)
  "safety" (dict "excludeNamespaces" $v.safety.excludeNamespaces "allowSystemNamespaces" $v.safety.allowSystemNamespaces "requireOptIn" $v.safety.requireOptIn "maxTargets" (int $v.safety.maxTargets) "minHealthy" (int $v.safety.minHealthy))
  "killSwitch" (dict "namespace" .Release.Namespace)
  "gate" (dict "alerts" $v.gate.alerts "alertSelector" $v.gate.alertSelector "rollouts" $v.gate.rollouts)
}}
{{- $crs := dict "enabled" (include "chaosnight.customResources" . | empty | not) }}
{{- if $crs.enabled }}
{{- with (include "chaosnight.customResourceNamespaces" . | fromJson).items }}{{ $_ := set $crs "namespaces" . }}{{ end }}
{{- end }}
{{- $_ := set $s "customResources" $crs }}
{{- $_ := set $s "externalURL" (include "chaosnight.externalURL" .) }}
{{- if $v.stress.enabled }}
{{- $_ := set $s "stress" (dict "image" (default (include "chaosnight.image" .) $v.stress.image) "startTimeout" $v.stress.startTimeout) }}
{{- end }}
{{- toYaml $s }}
{{- end }}

{{/*
Whether serve reads Experiment and ChaosNight custom resources, as "true"
or "". A missing customResources key (values from before it existed, with
--reuse-values) counts as the default, enabled.
*/}}
{{- define "chaosnight.customResources" -}}
{{- $cr := .Values.customResources | default dict }}
{{- if or (not (hasKey $cr "enabled")) $cr.enabled }}true{{ end }}
{{- end }}

{{/* Where serve reads them, deduplicated and sorted; empty: every namespace. */}}
{{- define "chaosnight.customResourceNamespaces" -}}
{{- toJson (dict "items" ((.Values.customResources | default dict).namespaces | default list | uniq | sortAlpha)) }}
{{- end }}

{{/*
The runner's page as users reach it: externalURL, else the Service inside
the cluster. A trailing slash is dropped: reportURL is this + /runs/ID.
*/}}
{{- define "chaosnight.externalURL" -}}
{{- if .Values.externalURL }}
{{- .Values.externalURL | trimSuffix "/" }}
{{- else }}
{{- printf "http://%s.%s.svc:%d" (include "chaosnight.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}
{{- end }}

{{/* The target namespaces with scope "namespaces", deduplicated and sorted. */}}
{{- define "chaosnight.targetNamespaces" -}}
{{- toJson (dict "items" (.Values.rbac.namespaces | uniq | sortAlpha)) }}
{{- end }}

{{/*
The rules the runner needs wherever it may inject (target namespaces, or the
whole cluster). Every rule is generated from a feature switch.
*/}}
{{- define "chaosnight.targetRules" -}}
{{- $podVerbs := list "get" "list" }}
{{- if include "chaosnight.stressNode" . }}{{ $podVerbs = append $podVerbs "create" }}{{ end }}
{{- if or (and .Values.podKill.enabled .Values.podKill.allowDelete) (include "chaosnight.stressNode" .) }}{{ $podVerbs = append $podVerbs "delete" }}{{ end }}
# Select the victims (list) and re-read them and their siblings (get, list)
# for minHealthy{{ if include "chaosnight.stressNode" . }}; create and delete node-scope stress helper pods{{ end }}
{{- if and .Values.podKill.enabled .Values.podKill.allowDelete }}; pod kills with method: delete{{ end }}.
- apiGroups: [""]
  resources: [pods]
  verbs: {{ toJson $podVerbs }}
{{- if or .Values.podKill.enabled (include "chaosnight.nodeFaults" .) }}
# Pod kills with method: evict, and the evictions of node drains and zone
# outages (the Eviction API honours PodDisruptionBudgets).
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
{{- end }}
{{- if include "chaosnight.stressPod" . }}
# Pod-scope stress: add the stress ephemeral container ...
- apiGroups: [""]
  resources: [pods/ephemeralcontainers]
  verbs: [update]
# ... and stop it early on revert (chaosnight-stress stop through exec).
- apiGroups: [""]
  resources: [pods/exec]
  verbs: [create]
{{- end }}
# minHealthy: read the controller of each victim for its pod selector.
- apiGroups: [apps]
  resources: [replicasets, statefulsets, daemonsets]
  verbs: [get]
- apiGroups: [""]
  resources: [replicationcontrollers]
  verbs: [get]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get]
{{- if .Values.gate.rollouts }}
# The gate (gate.rollouts): no injection while a target's Deployment rolls
# out (its ReplicaSets, StatefulSets and DaemonSets are read above).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get]
{{- end }}
# A ChaosInjected Warning Event on every pod touched.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{/*
The runner's rights on the custom resources (customResources.enabled):
read Experiments and ChaosNights (informers list and watch them; get
re-reads one) and write their status through the status subresource. No
create, update, patch or delete of the objects themselves: the runner never
writes a spec or metadata, so a GitOps tool that applied them stays in sync.
*/}}
{{- define "chaosnight.customResourceRules" -}}
- apiGroups: [chaosnight.dev]
  resources: [experiments, chaosnights]
  verbs: [get, list, watch]
# The verdict, conditions and next run: the status subresource only.
- apiGroups: [chaosnight.dev]
  resources: [experiments/status, chaosnights/status]
  verbs: [update, patch]
{{- end }}

{{/* Checks that no template can express in the schema. */}}
{{- define "chaosnight.validate" -}}
{{- $v := .Values }}
{{- if and (gt (int $v.replicaCount) 1) (not $v.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: true (two runners without a leader would inject twice)" }}
{{- end }}
{{- if and $v.stress.enabled (not $v.stress.podScope) (not $v.stress.nodeScope) }}
{{- fail "stress.enabled needs stress.podScope or stress.nodeScope" }}
{{- end }}
{{- $tokens := 0 }}
{{- if $v.prometheus.bearerTokenSecret.name }}{{ $tokens = add1 $tokens }}{{ end }}
{{- if $v.prometheus.serviceAccountToken.enabled }}{{ $tokens = add1 $tokens }}{{ end }}
{{- if $v.prometheus.bearerTokenFile }}{{ $tokens = add1 $tokens }}{{ end }}
{{- if gt $tokens 1 }}
{{- fail "prometheus: set at most one of bearerTokenSecret.name, serviceAccountToken.enabled and bearerTokenFile" }}
{{- end }}
{{- $cas := 0 }}
{{- if $v.prometheus.ca.configMap }}{{ $cas = add1 $cas }}{{ end }}
{{- if $v.prometheus.ca.secret }}{{ $cas = add1 $cas }}{{ end }}
{{- if $v.prometheus.ca.file }}{{ $cas = add1 $cas }}{{ end }}
{{- if gt $cas 1 }}
{{- fail "prometheus.ca: set at most one of configMap, secret and file" }}
{{- end }}
{{- if and $v.persistence.enabled (not $v.persistence.existingClaim) (gt (int $v.replicaCount) 1) (not (has "ReadWriteMany" $v.persistence.accessModes)) }}
{{- fail "persistence with more than one replica needs accessModes: [ReadWriteMany] (both runners mount the journals), or replicaCount: 1" }}
{{- end }}
{{- $system := list "kube-system" "kube-public" "kube-node-lease" }}
{{- range $v.safety.allowSystemNamespaces }}
{{- if not (has . $system) }}
{{- fail (printf "safety.allowSystemNamespaces lists %s, which is not a system namespace (allowed: kube-system, kube-public, kube-node-lease)" .) }}
{{- end }}
{{- if has . $v.safety.excludeNamespaces }}
{{- fail (printf "safety.allowSystemNamespaces lists %s, which safety.excludeNamespaces denies: remove it from one of them" .) }}
{{- end }}
{{- end }}
{{- if eq $v.rbac.scope "namespaces" }}
{{- range $v.rbac.namespaces }}
{{- if has . $v.safety.excludeNamespaces }}
{{- fail (printf "rbac.namespaces lists %s, which safety.excludeNamespaces denies: the runner would hold rights it may never use" .) }}
{{- end }}
{{- if eq . $.Release.Namespace }}
{{- fail (printf "rbac.namespaces lists %s, the release namespace: chaosnight never targets its own namespace (the protection floor)" .) }}
{{- end }}
{{- if and (has . $system) (not (has . $v.safety.allowSystemNamespaces)) }}
{{- fail (printf "rbac.namespaces lists %s, a system namespace the protection floor denies: name it in safety.allowSystemNamespaces too, or remove it" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $files := dict }}
{{- range $name, $_ := $v.experiments }}
{{- $file := include "chaosnight.experimentFile" $name }}
{{- if hasKey $files $file }}
{{- fail (printf "experiments: %s and %s both become the file %s" (get $files $file) $name $file) }}
{{- end }}
{{- $_ := set $files $file $name }}
{{- end }}
{{- range $v.extraExperimentConfigMaps }}
{{- if eq . "values" }}
{{- fail "extraExperimentConfigMaps: the name \"values\" is reserved for the chart's own experiments directory" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The file name of an experiment of the experiments map. */}}
{{- define "chaosnight.experimentFile" -}}
{{- if or (hasSuffix ".yaml" .) (hasSuffix ".yml" .) }}{{ . }}{{ else }}{{ printf "%s.yaml" . }}{{ end }}
{{- end }}

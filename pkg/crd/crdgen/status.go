package crdgen

import apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

// The status schemas are written here rather than converted: status is
// the runner's output, not the user's input, and has no file form. It is
// written only through the status subresource (pkg/cr, server-side apply).

func str(desc string) apiextv1.JSONSchemaProps {
	return apiextv1.JSONSchemaProps{Type: "string", Description: desc}
}

func dateTime(desc string) apiextv1.JSONSchemaProps {
	return apiextv1.JSONSchemaProps{Type: "string", Format: "date-time", Description: desc}
}

// conditions is metav1.Condition's schema, as a list keyed by type so that
// server-side apply merges conditions of different owners.
func conditions() apiextv1.JSONSchemaProps {
	return apiextv1.JSONSchemaProps{
		Type:         "array",
		Description:  "Conditions with observedGeneration, designed for kubectl wait --for=condition=TYPE.",
		XListType:    ptr("map"),
		XListMapKeys: []string{"type"},
		Items: &apiextv1.JSONSchemaPropsOrArray{Schema: &apiextv1.JSONSchemaProps{
			Type:     "object",
			Required: []string{"type", "status", "lastTransitionTime", "reason", "message"},
			Properties: map[string]apiextv1.JSONSchemaProps{
				"type":               {Type: "string", MaxLength: ptr(int64(316)), Pattern: `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`},
				"status":             {Type: "string", Enum: []apiextv1.JSON{{Raw: []byte(`"True"`)}, {Raw: []byte(`"False"`)}, {Raw: []byte(`"Unknown"`)}}},
				"observedGeneration": {Type: "integer", Format: "int64", Minimum: ptr(0.0)},
				"lastTransitionTime": {Type: "string", Format: "date-time"},
				"reason":             {Type: "string", MaxLength: ptr(int64(1024)), MinLength: ptr(int64(1)), Pattern: `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`},
				"message":            {Type: "string", MaxLength: ptr(int64(32768))},
			},
		}},
	}
}

func experimentStatus(verdicts []string) *apiextv1.JSONSchemaProps {
	return &apiextv1.JSONSchemaProps{
		Type:        "object",
		Description: "Written by the runner through the status subresource only.",
		Properties: map[string]apiextv1.JSONSchemaProps{
			"observedGeneration": {Type: "integer", Format: "int64", Description: "The generation of the spec the status describes."},
			"conditions":         conditions(),
			"lastRun": {
				Type:        "object",
				Description: "The last run of the experiment, as its journal records it.",
				Properties: map[string]apiextv1.JSONSchemaProps{
					"id":       str("The run's id (its journal's name)."),
					"verdict":  {Type: "string", Description: "The run's verdict.", Enum: enum(verdicts...)},
					"started":  dateTime("When the run started."),
					"finished": dateTime("When the run finished."),
					"reasons": {Type: "array", Description: "Why the verdict is what it is.",
						Items: &apiextv1.JSONSchemaPropsOrArray{Schema: ptr(str(""))}},
					"targets":    {Type: "integer", Description: "How many targets were injected.", Minimum: ptr(0.0)},
					"journal":    str("The run's journal (file or URL)."),
					"reportURL":  str("The run's report on the runner's page."),
					"ttdSeconds": {Type: "number", Description: "Time to detect, in seconds (spec.detect).", Minimum: ptr(0.0)},
					"ttrSeconds": {Type: "number", Description: "Time to recover, in seconds.", Minimum: ptr(0.0)},
				},
			},
			"nextRun": dateTime("The next planned window that may play the experiment."),
		},
	}
}

func chaosNightStatus() *apiextv1.JSONSchemaProps {
	return &apiextv1.JSONSchemaProps{
		Type:        "object",
		Description: "Written by the runner through the status subresource only.",
		Properties: map[string]apiextv1.JSONSchemaProps{
			"observedGeneration": {Type: "integer", Format: "int64", Description: "The generation of the spec the status describes."},
			"conditions":         conditions(),
			"nextOpens":          dateTime("When the night's next window opens."),
			"lastWindow": {
				Type:        "object",
				Description: "The night's last window.",
				Properties: map[string]apiextv1.JSONSchemaProps{
					"opened":  dateTime("When it opened."),
					"closed":  dateTime("When it closed (absent while open)."),
					"played":  {Type: "integer", Description: "Experiments played.", Minimum: ptr(0.0)},
					"planned": {Type: "array", Description: "The experiments of the window's plan, in order.", Items: &apiextv1.JSONSchemaPropsOrArray{Schema: ptr(str(""))}},
				},
			},
		},
	}
}

func enum(values ...string) []apiextv1.JSON {
	out := make([]apiextv1.JSON, 0, len(values))
	for _, v := range values {
		out = append(out, apiextv1.JSON{Raw: []byte(`"` + v + `"`)})
	}
	return out
}

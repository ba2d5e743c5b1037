// Package k8sevent builds and writes the Kubernetes Events chaosnight leaves
// on what it touches (the Guard, on every pod it changed) and on its own
// runner (the verdicts of a night), so both follow the same rules: the
// message fits the API server's limit without a cut UTF-8 character, and a
// write is attempted even when the caller's context has just been
// cancelled, because the fault it records has already happened.
package k8sevent

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// MaxMessage is the API server's limit on an Event's message, in bytes.
const MaxMessage = 1024

// Spec is one Event.
type Spec struct {
	Object corev1.ObjectReference
	// Name, when set, is the Event's name; otherwise it is generated from
	// the object's name.
	Name        string
	Type        string // corev1.EventTypeNormal or EventTypeWarning
	Reason      string
	Action      string
	Message     string
	Component   string // the source and the reporting controller
	At          time.Time
	Labels      map[string]string
	Annotations map[string]string
}

// New builds the Event of s, its message capped by Message.
func New(s Spec) *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.Name,
			Namespace:   s.Object.Namespace,
			Labels:      s.Labels,
			Annotations: s.Annotations,
		},
		InvolvedObject:      s.Object,
		Type:                s.Type,
		Reason:              s.Reason,
		Action:              s.Action,
		Message:             Message(s.Message),
		Source:              corev1.EventSource{Component: s.Component},
		ReportingController: s.Component,
		FirstTimestamp:      metav1.NewTime(s.At),
		LastTimestamp:       metav1.NewTime(s.At),
		Count:               1,
	}
	if s.Name == "" {
		ev.GenerateName = s.Object.Name + "."
	}
	return ev
}

// Message caps msg at MaxMessage bytes, ending with "..." when cut, and
// never in the middle of a UTF-8 character (a cut one would make the API
// server refuse the Event or store garbage).
func Message(msg string) string {
	if len(msg) <= MaxMessage {
		return msg
	}
	const ellipsis = "..."
	cut := MaxMessage - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + ellipsis
}

// Create writes ev within timeout, also when ctx is already cancelled (a
// SIGTERM, a window's end): what it records has happened either way.
func Create(ctx context.Context, c kubernetes.Interface, ev *corev1.Event, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := c.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create event %s on %s %s/%s: %w", ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Namespace, ev.InvolvedObject.Name, err)
	}
	return nil
}

package k8sevent

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int // length in bytes of the result
	}{
		{"short stays", "held", 4},
		{"exactly the limit stays", strings.Repeat("a", MaxMessage), MaxMessage},
		{"ascii is cut to the limit", strings.Repeat("a", MaxMessage+10), MaxMessage},
		// "é" is 2 bytes starting at even offsets: a cut at 1021 would fall
		// inside one, so it goes back one byte.
		{"a character is never cut", strings.Repeat("é", 600), MaxMessage - 1},
		{"4-byte characters", strings.Repeat("😀", 300), 1020 + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Message(tt.in)
			if len(got) != tt.want || !utf8.ValidString(got) {
				t.Fatalf("len %d (valid UTF-8: %v), want %d", len(got), utf8.ValidString(got), tt.want)
			}
			if len(tt.in) > MaxMessage && !strings.HasSuffix(got, "...") {
				t.Errorf("a cut message must say so: %q", got[len(got)-10:])
			}
		})
	}
}

func TestNewAndCreate(t *testing.T) {
	at := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	obj := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "checkout-1"}
	ev := New(Spec{Object: obj, Type: corev1.EventTypeWarning, Reason: "ChaosInjected", Message: strings.Repeat("x", 2000), Component: "chaosnight", At: at})
	if ev.GenerateName != "checkout-1." || ev.Name != "" || ev.Namespace != "shop" || len(ev.Message) != MaxMessage || !ev.FirstTimestamp.Time.Equal(at) {
		t.Errorf("event %+v", ev.ObjectMeta)
	}
	if named := New(Spec{Object: obj, Name: "checkout-1.abc"}); named.GenerateName != "" || named.Name != "checkout-1.abc" {
		t.Errorf("named event %+v", named.ObjectMeta)
	}
	// Written although the caller's context is already cancelled.
	c := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev.Name = "checkout-1.1" // the fake clientset does not generate names
	if err := Create(ctx, c, ev, time.Second); err != nil {
		t.Fatal(err)
	}
	list, err := c.CoreV1().Events("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("events %v, %v", list, err)
	}
}

package target

import (
	"context"
	"errors"
	"strconv"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPagedRestartsOnlyOnExpiredContinue: Paged follows continue tokens,
// restarts from the first page once (after reset) on an expired token,
// returns a second expiry, and never restarts on another error.
func TestPagedRestartsOnlyOnExpiredContinue(t *testing.T) {
	expired := apierrors.NewResourceExpired("The provided continue parameter is too old")
	unavailable := apierrors.NewServiceUnavailable("etcd")
	tests := []struct {
		name string
		// fail answers the n-th request (from 0) with an error, or nil.
		fail     map[int]error
		requests int
		resets   int
		items    int // items kept at the end: 3 pages of 2
		wantErr  func(error) bool
	}{
		{name: "no error", requests: 3, items: 6},
		{name: "expired once: restarted", fail: map[int]error{1: expired}, requests: 2 + 3, resets: 1, items: 6},
		{name: "expired twice: returned", fail: map[int]error{1: expired, 3: expired}, requests: 2 + 2, resets: 1, wantErr: apierrors.IsResourceExpired},
		{name: "other error: not restarted", fail: map[int]error{1: unavailable}, requests: 2, wantErr: apierrors.IsServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var items []string
			sent, resets := 0, 0
			var limits []int64
			n, err := Paged(context.Background(), metav1.ListOptions{}, func() { resets++; items = items[:0] },
				func(_ context.Context, opts metav1.ListOptions) (string, error) {
					i := sent
					sent++
					limits = append(limits, opts.Limit)
					if err := tt.fail[i]; err != nil {
						return "", err
					}
					page := 0
					if opts.Continue != "" {
						page, _ = strconv.Atoi(opts.Continue)
					}
					items = append(items, strconv.Itoa(2*page), strconv.Itoa(2*page+1))
					if page == 2 {
						return "", nil
					}
					return strconv.Itoa(page + 1), nil
				})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatal(err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("error %v, not the expected kind", err)
			}
			if n != tt.requests || sent != tt.requests || resets != tt.resets {
				t.Errorf("%d requests counted, %d sent, %d resets; want %d, %d, %d", n, sent, resets, tt.requests, tt.requests, tt.resets)
			}
			if tt.wantErr == nil && len(items) != tt.items {
				t.Errorf("items %q, want %d: a page was kept twice or lost", items, tt.items)
			}
			for _, l := range limits {
				if l != DefaultSelectPageSize {
					t.Errorf("limit %d, want the default %d", l, DefaultSelectPageSize)
				}
			}
		})
	}
	if _, err := Paged(context.Background(), metav1.ListOptions{}, nil, nil); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("nil list function: %v, want an error", err)
	}
}

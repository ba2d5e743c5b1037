package podkill

import "testing"

func TestAccess(t *testing.T) {
	tests := []struct{ method, want string }{
		{"", "create pods/eviction"},
		{"evict", "create pods/eviction"},
		{"delete", "delete pods"},
	}
	for _, tt := range tests {
		got := Access(tt.method, "shop")
		if len(got) != 1 || got[0].String() != tt.want || got[0].Namespace != "shop" {
			t.Errorf("method %q: %+v, want %s in shop", tt.method, got, tt.want)
		}
	}
}

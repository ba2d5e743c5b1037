package main

import (
	"slices"
	"strings"
	"testing"
)

// parseLdd keeps the files a binary needs: resolved libraries and the
// loader, not the vDSO; a missing library is an error.
func TestParseLdd(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr string
	}{
		{
			name: "Debian's stress-ng",
			out: "\tlinux-vdso.so.1 (0x00007ffd4b3f2000)\n" +
				"\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fcd4fbf7000)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fcd4ec1e000)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007fcd50e2b000)\n",
			want: []string{"/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"},
		},
		{name: "static", out: "\tnot a dynamic executable\n", want: nil},
		{name: "missing library", out: "\tlibJudy.so.1 => not found\n", wantErr: "libJudy.so.1 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLdd(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

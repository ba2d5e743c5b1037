// Package sandboxstart measures warm sandbox starts for BENCHMARKS.md:
//
//	bash bench/sandbox-start.sh 5
//
// It has no tests, only a benchmark, so `go test ./...` does not start a
// sandbox here.
package sandboxstart

import (
	"context"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

func BenchmarkSandboxStart(b *testing.B) {
	for _, seed := range []bool{false, true} {
		name := "bare"
		if seed {
			name = "seeded"
		}
		b.Run(name, func(b *testing.B) {
			var api, prom, stop time.Duration
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				s, err := sandbox.Start(ctx, sandbox.Config{SeedWorkload: seed})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
				stop += time.Since(t0)
				api += s.Timings.APIReady
				prom += s.Timings.PrometheusReady
				b.Logf("start %s run %d: api ready %.2fs, nodes %.2fs, workload %.2fs, prometheus answering %.2fs; stop %.2fs",
					name, i+1, s.Timings.APIReady.Seconds(), s.Timings.NodesReady.Seconds(), s.Timings.WorkloadReady.Seconds(),
					s.Timings.PrometheusReady.Seconds(), time.Since(t0).Seconds())
			}
			n := float64(b.N)
			b.ReportMetric(api.Seconds()/n, "s-api-ready/op")
			b.ReportMetric(prom.Seconds()/n, "s-prom-answering/op")
			b.ReportMetric(stop.Seconds()/n, "s-stop/op")
		})
	}
}

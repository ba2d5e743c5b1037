// Command memhog allocates and touches memory without asking how much it
// may: the real node's tests use it to go past a container's memory limit
// and be OOM-killed, which chaosnight-stress, checking the cgroup first,
// refuses to do. It ships in the sandbox's StressImage as /memhog.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	mib := flag.Int("mib", 128, "MiB to allocate and touch, one at a time")
	hold := flag.Duration("hold", time.Minute, "how long to hold the memory before exiting")
	flag.Parse()
	chunks := make([][]byte, 0, *mib)
	for i := range *mib {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1 // resident, not just reserved
		}
		chunks = append(chunks, b)
		if (i+1)%16 == 0 {
			fmt.Printf("memhog: %d MiB resident\n", i+1)
		}
	}
	fmt.Printf("memhog: holding %d MiB\n", len(chunks))
	time.Sleep(*hold)
	os.Exit(0)
}

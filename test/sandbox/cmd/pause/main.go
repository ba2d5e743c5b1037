// Command pause is the real node's pod sandbox process (the "pause"
// container holding a pod's namespaces). Images cannot be pulled in the
// sandbox, so the sandbox builds this into a local image (realnode_image.go)
// instead of using registry.k8s.io/pause. It waits for SIGTERM or SIGINT and
// reaps any zombie it inherits as PID 1 of a pod sharing its PID namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

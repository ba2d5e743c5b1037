package sandbox

import (
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestAddReadyDelay(t *testing.T) {
	in := "---\n# kustomize/stage/pod/fast/pod-create.yaml\nspec:\n  next:\n    x: 1\n---\n" + podReadyMarker + "\nspec:\n  selector: {}\n  next:\n    statusTemplate: y\n"
	out, err := addReadyDelay(in)
	if err != nil {
		t.Fatal(err)
	}
	ready := out[strings.Index(out, podReadyMarker):]
	if !strings.Contains(ready, "  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '.metadata.annotations[\""+ReadyDelayAnnotation+"\"]'\n  next:\n") {
		t.Errorf("delay not added before pod-ready's next:\n%s", out)
	}
	if strings.Count(out, "delay:") != 1 {
		t.Errorf("delay added more than once:\n%s", out)
	}
	if _, err := addReadyDelay("no stages here"); err == nil {
		t.Error("missing pod-ready stage not reported")
	}
}

// TestChildrenOutliveExitingThreads: a goroutine that exits while locked
// to its OS thread ends that thread (the stressor's CPU workers do, and
// tests run them in-process). The sandbox's children are forked from the
// forker's own thread, so their parent-death signal does not fire even when
// the goroutine that asked for the child was on such a thread.
func TestChildrenOutliveExitingThreads(t *testing.T) {
	// Keep this goroutine's thread to itself, so that the goroutine below
	// runs on another one (the main thread, which the runtime never ends,
	// would prove nothing).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := newForker()
	dir := t.TempDir()
	var p *process
	var err error
	for attempt := 0; p == nil && err == nil; attempt++ {
		if attempt == 100 {
			t.Fatal("no goroutine ran on a thread other than the main one")
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			if syscall.Gettid() == syscall.Getpid() {
				// The main thread is never ended (the runtime parks it),
				// so it would prove nothing: try on another thread.
				runtime.UnlockOSThread()
				return
			}
			// Never unlocked: this thread ends with the goroutine.
			p, err = startProcess(f, dir, "sleeper", "sleep", []string{"60"}, nil)
		}()
		<-done
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = p.stop(time.Second)
		f.close()
	}()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { runtime.LockOSThread() }) // more threads that end
	}
	wg.Wait()
	time.Sleep(300 * time.Millisecond) // a parent-death signal would be delivered by now
	if p.exited() {
		t.Fatalf("the child died with the thread that asked for it: %v", p.waitErr)
	}
	if err := syscall.Kill(p.pid(), 0); err != nil {
		t.Fatalf("the child is gone: %v", err)
	}
}

package stressor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// memoryStress maps anonymous memory and writes to every page, so the
// kernel really backs it and the resident size grows by the requested
// amount, then holds it until Stop unmaps it.
//
// The mapping is outside the Go heap on purpose: the garbage collector
// neither scans it nor counts it towards GOGC (a heap slice of 1 GiB would
// let the heap grow to 2 GiB before the next collection), and munmap
// returns it to the kernel at once instead of whenever the scavenger runs.
type memoryStress struct {
	size int64
	log  func(format string, args ...any)
	now  func() time.Time

	start    time.Time // when Run began; the time to resident counts from it
	mem      []byte
	baseline int64 // process RSS before the mapping
	reached  time.Duration
	resident int64 // process RSS when every page was written
}

// touchChunk is how much is made resident between two looks at ctx, so a
// signal during a multi-GiB allocation is answered within milliseconds.
const touchChunk = 64 << 20

func newMemoryStress(cfg Config, start time.Time, log func(string, ...any)) *memoryStress {
	return &memoryStress{size: cfg.Memory, log: log, start: start, now: time.Now}
}

func (s *memoryStress) Name() string { return "memory" }

// Start maps and touches the memory; it returns when all of it is
// resident, or early with ctx's error.
func (s *memoryStress) Start(ctx context.Context) error {
	page := int64(os.Getpagesize())
	size := (s.size + page - 1) / page * page
	s.baseline, _ = residentBytes()
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("map %s of memory: %w", FormatBytes(size), err)
	}
	s.mem = mem
	populate := true
	for off := int64(0); off < size; off += touchChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := mem[off:min(off+touchChunk, size)]
		// MADV_POPULATE_WRITE (Linux 5.14) faults the whole chunk in with
		// one system call and reports failure as an error rather than a
		// SIGBUS; older kernels answer EINVAL and the loop below does the
		// faulting instead.
		if populate {
			if err := unix.Madvise(chunk, unix.MADV_POPULATE_WRITE); err != nil {
				if !errors.Is(err, unix.EINVAL) {
					return fmt.Errorf("make %s of memory resident: %w", FormatBytes(size), err)
				}
				populate = false
			}
		}
		// Write every page (cheap once populated): a page that was only
		// read would be the shared zero page and not count as resident.
		for i := int64(0); i < int64(len(chunk)); i += page {
			chunk[i] = 0xA5
		}
	}
	s.reached = s.now().Sub(s.start)
	s.resident, _ = residentBytes()
	s.log("memory: %s resident after %.3fs (process RSS %s)", FormatBytes(size), s.reached.Seconds(), FormatBytes(s.resident))
	return nil
}

// Stop records what was achieved, including the RSS just before the
// memory is released (which shows the resident size stayed, not only that
// it was reached), then unmaps it; the kernel frees it at once.
func (s *memoryStress) Stop(r *Report) error {
	mr := &MemoryReport{
		RequestedBytes:        s.size,
		BaselineResidentBytes: s.baseline,
		ResidentBytes:         s.resident,
	}
	if s.resident > 0 {
		mr.SecondsToResident = round3(s.reached.Seconds())
		mr.ResidentAtEndBytes, _ = residentBytes()
	}
	mr.PeakResidentBytes, _ = peakResidentBytes()
	r.Memory = mr
	if s.mem != nil {
		err := unix.Munmap(s.mem)
		s.mem = nil
		if err != nil {
			return fmt.Errorf("unmap memory: %w", err)
		}
	}
	return nil
}

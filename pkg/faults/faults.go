// Package faults lists the fault kinds of the chaosnight program: one line
// per kind. Adding a kind is writing its package under pkg/inject and
// adding it here (README, "Add a fault kind").
package faults

import (
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/inject/zoneoutage"
)

// New returns the registry of every fault kind chaosnight runs.
func New() (*inject.Registry, error) {
	return inject.NewRegistry(
		podkill.Fault{},
		stress.Fault{},
		nodedrain.Fault{},
		zoneoutage.Fault{},
	)
}

// Must is New for programs and tests: a registry that cannot be built is a
// programming error (two kinds with one name), caught by this package's
// tests.
func Must() *inject.Registry {
	r, err := New()
	if err != nil {
		panic(err)
	}
	return r
}

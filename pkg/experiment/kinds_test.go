package experiment_test

import "github.com/chaosnight/chaosnight/pkg/faults"

// kinds is the program's registry: the fixtures use every fault kind.
var kinds = faults.Must().Formats()

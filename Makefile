# chaosnight — build, test and demo targets. `make help` lists them.
GO      ?= go
BIN     ?= bin/chaosnight
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Integration tests start a real control plane per package; keep the whole
# suite far below CI's limit but never let one hang forever.
TEST_TIMEOUT ?= 25m

.PHONY: help build test test-deps unit lint fmt vet golangci-lint validate-examples schema demo chart-test image image-archive bundle runner-on-realnode

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/chaosnight (with version information) and bin/chaosnight-stress
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/chaosnight
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(dir $(BIN))chaosnight-stress ./cmd/chaosnight-stress

test: test-deps lint build validate-examples ## run every test (unit, fuzz seeds, integration against the sandbox)
	@# CHAOSNIGHT_SANDBOX=require: a sandbox that cannot start fails the
	@# packages that need it, with the reason and the command that fixes it
	@# (make unit is the explicit way to run without one).
	CHAOSNIGHT_SANDBOX=require $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-deps: ## install or build what the tests need (hack/ci-deps.sh: sandbox binaries, Prometheus, chromium as root)
	@bash hack/ci-deps.sh

unit: ## run only the tests that need no sandbox
	CHAOSNIGHT_SANDBOX=off $(GO) test -count=1 ./...

lint: fmt vet golangci-lint ## gofmt, go vet and golangci-lint (.golangci.yml; docs/lint.md)

fmt:
	@out=$$(gofmt -l cmd pkg test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The pinned golangci-lint (hack/tools/golangci-lint) is built from the Go
# module proxy into ~/.cache/chaosnight/tools on first use (~2 min on 2 cores),
# then reused; the sandbox command builds and runs it (docs/lint.md).
golangci-lint: ## golangci-lint alone (built into ~/.cache/chaosnight/tools on first use)
	$(GO) run ./test/sandbox/cmd/sandbox golangci-lint run ./...

validate-examples: build ## every file in experiments/ must be valid
	$(BIN) validate experiments/

schema: build ## regenerate experiments/experiment.schema.json and the CRDs in charts/chaosnight/crds
	$(BIN) schema > experiments/experiment.schema.json
	CHAOSNIGHT_SANDBOX=off $(GO) test -count=1 -run TestCRDsAreGenerated ./pkg/crd/crdgen/ -update

chart-test: ## lint and render the Helm chart and check its RBAC against the sandbox
	$(GO) test -count=1 ./test/chart/

image: ## build the container image (needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t ghcr.io/chaosnight/chaosnight:$(VERSION) .

# Both build the linux binaries as the Dockerfile does, whatever the host
# OS, for IMAGE_ARCH (default this machine's): make bundle IMAGE_ARCH=arm64.
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
image-archive: ## write the image as an OCI archive without a Docker engine: bin/chaosnight-image.oci.tar (hack/image)
	@mkdir -p bin
	$(GO) run ./hack/image/cmd/imagearchive -version $(VERSION) -commit $(COMMIT) -arch $(IMAGE_ARCH) -o bin/chaosnight-image.oci.tar

bundle: ## offline bundle for air-gapped clusters: dist/chaosnight-bundle-VERSION/ and its .tar.gz (docs/airgapped.md)
	$(GO) run ./hack/bundle/cmd/bundle -version $(VERSION) -commit $(COMMIT) -arch $(IMAGE_ARCH) -o dist

# The in-cluster runner on the sandbox's real node, step by step in the log:
# the bundle's image and chart installed with Helm's SDK, two replicas, a
# night, the leader deleted mid-stress, pause, upgrade, uninstall (~3 min warm,
# root; test/realnode/runner_test.go). The sandbox goes away at the end.
runner-on-realnode: ## watch the chart's runner play a night in pods on the sandbox's real node (root)
	CHAOSNIGHT_SANDBOX=require $(GO) test -count=1 -timeout 15m -run TestChartRunnerOnRealNode -v ./test/realnode/

-include hack/sandbox.mk

demo: ## run the example chaos night against the sandbox: one experiment holds, one deviates
	@bash hack/demo.sh

.PHONY: bench-plan bench-servescale

bench-plan: ## bench/plan: dry runs and kills at 1,000 and 10,000 pods (CHAOSKUBE=path/to/chaoskube adds chaoskube in the same runs; ~5 min)
	$(GO) run ./bench/plan -runs 5 $(if $(CHAOSKUBE),-chaoskube $(CHAOSKUBE))

bench-servescale: ## bench/servescale: serve plays a night of 20 kills among 10,000 pods with 100 experiments loaded (~6 min)
	$(GO) run ./bench/servescale

.PHONY: safety-soak

safety-soak: ## the blast-radius property test at full size: SAFETY_RUNS seeded cases (default 1000) against the sandbox (~25 min; docs/safety-property.md)
	CHAOSNIGHT_SANDBOX=require CHAOSNIGHT_SAFETY_RUNS=$(or $(SAFETY_RUNS),1000) $(GO) test -count=1 -timeout 120m -run 'TestBlastRadius$$' -v ./test/safety/

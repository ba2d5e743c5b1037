# Sandbox targets (included by the top-level Makefile). docs/sandbox.md explains them.
GO ?= go
SANDBOX_STATE ?= .sandbox
SANDBOX_CMD   ?= $(SANDBOX_STATE)/bin/sandbox
# The real node runs only as root: elsewhere its binaries are not built.
SANDBOX_TOOLS_FLAGS ?= $(if $(filter 0,$(shell id -u)),-realnode,)
# Extra flags of `sandbox up`, e.g. -realnode=false (what make demo does
# without root, on purpose).
SANDBOX_UP_FLAGS ?=
# How long sandbox-up waits for "ready" (a warm start takes seconds; the
# first `go build` of the command itself takes longer).
SANDBOX_UP_TIMEOUT ?= 180

.PHONY: sandbox-tools sandbox-up sandbox-down sandbox-cmd

sandbox-tools: ## build the control plane, etcd, kwok, Prometheus and the real node's kubelet and containerd into the cache (once, ~12 min cold)
	$(GO) run ./test/sandbox/cmd/sandbox tools $(SANDBOX_TOOLS_FLAGS)

sandbox-cmd:
	@mkdir -p $(SANDBOX_STATE)/bin
	$(GO) build -o $(SANDBOX_CMD) ./test/sandbox/cmd/sandbox

sandbox-up: sandbox-tools sandbox-cmd ## start a sandbox in the background; writes and prints .sandbox/env
	@if [ -f $(SANDBOX_STATE)/pid ] && kill -0 $$(cat $(SANDBOX_STATE)/pid) 2>/dev/null; then \
	  echo "sandbox already running (pid $$(cat $(SANDBOX_STATE)/pid)):"; cat $(SANDBOX_STATE)/env; exit 0; fi
	@rm -f $(SANDBOX_STATE)/env
	@nohup $(SANDBOX_CMD) up -state $(SANDBOX_STATE) $(SANDBOX_UP_FLAGS) > $(SANDBOX_STATE)/up.log 2>&1 & \
	  pid=$$!; i=0; \
	  while [ ! -f $(SANDBOX_STATE)/env ]; do \
	    if ! kill -0 $$pid 2>/dev/null; then echo "sandbox-up failed; $(SANDBOX_STATE)/up.log says:"; cat $(SANDBOX_STATE)/up.log; exit 1; fi; \
	    i=$$((i+1)); if [ $$i -gt $$(( $(SANDBOX_UP_TIMEOUT) * 10 )) ]; then echo "sandbox-up: not ready after $(SANDBOX_UP_TIMEOUT)s; $(SANDBOX_STATE)/up.log says:"; cat $(SANDBOX_STATE)/up.log; kill $$pid; exit 1; fi; \
	    sleep 0.1; \
	  done
	@cat $(SANDBOX_STATE)/env
	@echo "# load it with: . $(SANDBOX_STATE)/env    stop it with: make sandbox-down"

sandbox-down: ## stop the sandbox started by sandbox-up
	@if [ -x $(SANDBOX_CMD) ]; then $(SANDBOX_CMD) down -state $(SANDBOX_STATE); \
	  else $(GO) run ./test/sandbox/cmd/sandbox down -state $(SANDBOX_STATE); fi

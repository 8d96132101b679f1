# s3relay: `make run` serves everything on an embedded SQLite database;
# `make test` installs and starts what the tests need, then runs them all.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/s3relay
TEMPL    := $(GO) tool templ
VENDOR   := static/vendor
# Browser SDKs served to other sites' pages under /sdk/.
SDK      := static/sdk
# Generated files that are committed and must match their sources (make check).
# axe-core runs only inside the browser tests, which inject it into each page:
# it lives beside them, never in the binary's static files.
AXE      := web/testdata/axe.min.js web/testdata/axe-core.LICENSE
GENERATED := views $(VENDOR) $(SDK) $(AXE) package-lock.json

.PHONY: run run-cluster build generate assets test test-deps fuzz race bench lint check clean

run: build
	./$(BIN) serve

# A throw-away PostgreSQL and three replicas on it, ports printed; Ctrl-C
# stops everything (see "Running several replicas" in README.md).
run-cluster: build
	BIN=$(BIN) .ci/run-cluster

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/s3relay

generate: assets
	$(TEMPL) generate -path views

# Third-party front-end files come from npm at the versions pinned in
# package-lock.json; the copies in static/vendor are committed so that a plain
# `go build` works without Node.js.
assets: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/pico.min.css
	rm -rf $(SDK)
	mkdir -p $(SDK)/analytics-next/bundles $(SDK)/rudderstack
	cp node_modules/@segment/analytics-next/dist/umd/index.js $(SDK)/analytics-next/index.js
	cp node_modules/@segment/analytics-next/LICENSE.MD $(SDK)/analytics-next/LICENSE.md
	cp node_modules/@segment/analytics-next/dist/umd/*.bundle.*.js $(SDK)/analytics-next/bundles/
	cp node_modules/@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js $(SDK)/rudderstack/index.js
	cp node_modules/@rudderstack/analytics-js/LICENSE.md $(SDK)/rudderstack/LICENSE.md
	cp node_modules/axe-core/axe.min.js web/testdata/axe.min.js
	cp node_modules/axe-core/LICENSE web/testdata/axe-core.LICENSE

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

test-deps:
	.ci/testdeps

# Fuzz targets run on every `make test` with a count budget each (the
# `//fuzz:budget Nx` line above the target; 20000x when it has none), sized to
# about 10 s on a 2-core VM. Counts, not durations: Go's fuzz coordinator can
# end a duration budget with "context deadline exceeded" (golang/go#75804).
# Run longer by hand with FUZZTIME=5m make fuzz (or FUZZTIME=1000000x).
FUZZTIME ?=
fuzz:
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		pkg=$$(dirname $$file); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' $$file); do \
			budget=$(FUZZTIME); \
			if [ -z "$$budget" ]; then \
				budget=$$(grep -B1 "^func $$target(" $$file | sed -n 's,^//fuzz:budget \([0-9][0-9]*x\)$$,\1,p'); \
			fi; \
			echo "fuzz $$pkg $$target $${budget:=20000x}"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $$budget $$pkg; \
		done; \
	done

# The race detector over the packages with concurrency of their own.
race:
	$(GO) test -race -count=1 -timeout 15m ./store/... ./web/... ./delivery/...

test: test-deps lint
	$(GO) test -count=1 -timeout 12m ./...
	$(MAKE) fuzz
	.ci/check-stale-test

# Micro-benchmarks run the usual way; the end-to-end ones (ingestion over
# HTTP, the binary against MinIO, the 1,000,000-event backlog) once each, as
# each measures a whole run.
bench: test-deps
	$(GO) test -run '^$$' -bench . ./delivery/match/ ./delivery/format/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./web/ ./cmd/s3relay/

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go') ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for f in $$(git ls-files '*.templ'); do $(TEMPL) fmt -stdout $$f 2>/dev/null | cmp -s - $$f || { echo "templ fmt needed: $$f"; exit 1; }; done

check: lint generate
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated files are stale: run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); if [ -n "$$untracked" ]; then echo "generated files not committed:"; echo "$$untracked"; exit 1; fi

clean:
	rm -rf bin node_modules coverage.out

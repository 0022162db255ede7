# dcres: build, test, and run labs. `make test` is what CI runs.
GO        ?= go
BIN       := bin/dcres
GUEST_DIR := build/guest
PROFILE   ?= profiles/lab-local.yaml

.PHONY: all build lab run guest test check unit integration fuzz bench faults clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/dcres

# The local lab on the embedded default profile, with the console on a terminal.
lab: build
	$(BIN) lab $(PROFILE)

run: build
	$(BIN) run $(PROFILE)

# The verifying QEMU guest: kernel and initramfs under build/guest (cached).
guest:
	sh guest/image/build.sh $(GUEST_DIR)

# The whole suite: static checks, unit tests under the race detector, the
# integration tests (real processes, SSH, QEMU, FUSE, namespaces), short fuzzing.
test: check unit integration fuzz

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -short -count=1 ./...

# One package at a time: the fault rows and the QEMU tests measure against
# deadlines, and two packages' labs on 2 cores would starve each other.
integration:
	$(GO) test -p 1 -count=1 -timeout 45m -run 'Integration|E2E' ./...

FUZZTIME ?= 2000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzOpenPiece$$' -fuzztime $(FUZZTIME) ./ckpt
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeManifest$$' -fuzztime $(FUZZTIME) ./ckpt
	$(GO) test -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME) ./rpc
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./profiles
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./recordings

bench: build
	$(BIN) bench $(PROFILE)
	$(GO) test -run '^$$' -bench . -benchtime 3x ./ckpt ./pager

clean:
	rm -rf bin build

# The fault matrix: every row run for real, the table written to docs/faults.md.
faults:
	$(GO) test -count=1 -timeout 10m -run IntegrationFault ./faults -args -faults.doc=$(CURDIR)/docs/faults.md

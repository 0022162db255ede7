package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

func newTestClient(t *testing.T) (*client, *fakeMon) {
	t.Helper()
	mon := newFakeMon()
	c, err := newClient(mon, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c, mon
}

func TestStatusDecodes(t *testing.T) {
	c, mon := newTestClient(t)
	mon.reply("query-status", `{"status":"postmigrate","running":false}`)
	st, err := c.status(context.Background())
	if err != nil || st != "postmigrate" {
		t.Fatalf("status = %q, %v", st, err)
	}
}

func TestQMPErrorNamesTheCommand(t *testing.T) {
	c, _ := newTestClient(t)
	err := c.simple(context.Background(), "cont")
	if err == nil || !strings.Contains(err.Error(), "qmp cont") || !strings.Contains(err.Error(), "has not been found") {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeoutBreaksTheConnection(t *testing.T) {
	c, mon := newTestClient(t)
	c.timeout = 50 * time.Millisecond
	mon.on("stop", func(json.RawMessage) (string, error) { <-mon.gone; return "", nil })
	start := time.Now()
	err := c.simple(context.Background(), "stop")
	if err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Fatalf("err = %v, want a no-reply error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	mon.reply("query-status", `{"status":"running"}`)
	if _, err := c.status(context.Background()); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("call after a timeout: err = %v, want connection unusable", err)
	}
}

func TestEventsAreDrained(t *testing.T) {
	_, mon := newTestClient(t)
	// The fake's event channel is unbuffered, like go-qemu's: each send
	// returns only once the client took it.
	for i := 0; i < 100; i++ {
		select {
		case mon.events <- qmp.Event{Event: "MIGRATION_PASS"}:
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d not drained", i)
		}
	}
}

func TestWaitMigration(t *testing.T) {
	c, mon := newTestClient(t)
	n := 0
	mon.on("query-migrate", func(json.RawMessage) (string, error) {
		n++
		if n < 3 {
			return `{"status":"active"}`, nil
		}
		return `{"status":"completed","total-time":12}`, nil
	})
	if err := c.waitMigration(context.Background()); err != nil || n != 3 {
		t.Fatalf("waitMigration = %v after %d polls", err, n)
	}
	mon.reply("query-migrate", `{"status":"failed","error-desc":"Unable to write to file"}`)
	if err := c.waitMigration(context.Background()); err == nil || !strings.Contains(err.Error(), "Unable to write") {
		t.Fatalf("failed migration: err = %v", err)
	}
	mon.reply("query-migrate", `{"status":"active"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.waitMigration(ctx); err == nil || !strings.Contains(err.Error(), `still "active"`) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stuck migration: err = %v", err)
	}
	// Giving up on a migration is the caller's business: the connection
	// stays usable.
	if _, err := c.queryMigrate(context.Background()); err != nil {
		t.Fatalf("after a cancelled wait: %v", err)
	}
}

func TestCancelledCallStillTakesItsReply(t *testing.T) {
	c, mon := newTestClient(t)
	release := make(chan struct{})
	mon.on("stop", func(json.RawMessage) (string, error) { <-release; return "", nil })
	mon.reply("query-status", `{"status":"paused"}`)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
		time.Sleep(20 * time.Millisecond)
		close(release) // the reply comes after the caller gave up
	}()
	if err := c.simple(ctx, "stop"); err != nil {
		t.Fatalf("stop whose reply came late: %v", err)
	}
	if st, err := c.status(context.Background()); err != nil || st != "paused" {
		t.Fatalf("next call = %q, %v; the connection must stay in step", st, err)
	}
	if err := c.simple(ctx, "stop"); err == nil || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("call with a dead context: err = %v", err)
	}
}

func testVM(t *testing.T) (*VM, *fakeMon) {
	c, mon := newTestClient(t)
	mon.reply("migrate-set-capabilities", "")
	mon.reply("migrate-set-parameters", "")
	mon.reply("getfd", "")
	mon.reply("migrate", "")
	mon.reply("migrate-incoming", "")
	mon.reply("query-migrate", `{"status":"completed"}`)
	return &VM{qmp: c, exited: make(chan struct{})}, mon
}

func capsOf(t *testing.T, mon *fakeMon) map[string]bool {
	t.Helper()
	call, ok := mon.call("migrate-set-capabilities")
	if !ok {
		t.Fatal("no migrate-set-capabilities")
	}
	var a struct{ Capabilities []capability }
	if err := json.Unmarshal(call.Args, &a); err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, c := range a.Capabilities {
		m[c.Capability] = c.State
	}
	return m
}

func TestSaveDeviceStateSequence(t *testing.T) {
	vm, mon := testVM(t)
	path := filepath.Join(t.TempDir(), "dev")
	if err := vm.SaveDeviceState(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	want := []string{"migrate-set-capabilities", "migrate-set-parameters", "getfd", "migrate", "query-migrate"}
	if got := mon.names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
	if caps := capsOf(t, mon); !caps["x-ignore-shared"] || !caps["events"] {
		t.Fatalf("capabilities = %v, want x-ignore-shared and events on", caps)
	}
	if g, _ := mon.call("getfd"); !g.HasFile || !strings.Contains(string(g.Args), migFD) {
		t.Fatalf("getfd = %+v, want a file named %s", g, migFD)
	}
	if m, _ := mon.call("migrate"); !strings.Contains(string(m.Args), `"fd:`+migFD+`"`) {
		t.Fatalf("migrate args = %s", m.Args)
	}
	var p struct {
		MaxBandwidth int64 `json:"max-bandwidth"`
	}
	pc, _ := mon.call("migrate-set-parameters")
	json.Unmarshal(pc.Args, &p)
	if p.MaxBandwidth < 10<<30 {
		t.Fatalf("max-bandwidth = %d, want the cap lifted", p.MaxBandwidth)
	}
}

func TestSaveStreamKeepsRAM(t *testing.T) {
	vm, mon := testVM(t)
	if err := vm.SaveStream(context.Background(), filepath.Join(t.TempDir(), "s")); err != nil {
		t.Fatal(err)
	}
	if caps := capsOf(t, mon); caps["x-ignore-shared"] {
		t.Fatalf("stream with x-ignore-shared on: %v", caps)
	}
}

func TestLoadRefusesANonIncomingVM(t *testing.T) {
	vm, mon := testVM(t)
	mon.reply("query-status", `{"status":"running"}`)
	err := vm.LoadDeviceState(context.Background(), "unused")
	if err == nil || !strings.Contains(err.Error(), "Incoming") {
		t.Fatalf("err = %v, want advice to start with Incoming", err)
	}
	mon.reply("query-status", `{"status":"inmigrate"}`)
	if err := vm.LoadDeviceState(context.Background(), "/nonexistent/dev"); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestLoadDeviceStateSequence(t *testing.T) {
	vm, mon := testVM(t)
	mon.reply("query-status", `{"status":"inmigrate"}`)
	path := filepath.Join(t.TempDir(), "dev")
	if err := writeEmpty(path); err != nil {
		t.Fatal(err)
	}
	if err := vm.LoadDeviceState(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	want := []string{"query-status", "migrate-set-capabilities", "getfd", "migrate-incoming", "query-migrate"}
	if got := mon.names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands = %v, want %v", got, want)
	}
}

func TestCalcDirtyRate(t *testing.T) {
	c, mon := newTestClient(t)
	var mode string
	mon.on("calc-dirty-rate", func(a json.RawMessage) (string, error) {
		var v struct{ Mode string }
		json.Unmarshal(a, &v)
		mode = v.Mode
		return "", nil
	})
	mon.reply("query-dirty-rate", `{"status":"measured","dirty-rate":6}`)
	r, err := c.calcDirtyRate(context.Background(), 1)
	if err != nil || r != 6<<20 {
		t.Fatalf("rate = %v, %v; want 6 MiB/s", r, err)
	}
	if mode != "page-sampling" {
		t.Fatalf("mode %q: only page-sampling is safe under TCG", mode)
	}
	if _, err := c.calcDirtyRate(context.Background(), 0); err == nil {
		t.Fatal("0 s period accepted")
	}
}

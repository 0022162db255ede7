package tui

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"dcres/api"
)

func wantCalls(t *testing.T, f *fakeCtrl, want ...string) {
	t.Helper()
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("controller calls = %q, want %q", got, want)
	}
}

func TestKeysCheckpointKinds(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	drive(t, m, press("c"), press("l"), press("t"))
	wantCalls(t, f, "checkpoint dcres live=false", "checkpoint dcres live=true", "checkpoint traditional live=false")
	if !strings.Contains(frame(m), "checkpoint ck-9 done") {
		t.Errorf("the result is not on screen:\n%s", frame(m))
	}
}

func TestKeysRestorePreviewAndConfirm(t *testing.T) {
	m, f := scenarioModel(t, 120, 40, Options{})
	// r with nothing selected says what to do and calls nothing.
	drive(t, m, press("r"))
	wantCalls(t, f)
	if !strings.Contains(frame(m), "select a checkpoint first") {
		t.Errorf("no hint without a selection:\n%s", frame(m))
	}
	// Select ck-2 (up from none selects the newest, ck-3; up again ck-2),
	// open the picker, take the second option (single:h0).
	drive(t, m, press("up"), press("up"), press("r"))
	if got := frame(m); !strings.Contains(got, "Restore ck-2: where to?") || !strings.Contains(got, "single host: h0") {
		t.Fatalf("no placement picker:\n%s", got)
	}
	drive(t, m, press("down"), press("enter"))
	wantCalls(t, f, "restore ck-2 single:h0 plan=true")
	got := frame(m)
	for _, want := range []string{"Restore ck-2 with placement", "h2 → h1", "the restore replaces it", "[y/N]"} {
		if !strings.Contains(got, want) {
			t.Errorf("preview lacks %q:\n%s", want, got)
		}
	}
	// Enter is no over a running guest.
	drive(t, m, press("enter"))
	wantCalls(t, f, "restore ck-2 single:h0 plan=true")
	// Again, and y confirms.
	drive(t, m, press("r"), press("down"), press("enter"), press("y"))
	wantCalls(t, f, "restore ck-2 single:h0 plan=true", "restore ck-2 single:h0 plan=true", "restore ck-2 single:h0 plan=false")
}

func TestKeysDeleteConfirmDefaultsNo(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	drive(t, m, press("up"), press("d"), press("enter"))
	wantCalls(t, f)
	drive(t, m, press("d"), press("n"))
	wantCalls(t, f)
	drive(t, m, press("d"), press("y"))
	wantCalls(t, f, "delete ck-3")
}

func TestKeysVerifyGuestOrSelected(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	drive(t, m, press("v"), press("up"), press("v"))
	wantCalls(t, f, `verify ""`, `verify "ck-3"`)
}

func TestKeysHelpAndQuit(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	drive(t, m, press("?"))
	if !strings.Contains(frame(m), "dcres console keys") {
		t.Fatalf("? shows no help:\n%s", frame(m))
	}
	// q closes the help first, then quits.
	if drive(t, m, press("q")) {
		t.Fatal("q in the help overlay quit")
	}
	if !drive(t, m, press("q")) {
		t.Fatal("q did not quit")
	}
	wantCalls(t, f)
}

func TestQuitWhileRunningAsks(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	f.block = make(chan struct{})
	// Start the checkpoint without running its command: it is in flight.
	_, cmd := m.Update(press("c"))
	if cmd == nil || m.running != "checkpoint" {
		t.Fatal("c started nothing")
	}
	if drive(t, m, press("q")) {
		t.Fatal("q quit while an operation ran, without asking")
	}
	if !strings.Contains(frame(m), "Quit while checkpoint runs?") {
		t.Fatalf("no quit question:\n%s", frame(m))
	}
	drive(t, m, press("enter")) // default no
	if m.modal != nil || m.quitting {
		t.Fatal("enter did not answer no")
	}
	drive(t, m, press("q"), press("y"))
	if !m.quitting || m.ctx.Err() == nil {
		t.Fatal("yes did not cancel the operation")
	}
	// The cancelled checkpoint returns; its result ends the program.
	if !runCmd(t, m, cmd) {
		t.Fatal("the program did not quit after the operation stopped")
	}
}

func TestReadOnlyRefusesActions(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{ReadOnly: true})
	drive(t, m, press("up"), press("c"), press("l"), press("t"), press("r"), press("v"), press("d"), press("y"))
	wantCalls(t, f)
	got := frame(m)
	if !strings.Contains(got, "READ-ONLY") || !strings.Contains(got, "is disabled") {
		t.Errorf("read-only is not said:\n%s", got)
	}
	if !drive(t, m, press("q")) {
		t.Error("q does not quit a read-only console")
	}
}

func TestBusyRefusesSecondOperation(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	_, cmd := m.Update(press("c"))
	drive(t, m, press("t"))
	runCmd(t, m, cmd)
	wantCalls(t, f, "checkpoint dcres live=false")
}

func TestOperationErrorIsShownNotFatal(t *testing.T) {
	m, f := scenarioModel(t, 80, 24, Options{})
	f.ckptErr = errors.New("host h3 unreachable: dial tcp: i/o timeout")
	drive(t, m, press("c"))
	got := frame(m)
	if !strings.Contains(got, "ERROR") || !strings.Contains(got, "checkpoint failed: host h3 unreachable") {
		t.Errorf("the error is not on the status line:\n%s", got)
	}
	if n := len(m.log.entries); m.log.entries[n-1].level != api.Error {
		t.Errorf("the error is not in the log: %+v", m.log.entries[n-1])
	}
	// esc dismisses it.
	drive(t, m, press("esc"))
	if m.status.err != "" {
		t.Error("esc did not dismiss the error")
	}
}

func TestFocusCycles(t *testing.T) {
	m, _ := scenarioModel(t, 80, 24, Options{})
	start := m.focus
	drive(t, m, press("tab"))
	if m.focus == start || !m.log.focused {
		t.Fatalf("tab: focus %d", m.focus)
	}
	drive(t, m, press("shift+tab"), press("shift+tab"))
	if !m.hosts.focused {
		t.Fatalf("shift+tab: focus %d", m.focus)
	}
	drive(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	checkFrameSize(t, frame(m), 100, 30)
}

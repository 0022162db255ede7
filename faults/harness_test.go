package faults

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/api"
	"dcres/ckpt"
	"dcres/hostagent"
	"dcres/lab"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

var docPath = flag.String("faults.doc", "", "write the fault matrix to this file (docs/faults.md)")

// The rows every TestIntegrationFault... test records, for the table.
var (
	rowsMu sync.Mutex
	rows   []Row
)

func record(t *testing.T, r Row) {
	t.Helper()
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	if !r.OK {
		t.Errorf("%s %s lost something: %s (the user saw: %s)", r.Fault, r.Phase, r.Problem, r.Sees)
	}
}

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	code := run(m)
	os.Exit(code)
}

func run(m *testing.M) int {
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "dcres-faults-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "dcres")
		if out, err := exec.Command("go", "build", "-o", binary, "dcres/cmd/dcres").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build dcres: %v\n%s", err, out)
			return 1
		}
	}
	code := m.Run()
	if base != "" {
		os.RemoveAll(base)
	}
	if qbase != "" {
		os.RemoveAll(qbase)
	}
	if *docPath != "" && len(rows) > 0 {
		f, err := os.Create(*docPath)
		if err == nil {
			err = WriteTable(f, rows)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", *docPath, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "wrote %d rows to %s\n", len(rows), *docPath)
	}
	return code
}

func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault matrix: runs agent processes")
	}
}

func profile(t *testing.T) *profiles.Profile {
	t.Helper()
	p, err := profiles.Load("testdata/fault-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is a lab and a session connected to it.
type fixture struct {
	t    *testing.T
	dir  string
	prof *profiles.Profile
	lab  *lab.Lab
	sess *orchestrator.Session
	logs []string
	mu   sync.Mutex
}

// startLab starts a lab over dir with DCRES_FAULT=fault in the agents'
// environment and connects a session (without starting the guest).
func startLab(t *testing.T, dir, fault string, lease time.Duration) *fixture {
	t.Helper()
	return startLabWith(t, profile(t), dir, fault, lease)
}

// startLabWith is startLab with another profile (the QEMU rows').
func startLabWith(t *testing.T, prof *profiles.Profile, dir, fault string, lease time.Duration) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: dir, prof: prof}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Agents inherit the environment at start; unset it at once so later
	// labs of the test start clean.
	os.Setenv("DCRES_FAULT", fault)
	l, err := lab.Start(ctx, f.prof, lab.Options{Dir: dir, Binary: binary, Lease: lease, Logf: t.Logf})
	os.Unsetenv("DCRES_FAULT")
	if err != nil {
		t.Fatalf("lab start: %v", err)
	}
	f.lab = l
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	sess, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: f.prof, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer}, HostKey: hk, Logf: f.logf})
	if err != nil {
		l.Close()
		t.Fatalf("connect: %v", err)
	}
	f.sess = sess
	t.Cleanup(f.close)
	return f
}

func (f *fixture) logf(format string, args ...any) {
	f.mu.Lock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// resolved lists the orphan checkpoints the session removed when it
// connected, from its log: "ID (committed on main only)".
func (f *fixture) resolved() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.logs {
		if rest, ok := strings.CutPrefix(l, "removed checkpoint "); ok {
			id, hosts, _ := strings.Cut(rest, " from ")
			hosts, _, _ = strings.Cut(hosts, ":")
			out = append(out, fmt.Sprintf("orphan %s (committed on %s only)", shortID(id), hosts))
		}
	}
	return out
}

func (f *fixture) close() {
	if f.sess != nil {
		f.sess.Close()
		f.sess = nil
	}
	if f.lab != nil {
		f.lab.Close()
		f.lab = nil
	}
}

func ctxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// hostDir is host's data directory in a lab dir.
func hostDir(dir, host string) string { return filepath.Join(dir, "hosts", host) }

func hostNames() []string { return []string{"main", "sub1", "sub2"} }

// diskState lists, over every host of a lab dir, the committed checkpoints
// (manifest present) and anything else in the checkpoint stores: partial
// and tmp files, directories without a manifest.
type diskState struct {
	committed map[string][]string // host -> ids
	holders   map[string][]string // id -> the hosts its manifest names as holders
	leftovers []string
}

func readDisk(t *testing.T, dir, vm string) diskState {
	t.Helper()
	st := diskState{committed: map[string][]string{}, holders: map[string][]string{}}
	for _, h := range hostNames() {
		root := hostagent.CheckpointRoot(hostDir(dir, h))
		ms, err := ckpt.Store{Root: root}.List(vm)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("listing %s: %v", h, err)
		}
		for _, m := range ms {
			st.committed[h] = append(st.committed[h], m.ID)
			if st.holders[m.ID] == nil {
				seen := map[string]bool{}
				for _, p := range m.Pieces {
					seen[p.Host] = true
				}
				if m.DeviceState != nil {
					seen[m.DeviceState.Host] = true
				}
				for _, hh := range hostNames() {
					if seen[hh] {
						st.holders[m.ID] = append(st.holders[m.ID], hh)
					}
				}
			}
		}
		ents, _ := os.ReadDir(filepath.Join(root, vm))
		for _, e := range ents {
			d := filepath.Join(root, vm, e.Name())
			if _, err := os.Stat(filepath.Join(d, "manifest.json")); err != nil {
				st.leftovers = append(st.leftovers, h+": "+e.Name()+"/ (no manifest)")
				continue
			}
			files, _ := os.ReadDir(d)
			for _, fi := range files {
				if n := fi.Name(); strings.HasSuffix(n, ".partial") || strings.HasSuffix(n, ".tmp") {
					st.leftovers = append(st.leftovers, h+": "+e.Name()+"/"+n)
				}
			}
		}
	}
	return st
}

// ids returns the ids committed on any host, sorted.
func (d diskState) ids() []string {
	seen := map[string]bool{}
	for _, l := range d.committed {
		for _, id := range l {
			seen[id] = true
		}
	}
	var out []string
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// partialOn reports the ids committed on some of their holders but not on
// all (a traditional checkpoint's only holder is the main host).
func (d diskState) partialOn() []string {
	var out []string
	for _, id := range d.ids() {
		n := 0
		for _, h := range d.holders[id] {
			for _, x := range d.committed[h] {
				if x == id {
					n++
				}
			}
		}
		if n != len(d.holders[id]) {
			out = append(out, fmt.Sprintf("%s on %d of %d holders", id, n, len(d.holders[id])))
		}
	}
	return out
}

func (d diskState) String() string {
	var parts []string
	if len(d.leftovers) == 0 {
		parts = append(parts, "no partial files")
	} else {
		parts = append(parts, "left: "+strings.Join(d.leftovers, ", "))
	}
	if p := d.partialOn(); len(p) > 0 {
		parts = append(parts, "manifest on some hosts only, not listed, kept: "+strings.Join(p, ", "))
	}
	return strings.Join(parts, "; ")
}

// guestRunning waits until the guest reports running with pages written
// advancing between two samples.
func guestRunning(s *orchestrator.Session, within time.Duration) (bool, string) {
	ch, stop := s.Subscribe()
	defer stop()
	deadline := time.After(within)
	var first int64 = -1
	last := "no guest report"
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return false, "session closed"
			}
			if ev.Type != api.EvGuest || ev.Guest == nil {
				continue
			}
			last = fmt.Sprintf("guest %s, %d pages written", ev.Guest.State, ev.Guest.PagesWritten)
			if ev.Guest.State != api.StateRunning {
				continue
			}
			if first < 0 {
				first = ev.Guest.PagesWritten
			} else if ev.Guest.PagesWritten > first {
				return true, last
			}
		case <-deadline:
			return false, last
		}
	}
}

// baseDir makes, once per test binary, a lab dir holding one committed
// dcres checkpoint of a running guest, and returns a fresh copy of it (the
// agents' keys and data) with that checkpoint's id.
var (
	baseOnce sync.Once
	base     string
	baseID   string
	baseErr  error
)

func earlier(t *testing.T) (dir, id string) {
	t.Helper()
	baseOnce.Do(func() {
		base, baseErr = os.MkdirTemp("", "dcres-faults-base-")
		if baseErr != nil {
			return
		}
		f := startLab(t, base, "", 0)
		defer f.close()
		ctx, cancel := ctxT(60 * time.Second)
		defer cancel()
		if baseErr = f.sess.Start(ctx); baseErr != nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
		res, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
		if err != nil {
			baseErr = err
			return
		}
		baseID = res.ID
	})
	if baseErr != nil {
		t.Fatalf("making the earlier checkpoint: %v", baseErr)
	}
	dir = t.TempDir()
	if out, err := exec.Command("cp", "-a", base+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the base lab: %v %s", err, out)
	}
	return dir, baseID
}

// checkEarlier starts a clean lab over dir (the next agent start: partial
// files go), checks what is on disk, verifies and restores id and verifies
// the restored guest. It returns the disk summary, the earlier-checkpoints
// summary and a problem ("" when nothing was lost).
func checkEarlier(t *testing.T, dir, id string, failedID string) (onDisk, earlierSum, problem string) {
	t.Helper()
	return checkEarlierWith(t, profile(t), dir, id, failedID)
}

// checkEarlierWith is checkEarlier for a lab of another profile.
func checkEarlierWith(t *testing.T, prof *profiles.Profile, dir, id string, failedID string) (onDisk, earlierSum, problem string) {
	t.Helper()
	f := startLabWith(t, prof, dir, "", 0)
	defer f.close()
	disk := readDisk(t, dir, f.prof.VM.Name)
	onDisk = disk.String()
	if removed := f.resolved(); len(removed) > 0 {
		onDisk += "; the next session removed " + strings.Join(removed, ", ")
	}
	var problems []string
	if len(disk.leftovers) > 0 {
		problems = append(problems, "partial files after agent start: "+strings.Join(disk.leftovers, ", "))
	}
	// A manifest committed on some hosts only is not lost data as long as
	// the session does not list it (checked below: every listed checkpoint
	// must verify); it is reported in the "left on disk" column.
	incomplete := disk.partialOn()
	ctx, cancel := ctxT(90 * time.Second)
	defer cancel()
	list, err := f.sess.List(ctx)
	if err != nil {
		return onDisk, "list failed", "list after restart: " + err.Error()
	}
	found := false
	for _, c := range list {
		if c.ID == id {
			found = true
		}
		for _, p := range incomplete {
			if strings.HasPrefix(p, c.ID+" ") {
				problems = append(problems, "listed but incomplete: "+p)
			}
		}
		// Whatever is listed must verify, the failed checkpoint included
		// (a commit that got through on every host is complete).
		vr, err := f.sess.Verify(ctx, c.ID)
		if err != nil || vr.Errors != 0 || len(vr.Faults) > 0 {
			problems = append(problems, fmt.Sprintf("listed checkpoint %s does not verify: %v %+v", c.ID, err, vr))
		}
	}
	if !found {
		problems = append(problems, "earlier checkpoint "+id+" is no longer listed")
	}
	if _, err := f.sess.Restore(ctx, api.RestoreRequest{From: id, Placement: "same"}); err != nil {
		problems = append(problems, "restore of "+id+": "+err.Error())
		return onDisk, "restore failed", strings.Join(problems, "; ")
	}
	time.Sleep(300 * time.Millisecond)
	vr, err := f.sess.Verify(ctx, "")
	if err != nil || vr.Errors != 0 || vr.Pages == 0 {
		problems = append(problems, fmt.Sprintf("restored guest: %v %+v", err, vr))
	}
	earlierSum = fmt.Sprintf("%d listed, all verify; %s restored: %d pages, %d errors", len(list), shortID(id), vr.Pages, vr.Errors)
	if failedID != "" {
		for _, c := range list {
			if c.ID == failedID {
				earlierSum += "; the failed one is listed and complete"
			}
		}
	}
	return onDisk, earlierSum, strings.Join(problems, "; ")
}

func shortID(id string) string {
	if i := strings.LastIndex(id, "-"); i > 0 && strings.HasPrefix(id, "dcres-") {
		return "dcres-…" + id[i:]
	}
	return id
}

// firstLine is the error text a user sees, on one line.
func firstLine(err error) string {
	if err == nil {
		return "(no error)"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

package faults

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dcres/api"
	"dcres/ckpt"
	"dcres/hostagent"
)

// corruption damages one file of the earlier checkpoint on one host.
type corruption struct {
	name, host string
	// file picks the file in the host's checkpoint directory from the
	// manifest; damage changes it.
	file   func(m *ckpt.Manifest, host string) string
	damage func(path string) error
	// rangeShown: the verify report must name a byte range.
	rangeShown bool
}

func pieceOf(m *ckpt.Manifest, host string) string {
	for _, p := range m.Pieces {
		if p.Host == host {
			return p.File
		}
	}
	return ""
}

func deviceState(m *ckpt.Manifest, host string) string {
	if m.DeviceState != nil && m.DeviceState.Host == host {
		return m.DeviceState.File
	}
	return ""
}

func manifestFile(*ckpt.Manifest, string) string { return "manifest.json" }

// flipAt flips one byte at fraction frac of the file.
func flipAt(frac float64) func(string) error {
	return func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		i := int(float64(len(b)) * frac)
		b[i] ^= 0x5a
		return os.WriteFile(path, b, 0o600)
	}
}

func truncateHalf(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.Truncate(path, fi.Size()/2)
}

// flipDigest changes one hex digit of the first piece digest in a manifest,
// so that the file still parses.
func flipDigest(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := strings.Index(string(b), `"digest"`)
	if i < 0 {
		return fmt.Errorf("%s has no digest", path)
	}
	j := i + strings.Index(string(b[i:]), `: "`) + 3
	if b[j] == '0' {
		b[j] = '1'
	} else {
		b[j] = '0'
	}
	return os.WriteFile(path, b, 0o600)
}

func TestIntegrationFaultCorruption(t *testing.T) {
	integration(t)
	for _, c := range []corruption{
		{name: "flip a byte in a piece", host: "sub1", file: pieceOf, damage: flipAt(0.5), rangeShown: true},
		{name: "truncate a piece", host: "main", file: pieceOf, damage: truncateHalf},
		{name: "flip a byte in the device state", host: "main", file: deviceState, damage: flipAt(0.5)},
		{name: "flip a digest in a manifest", host: "sub2", file: manifestFile, damage: flipDigest},
		{name: "flip a byte in a manifest", host: "sub1", file: manifestFile, damage: flipAt(0.3)},
	} {
		t.Run(c.name, func(t *testing.T) { runCorruption(t, c) })
	}
}

func sum(path string) string {
	b, _ := os.ReadFile(path)
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func runCorruption(t *testing.T, c corruption) {
	dir, id := earlier(t)
	row := Row{Fault: c.name, Phase: "at rest (" + c.host + ")"}
	var problems []string
	ckdir := filepath.Join(hostagent.CheckpointRoot(hostDir(dir, c.host)), "vm1", id)
	m, err := ckpt.Store{Root: hostagent.CheckpointRoot(hostDir(dir, c.host))}.Load("vm1", id)
	if err != nil {
		t.Fatal(err)
	}
	name := c.file(m, c.host)
	if name == "" {
		t.Skipf("host %s holds no such file in %s", c.host, id)
	}
	path := filepath.Join(ckdir, name)
	if err := c.damage(path); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, h := range hostNames() {
		d := filepath.Join(hostagent.CheckpointRoot(hostDir(dir, h)), "vm1", id)
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			before[filepath.Join(d, e.Name())] = sum(filepath.Join(d, e.Name()))
		}
	}

	f := startLab(t, dir, "", 0)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	vr, err := f.sess.Verify(ctx, id)
	var report string
	switch {
	case err != nil:
		report = firstLine(err)
	case len(vr.Faults) == 0:
		problems = append(problems, "verify found nothing wrong")
	default:
		report = strings.Join(vr.Faults, "; ")
	}
	if report != "" {
		if !strings.Contains(report, name) {
			problems = append(problems, "the verify report does not name the file "+name)
		}
		if !strings.Contains(report, c.host) {
			problems = append(problems, "the verify report does not name the host "+c.host)
		}
		if c.rangeShown && !strings.Contains(report, "bytes [") {
			problems = append(problems, "the verify report names no byte range")
		}
	}
	_, rerr := f.sess.Restore(ctx, api.RestoreRequest{From: id, Placement: "same"})
	if rerr == nil {
		problems = append(problems, "the restore of a damaged checkpoint went ahead")
	}
	if _, gerr := f.sess.Verify(ctx, ""); gerr == nil && rerr != nil {
		problems = append(problems, "a guest runs after the refused restore")
	}
	row.Sees = "verify: " + report + " — restore: " + firstLine(rerr)
	f.close()
	for p, s := range before {
		if sum(p) != s {
			problems = append(problems, "checkpoint file changed: "+filepath.Base(p))
		}
	}
	disk := readDisk(t, dir, "vm1")
	row.OnDisk = "checkpoint files untouched; " + disk.String()
	row.Earlier = "the damaged checkpoint is refused, not repaired"
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	b, _ := json.Marshal(row)
	t.Logf("%s", b)
	record(t, row)
}

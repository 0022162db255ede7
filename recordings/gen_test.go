package recordings

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"dcres/lab"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/transport"
)

// shippedLab is the shipped recording of the lab-local profile's scenario.
const shippedLab = "shipped/lab-local.dcrec"

// TestIntegrationLabRecording records a real lab run (agent processes, SSH,
// the lab-local scenario), checks that it holds no key material and that it
// reads back to the scenario's figures. With DCRES_REGEN_RECORDINGS=1 it
// also rewrites the shipped recording.
func TestIntegrationLabRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab of agent processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "dcres")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dcres").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p, err := profiles.Load("../profiles/lab-local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(ctx, p, lab.Options{Dir: t.TempDir(), Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hk, err := transport.KnownHosts(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := orchestrator.Connect(ctx, orchestrator.Config{Profile: p, Hosts: l.Hosts, Signers: []ssh.Signer{l.Signer}, HostKey: hk, LinkRate: p.Lab.LinkRate})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	var buf bytes.Buffer
	stop := Record(ctx, sess, &buf, Header{DCRES: "dev", Profile: p.Name, Hosts: sess.Hosts(), Driver: p.VM.Driver, MemoryBytes: p.VM.MemoryBytes})
	if err := sess.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var steps []orchestrator.StepResult
	err = orchestrator.RunScenario(ctx, sess, p.Scenario, nil, func(r orchestrator.StepResult) { steps = append(steps, r) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}

	checkNoSecrets(t, buf.Bytes(), filepath.Join(l.Dir, "operator_key"))
	rec, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(rec)
	var ck, rs int
	for _, st := range steps {
		switch st.Step {
		case "checkpoint":
			if ck >= len(sum.Checkpoints) || sum.Checkpoints[ck].ID != st.ID || sum.Checkpoints[ck].BytesSaved != *st.BytesSaved {
				t.Errorf("checkpoint step %+v not in the summary %+v", st, sum.Checkpoints)
			}
			ck++
		case "restore":
			if rs >= len(sum.Restores) || sum.Restores[rs].Placement != st.Placement {
				t.Errorf("restore step %+v not in the summary %+v", st, sum.Restores)
			}
			rs++
		}
	}
	if ck != len(sum.Checkpoints) || rs != len(sum.Restores) || len(sum.Verifies) == 0 || sum.GuestCheckErrors != 0 {
		t.Errorf("summary %s does not match the %d checkpoint and %d restore steps with a clean verify", sum.Text(), ck, rs)
	}
	if os.Getenv("DCRES_REGEN_RECORDINGS") == "1" {
		if buf.Len() > 200<<10 {
			t.Fatalf("the recording is %d bytes: too big to ship (keep it under 200 KB)", buf.Len())
		}
		if err := os.WriteFile(shippedLab, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes, %d events)", shippedLab, buf.Len(), len(rec.Events))
	}
}

// checkNoSecrets fails if rec holds PEM text, the private key at keyPath
// (whole or its base64 body in any 40-byte window), or an absolute path.
func checkNoSecrets(t *testing.T, rec []byte, keyPath string) {
	t.Helper()
	for _, bad := range []string{"BEGIN OPENSSH", "PRIVATE KEY", "-----BEGIN"} {
		if bytes.Contains(rec, []byte(bad)) {
			t.Errorf("recording contains %q", bad)
		}
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for _, l := range strings.Split(string(key), "\n") {
		if !strings.HasPrefix(l, "-----") {
			body.WriteString(strings.TrimSpace(l))
		}
	}
	b := body.String()
	if _, err := base64.StdEncoding.DecodeString(b); err != nil || len(b) < 80 {
		t.Fatalf("%s is not the PEM key the test expects", keyPath)
	}
	for i := 0; i+40 <= len(b); i += 20 {
		if bytes.Contains(rec, []byte(b[i:i+40])) {
			t.Fatalf("recording contains a piece of the private key: %q", b[i:i+40])
		}
	}
	if dir := filepath.Dir(keyPath); bytes.Contains(rec, []byte(dir)) {
		t.Errorf("recording names the lab directory %s", dir)
	}
}

package faults

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dcres/api"
)

// TestIntegrationFaultCoordinatorKilled kills the `dcres checkpoint`
// process while the guest is paused (sub1 hangs in ckpt.save) and checks
// that the main agent resumes the guest when its lease ends.
func TestIntegrationFaultCoordinatorKilled(t *testing.T) {
	integration(t)
	dir, id := earlier(t)
	const lease = 3 * time.Second
	row := Row{Fault: "SIGKILL the coordinator (`dcres checkpoint`)", Phase: "guest paused, sub1 hanging in ckpt.save"}
	var problems []string
	f := startLab(t, dir, "sub1@ckpt.save:before:hang", lease)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatal(err)
	}
	prof, _ := filepath.Abs("testdata/fault-lab.yaml")
	cmd := exec.Command(binary, "checkpoint", "--lab-dir", dir, prof)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mainLog := filepath.Join(hostDir(dir, "main"), "agent.log")
	// Wait until the main agent paused the guest for the new checkpoint.
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(hostDir(dir, "sub1"), "agent.log"))
		if bytes.Contains(b, []byte("fault injection: hang before ckpt.save")) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("sub1 never reached ckpt.save; dcres checkpoint said: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	killed := time.Now()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ok, last := guestRunning(f.sess, lease+10*time.Second)
	resumedAfter := time.Since(killed)
	b, _ := os.ReadFile(mainLog)
	if !ok {
		problems = append(problems, "guest not running after the lease: "+last)
	}
	if !bytes.Contains(b, []byte("lease expired")) {
		problems = append(problems, "the main agent's log does not say it resumed on lease expiry")
	}
	logLine := "(nothing)"
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "lease expired") {
			logLine = l
		}
	}
	row.Sees = "main agent log: " + logLine + "; guest running again " + resumedAfter.Round(time.Second).String() + " after the kill"
	f.close()
	var p string
	row.OnDisk, row.Earlier, p = checkEarlier(t, dir, id, "")
	if p != "" {
		problems = append(problems, p)
	}
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	record(t, row)
}

// TestIntegrationFaultDiskFull puts sub1's data directory on a tmpfs with
// almost no room left and takes a checkpoint.
func TestIntegrationFaultDiskFull(t *testing.T) {
	integration(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir, id := earlier(t)
	hd := hostDir(dir, "sub1")
	saved := t.TempDir()
	if out, err := exec.Command("cp", "-a", hd+"/.", saved).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if err := syscall.Mount("tmpfs", hd, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(hd, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", hd, err)
		}
	})
	if out, err := exec.Command("cp", "-a", saved+"/.", hd).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// Leave 64 KiB: the agent starts, its piece does not fit.
	var st syscall.Statfs_t
	if err := syscall.Statfs(hd, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	filler := filepath.Join(hd, "filler")
	if err := os.WriteFile(filler, make([]byte, free-64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	row := Row{Fault: "full disk on sub1 (tmpfs, 64 KiB free)", Phase: "ckpt.save"}
	var problems []string
	f := startLab(t, dir, "", 0)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if err := f.sess.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_, err := f.sess.Checkpoint(ctx, api.CheckpointRequest{Method: "dcres"})
	row.Sees = firstLine(err)
	switch {
	case err == nil:
		problems = append(problems, "the checkpoint succeeded on a full disk")
	default:
		if !strings.Contains(row.Sees, "sub1") {
			problems = append(problems, "the error does not name sub1")
		}
		if !strings.Contains(strings.ToLower(row.Sees), "no space") {
			problems = append(problems, "the error does not say \"no space\"")
		}
	}
	if ok, last := guestRunning(f.sess, 8*time.Second); !ok {
		problems = append(problems, "guest not running after the failed checkpoint: "+last)
	}
	disk := readDisk(t, dir, "vm1")
	if len(disk.leftovers) > 0 {
		problems = append(problems, "partial files left on the full disk: "+strings.Join(disk.leftovers, ", "))
	}
	f.close()
	os.Remove(filler)
	var p string
	row.OnDisk, row.Earlier, p = checkEarlier(t, dir, id, "")
	if p != "" {
		problems = append(problems, p)
	}
	row.Problem = strings.Join(problems, "; ")
	row.OK = row.Problem == ""
	record(t, row)
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The console end to end: the real binary runs `dcres lab` in a detached
// tmux pane, the test types keys and reads the screen with capture-pane.
// Set DCRES_CONSOLE_CAPTURES to a directory to keep the screens (they are
// the captures in docs/console.md).

// tmuxConsole is one tmux server with one pane running the console.
type tmuxConsole struct {
	t      *testing.T
	socket string
	dir    string // the lab directory
	rc     string // the console's exit status is written here
}

func startConsole(t *testing.T, w, h int, term string) *tmuxConsole {
	t.Helper()
	return startConsoleArgs(t, w, h, term)
}

// startConsoleArgs is startConsole with more arguments for dcres lab (a
// profile, flags).
func startConsoleArgs(t *testing.T, w, h int, term string, args ...string) *tmuxConsole {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := dcresBinary(t)
	dir := t.TempDir()
	c := &tmuxConsole{t: t, socket: fmt.Sprintf("dcres-e2e-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")), dir: filepath.Join(dir, "lab"), rc: filepath.Join(dir, "rc")}
	script := fmt.Sprintf("TERM=%s %s lab --lab-dir %s %s 2>%s; echo $? >%s", term, bin, c.dir, strings.Join(args, " "), filepath.Join(dir, "stderr"), c.rc)
	c.tmux("-f", "/dev/null", "new-session", "-d", "-s", "console", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "sh", "-c", script)
	t.Cleanup(func() {
		// Only our own server and our own lab's agents: other tests and
		// other engineers' labs share this machine.
		exec.Command("tmux", "-L", c.socket, "kill-server").Run()
		exec.Command("pkill", "-KILL", "-f", "agent --name [^ ]* --data "+c.dir+"/").Run()
	})
	return c
}

func (c *tmuxConsole) tmux(args ...string) string {
	c.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", c.socket}, args...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (c *tmuxConsole) screen() string { return c.tmux("capture-pane", "-p", "-t", "console") }

// keys types tmux key names (e.g. "c", "Up", "Enter").
func (c *tmuxConsole) keys(keys ...string) {
	c.t.Helper()
	c.tmux(append([]string{"send-keys", "-t", "console"}, keys...)...)
}

// waitFor polls the screen until every pattern matches, and returns it.
func (c *tmuxConsole) waitFor(what string, timeout time.Duration, patterns ...string) string {
	c.t.Helper()
	var res []*regexp.Regexp
	for _, p := range patterns {
		res = append(res, regexp.MustCompile(p))
	}
	deadline := time.Now().Add(timeout)
	for {
		s := c.screen()
		ok := true
		for _, re := range res {
			if !re.MatchString(s) {
				ok = false
			}
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			stderr, _ := os.ReadFile(filepath.Join(filepath.Dir(c.rc), "stderr"))
			c.t.Fatalf("%s: the screen did not show %q in %s:\n%s\nstderr: %s", what, patterns, timeout, s, stderr)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// waitGone polls until pattern no longer matches.
func (c *tmuxConsole) waitGone(what, pattern string, timeout time.Duration) {
	c.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(timeout)
	for re.MatchString(c.screen()) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %q still on screen after %s:\n%s", what, pattern, timeout, c.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keep writes a screen to $DCRES_CONSOLE_CAPTURES/name.txt when set.
func (c *tmuxConsole) keep(name, screen string) {
	dir := os.Getenv("DCRES_CONSOLE_CAPTURES")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(screen), 0o644); err != nil {
		c.t.Errorf("keeping capture %s: %v", name, err)
	}
}

// killAgent SIGKILLs one agent of this console's lab.
func (c *tmuxConsole) killAgent(name string) {
	c.t.Helper()
	if out, err := exec.Command("pkill", "-KILL", "-f", "agent --name "+name+" --data "+c.dir+"/").CombinedOutput(); err != nil {
		c.t.Fatalf("killing agent %s: %v %s", name, err, out)
	}
}

// quit presses q and checks the console exits 0, leaves no process of this
// lab behind and removes the lab's lab.json.
func (c *tmuxConsole) quit() {
	c.t.Helper()
	c.keys("q")
	deadline := time.Now().Add(20 * time.Second)
	var rc []byte
	for {
		var err error
		if rc, err = os.ReadFile(c.rc); err == nil && len(rc) > 0 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the console did not exit within 20 s of q:\n%s", c.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := strings.TrimSpace(string(rc)); s != "0" {
		stderr, _ := os.ReadFile(filepath.Join(filepath.Dir(c.rc), "stderr"))
		c.t.Errorf("dcres lab exited with status %s; stderr: %s", s, stderr)
	}
	// The lab tears its agents down before dcres exits; give the kernel a
	// moment to reap them.
	for i := 0; ; i++ {
		out, err := exec.Command("pgrep", "-af", c.dir).Output()
		if err != nil { // pgrep: no match
			break
		}
		if i == 20 {
			c.t.Errorf("processes of the lab left behind after q:\n%s", out)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "lab.json")); !os.IsNotExist(err) {
		c.t.Errorf("lab.json was not removed on exit (stat: %v)", err)
	}
}

// hostsUp is the screen of a lab whose three hosts report a dirty rate.
const hostsUp = `3 hosts, 3 connected`

var dirtyRate = `dirty( rate)? +[0-9.]+ [KMG]iB/s`

func TestE2EConsole120x40(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes in tmux")
	}
	c := startConsole(t, 120, 40, "xterm-256color")
	s := c.waitFor("lab start", 30*time.Second, hostsUp, `\[a\] main`, `\[c\] sub2`, dirtyRate, `checks ok`)
	c.keep("idle", s)

	// A dcres checkpoint: every host saves its share, then the list has it.
	c.keys("c")
	s = c.waitFor("dcres checkpoint", 20*time.Second, `(?m)^  dcres-\S+ +\d\d:\d\d:\d\d dcres `, `checkpoint dcres-\S+ committed`)
	if n := strings.Count(s, "last checkpoint:"); n != 3 {
		t.Errorf("%d host panels show their share of the checkpoint, want 3:\n%s", n, s)
	}
	c.keep("after-checkpoint", s)

	// A traditional one: only the main host saves; try to catch its bars.
	c.keys("t")
	deadline := time.Now().Add(20 * time.Second)
	sawBar := false
	for time.Now().Before(deadline) {
		s = c.screen()
		if strings.Contains(s, "checkpoint save") && strings.Contains(s, "eta") {
			sawBar = true
			c.keep("during-checkpoint", s)
		}
		if regexp.MustCompile(`(?m)^  traditional-\S+ .* traditional `).MatchString(s) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s = c.waitFor("traditional checkpoint", time.Second, `(?m)^  traditional-\S+`, `checkpoint traditional-\S+ committed`)
	if !sawBar {
		t.Log("the traditional checkpoint ended before a frame showed its progress bar")
	}
	c.keep("checkpoint-list", s)

	// Help opens and closes.
	c.keys("?")
	s = c.waitFor("help", 5*time.Second, `dcres console keys`, `dcres checkpoint`, `\? or esc closes`)
	c.keep("help", s)
	c.keys("?")
	c.waitGone("help close", `dcres console keys`, 5*time.Second)

	// Verify the running guest.
	c.keys("v")
	c.waitFor("verify", 20*time.Second, `guest verify: \d+ pages, 0 errors`)

	// Restore: select the newest checkpoint, the picker, the plan, answer no.
	c.keys("Up", "r")
	s = c.waitFor("placement picker", 5*time.Second, `where to\?`, `> same: as checkpointed`, `single host: sub1`)
	c.keep("restore-picker", s)
	c.keys("Enter")
	s = c.waitFor("plan preview", 20*time.Second, `with placement "same"\?`, `expected network time`, `target +pages +local +pull`, `\[y/N\]`)
	c.keep("restore-plan", s)
	c.keys("n")
	c.waitGone("plan dialog close", `\[y/N\]`, 5*time.Second)
	// A restore that starts logs "restore of ID onto [hosts]" (the plan's
	// own line says "plan of a restore of ...").
	if regexp.MustCompile(`restore of \S+ onto \[`).MatchString(c.screen()) {
		t.Errorf("answering no started a restore:\n%s", c.screen())
	}

	// A sub-host dies: its panel says so.
	c.killAgent("sub2")
	s = c.waitFor("host down", 15*time.Second, `2 connected`, `\[c\] sub2 ✗ DOWN`, `host sub2 disconnected`)
	c.keep("host-down", s)

	c.quit()
}

// At 80x24 and 16 colours the console degrades to one line per host and
// keeps every state in words.
func TestE2EConsole80x24(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs agent processes in tmux")
	}
	c := startConsole(t, 80, 24, "xterm")
	s := c.waitFor("lab start", 30*time.Second, hostsUp, `\[a\]main main ●`, `\[c\]sub2 sub  ●`, dirtyRate, `q:quit`)
	c.keep("idle-80x24", s)
	c.keys("c")
	s = c.waitFor("checkpoint", 20*time.Second, `(?m)^  dcres-\S+ +\d\d:\d\d:\d\d dcres `)
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("line %d is %d wide", i, w)
		}
	}
	c.keys("?")
	c.waitFor("help", 5*time.Second, `dcres console keys`)
	c.keys("Escape")
	c.waitGone("help close", `dcres console keys`, 5*time.Second)
	c.killAgent("sub1")
	s = c.waitFor("host down", 15*time.Second, `\[b\]sub1 sub  ✗ DOWN`)
	c.keep("host-down-80x24", s)
	c.quit()
}

package hostagent

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// Fault injection for labs and fault tests: DCRES_FAULT="[HOST@]METHOD:WHEN:ACTION"
// (several separated by ";"; HOST limits a fault to the agent of that name,
// so one variable can serve a whole lab) makes the agent misbehave at one point of the
// protocol, for real: WHEN is "before" or "after" the method's work, ACTION
// is "kill" (SIGKILL itself: no clean-up at all), "exit" (exit 1), "hang"
// (stop answering for a minute), "hang=DURATION" (for that long, e.g.
// "hang=5s": a slow step) or "fail" (return an error). The variable is
// read once at start; an agent without it has no faults.
type fault struct {
	method, when, action string
}

func parseFaults(spec, host string) ([]fault, error) {
	var out []fault
	for _, part := range strings.Split(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, ":")
		if len(f) != 3 || (f[1] != "before" && f[1] != "after") {
			return nil, fmt.Errorf("DCRES_FAULT %q: want [HOST@]METHOD:before|after:kill|exit|hang|fail", part)
		}
		switch f[2] {
		case "kill", "exit", "hang", "fail":
		default:
			if _, err := hangFor(f[2]); err != nil {
				return nil, fmt.Errorf("DCRES_FAULT %q: action %q is not kill, exit, hang, hang=DURATION or fail", part, f[2])
			}
		}
		method := f[0]
		if h, m, ok := strings.Cut(method, "@"); ok {
			if h != host {
				continue
			}
			method = m
		}
		out = append(out, fault{method, f[1], f[2]})
	}
	return out, nil
}

// inject carries out the fault planned for method at when, if any.
func (a *Agent) inject(method, when string) error {
	for _, f := range a.faults {
		if f.method != method || f.when != when {
			continue
		}
		a.cfg.Logf("fault injection: %s %s %s", f.action, when, method)
		switch f.action {
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		case "exit":
			os.Exit(1)
		case "hang":
			time.Sleep(time.Minute)
		case "fail":
			return fmt.Errorf("injected fault: %s %s", when, method)
		default:
			d, _ := hangFor(f.action)
			time.Sleep(d)
		}
	}
	return nil
}

// hangFor parses the action "hang=DURATION".
func hangFor(action string) (time.Duration, error) {
	v, ok := strings.CutPrefix(action, "hang=")
	if !ok {
		return 0, fmt.Errorf("not hang=DURATION")
	}
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = fmt.Errorf("duration %s is not positive", d)
	}
	return d, err
}

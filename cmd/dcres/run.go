package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"

	"dcres/api"
	"dcres/orchestrator"
	"dcres/profiles"
	"dcres/tui"
)

// summary is the last line of `dcres run --json`.
type summary struct {
	OK      bool                      `json:"ok"`
	Profile string                    `json:"profile"`
	Error   string                    `json:"error,omitempty"`
	Steps   []orchestrator.StepResult `json:"steps"`
}

func cmdRun(ctx context.Context, args []string) error {
	fs := newFlags("run", "PROFILE", "Start the profile's hosts (a local lab for a lab profile), start its VM, run its\nscenario step by step, and tear the lab down. Each step is reported as it ends;\nwith --json, one object per step and a summary object as the last line.")
	c := addCommon(fs)
	keep := fs.Bool("keep-vm", false, "leave the VM running on real hosts at the end")
	record := fs.String("record", "", "write a recording of the session to this file (replay it with dcres replay)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("which profile? e.g. dcres run profiles/lab-local.yaml")
	}
	p, err := loadProfile(pos)
	if err != nil {
		return err
	}
	s, err := open(ctx, p, c, *record)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.lab == nil && !*keep {
		defer s.Teardown(context.WithoutCancel(ctx))
	}
	return runScenario(ctx, s, p, *c.json)
}

// open starts a fresh lab for a lab profile, or connects to real hosts, and
// starts the VM, recording the session to record if it is set.
func open(ctx context.Context, p *profiles.Profile, c *common, record string) (*session, error) {
	var s *session
	var err error
	if p.Lab != nil {
		s, err = startLab(ctx, p, "", func(string, ...any) {})
	} else {
		s, err = connectHosts(ctx, p, c)
	}
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, record); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// record writes the session's events to path from now until Close.
func (s *session) record(ctx context.Context, path string) error {
	if path == "" {
		return nil
	}
	stop, err := startRecording(ctx, s.Session, path, recordingHeader(s.prof, s.Hosts()))
	if err != nil {
		return err
	}
	// Before the coordinator closes: the last results must reach the file.
	s.beforeClose = append(s.beforeClose, stop)
	return nil
}

// connectHosts connects to a profile's real hosts without attaching.
func connectHosts(ctx context.Context, p *profiles.Profile, c *common) (*session, error) {
	return connect(ctx, p, c)
}

func runScenario(ctx context.Context, s *session, p *profiles.Profile, asJSON bool) error {
	sum := summary{Profile: p.Name}
	if !asJSON {
		fmt.Printf("profile %s: %s VM of %d MiB over %v\n", p.Name, p.VM.Driver, p.VM.MemoryBytes>>20, s.Hosts())
	}
	hooks := &orchestrator.Hooks{}
	if s.lab != nil {
		hooks.Faults = s.lab
	}
	err := orchestrator.RunScenario(ctx, s.Session, p.Scenario, hooks, func(r orchestrator.StepResult) {
		sum.Steps = append(sum.Steps, r)
		if asJSON {
			printJSON(r)
			return
		}
		fmt.Println(describeStep(r))
		if r.OK && (r.Step == "checkpoint" || r.Step == "restore") {
			printPerHost(r.PerHost)
		}
	})
	sum.OK = err == nil
	if err != nil {
		sum.Error = err.Error()
	}
	if asJSON {
		printJSON(sum)
	} else if sum.OK {
		fmt.Printf("ok: %d steps\n", len(sum.Steps))
	}
	return err
}

func cmdLab(ctx context.Context, args []string) error {
	fs := newFlags("lab", "[PROFILE]", "Run a local lab: one agent process per host of the profile (default: the embedded\nlab-local), a split-memory VM across them, and the operator console. Without a\nterminal (or with --headless) it runs the profile's scenario and prints a summary;\nwith --scenario the console runs it, waiting at each pause-for-reader note for\nenter or space. The lab is torn down on exit or Ctrl-C.")
	c := addCommon(fs)
	headless := fs.Bool("headless", false, "run the scenario and print the summary instead of opening the console")
	serve := fs.Bool("serve", false, "keep the lab and its VM up, without console or scenario, until Ctrl-C (for dcres checkpoint, restore, ... against it)")
	readOnly := fs.Bool("read-only", false, "console: disable every action")
	scenario := fs.Bool("scenario", false, "console: run the profile's scenario in the console; its pause-for-reader notes wait for enter or space")
	record := fs.String("record", "", "recording file (default: a new file in the user cache's dcres/recordings)")
	noRecord := fs.Bool("no-record", false, "do not record the session")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	p, err := loadProfile(pos)
	if err != nil {
		return err
	}
	if p.Lab == nil {
		return usagef("profile %s has real hosts, not a lab: use dcres console or dcres run", p.Name)
	}
	if *scenario && len(p.Scenario) == 0 {
		return usagef("profile %s has no scenario to run", p.Name)
	}
	dir := *c.labDir
	if dir == "" {
		dir = defaultLabDir(p)
	}
	interactive := !*headless && !*serve && !*c.json && term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stdout.Fd())
	logf := func(string, ...any) {}
	if !interactive && !*c.json {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "lab: "+f+"\n", a...) }
	}
	s, err := startLab(ctx, p, dir, logf)
	if err != nil {
		return err
	}
	defer s.Close()
	if !*noRecord {
		path := *record
		if path == "" {
			path = defaultRecordingPath(p, time.Now())
		}
		if err := s.record(ctx, path); err != nil {
			return err
		}
		logf("recording to %s", path)
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	defer startPeriodic(ctx, s, p, logf)()
	if *serve {
		fmt.Fprintf(os.Stderr, "lab %s is up (agents: %v); dcres commands with profile %s reach it. Ctrl-C ends it.\n", p.Name, s.Hosts(), p.Name)
		<-ctx.Done()
		return nil
	}
	if !interactive {
		return runScenario(ctx, s, p, *c.json)
	}
	opt := tui.Options{Title: p.Name, ReadOnly: *readOnly}
	if *scenario {
		opt.Scenario = consoleScenario(s, p)
	}
	return tui.Run(ctx, s.Session, opt)
}

// consoleScenario runs p's scenario under the console: the same runner as
// `dcres run`, with the console's pause-for-reader hook; every step's
// outcome goes to the event log (and so to the recording).
func consoleScenario(s *session, p *profiles.Profile) func(context.Context, func(context.Context, string) error) error {
	return func(ctx context.Context, reader func(context.Context, string) error) error {
		hooks := &orchestrator.Hooks{Reader: reader}
		if s.lab != nil {
			hooks.Faults = s.lab
		}
		return orchestrator.RunScenario(ctx, s.Session, p.Scenario, hooks, func(r orchestrator.StepResult) {
			s.Emit(api.Event{Type: api.EvLog, Level: stepLevel(r), Message: consoleStepText(r)})
		})
	}
}

// consoleStepText is a scenario step's line in the console's log.
func consoleStepText(r orchestrator.StepResult) string {
	text := strings.Join(strings.Fields(describeStep(r)), " ")
	if r.Step == "pause-for-reader" && r.OK {
		text = fmt.Sprintf("pause-for-reader: the reader went on after %.1fs", r.Seconds)
	}
	return fmt.Sprintf("scenario line %d: %s", r.Line, text)
}

func stepLevel(r orchestrator.StepResult) api.Level {
	if !r.OK {
		return api.Error
	}
	return api.Info
}

func cmdConsole(ctx context.Context, args []string) error {
	fs := newFlags("console", "[PROFILE]", "Open the operator console on the hosts of a profile (a running lab's agents for a\nlab profile).")
	c := addCommon(fs)
	readOnly := fs.Bool("read-only", false, "disable every action (and the profile's periodic checkpoints)")
	scenario := fs.Bool("scenario", false, "run the profile's scenario in the console; its pause-for-reader notes wait for enter or space")
	record := fs.String("record", "", "write a recording of the session to this file")
	noPeriodic := fs.Bool("no-periodic", false, "do not run the profile's periodic checkpoints (checkpoint.every) from this console")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	p, err := loadProfile(pos)
	if err != nil {
		return err
	}
	if *scenario {
		if len(p.Scenario) == 0 {
			return usagef("profile %s has no scenario to run", p.Name)
		}
		for _, st := range p.Scenario {
			if st.Kind == profiles.StepFault {
				return usagef("the scenario of %s has fault steps (line %d): only the lab's own process injects faults; run it with dcres lab %s --scenario", p.Name, st.Line, p.Name)
			}
		}
	}
	s, err := attach(ctx, p, c)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.record(ctx, *record); err != nil {
		return err
	}
	if !*readOnly && !*noPeriodic {
		defer startPeriodic(ctx, s, p, func(string, ...any) {})()
	}
	opt := tui.Options{Title: p.Name, ReadOnly: *readOnly}
	if *scenario {
		opt.Scenario = consoleScenario(s, p)
	}
	return tui.Run(ctx, s.Session, opt)
}

// startPeriodic runs the profile's periodic checkpoints (checkpoint.every,
// with its retention) until the returned stop is called; nothing when the
// profile sets no period.
func startPeriodic(ctx context.Context, s *session, p *profiles.Profile, logf func(string, ...any)) (stop func()) {
	cp := p.Checkpoint
	if cp.Every <= 0 {
		return func() {}
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Periodic(pctx, api.CheckpointRequest{Method: cp.Method, Live: cp.Live, Incremental: cp.Incremental, Replicas: cp.Replicas, Parity: cp.Parity}, cp.Every, cp.Keep)
	}()
	logf("checkpoint every %s (keep %d)", cp.Every, cp.Keep)
	return func() { cancel(); <-done }
}

func cmdVersion(ctx context.Context, args []string) error {
	fs := newFlags("version", "", "Print dcres's version.")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Println("dcres", version)
	return nil
}

var version = "dev"

// settle gives a just-started guest a moment to touch memory before a
// measurement, so a benchmark does not checkpoint an empty guest.
func settle(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

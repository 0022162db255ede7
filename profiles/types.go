package profiles

import (
	"strconv"
	"time"

	"dcres/api"
)

// Profile is one loaded, validated profile with every default filled in.
type Profile struct {
	Name, Description string
	// Exactly one of Lab and Hosts is set.
	Lab        *Lab
	Hosts      []Host
	KnownHosts string
	VM         VM
	Checkpoint CheckpointPolicy
	Restore    RestorePolicy
	Scenario   []Step
	// Source is the file name the profile was read from (or the name given
	// to Parse), for messages.
	Source string
}

// Lab asks for local agents named main, sub1, sub2, ... on this machine.
type Lab struct {
	Hosts int
	// Netns puts every agent in its own network namespace behind a bridge.
	Netns bool
	// LinkRate is each agent's link rate in bits/s; 0 leaves links unshaped.
	LinkRate int64
}

// Host is one real host reached over SSH. The first host is the main host.
type Host struct {
	Name    string
	Address string // host:port, port defaults to 22
	User    string
	Key     string // private key file; "" means the SSH agent
	Data    string // the agent's data directory on that host
	Command string // how to start the agent there
}

// VM is the split-memory guest.
type VM struct {
	Name, Driver string
	MemoryBytes  int64
	CPUs         int
	// Split is every host's share of guest memory, main host first.
	Split []Share
	// CacheBytes is the main host's cache for remote pages, a multiple of
	// api.PageSize.
	CacheBytes int64
	Workload   Workload
}

// Share is one host's fraction (0..1) of guest memory.
type Share struct {
	Host     string
	Fraction float64
}

// Workload describes what the guest does with its memory.
type Workload struct {
	Pattern             string
	DirtyRate, ReadRate int64 // bytes/s
	Seed                int64
	HotFraction         float64 // 0..1: share of memory that is hot
}

// CheckpointPolicy is the default for checkpoints (console key, CLI, steps).
type CheckpointPolicy struct {
	Dir, Method       string
	Live, Incremental bool
	// Replicas copies every host's files to this many other hosts; Parity
	// keeps this many Reed-Solomon parity shards of them instead (one of
	// the two; `replicas: N` and `redundancy: {replicas: N}` are the same).
	Replicas, Parity int
	// Every, when set, is the period of automatic checkpoints in labs and
	// the console; Keep, when set, is how many checkpoints retention keeps
	// (older ones go once nothing kept depends on them).
	Every time.Duration
	Keep  int
	// Precopy is when a live checkpoint's pre-copy rounds end.
	Precopy Precopy
}

// Precopy is the convergence policy of live checkpoints: pre-copy ends
// after MaxRounds rounds, or once the final pause is foreseen at most
// TargetPause, or when a round cut the dirty bytes by less than StopShrink
// (a fraction: 0.1 is a tenth), whichever comes first.
type Precopy struct {
	MaxRounds   int
	TargetPause time.Duration
	StopShrink  float64
}

// DefaultPrecopy is the policy of a profile that does not set one.
var DefaultPrecopy = Precopy{MaxRounds: 8, TargetPause: 50 * time.Millisecond, StopShrink: 0.1}

// RestorePolicy is the default for restores. Placement is normalized:
// "same", "single:main" or "main=40%,sub1=60%".
type RestorePolicy struct {
	Placement string
}

// Step kinds.
const (
	StepRun            = "run"
	StepCheckpoint     = "checkpoint"
	StepRestore        = "restore"
	StepVerify         = "verify"
	StepPauseForReader = "pause-for-reader"
	StepFault          = "fault"
)

// Fault actions of a fault step (lab profiles only).
const (
	// FaultKill kills the host's agent, as a crash would.
	FaultKill = "kill"
	// FaultCut takes the host's link down (netns labs).
	FaultCut = "cut"
	// FaultRestoreLink brings a cut link back up (netns labs).
	FaultRestoreLink = "restore-link"
	// FaultSlow shapes the host's link to Fault.Rate (netns labs).
	FaultSlow = "slow"
)

// Fault is what a fault step does to one host of a lab.
type Fault struct {
	Action string // FaultKill, FaultCut, FaultRestoreLink or FaultSlow
	Host   string
	// Rate is the link rate in bits/s for FaultSlow, else 0.
	Rate int64
}

// Step is one scenario step. Only the fields of its Kind are set.
type Step struct {
	Kind string
	// Line is the step's line in the profile, for progress and errors.
	Line             int
	Duration         time.Duration         // run
	Checkpoint       api.CheckpointRequest // checkpoint
	Restore          api.RestoreRequest    // restore
	VerifyCheckpoint string                // verify: "" checks the running guest
	Text             string                // pause-for-reader
	Fault            Fault                 // fault
}

// HostNames lists the cluster's host names, main host first: main, sub1 ..
// subN-1 for a lab, else the hosts' names in file order.
func (p *Profile) HostNames() []string {
	if p.Lab != nil {
		return labHostNames(p.Lab.Hosts)
	}
	names := make([]string, len(p.Hosts))
	for i, h := range p.Hosts {
		names[i] = h.Name
	}
	return names
}

// MainHost is the host that runs the vCPUs ("" for an empty profile).
func (p *Profile) MainHost() string {
	if names := p.HostNames(); len(names) > 0 {
		return names[0]
	}
	return ""
}

func labHostNames(n int) []string {
	names := make([]string, 0, n)
	for i := range n {
		if i == 0 {
			names = append(names, "main")
		} else {
			names = append(names, "sub"+strconv.Itoa(i))
		}
	}
	return names
}

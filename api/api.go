// Package api holds the types that cross the line between the D-CRES
// coordinator and its faces: the scripted commands, the operator console and
// recordings. The coordinator publishes Events; faces call Controller.
// Nothing here does I/O.
package api

import (
	"context"
	"time"
)

// PageSize is the size of one guest page.
const PageSize = 4096

// Guest states, as shown in the console header.
const (
	StateStarting      = "starting"
	StateRunning       = "running"
	StatePaused        = "paused"
	StateCheckpointing = "checkpointing"
	StateRestoring     = "restoring"
	StateStopped       = "stopped"
)

// HostStats is one host's figures, sampled about once a second.
type HostStats struct {
	Host      string        `json:"host"`
	Role      string        `json:"role"` // "main" or "sub"
	Addr      string        `json:"addr"`
	Connected bool          `json:"connected"`
	RTT       time.Duration `json:"rtt_ns"`
	// Pages this host is home for, pages it caches for the guest (main host
	// only), how many of those are dirty, and its page capacity.
	HomePages     int64 `json:"home_pages"`
	CachedPages   int64 `json:"cached_pages"`
	DirtyPages    int64 `json:"dirty_pages"`
	CapacityPages int64 `json:"capacity_pages"`
	// Bytes per second written to pages homed here (dirty rate), and pages per
	// second faulted in from (PagesIn) or written back to (PagesOut) this host.
	DirtyRate float64 `json:"dirty_rate"`
	PagesIn   float64 `json:"pages_in"`
	PagesOut  float64 `json:"pages_out"`
	// Resident set of the agent process, for the memory-overhead report.
	RSSBytes int64 `json:"rss_bytes"`
}

// GuestStatus is the guest's own view: its state and its self-checks.
type GuestStatus struct {
	Driver       string        `json:"driver"`
	State        string        `json:"state"`
	MemoryBytes  int64         `json:"memory_bytes"`
	Uptime       time.Duration `json:"uptime_ns"`
	PagesRead    int64         `json:"pages_read"`
	PagesWritten int64         `json:"pages_written"`
	Faults       int64         `json:"faults"`
	Evictions    int64         `json:"evictions"`
	CheckErrors  int64         `json:"check_errors"`
}

// Progress reports one host's part of a running checkpoint or restore.
type Progress struct {
	Op    string  `json:"op"` // "checkpoint" or "restore"
	ID    string  `json:"id"`
	Host  string  `json:"host"`
	Phase string  `json:"phase"` // e.g. "save", "round 2", "final pause", "commit", "load", "pull"
	Done  int64   `json:"done"`  // bytes
	Total int64   `json:"total"` // bytes
	Rate  float64 `json:"rate"`  // bytes/s
	// Pulled counts bytes fetched from peers during a restore.
	Pulled int64 `json:"pulled,omitempty"`
}

// CheckpointInfo describes one committed checkpoint, as listed.
type CheckpointInfo struct {
	ID           string    `json:"id"`
	VM           string    `json:"vm"`
	Created      time.Time `json:"created"`
	Method       string    `json:"method"`
	Live         bool      `json:"live"`
	Parent       string    `json:"parent,omitempty"`
	Bytes        int64     `json:"bytes"`
	Seconds      float64   `json:"seconds"`
	PauseSeconds float64   `json:"pause_seconds"`
	Hosts        []string  `json:"hosts"`
	Verify       string    `json:"verify,omitempty"` // "", "ok", "failed: ..."
}

// Range is a run of guest pages [Start, Start+Count) and the host it belongs to.
type Range struct {
	Start uint64 `json:"start"`
	Count uint64 `json:"count"`
	Host  string `json:"host"`
}

// MemMap is the guest's memory as coarse cells for the console's map.
type MemMap struct {
	PagesPerCell uint64   `json:"pages_per_cell"`
	Home         []string `json:"home"`   // home host of each cell (majority)
	Cached       []uint8  `json:"cached"` // 0..100: share of the cell cached on the main host
	Dirty        []uint8  `json:"dirty"`  // 0..100: share of the cell dirty
	Target       []string `json:"target,omitempty"`
}

// Level is an event's severity.
type Level string

const (
	Info  Level = "info"
	Warn  Level = "warn"
	Error Level = "error"
)

// Event types.
const (
	EvHosts       = "hosts"       // Hosts: the current figures of every host
	EvGuest       = "guest"       // Guest
	EvProgress    = "progress"    // Progress
	EvLog         = "log"         // Message: a protocol step or note
	EvCheckpoints = "checkpoints" // Checkpoints: the list changed
	EvMemMap      = "memmap"      // MemMap
	EvOpStart     = "op-start"    // Op, ID: an operation began
	EvOpDone      = "op-done"     // Op, ID, Message; Level Error when it failed
	EvPlan        = "plan"        // Plan: a restore plan was made
	EvReader      = "reader"      // Message: a teaching pause ("pause-for-reader")
	EvAction      = "action"      // Message: what the operator did (a key, a command), for recordings
)

// Event is one thing that happened. Completion and error events are never
// dropped; rate samples may be.
type Event struct {
	Time        time.Time        `json:"time"`
	Type        string           `json:"type"`
	Level       Level            `json:"level,omitempty"`
	Host        string           `json:"host,omitempty"`
	Op          string           `json:"op,omitempty"`
	ID          string           `json:"id,omitempty"`
	Message     string           `json:"message,omitempty"`
	Hosts       []HostStats      `json:"hosts,omitempty"`
	Guest       *GuestStatus     `json:"guest,omitempty"`
	Progress    *Progress        `json:"progress,omitempty"`
	Checkpoints []CheckpointInfo `json:"checkpoints,omitempty"`
	MemMap      *MemMap          `json:"memmap,omitempty"`
	Plan        *Plan            `json:"plan,omitempty"`
	// The result of a finished operation (op-done), for recordings and their
	// summaries.
	Checkpoint *CheckpointResult `json:"checkpoint,omitempty"`
	Restore    *RestoreResult    `json:"restore,omitempty"`
	Verify     *VerifyResult     `json:"verify,omitempty"`
}

// CheckpointRequest asks for a checkpoint.
type CheckpointRequest struct {
	Method      string `json:"method"` // "dcres", "traditional", "qemu-stream"
	Live        bool   `json:"live,omitempty"`
	Incremental bool   `json:"incremental,omitempty"`
	// Replicas copies every host's files to this many other hosts, so the
	// loss of as many hosts' checkpoint directories still restores.
	Replicas int `json:"replicas,omitempty"`
	// Parity keeps this many Reed-Solomon parity shards of every host's
	// files on other hosts instead (method dcres), so the loss of as many
	// hosts' files still restores.
	Parity int `json:"parity,omitempty"`
}

// HostResult is one host's share of an operation.
type HostResult struct {
	Host    string  `json:"host"`
	Bytes   int64   `json:"bytes"`
	Pages   int64   `json:"pages"`
	Seconds float64 `json:"seconds"`
	// Pulled is, for a restore, the bytes this host fetched from peers.
	Pulled int64 `json:"pulled,omitempty"`
}

// CheckpointResult is what a finished checkpoint reports.
type CheckpointResult struct {
	ID               string       `json:"id"`
	Method           string       `json:"method"`
	Live             bool         `json:"live"`
	Parent           string       `json:"parent,omitempty"`
	Seconds          float64      `json:"seconds"`
	PauseSeconds     float64      `json:"pause_seconds"`
	BytesSaved       int64        `json:"bytes_saved"`
	BytesOverNetwork int64        `json:"bytes_over_network"`
	PerHost          []HostResult `json:"per_host"`
	// Live checkpoints: each pre-copy round's bytes saved and the bytes still
	// dirty after it, and the bytes saved more than once in all.
	Rounds     []Round `json:"rounds,omitempty"`
	BytesAgain int64   `json:"bytes_saved_again,omitempty"`
	// Redundancy: bytes copied to other hosts, and the time it took (after
	// the guest resumed, before the commit).
	ReplicaBytes   int64   `json:"replica_bytes,omitempty"`
	ReplicaSeconds float64 `json:"replica_seconds,omitempty"`
	// ParityBytes is what the parity shards hold on disk (ReplicaBytes is
	// then what the hosts streamed to the parity holders).
	ParityBytes int64 `json:"parity_bytes,omitempty"`
}

// Round is one pre-copy round of a live checkpoint.
type Round struct {
	Bytes      int64   `json:"bytes"`
	DirtyAfter int64   `json:"dirty_after"`
	Seconds    float64 `json:"seconds"`
}

// RestoreRequest asks for a restore. From is a checkpoint id or "last",
// "last-dcres", "last-traditional"; Placement is "same", "single:HOST" or
// "HOST=P%,HOST=P%".
type RestoreRequest struct {
	From      string `json:"from"`
	Placement string `json:"placement,omitempty"`
	PlanOnly  bool   `json:"plan_only,omitempty"`
	// Lazy starts the guest as soon as the main host's part and the device
	// state are loaded; the homes load the rest in the background, pages
	// the guest asks for first.
	Lazy bool `json:"lazy,omitempty"`
}

// Plan is a restore placement: where every page goes and where it comes from.
type Plan struct {
	Checkpoint string       `json:"checkpoint"`
	Targets    []PlanTarget `json:"targets"`
	Links      []PlanLink   `json:"links"`
	// Seconds is the expected network time at the profile's link rate.
	Seconds float64 `json:"seconds"`
	Ranges  []Range `json:"ranges"` // target host of each page range
}

// PlanTarget is one target host's share of a restore.
type PlanTarget struct {
	Host  string `json:"host"`
	Pages int64  `json:"pages"`
	// ZeroPages of Pages are zero in the checkpoint: nothing is read or
	// moved for them, and LocalBytes and PullBytes leave them out.
	ZeroPages  int64 `json:"zero_pages,omitempty"`
	LocalBytes int64 `json:"local_bytes"`
	PullBytes  int64 `json:"pull_bytes"`
}

// PlanLink is the bytes one restore moves from one host to another.
type PlanLink struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Bytes int64  `json:"bytes"`
}

// RestoreResult is what a finished restore reports.
type RestoreResult struct {
	ID               string       `json:"id"`
	Placement        string       `json:"placement"`
	Seconds          float64      `json:"seconds"`
	BytesOverNetwork int64        `json:"bytes_over_network"`
	PerHost          []HostResult `json:"per_host"`
	Plan             *Plan        `json:"plan,omitempty"`
	// RunningSeconds is, for a lazy restore, the time until the guest ran
	// (Seconds is the time until every page was home).
	RunningSeconds float64 `json:"running_seconds,omitempty"`
}

// VerifyResult is what verify reports: for a checkpoint, digest faults; for
// the running guest, pages compared with the versions recorded at the cut.
type VerifyResult struct {
	Checkpoint string   `json:"checkpoint,omitempty"`
	Pages      int64    `json:"pages"`
	Errors     int64    `json:"errors"`
	Faults     []string `json:"faults,omitempty"`
	// Redundancy (checkpoints): every piece and device state of the
	// checkpoint and its chain, with its good copies.
	Redundancy []FileHealth `json:"redundancy,omitempty"`
}

// FileHealth is one host's checkpoint file (a piece or device state) and
// its copies: the original on Of and the replicas on other hosts.
type FileHealth struct {
	Checkpoint string `json:"checkpoint"`
	Of         string `json:"of"`
	File       string `json:"file"`
	// Want is how many good copies the checkpoint's redundancy asks for;
	// Good how many there are, on the hosts in Copies; Lost names the
	// hosts whose copy is missing, damaged or out of reach.
	Want   int      `json:"want"`
	Good   int      `json:"good"`
	Copies []string `json:"copies,omitempty"`
	Lost   []string `json:"lost,omitempty"`
}

// RepairResult is what dcres repair rebuilt, and the health after it.
type RepairResult struct {
	Checkpoint string `json:"checkpoint"`
	// Rebuilt lists "HOST: FILE from HOST" for every copy made.
	Rebuilt    []string     `json:"rebuilt,omitempty"`
	Bytes      int64        `json:"bytes"`
	Seconds    float64      `json:"seconds"`
	Redundancy []FileHealth `json:"redundancy"`
}

// Controller is the one API both faces use: the console calls it on keys,
// scripted mode on subcommands.
type Controller interface {
	// Subscribe returns a channel of events and a function that ends the
	// subscription. Rate samples may be dropped for a slow reader;
	// completion and error events are not.
	Subscribe() (<-chan Event, func())
	Checkpoint(ctx context.Context, req CheckpointRequest) (*CheckpointResult, error)
	Restore(ctx context.Context, req RestoreRequest) (*RestoreResult, error)
	// Verify checks a checkpoint's digests on every host (id != "") or the
	// running guest's pages against the versions at the last cut (id == "").
	Verify(ctx context.Context, id string) (*VerifyResult, error)
	List(ctx context.Context) ([]CheckpointInfo, error)
	Delete(ctx context.Context, id string) error
}

// Player controls a replay. A console whose Controller also implements
// Player shows the replay's position and offers its keys.
type Player interface {
	TogglePause()
	Paused() bool
	SetSpeed(x float64) // 0.25 to 100
	Speed() float64
	Step()                 // deliver the next event now (while paused)
	Seek(to time.Duration) // jump to an offset from the start
	Position() (at, total time.Duration)
}

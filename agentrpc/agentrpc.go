// Package agentrpc names the methods a host agent serves and the shapes of
// their parameters and results. The coordinator and the agent both use it,
// so the two sides cannot drift apart.
package agentrpc

import (
	"encoding/json"

	"dcres/api"
	"dcres/ckpt"
)

// Operator methods (from the console or a script).
const (
	Info          = "agent.info"
	Setup         = "vm.setup"
	Run           = "vm.run"
	Teardown      = "vm.teardown"
	Stats         = "vm.stats"
	Describe      = "vm.describe"
	Round         = "ckpt.round"
	Pause         = "ckpt.pause"
	Save          = "ckpt.save"
	Resume        = "ckpt.resume"
	Renew         = "ckpt.renew"
	Protect       = "ckpt.protect"
	Commit        = "ckpt.commit"
	Abort         = "ckpt.abort"
	Rollback      = "ckpt.rollback"
	List          = "ckpt.list"
	VerifyPiece   = "ckpt.verify"
	Delete        = "ckpt.delete"
	RepairFile    = "ckpt.repair"
	Amend         = "ckpt.amend"
	Census        = "ckpt.census"
	Rebuild       = "ckpt.rebuild"
	RestoreStop   = "restore.stop"
	RestoreLoad   = "restore.load"
	RestoreStart  = "restore.start"
	RestoreWait   = "restore.wait"
	Discard       = "restore.discard"
	VerifyGuest   = "guest.verify"
	EventStats    = "event.stats"
	EventProgress = "event.progress"
	EventLog      = "event.log"
	EventGuest    = "event.guest"
)

// Peer methods (agent to agent; page data in payloads).
const (
	PeerFetch     = "peer.fetch"
	PeerWriteBack = "peer.writeback"
	PeerPiece     = "peer.piece"
	PeerReplica   = "peer.replica"
	PeerFile      = "peer.file"
	PeerParity    = "peer.parity"
)

// MaxPagesPerCall bounds the pages in one peer message (4 MiB of data).
const MaxPagesPerCall = 1024

// InfoResult describes an agent.
type InfoResult struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	HostKey     string `json:"host_key"` // authorized_keys format
	MemoryBytes int64  `json:"memory_bytes"`
	QEMU        string `json:"qemu,omitempty"` // QEMU's version, if installed
	// PeerAddr is the address the agent accepts peers on (its --listen
	// address; the host part may be unspecified, e.g. 0.0.0.0:2222).
	PeerAddr string `json:"peer_addr,omitempty"`
}

// Peer introduces another agent of the VM: where it listens and the key it
// must present, both as a server and as a client.
type Peer struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	HostKey string `json:"host_key"`
}

// Workload is the synthetic guest's workload.
type Workload struct {
	Pattern     string  `json:"pattern"`
	DirtyRate   int64   `json:"dirty_rate"`
	ReadRate    int64   `json:"read_rate"`
	Seed        int64   `json:"seed"`
	HotFraction float64 `json:"hot_fraction"`
}

// SetupParams creates (or replaces) a VM on a host. Incarnation grows with
// every setup and restore, so a message of an older life is refused.
type SetupParams struct {
	VM          string      `json:"vm"`
	Incarnation uint64      `json:"incarnation"`
	Main        string      `json:"main"`
	Driver      string      `json:"driver"`
	MemoryBytes int64       `json:"memory_bytes"`
	CacheBytes  int64       `json:"cache_bytes"`
	Hosts       []string    `json:"hosts"` // location table host order
	Locations   []api.Range `json:"locations"`
	Peers       []Peer      `json:"peers"`
	Workload    Workload    `json:"workload"`
	CPUs        int         `json:"cpus,omitempty"`
	// Nodes are the guest's NUMA nodes in pages (qemu driver): node i covers
	// the gfns after nodes 0..i-1. Node 0 is always on the main host.
	Nodes []uint64 `json:"nodes,omitempty"`
}

// VMParams names a VM.
type VMParams struct {
	VM string `json:"vm"`
}

// PauseResult is the main host's state at the cut.
type PauseResult struct {
	Locations []api.Range `json:"locations"`
	Hosts     []string    `json:"hosts"`
	// LeaseSeconds is the lease the pause armed: the coordinator renews it
	// (ckpt.renew, VMParams) well within that while the checkpoint goes on.
	LeaseSeconds float64 `json:"lease_seconds,omitempty"`
}

// SaveParams asks a host to write its piece of checkpoint ID. For a live
// checkpoint, Round numbers the piece: rounds 0..N-1 are pre-copy rounds
// (ckpt.round, the guest running) and the final save writes round N.
type SaveParams struct {
	VM     string `json:"vm"`
	ID     string `json:"id"`
	Method string `json:"method"`
	Live   bool   `json:"live,omitempty"`
	Round  int    `json:"round,omitempty"`
	// Incremental saves only the pages written since the last cut.
	Incremental bool `json:"incremental,omitempty"`
}

// SaveResult is a host's saved piece.
type SaveResult struct {
	Piece       *ckpt.PieceRef `json:"piece,omitempty"`
	DeviceState *ckpt.FileRef  `json:"device_state,omitempty"`
	// Overrides are the gfn ranges whose authoritative copy is in this piece
	// although another host is their home (the main host's dirty cache).
	Overrides        []api.Range `json:"overrides,omitempty"`
	Seconds          float64     `json:"seconds"`
	BytesOverNetwork int64       `json:"bytes_over_network"`
	// Dirty is, after a pre-copy round, the bytes held here that changed
	// since they were saved.
	Dirty int64 `json:"dirty,omitempty"`
	// Contains is, for an incremental checkpoint, the home pages saved.
	Contains []api.Range `json:"contains,omitempty"`
	// Base is the checkpoint whose cut this host's written-since marks start
	// from (the last committed or restored here): an incremental checkpoint
	// is valid only if every host's base is its parent.
	Base string `json:"base,omitempty"`
}

// DescribeResult is a running VM's setup and the checkpoint its written-since
// marks start from.
type DescribeResult struct {
	Setup SetupParams `json:"setup"`
	Base  string      `json:"base,omitempty"`
}

// CkptParams names one checkpoint of a VM.
type CkptParams struct {
	VM string `json:"vm"`
	ID string `json:"id"`
}

// CommitParams commits a checkpoint with its manifest.
type CommitParams struct {
	VM       string          `json:"vm"`
	ID       string          `json:"id"`
	Manifest json.RawMessage `json:"manifest"`
}

// ListResult is a host's committed checkpoints of a VM.
type ListResult struct {
	Manifests []json.RawMessage `json:"manifests"`
	// Damaged maps checkpoint ids whose manifest here is unreadable to why.
	Damaged map[string]string `json:"damaged,omitempty"`
	// Pending lists checkpoint ids with a directory here but no manifest:
	// being saved or committed now (an earlier run's are cleaned at start).
	Pending []string `json:"pending,omitempty"`
}

// VerifyResult is a host's digest check of its part of a checkpoint.
type VerifyResult struct {
	Pages  int64    `json:"pages"`
	Faults []string `json:"faults,omitempty"`
	// Bad names the files of the checkpoint on this host with a fault.
	Bad []string `json:"bad,omitempty"`
}

// Source is where a target finds the authoritative copy of some pages: the
// pieces of checkpoint ID held by Host (ID "" means the checkpoint being
// restored; an incremental checkpoint's pages may come from its ancestors).
type Source struct {
	Host string `json:"host"`
	ID   string `json:"id,omitempty"`
	// Of, when set, reads Host's replicas of host Of's pieces (Of is lost).
	Of     string      `json:"of,omitempty"`
	Ranges []api.Range `json:"ranges"`
}

// LoadParams asks a target to load its share of a checkpoint into its store.
type LoadParams struct {
	Setup    SetupParams     `json:"setup"`
	ID       string          `json:"id"`
	Sources  []Source        `json:"sources"`
	Manifest json.RawMessage `json:"manifest"`
	// DeviceFrom, on the main host, is a host holding a replica of the
	// device state, when this host's own copy is lost.
	DeviceFrom *ckpt.Replica `json:"device_from,omitempty"`
	// Lazy (a home, not the main host) returns at once and loads in the
	// background; a page asked for first is loaded first. restore.wait
	// waits for the end.
	Lazy bool `json:"lazy,omitempty"`
}

// LoadResult is what a target loaded.
type LoadResult struct {
	Pages   int64   `json:"pages"`
	Bytes   int64   `json:"bytes"`
	Pulled  int64   `json:"pulled"`
	Seconds float64 `json:"seconds"`
}

// StartParams starts the restored guest on the main host.
type StartParams struct {
	VM       string          `json:"vm"`
	ID       string          `json:"id"`
	Manifest json.RawMessage `json:"manifest"`
}

// VerifyGuestResult compares every page with the version at the cut.
type VerifyGuestResult struct {
	Pages  int64 `json:"pages"`
	Errors int64 `json:"errors"`
}

// FetchParams asks a home for pages [Start, Start+Count).
type FetchParams struct {
	VM          string `json:"vm"`
	Incarnation uint64 `json:"incarnation"`
	Start       uint64 `json:"start"`
	Count       uint64 `json:"count"`
}

// WriteBackParams sends dirty pages home; the payload holds them in order.
type WriteBackParams struct {
	VM          string   `json:"vm"`
	Incarnation uint64   `json:"incarnation"`
	GFNs        []uint64 `json:"gfns"`
}

// PieceParams asks a host for the pages of its pieces in Ranges; with Of,
// of its replicas of host Of's pieces.
type PieceParams struct {
	VM     string      `json:"vm"`
	ID     string      `json:"id"`
	Of     string      `json:"of,omitempty"`
	Ranges []api.Range `json:"ranges"`
}

// ProtectParams asks a host to copy its files of checkpoint ID to hosts To.
type ProtectParams struct {
	VM string   `json:"vm"`
	ID string   `json:"id"`
	To []string `json:"to"`
	// Parity, instead of To: stream this host's files, segment by segment,
	// to the holders of each group's parity (the layout, without streams
	// and shards).
	Parity *ckpt.Parity `json:"parity,omitempty"`
}

// ProtectResult lists the copies made.
type ProtectResult struct {
	Replicas []ckpt.Replica `json:"replicas"`
	Bytes    int64          `json:"bytes"`
	// Parity: this host's stream, and the parity shards its last segments
	// completed (a holder finishes a shard when its last data arrives).
	Stream *ckpt.ParityStream `json:"stream,omitempty"`
	Shards []ckpt.ParityShard `json:"shards,omitempty"`
}

// ParityParams carries Offset.. of data shard Idx of parity group Group to
// the holder of its parity shard Index (the payload; Last marks the shard's
// end). The holder adds it to its parity incrementally.
type ParityParams struct {
	VM     string `json:"vm"`
	ID     string `json:"id"`
	Group  int    `json:"group"`
	Index  int    `json:"index"`
	Data   int    `json:"data"`
	Parity int    `json:"parity"`
	Idx    int    `json:"idx"`
	Offset int64  `json:"offset"`
	Last   bool   `json:"last"`
}

// RebuildParams has a host rebuild host Of's files of a checkpoint from
// the other hosts' streams and the parity shards, named Names[file] here.
//
// With Of empty, it re-encodes parity shard Index of group Group instead
// (this host holds it) from the data streams. Lost names the hosts not to
// ask (gone, or their files are).
type RebuildParams struct {
	VM       string            `json:"vm"`
	ID       string            `json:"id"`
	Of       string            `json:"of,omitempty"`
	Names    map[string]string `json:"names,omitempty"`
	Group    int               `json:"group,omitempty"`
	Index    int               `json:"index,omitempty"`
	Lost     []string          `json:"lost,omitempty"`
	Manifest json.RawMessage   `json:"manifest"`
}

// RebuildResult is every rebuilt file's hash and size, by original name,
// and the bytes fetched from peers.
type RebuildResult struct {
	Files   map[string]RepairFileResult `json:"files"`
	Fetched int64                       `json:"fetched"`
}

// ReplicaParams carries a chunk of host Of's file Original to a replica
// holder; the payload is the chunk at Offset. Last ends the file.
type ReplicaParams struct {
	VM       string `json:"vm"`
	ID       string `json:"id"`
	Of       string `json:"of"`
	Original string `json:"original"`
	Offset   int64  `json:"offset"`
	Last     bool   `json:"last"`
}

// RepairFileParams has a host rebuild one file of checkpoint ID, named File
// here, from the good copy FromFile on host From. The copy must match
// Digest (a piece's digest when Piece, else the file's hash) and Bytes
// before it replaces anything.
type RepairFileParams struct {
	VM       string `json:"vm"`
	ID       string `json:"id"`
	From     string `json:"from"`
	FromFile string `json:"from_file"`
	File     string `json:"file"`
	Bytes    int64  `json:"bytes"`
	Digest   string `json:"digest"`
	Piece    bool   `json:"piece,omitempty"`
}

// RepairFileResult is the rebuilt file's hash and size.
type RepairFileResult struct {
	Digest string `json:"digest"`
	Bytes  int64  `json:"bytes"`
}

// AmendParams writes a checkpoint's manifest with new redundancy (or where
// a repaired directory lost it); see ckpt.Store.Amend.
type AmendParams struct {
	VM       string          `json:"vm"`
	ID       string          `json:"id"`
	Manifest json.RawMessage `json:"manifest"`
}

// CensusParams asks which pages of host Of's pieces of checkpoint ID (this
// host's own when Of is empty or this host; else its replicas of Of's)
// carry data: a restore moves only those.
type CensusParams struct {
	VM string `json:"vm"`
	ID string `json:"id"`
	Of string `json:"of,omitempty"`
}

// CensusResult: bit g (LSB first) of NonZero is set when page g's last
// copy in those pieces is not all zero.
type CensusResult struct {
	Pages   uint64 `json:"pages"`
	NonZero []byte `json:"nonzero"`
}

// FileParams asks for a chunk of a committed checkpoint file.
type FileParams struct {
	VM     string `json:"vm"`
	ID     string `json:"id"`
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// PieceResult lists the non-zero pages in the payload, as runs in order.
type PieceResult struct {
	Runs []api.Range `json:"runs"`
}

// LogEvent is a line an agent reports to its operators.
type LogEvent struct {
	Level   api.Level `json:"level"`
	Message string    `json:"message"`
}

// Introduce tells an agent about the peers of a VM before a restore, so that
// a host that holds a piece but is no target can serve it.
const Introduce = "vm.introduce"

// IntroduceParams lists a VM's peers.
type IntroduceParams struct {
	VM    string `json:"vm"`
	Peers []Peer `json:"peers"`
}

// StatsEvent is an agent's figures for one VM, sent about once a second.
type StatsEvent struct {
	VM    string           `json:"vm"`
	Host  api.HostStats    `json:"host"`
	Guest *api.GuestStatus `json:"guest,omitempty"`
	// DirtyByHost is, on the main host, the bytes per second the guest writes
	// to pages homed at each host.
	DirtyByHost map[string]float64 `json:"dirty_by_host,omitempty"`
}

// BenchPaging measures remote paging from the main host to one home: the
// same peer link and fetch path that faults use.
const BenchPaging = "bench.paging"

// BenchPagingParams names the VM and the home to fetch from.
type BenchPagingParams struct {
	VM     string `json:"vm"`
	Home   string `json:"home"`
	Bytes  int64  `json:"bytes"`  // sequential bytes to fetch
	Faults int    `json:"faults"` // random single-page fetches
}

// BenchPagingResult is what one home served.
type BenchPagingResult struct {
	SeqBytesPerSec float64 `json:"seq_bytes_per_sec"`
	FaultP50       float64 `json:"fault_p50_seconds"`
	FaultP99       float64 `json:"fault_p99_seconds"`
}

// VMName names the VM a request is for (the agent finds the VM by it).
func (p VMParams) VMName() string          { return p.VM }
func (p SaveParams) VMName() string        { return p.VM }
func (p CkptParams) VMName() string        { return p.VM }
func (p ProtectParams) VMName() string     { return p.VM }
func (p BenchPagingParams) VMName() string { return p.VM }

// Compact folds a chain of checkpoints into a new full one, on every host
// from the pieces it holds: no page crosses the network.
const Compact = "ckpt.compact"

// CompactParams asks a host to write its piece of the full checkpoint ID
// that equals checkpoint From (the chain's last): for every range of
// Sources, the page from the pieces of Source.ID held here.
type CompactParams struct {
	VM          string        `json:"vm"`
	ID          string        `json:"id"`
	From        string        `json:"from"`
	NPages      uint64        `json:"npages"`
	Sources     []Source      `json:"sources"`
	DeviceState *ckpt.FileRef `json:"device_state,omitempty"` // From's, when held here
}

package profiles

// schema lists the keys allowed in every mapping the loader reads, by
// section ("" is the top level, "[]" marks a sequence item). The loader
// rejects any key not listed here, and a test checks each one is documented
// in docs/profiles.md, so the loader, its errors and the doc agree.
var schema = map[string][]string{
	"":                                 {"name", "description", "lab", "hosts", "known_hosts", "vm", "checkpoint", "restore", "scenario"},
	"lab":                              {"hosts", "netns", "link"},
	"lab.link":                         {"rate"},
	"hosts[]":                          {"name", "address", "user", "key", "data", "command"},
	"vm":                               {"name", "driver", "memory", "cpus", "split", "cache", "workload"},
	"vm.workload":                      {"pattern", "dirty_rate", "read_rate", "seed", "hot_fraction"},
	"checkpoint":                       {"dir", "method", "live", "incremental", "replicas", "redundancy", "every", "keep", "precopy"},
	"checkpoint.precopy":               {"max_rounds", "target_pause", "stop_shrink"},
	"checkpoint.redundancy":            {"replicas", "parity"},
	"restore":                          {"placement"},
	"restore.placement":                {"single", "hosts"},
	"scenario[]":                       {StepRun, StepCheckpoint, StepRestore, StepVerify, StepPauseForReader, StepFault},
	"scenario[].checkpoint":            {"method", "live", "incremental", "replicas", "redundancy"},
	"scenario[].checkpoint.redundancy": {"replicas", "parity"},
	"scenario[].restore":               {"from", "placement", "lazy"},
	"scenario[].verify":                {"checkpoint"},
	"scenario[].fault":                 {FaultKill, FaultCut, FaultRestoreLink, FaultSlow, "rate"},
}

// Allowed values of the enumerated keys; docs/profiles.md lists them too.
var (
	drivers     = []string{"synthetic", "qemu"}
	methods     = []string{"dcres", "traditional", "qemu-stream"}
	patterns    = []string{"hotcold", "uniform", "sequential", "idle"}
	refKeywords = []string{"last", "last-dcres", "last-traditional", "last-qemu-stream"}
)

// Limits.
const (
	minMemory = 16 << 20
	maxMemory = 64 << 30
	maxHosts  = 16
	maxCPUs   = 64
	// maxInput bounds what Parse reads: a profile is a short text file.
	maxInput = 1 << 20
	// maxErrors stops a badly broken file from burying the first problems.
	maxErrors = 20
)

// Defaults.
const (
	defaultLabHosts   = 3
	defaultUser       = "dcres"
	defaultData       = "/var/lib/dcres"
	defaultCommand    = "dcres agent --stdio"
	defaultKnownHosts = "~/.config/dcres/known_hosts"
	defaultVMName     = "vm"
	defaultDriver     = "synthetic"
	defaultCPUs       = 1
	defaultCachePct   = 10
	defaultPattern    = "hotcold"
	defaultDirtyRate  = 32 << 20
	defaultReadRate   = 128 << 20
	defaultSeed       = 1
	defaultHotFrac    = 0.1
	defaultMethod     = "dcres"
	defaultPlacement  = "same"
	defaultFrom       = "last"
)

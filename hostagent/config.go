package hostagent

import (
	"fmt"
	"path/filepath"
	"time"
)

// Config is one agent's settings.
type Config struct {
	// Name is this host's name in profiles (main, sub1, ...).
	Name string
	// DataDir holds the host key, authorized keys and checkpoints.
	DataDir string
	// AuthorizedKeys is the operator keys file (default DataDir/authorized_keys).
	AuthorizedKeys string
	// Lease is how long a paused guest waits for its coordinator before the
	// agent resumes it on its own (default 30 s).
	Lease time.Duration
	// StatsEvery is the period of the figures sent to operators (default 1 s).
	StatsEvery time.Duration
	// PeerAddr is the address the agent listens on for peers, reported by
	// agent.info (a coordinator that reached the agent through sshd learns
	// where its peers must dial from it).
	PeerAddr string
	// Logf logs; nil discards.
	Logf func(format string, args ...any)
}

func (c *Config) fill() error {
	if c.Name == "" {
		return fmt.Errorf("hostagent: the agent needs a host name (--name)")
	}
	if c.DataDir == "" {
		return fmt.Errorf("hostagent: the agent needs a data directory (--data)")
	}
	if c.AuthorizedKeys == "" {
		c.AuthorizedKeys = filepath.Join(c.DataDir, "authorized_keys")
	}
	if c.Lease == 0 {
		c.Lease = 30 * time.Second
	}
	if c.StatsEvery == 0 {
		c.StatsEvery = time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// HostKeyPath is where an agent keeps its SSH host key.
func HostKeyPath(dataDir string) string { return filepath.Join(dataDir, "host_key") }

// AddrFile is where an agent writes the address it listens on, so a lab that
// asked for port 0 learns the port.
func AddrFile(dataDir string) string { return filepath.Join(dataDir, "listen.addr") }

// CheckpointRoot is the agent's checkpoint directory.
func CheckpointRoot(dataDir string) string { return filepath.Join(dataDir, "checkpoints") }

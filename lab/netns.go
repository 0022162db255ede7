package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// netnsUnavailable says why this process cannot build a netns lab ("" if
// it can): it needs root and iproute2's ip and tc.
func netnsUnavailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("the %s command is missing (install iproute2)", tool)
		}
	}
	return ""
}

// createNetns removes dead labs' leftovers, then names, records and
// creates the namespaces, bridge and shaped links of a lab in dir.
func createNetns(ctx context.Context, dir string, hosts []string, rate int64, logf func(string, ...any)) (*netnsPlan, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	unlock, err := lockRecords()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := cleanStale(ctx, logf); err != nil {
		// Leftovers that cannot be removed only cost names and subnets,
		// which the choices below avoid.
		logf("%v", err)
	}
	recs := readRecords()
	var id string
	for salt := 0; ; salt++ {
		id = labID(abs, salt)
		r := recs[id]
		if r == nil || !ownerAlive(r) {
			break
		}
		if r.Dir == abs {
			return nil, fmt.Errorf("lab directory %s is in use by a running netns lab (pid %d): stop that lab first, or use another --lab-dir", abs, r.Owner)
		}
	}
	links, err := listLinks(ctx)
	if err != nil {
		return nil, err
	}
	used := usedSubnets(links)
	for _, r := range recs {
		if ownerAlive(r) {
			used[r.Subnet] = true
		}
	}
	subnet, err := pickSubnet(id, used)
	if err != nil {
		return nil, err
	}
	p := newPlan(id, abs, subnet, hosts, rate)
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.Owner = os.Getpid()
	if p.OwnerStart, err = procStart(p.Owner); err != nil {
		return nil, fmt.Errorf("reading this process's start time: %w", err)
	}
	// The record goes first: whatever exists from now on is accounted for.
	if err := writeRecord(p); err != nil {
		return nil, err
	}
	if err := setupNetns(ctx, p); err != nil {
		if terr := p.remove(); terr != nil {
			err = errors.Join(err, terr)
		}
		return nil, err
	}
	return p, nil
}

// remove deletes every object of p and its record. It runs even when the
// lab's context is cancelled: leftovers would outlive the process.
func (p *netnsPlan) remove() error {
	err := teardownNetns(context.Background(), p)
	if err == nil {
		removeRecord(p)
	}
	return err
}

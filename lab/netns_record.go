package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// recordDir holds one record per live netns lab on this machine, so that
// any later lab can tell a crashed lab's leftovers from a running lab's
// objects. It is on /run: namespaces and records both vanish on reboot.
var recordDir = "/run/dcres/netns"

// netnsRecordName is the copy of the record kept in the lab directory.
const netnsRecordName = "netns.json"

// lockRecords takes the machine-wide lock under which labs clean up,
// choose ids and subnets, and create their objects.
func lockRecords() (unlock func(), err error) {
	if err := os.MkdirAll(recordDir, 0o700); err != nil {
		return nil, fmt.Errorf("netns lab records: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(recordDir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("netns lab records: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

func recordPath(id string) string { return filepath.Join(recordDir, id+".json") }

// writeRecord writes p's record, atomically, to recordDir and the lab dir.
func writeRecord(p *netnsPlan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	for _, path := range []string{recordPath(p.ID), filepath.Join(p.Dir, netnsRecordName)} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("netns lab record: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("netns lab record: %w", err)
		}
	}
	return nil
}

func removeRecord(p *netnsPlan) {
	os.Remove(recordPath(p.ID))
	os.Remove(filepath.Join(p.Dir, netnsRecordName))
}

// readRecords reads every lab record; unreadable ones count as absent (so
// their objects are stale).
func readRecords() map[string]*netnsPlan {
	recs := map[string]*netnsPlan{}
	ents, _ := os.ReadDir(recordDir)
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || idOf(bridgePrefix+id) == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(recordDir, e.Name()))
		if err != nil {
			continue
		}
		var p netnsPlan
		if json.Unmarshal(b, &p) == nil && p.ID == id {
			recs[id] = &p
		}
	}
	return recs
}

// procStart is a process's start time in clock ticks since boot (field
// 22 of /proc/PID/stat), which together with the pid names it uniquely.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields count from
	// the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// ownerAlive reports whether the process that made p still runs.
func ownerAlive(p *netnsPlan) bool {
	if p.Owner <= 0 {
		return false
	}
	st, err := procStart(p.Owner)
	return err == nil && st == p.OwnerStart
}

// staleLab is what one dead lab left behind.
type staleLab struct {
	id         string
	owner      int // 0: no record
	namespaces []string
	links      []string
}

// findStale lists the objects of labs whose owner is gone or that have no
// record. The caller holds the records lock, so a lab being created (whose
// record is written before its first object) is never among them.
func findStale(ctx context.Context) ([]staleLab, error) {
	nss, err := listNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	links, err := listLinks(ctx)
	if err != nil {
		return nil, err
	}
	recs := readRecords()
	byID := map[string]*staleLab{}
	get := func(id string) *staleLab {
		if s := byID[id]; s != nil {
			return s
		}
		s := &staleLab{id: id}
		if r := recs[id]; r != nil {
			s.owner = r.Owner
		}
		byID[id] = s
		return s
	}
	live := func(id string) bool { r := recs[id]; return r != nil && ownerAlive(r) }
	for _, ns := range nss {
		if id := idOf(ns); id != "" && !live(id) {
			s := get(id)
			s.namespaces = append(s.namespaces, ns)
		}
	}
	for _, l := range links {
		// A bridge-side veth name shows as "dcv...b0@if12" in some outputs; ifname is bare.
		if id := idOf(l.Name); id != "" && !live(id) {
			s := get(id)
			s.links = append(s.links, l.Name)
		}
	}
	for id := range recs {
		if !live(id) {
			get(id)
		}
	}
	var out []staleLab
	for _, s := range byID {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// removeStale deletes what dead labs left: first any process still in
// their namespaces (an agent whose lab died without taking it along), then
// the namespaces, the links (bridge first: that frees its ports) and the
// record.
func removeStale(ctx context.Context, s staleLab) error {
	var errs []error
	for _, ns := range s.namespaces {
		out, err := run(ctx, "ip", "netns", "pids", ns)
		if err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	sort.Slice(s.links, func(i, j int) bool {
		return strings.HasPrefix(s.links[i], bridgePrefix) && !strings.HasPrefix(s.links[j], bridgePrefix)
	})
	for _, l := range s.links {
		if _, err := run(ctx, "ip", "link", "del", l); err != nil && !gone(err) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(recordPath(s.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanStale removes every dead lab's objects and says what it removed.
// The caller holds the records lock.
func cleanStale(ctx context.Context, logf func(string, ...any)) error {
	stale, err := findStale(ctx)
	if err != nil {
		return fmt.Errorf("looking for stale netns labs: %w", err)
	}
	var errs []error
	for _, s := range stale {
		why := "no record"
		if s.owner > 0 {
			why = fmt.Sprintf("owner pid %d is gone", s.owner)
		}
		if err := removeStale(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("removing stale netns lab %s: %w", s.id, err))
			continue
		}
		logf("removed stale netns lab %s (%s): namespaces %v, links %v", s.id, why, s.namespaces, s.links)
	}
	return errors.Join(errs...)
}

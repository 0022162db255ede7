package qemu

import (
	"context"
	"fmt"
	"os"
	"time"
)

// status returns the run state from query-status, e.g. "running",
// "paused", "postmigrate", "inmigrate".
func (c *client) status(ctx context.Context) (string, error) {
	var st struct {
		Status string `json:"status"`
	}
	if err := c.run(ctx, "query-status", nil, nil, &st); err != nil {
		return "", err
	}
	return st.Status, nil
}

func (c *client) simple(ctx context.Context, name string) error {
	return c.run(ctx, name, nil, nil, nil)
}

type capability struct {
	Capability string `json:"capability"`
	State      bool   `json:"state"`
}

// setCapabilities sets migration capabilities in a fixed order (the order
// of caps), so the command text is deterministic.
func (c *client) setCapabilities(ctx context.Context, caps ...capability) error {
	return c.run(ctx, "migrate-set-capabilities", map[string]any{"capabilities": caps}, nil, nil)
}

// maxBandwidth lifts the migration bandwidth cap (default 128 MiB/s, which
// applies even to a stopped guest).
const maxBandwidth = int64(1) << 40

func (c *client) setMaxBandwidth(ctx context.Context, bytesPerSec int64) error {
	return c.run(ctx, "migrate-set-parameters", map[string]any{"max-bandwidth": bytesPerSec}, nil, nil)
}

// getfd hands f to QEMU under name (SCM_RIGHTS on the QMP socket).
func (c *client) getfd(ctx context.Context, name string, f *os.File) error {
	return c.run(ctx, "getfd", map[string]any{"fdname": name}, f, nil)
}

func (c *client) migrate(ctx context.Context, uri string) error {
	return c.run(ctx, "migrate", map[string]any{"uri": uri}, nil, nil)
}

func (c *client) migrateIncoming(ctx context.Context, uri string) error {
	return c.run(ctx, "migrate-incoming", map[string]any{"uri": uri}, nil, nil)
}

type migrateInfo struct {
	Status    string `json:"status"`
	ErrorDesc string `json:"error-desc"`
	TotalTime int64  `json:"total-time"`
}

func (c *client) queryMigrate(ctx context.Context) (migrateInfo, error) {
	var mi migrateInfo
	err := c.run(ctx, "query-migrate", nil, nil, &mi)
	return mi, err
}

// migratePoll is how often query-migrate is asked when no event comes.
const migratePoll = 10 * time.Millisecond

// waitMigration polls query-migrate (woken early by MIGRATION events) until
// the migration completed, failed or was cancelled, or ctx ends.
func (c *client) waitMigration(ctx context.Context) error {
	t := time.NewTimer(migratePoll)
	defer t.Stop()
	last := "unknown"
	for {
		mi, err := c.queryMigrate(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("qemu: migration still %q: %w", last, ctx.Err())
			}
			return err
		}
		last = mi.Status
		switch mi.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			desc := mi.ErrorDesc
			if desc == "" {
				desc = "no reason given; see qemu.log in the runtime dir"
			}
			return fmt.Errorf("qemu: migration %s: %s", mi.Status, desc)
		}
		t.Reset(migratePoll)
		select {
		case <-ctx.Done():
			return fmt.Errorf("qemu: migration still %q: %w", mi.Status, ctx.Err())
		case <-c.migEvent:
		case <-t.C:
		}
	}
}

// calcDirtyRate measures the dirty rate over seconds in page-sampling mode,
// the only mode that works under TCG in QEMU 7.2 (dirty-bitmap and
// dirty-ring crash it), and returns bytes per second.
func (c *client) calcDirtyRate(ctx context.Context, seconds int) (float64, error) {
	if seconds < 1 {
		return 0, fmt.Errorf("qemu: dirty rate period must be at least 1 s, got %d", seconds)
	}
	if err := c.run(ctx, "calc-dirty-rate", map[string]any{"calc-time": seconds, "mode": "page-sampling"}, nil, nil); err != nil {
		return 0, err
	}
	t := time.NewTimer(time.Duration(seconds) * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("qemu: dirty rate not measured yet: %w", ctx.Err())
		case <-t.C:
		}
		var dr struct {
			Status    string `json:"status"`
			DirtyRate int64  `json:"dirty-rate"` // MiB/s
		}
		if err := c.run(ctx, "query-dirty-rate", nil, nil, &dr); err != nil {
			return 0, err
		}
		if dr.Status == "measured" {
			return float64(dr.DirtyRate) * mib, nil
		}
		t.Reset(100 * time.Millisecond)
	}
}

package main

import (
	"context"
	"fmt"
	"time"

	"dcres/api"
	"dcres/internal/units"
)

func cmdCheckpoint(ctx context.Context, args []string) error {
	fs := newFlags("checkpoint", "PROFILE", "Checkpoint the VM running on the profile's hosts (a running lab's for a lab profile).")
	c := addCommon(fs)
	method := fs.String("method", "dcres", "dcres (every host saves its own pages) or traditional (gather to the main host)")
	live := fs.Bool("live", false, "live checkpoint (pre-copy rounds while the guest runs)")
	incremental := fs.Bool("incremental", false, "save only what changed since the last checkpoint (its parent)")
	replicas := fs.Int("replicas", 0, "copy every host's files to this many other hosts, so a lost host still restores")
	parity := fs.Int("parity", 0, "keep this many Reed-Solomon parity shards of every host's files on other hosts instead (method dcres)")
	s, _, err := attachArgs(ctx, fs, c, args, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: *method, Live: *live, Incremental: *incremental, Replicas: *replicas, Parity: *parity})
	if err != nil {
		return err
	}
	if *c.json {
		printJSON(res)
		return nil
	}
	fmt.Printf("checkpoint %s (%s): %.2fs, pause %.2fs, saved %s, over network %s\n", res.ID, res.Method, res.Seconds, res.PauseSeconds, units.FormatBytes(res.BytesSaved), units.FormatBytes(res.BytesOverNetwork))
	printPerHost(res.PerHost)
	return nil
}

func cmdRestore(ctx context.Context, args []string) error {
	fs := newFlags("restore", "PROFILE", "Restore a checkpoint of the profile's VM, in parallel on every target host.")
	c := addCommon(fs)
	from := fs.String("from", "last", "checkpoint id, or last, last-dcres, last-traditional")
	placement := fs.String("placement", "same", "same, single:HOST (one host, a normal VM), or HOST=P%,HOST=P%")
	planOnly := fs.Bool("plan-only", false, "print the plan (bytes per target and link, expected time) and change nothing")
	lazy := fs.Bool("lazy", false, "start the guest once the main host's part is loaded; the other homes load the rest in the background")
	s, _, err := attachArgs(ctx, fs, c, args, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Restore(ctx, api.RestoreRequest{From: *from, Placement: *placement, PlanOnly: *planOnly, Lazy: *lazy})
	if err != nil {
		return err
	}
	if *c.json {
		printJSON(res)
		return nil
	}
	if res.Plan != nil {
		printPlan(res.Plan)
	}
	if !*planOnly {
		fmt.Printf("restored %s onto %s in %.2fs, %s pulled over the network\n", res.ID, res.Placement, res.Seconds, units.FormatBytes(res.BytesOverNetwork))
	}
	return nil
}

func printPlan(pl *api.Plan) {
	fmt.Printf("plan for %s:\n", pl.Checkpoint)
	for _, t := range pl.Targets {
		fmt.Printf("  target %-8s %8d pages (%d zero)  local %10s  pull %10s\n", t.Host, t.Pages, t.ZeroPages, units.FormatBytes(t.LocalBytes), units.FormatBytes(t.PullBytes))
	}
	for _, l := range pl.Links {
		fmt.Printf("  link %s -> %s: at most %s\n", l.From, l.To, units.FormatBytes(l.Bytes))
	}
	if pl.Seconds > 0 {
		fmt.Printf("  expected network time at the link rate: %.2fs\n", pl.Seconds)
	}
}

func cmdVerify(ctx context.Context, args []string) error {
	fs := newFlags("verify", "PROFILE [CHECKPOINT]", "Check every digest of a checkpoint on every host (host, file and byte range of\nany fault), or, without CHECKPOINT, read every page of the running guest and\ncompare it with the version the guest wrote last.")
	c := addCommon(fs)
	s, rest, err := attachArgs(ctx, fs, c, args, 0, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	id := ""
	if len(rest) == 1 {
		id = rest[0]
	}
	res, err := s.Verify(ctx, id)
	if err != nil {
		return err
	}
	if *c.json {
		printJSON(res)
	} else {
		what := "guest"
		if id != "" {
			what = res.Checkpoint
		}
		fmt.Printf("%s: %d pages, %d errors\n", what, res.Pages, res.Errors)
		for _, f := range res.Faults {
			fmt.Println("  " + f)
		}
		printHealth(res.Redundancy)
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d errors", res.Errors)
	}
	return nil
}

func cmdList(ctx context.Context, args []string) error {
	fs := newFlags("ls", "PROFILE", "List the checkpoints committed on every host they need.")
	c := addCommon(fs)
	s, _, err := attachArgs(ctx, fs, c, args, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	if *c.json {
		printJSON(list)
		return nil
	}
	for _, ci := range list {
		fmt.Printf("%-36s %-11s %s  %10s  %v\n", ci.ID, ci.Method, ci.Created.Local().Format(time.DateTime), units.FormatBytes(ci.Bytes), ci.Hosts)
	}
	return nil
}

func cmdDelete(ctx context.Context, args []string) error {
	fs := newFlags("delete", "PROFILE CHECKPOINT", "Delete a checkpoint on every host.")
	c := addCommon(fs)
	s, rest, err := attachArgs(ctx, fs, c, args, 1, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Delete(ctx, rest[0])
}

func cmdCompact(ctx context.Context, args []string) error {
	fs := newFlags("compact", "PROFILE CHECKPOINT", "Fold an incremental checkpoint and its chain of parents into a new full\ncheckpoint that restores to the same pages (each host from the pieces it holds).")
	c := addCommon(fs)
	s, rest, err := attachArgs(ctx, fs, c, args, 1, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Compact(ctx, rest[0])
	if err != nil {
		return err
	}
	if *c.json {
		printJSON(res)
		return nil
	}
	fmt.Printf("compacted %s into %s: %s in %.2fs\n", rest[0], res.ID, units.FormatBytes(res.BytesSaved), res.Seconds)
	printPerHost(res.PerHost)
	return nil
}

// printHealth prints every checkpoint file's good copies against what its
// redundancy asks for.
func printHealth(hs []api.FileHealth) {
	if len(hs) == 0 {
		return
	}
	fmt.Println("redundancy (good copies / wanted):")
	for _, h := range hs {
		state := "ok"
		if h.Good < h.Want {
			state = "LACKING"
		}
		line := fmt.Sprintf("  %-7s %s %s's %s: %d/%d on %v", state, h.Checkpoint, h.Of, h.File, h.Good, h.Want, h.Copies)
		if len(h.Lost) > 0 {
			line += fmt.Sprintf(", lost on %v", h.Lost)
		}
		fmt.Println(line)
	}
}

func cmdRepair(ctx context.Context, args []string) error {
	fs := newFlags("repair", "PROFILE CHECKPOINT", "Rebuild the lost or damaged copies of a checkpoint's files (pieces, device state,\nreplicas) from good copies: in place on every host that answers, or, with --onto,\non that host only, where a file short of copies (its host lost) gets a new\nreplica. Then report every file's good copies, as verify does.")
	c := addCommon(fs)
	onto := fs.String("onto", "", "rebuild on this host only, adding replicas there for files whose hosts are lost")
	s, rest, err := attachArgs(ctx, fs, c, args, 1, 1)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.Repair(ctx, rest[0], *onto)
	if res != nil {
		if *c.json {
			printJSON(res)
		} else {
			fmt.Printf("repair of %s: %d copies rebuilt, %s in %.2fs\n", res.Checkpoint, len(res.Rebuilt), units.FormatBytes(res.Bytes), res.Seconds)
			for _, r := range res.Rebuilt {
				fmt.Println("  " + r)
			}
			printHealth(res.Redundancy)
		}
	}
	return err
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"dcres/api"
	"dcres/internal/units"
)

// benchRow is one checkpoint method's measurements over the rounds.
type benchRow struct {
	name                              string
	req                               api.CheckpointRequest
	total, pause, net, saved, restore []float64
	again, rounds                     []float64 // live: bytes saved more than once, pre-copy rounds
}

func cmdBench(ctx context.Context, args []string) error {
	fs := newFlags("bench", "[PROFILE]", "Start a lab of the profile and measure, side by side in one run on the same guest:\ncheckpoints by every method that applies (dcres, dcres live, traditional,\nqemu-stream), their restores, restores onto other placements, remote paging over\nthe lab's links, and the raw sequential write rate of the checkpoint directory.")
	c := addCommon(fs)
	rounds := fs.Int("rounds", 3, "rounds of each measurement (the table shows medians)")
	settleFor := fs.Duration("settle", 3*time.Second, "how long the guest runs its workload before the first measurement")
	dirty := fs.String("dirty-rate", "", "the guest's dirty rate instead of the profile's (e.g. 20MiB/s)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	p, err := loadProfile(pos)
	if err != nil {
		return err
	}
	if *dirty != "" {
		rate, err := units.ParseRate(*dirty)
		if err != nil {
			return usagef("--dirty-rate: %v", err)
		}
		p.VM.Workload.DirtyRate = rate
	}
	if p.Lab == nil {
		return usagef("bench runs on a lab profile")
	}
	s, err := startLab(ctx, p, "", func(string, ...any) {})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = s.AwaitWorkload(actx)
	cancel()
	if err != nil {
		return err
	}
	settle(ctx, *settleFor)
	rows := []*benchRow{
		{name: "dcres", req: api.CheckpointRequest{Method: "dcres"}},
		{name: "dcres live", req: api.CheckpointRequest{Method: "dcres", Live: true}},
		// On the live one just restored: the guest's writes of one settle.
		{name: "live incr", req: api.CheckpointRequest{Method: "dcres", Live: true, Incremental: true}},
	}
	rows = append(rows, &benchRow{name: "traditional", req: api.CheckpointRequest{Method: "traditional"}})
	if p.VM.Driver == "qemu" {
		rows = append(rows, &benchRow{name: "qemu-stream", req: api.CheckpointRequest{Method: "qemu-stream"}})
	}
	var raw []float64
	var hostRates [][]float64
	var lastDCRES string
	for i := 0; i < *rounds; i++ {
		for _, r := range rows {
			res, err := s.Checkpoint(ctx, r.req)
			if err != nil {
				return fmt.Errorf("%s checkpoint: %w", r.name, err)
			}
			r.total = append(r.total, res.Seconds)
			r.pause = append(r.pause, res.PauseSeconds)
			r.net = append(r.net, float64(res.BytesOverNetwork))
			r.saved = append(r.saved, float64(res.BytesSaved))
			r.again = append(r.again, float64(res.BytesAgain))
			r.rounds = append(r.rounds, float64(len(res.Rounds)))
			if r.name == "dcres" {
				lastDCRES = res.ID
				var rates []float64
				for _, h := range res.PerHost {
					if h.Seconds > 0 {
						rates = append(rates, float64(h.Bytes)/h.Seconds)
					}
				}
				hostRates = append(hostRates, rates)
				// The raw baseline: the largest host's bytes, written plainly to the same disk.
				var most int64
				for _, h := range res.PerHost {
					most = max(most, h.Bytes)
				}
				rate, err := rawWrite(s.lab.Dir, most)
				if err != nil {
					return err
				}
				raw = append(raw, rate)
			}
			rs, err := s.Restore(ctx, api.RestoreRequest{From: res.ID})
			if err != nil {
				return fmt.Errorf("restore of the %s checkpoint: %w", r.name, err)
			}
			r.restore = append(r.restore, rs.Seconds)
			settle(ctx, time.Second)
		}
	}
	// Restores of one dcres checkpoint onto other placements.
	type placed struct {
		name    string
		seconds float64
		pulled  int64
		plan    float64
		load    float64 // the slowest target's load phase
		ideal   float64 // the slowest target's local load plus its network share
	}
	var placements []placed
	// Each host's local load rate, from the restore onto the same placement
	// (where every host loads its own pieces): the ideal of another
	// placement is, for its slowest target, its local bytes at that rate
	// plus its pulled bytes at the link rate.
	localRate := map[string]float64{}
	hosts := s.Hosts()
	choices := []string{"same"}
	if len(hosts) > 2 {
		choices = append(choices, fmt.Sprintf("%s=50%%,%s=50%%", hosts[0], hosts[1]))
	}
	choices = append(choices, "single:"+hosts[0])
	for _, pl := range choices {
		rs, err := s.Restore(ctx, api.RestoreRequest{From: lastDCRES, Placement: pl})
		if err != nil {
			return fmt.Errorf("restore onto %s: %w", pl, err)
		}
		pp := placed{name: pl, seconds: rs.Seconds, pulled: rs.BytesOverNetwork}
		if rs.Plan != nil {
			pp.plan = rs.Plan.Seconds
		}
		for _, h := range rs.PerHost {
			local := float64(h.Bytes - h.Pulled)
			if pl == "same" && h.Seconds > 0 && local > 0 {
				localRate[h.Host] = local / h.Seconds
			}
			ideal := 0.0
			if r := localRate[h.Host]; r > 0 {
				ideal = local / r
			}
			if p.Lab.LinkRate > 0 {
				ideal += float64(h.Pulled) * 8 / float64(p.Lab.LinkRate)
			}
			pp.load, pp.ideal = max(pp.load, h.Seconds), max(pp.ideal, ideal)
		}
		placements = append(placements, pp)
		settle(ctx, time.Second)
	}
	// A lazy restore, back onto every host (and so for the paging measurement).
	lz, err := s.Restore(ctx, api.RestoreRequest{From: lastDCRES, Lazy: true})
	if err != nil {
		return fmt.Errorf("lazy restore: %w", err)
	}
	paging, err := s.BenchPaging(ctx, 64<<20, 300)
	if err != nil {
		return err
	}
	v, err := s.Verify(ctx, "")
	if err != nil {
		return err
	}

	link := "unshaped loopback"
	if s.lab.Netns {
		link = "network namespaces, unshaped"
		if p.Lab.LinkRate > 0 {
			link = fmt.Sprintf("network namespaces, links shaped to %s", fmtBits(p.Lab.LinkRate))
		}
	}
	fmt.Printf("bench %s: %s guest of %s over %v (%s), %d rounds, medians\n\n", p.Name, p.VM.Driver, units.FormatBytes(p.VM.MemoryBytes), hosts, link, *rounds)
	fmt.Printf("guest workload: %s, dirtying %s\n\n", p.VM.Workload.Pattern, units.FormatRate(float64(p.VM.Workload.DirtyRate)))
	fmt.Printf("%-12s %10s %10s %14s %12s %12s %7s %10s\n", "method", "ckpt s", "pause s", "over network", "saved", "saved again", "rounds", "restore s")
	for _, r := range rows {
		fmt.Printf("%-12s %10.3f %10.3f %14s %12s %12s %7.0f %10.3f\n", r.name, median(r.total), median(r.pause), units.FormatBytes(int64(median(r.net))),
			units.FormatBytes(int64(median(r.saved))), units.FormatBytes(int64(median(r.again))), median(r.rounds), median(r.restore))
	}
	base := rows[0]
	fmt.Println()
	for _, r := range rows[1:] {
		fmt.Printf("%s/dcres: checkpoint time %.2fx, pause %.2fx, saved %.2fx, restore %.2fx\n", r.name, median(r.total)/median(base.total), median(r.pause)/median(base.pause),
			median(r.saved)/median(base.saved), median(r.restore)/median(base.restore))
	}
	if live := rows[1]; median(live.pause) > 0 {
		fmt.Printf("stop-and-copy pause / live final pause: %.1fx\n", median(base.pause)/median(live.pause))
	}
	fmt.Printf("\nrestores of %s onto other placements:\n", lastDCRES)
	for _, pl := range placements {
		fmt.Printf("  %-22s %8.3f s  pulled %10s  (plan: %.3f s on the network)", pl.name, pl.seconds, units.FormatBytes(pl.pulled), pl.plan)
		if pl.ideal > 0 {
			fmt.Printf("  load %.3f s = %.2fx of the slowest target's local load + network share (%.3f s)", pl.load, pl.load/pl.ideal, pl.ideal)
		}
		fmt.Println()
	}
	fmt.Printf("  %-22s %8.3f s  to running, %.3f s to complete, pulled %s\n", "same, lazy", lz.RunningSeconds, lz.Seconds, units.FormatBytes(lz.BytesOverNetwork))
	fmt.Printf("\nremote paging from %s:\n", hosts[0])
	for _, h := range sortedNames(paging) {
		r := paging[h]
		fmt.Printf("  from %-8s sequential %s/s, random 4 KiB fault p50 %s p99 %s\n", h, units.FormatBytes(int64(r.SeqBytesPerSec)), fmtDur(r.FaultP50), fmtDur(r.FaultP99))
	}
	fmt.Printf("\nraw sequential write of the largest host's bytes to the same disk: %s/s\n", units.FormatBytes(int64(median(raw))))
	for i, rates := range hostRates {
		var parts []string
		for _, r := range rates {
			parts = append(parts, fmt.Sprintf("%s/s (%.0f%%)", units.FormatBytes(int64(r)), 100*r/raw[i]))
		}
		fmt.Printf("round %d per-host dcres save rates (%% of raw): %s\n", i+1, strings.Join(parts, ", "))
	}
	fmt.Printf("guest verify after the last restore: %d pages, %d errors\n", v.Pages, v.Errors)
	if v.Errors > 0 {
		return fmt.Errorf("verify found %d errors", v.Errors)
	}
	_ = c
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fmtDur(sec float64) string {
	return time.Duration(sec * float64(time.Second)).Round(time.Microsecond).String()
}

func fmtBits(bps int64) string {
	switch {
	case bps >= 1e9 && bps%1e9 == 0:
		return fmt.Sprintf("%d Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%d Mbit/s", bps/1e6)
	}
	return fmt.Sprintf("%d bit/s", bps)
}

// rawWrite writes n bytes sequentially to a file in dir, fsyncs, and returns bytes/s.
func rawWrite(dir string, n int64) (float64, error) {
	path := filepath.Join(dir, "raw-write.tmp")
	defer os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	start := time.Now()
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return 0, err
		}
		left -= k
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

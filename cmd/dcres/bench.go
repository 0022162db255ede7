package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"dcres/api"
	"dcres/internal/units"
)

func cmdBench(ctx context.Context, args []string) error {
	fs := newFlags("bench", "[PROFILE]", "Start a lab of the profile and compare, side by side in one run, dcres and\ntraditional checkpoints of the same guest, a restore, and the raw sequential write\nrate of the same checkpoint directory for the same bytes.")
	c := addCommon(fs)
	rounds := fs.Int("rounds", 3, "rounds of each measurement (the table shows medians)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	p, err := loadProfile(pos)
	if err != nil {
		return err
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
	settle(ctx, 2*time.Second)
	type row struct{ total, pause, net, saved, restore []float64 }
	rows := map[string]*row{"dcres": {}, "traditional": {}}
	var raw []float64
	var hostRates [][]float64
	for i := 0; i < *rounds; i++ {
		for _, method := range []string{"dcres", "traditional"} {
			res, err := s.Checkpoint(ctx, api.CheckpointRequest{Method: method})
			if err != nil {
				return err
			}
			r := rows[method]
			r.total = append(r.total, res.Seconds)
			r.pause = append(r.pause, res.PauseSeconds)
			r.net = append(r.net, float64(res.BytesOverNetwork))
			r.saved = append(r.saved, float64(res.BytesSaved))
			if method == "dcres" {
				var rates []float64
				for _, h := range res.PerHost {
					if h.Seconds > 0 {
						rates = append(rates, float64(h.Bytes)/h.Seconds)
					}
				}
				hostRates = append(hostRates, rates)
				// The raw baseline: one host's bytes, written plainly to the same disk.
				rate, err := rawWrite(s.lab.Dir, res.PerHost[0].Bytes)
				if err != nil {
					return err
				}
				raw = append(raw, rate)
			}
			rs, err := s.Restore(ctx, api.RestoreRequest{From: res.ID})
			if err != nil {
				return err
			}
			r.restore = append(r.restore, rs.Seconds)
			settle(ctx, time.Second)
		}
	}
	v, err := s.Verify(ctx, "")
	if err != nil {
		return err
	}
	fmt.Printf("bench %s: %s %s over %v, %d rounds, medians\n\n", p.Name, p.VM.Driver, units.FormatBytes(p.VM.MemoryBytes), s.Hosts(), *rounds)
	fmt.Printf("%-12s %10s %10s %14s %12s %10s\n", "method", "ckpt s", "pause s", "over network", "saved", "restore s")
	for _, m := range []string{"dcres", "traditional"} {
		r := rows[m]
		fmt.Printf("%-12s %10.3f %10.3f %14s %12s %10.3f\n", m, median(r.total), median(r.pause), units.FormatBytes(int64(median(r.net))), units.FormatBytes(int64(median(r.saved))), median(r.restore))
	}
	fmt.Printf("\ntraditional/dcres checkpoint time: %.2fx\n", median(rows["traditional"].total)/median(rows["dcres"].total))
	fmt.Printf("raw sequential write of one host's bytes: %s/s\n", units.FormatBytes(int64(median(raw))))
	for i, rates := range hostRates {
		fmt.Printf("round %d per-host save rates:", i+1)
		for _, r := range rates {
			fmt.Printf(" %s/s (%.0f%% of raw)", units.FormatBytes(int64(r)), 100*r/raw[i])
		}
		fmt.Println()
	}
	fmt.Printf("guest verify after the last restore: %d pages, %d errors\n", v.Pages, v.Errors)
	if v.Errors > 0 {
		return fmt.Errorf("verify found %d errors", v.Errors)
	}
	_ = c
	return nil
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

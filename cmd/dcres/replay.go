package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/term"

	"dcres/recordings"
	"dcres/tui"
)

func cmdReplay(ctx context.Context, args []string) error { return replay(ctx, args, os.Stdout) }

// replay is cmdReplay writing its output to stdout.
func replay(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("replay", "FILE", "Play a recording in the read-only console at --speed (pause, step and seek keys\ncome with the console's Player support), print its figures (--summary, as text\nor --json), or export the rendered console as an asciicast v2 file (--export\ncast, to standard output unless -o).")
	speed := fs.Float64("speed", 1, "playback speed, 0.25 to 100")
	summary := fs.Bool("summary", false, "print the recording's figures: checkpoint times, pauses, bytes")
	asJSON := fs.Bool("json", false, "with --summary: print the figures as JSON")
	export := fs.String("export", "", "export instead of playing; the one format is cast (asciicast v2)")
	out := fs.String("o", "", "with --export: the output file (default: standard output)")
	size := fs.String("size", "120x40", "with --export: the console's size, WIDTHxHEIGHT")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("one recording expected, e.g. dcres replay recordings/shipped/lab-local.dcrec")
	}
	if *asJSON && !*summary {
		return usagef("--json goes with --summary")
	}
	if *speed < recordings.MinSpeed || *speed > recordings.MaxSpeed {
		return usagef("--speed %v is out of range: use %v to %v", *speed, recordings.MinSpeed, recordings.MaxSpeed)
	}
	rec, err := recordings.Open(pos[0])
	if rec == nil {
		return usageError{err}
	}
	if rec.Damage != nil {
		fmt.Fprintf(os.Stderr, "dcres replay: warning: %v\n", rec.Damage)
	}
	switch {
	case *summary:
		s := recordings.Summarize(rec)
		if *asJSON {
			return s.WriteJSON(stdout)
		}
		_, err := io.WriteString(stdout, s.Text())
		return err
	case *export != "":
		return exportRecording(rec, *export, *out, *size, stdout)
	}
	if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
		return usagef("playing a recording needs a terminal: use --summary or --export cast instead")
	}
	p := recordings.NewPlayer(rec)
	defer p.Close()
	p.SetSpeed(*speed)
	return tui.Run(ctx, p, tui.Options{Title: rec.Header.Profile + " (replay)", ReadOnly: true, Now: p.Now})
}

func exportRecording(rec *recordings.Recording, format, out, size string, stdout io.Writer) error {
	if format != "cast" {
		return usagef("--export %s: the one export format is cast (asciicast v2)", format)
	}
	w, h, err := parseSize(size)
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		return recordings.ExportCast(rec, stdout, w, h)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := recordings.ExportCast(rec, f, w, h); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseSize parses WIDTHxHEIGHT.
func parseSize(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w < 20 || h < 10 || w > 1000 || h > 500 {
		return 0, 0, usagef("--size %q: want WIDTHxHEIGHT, e.g. 120x40 (at least 20x10)", s)
	}
	return w, h, nil
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"dcres/api"
	"dcres/profiles"
	"dcres/recordings"
)

// startRecording records ctrl's events into the file path (its directory is
// made if missing) until stop, which ends the recording and closes the file;
// a write error that stopped the recording early is reported on stderr then.
// hdr's DCRES defaults to this binary's version.
func startRecording(ctx context.Context, ctrl api.Controller, path string, hdr recordings.Header) (stop func(), err error) {
	if hdr.DCRES == "" {
		hdr.DCRES = version
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	w, err := recordings.Create(path, hdr)
	if err != nil {
		return nil, err
	}
	stopRec := recordings.RecordTo(ctx, ctrl, w, time.Now())
	return func() {
		err := stopRec()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "dcres: the recording %s is incomplete: %v\n", path, err)
		}
	}, nil
}

// recordingHeader describes a session of p over hosts (main first).
func recordingHeader(p *profiles.Profile, hosts []string) recordings.Header {
	return recordings.Header{DCRES: version, Profile: p.Name, Hosts: hosts, Driver: p.VM.Driver, MemoryBytes: p.VM.MemoryBytes, Started: time.Now()}
}

// defaultRecordingPath is where a lab records by default: a recordings
// directory in the user cache, one file per session named by profile and
// start time.
func defaultRecordingPath(p *profiles.Profile, now time.Time) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "dcres", "recordings", p.Name+"-"+now.UTC().Format("20060102T150405Z")+".dcrec")
}

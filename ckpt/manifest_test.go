package ckpt

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"dcres/api"
)

func sampleManifest(vm, id string) *Manifest {
	return &Manifest{
		Format: ManifestFormat, ID: id, VM: vm,
		Created: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600)),
		Method:  "dcres", Live: true, Driver: "synthetic",
		MemoryBytes: 100 * api.PageSize, PageSize: api.PageSize,
		Main: "main", Hosts: []string{"main", "sub1"},
		Locations: []api.Range{{Start: 0, Count: 60, Host: "main"}, {Start: 60, Count: 40, Host: "sub1"}},
		Overrides: []api.Range{{Start: 70, Count: 2, Host: "main"}},
		Pieces: []PieceRef{
			{Host: "main", File: "main.piece", Pages: 62, Bytes: 1, Digest: strings.Repeat("ab", 16)},
			{Host: "sub1", File: "sub1.piece", Pages: 40, Bytes: 1, Digest: strings.Repeat("cd", 16)},
		},
		DeviceState: &FileRef{Host: "main", File: "device.state", Bytes: 5, Digest: strings.Repeat("00", 16)},
		VMConfig:    json.RawMessage(`{"cpus": 2, "note": "<&>"}`),
		Stats:       json.RawMessage(`{"pause_ms":12}`),
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest("vm1", "c1")
	b, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := EncodeManifest(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
	}
	if !got.Created.Equal(m.Created) || got.Pieces[1] != m.Pieces[1] || got.Locations[1] != m.Locations[1] {
		t.Fatalf("decoded %+v", got)
	}
}

func TestManifestRejects(t *testing.T) {
	good, err := EncodeManifest(sampleManifest("vm1", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	raw := func(edit func(map[string]any)) []byte {
		var v map[string]any
		json.Unmarshal(good, &v)
		edit(v)
		b, _ := json.Marshal(v)
		return b
	}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"newer":    {raw(func(v map[string]any) { v["format"] = 2 }), "newer"},
		"noformat": {raw(func(v map[string]any) { delete(v, "format") }), "no format"},
		"edited":   {raw(func(v map[string]any) { v["live"] = false }), "checksum"},
		"unknown":  {raw(func(v map[string]any) { v["extra"] = 1 }), "unknown field"},
		"garbage":  {[]byte("{{"), "not valid JSON"},
		"trailing": {append(append([]byte{}, good...), []byte(`{}`)...), "after top-level value"},
	}
	for name, c := range cases {
		if _, err := DecodeManifest(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", name, err, c.want)
		}
	}
	// Structural faults are refused even with a correct checksum.
	structural := map[string]func(*Manifest){
		"gap":          func(m *Manifest) { m.Locations[1].Start = 61 },
		"overlap":      func(m *Manifest) { m.Locations[1].Start = 59 },
		"short":        func(m *Manifest) { m.Locations[1].Count = 39 },
		"long":         func(m *Manifest) { m.Locations[1].Count = 41 },
		"empty-range":  func(m *Manifest) { m.Locations = append(m.Locations, api.Range{Start: 100, Host: "main"}) },
		"loc-host":     func(m *Manifest) { m.Locations[0].Host = "ghost" },
		"piece-host":   func(m *Manifest) { m.Pieces[0].Host = "ghost" },
		"piece-file":   func(m *Manifest) { m.Pieces[0].File = "../etc/passwd" },
		"abs-file":     func(m *Manifest) { m.Pieces[0].File = "/abs" },
		"reserved":     func(m *Manifest) { m.Pieces[0].File = "manifest.json" },
		"dup-piece":    func(m *Manifest) { m.Pieces[1] = m.Pieces[0] },
		"digest":       func(m *Manifest) { m.Pieces[0].Digest = "xyz" },
		"main":         func(m *Manifest) { m.Main = "sub2" },
		"dup-host":     func(m *Manifest) { m.Hosts = append(m.Hosts, "main") },
		"bad-host":     func(m *Manifest) { m.Hosts[1] = "a/b"; m.Locations[1].Host = "a/b"; m.Pieces[1].Host = "a/b" },
		"pagesize":     func(m *Manifest) { m.PageSize = 512 },
		"memory":       func(m *Manifest) { m.MemoryBytes = 100 },
		"override":     func(m *Manifest) { m.Overrides[0].Start = 99; m.Overrides[0].Count = 2 },
		"override-ord": func(m *Manifest) { m.Overrides = append(m.Overrides, api.Range{Start: 1, Count: 1, Host: "main"}) },
		"dev-host":     func(m *Manifest) { m.DeviceState.Host = "ghost" },
		"id":           func(m *Manifest) { m.ID = ".." },
	}
	for name, edit := range structural {
		m := sampleManifest("vm1", "c1")
		edit(m)
		if _, err := EncodeManifest(m); err == nil {
			t.Errorf("%s: EncodeManifest accepted it", name)
		}
		// Bypass Encode's validation to check Decode's.
		m.Checksum, _ = m.checksum()
		b, _ := json.Marshal(m)
		if _, err := DecodeManifest(b); err == nil {
			t.Errorf("%s: DecodeManifest accepted it", name)
		}
	}
}
